"""What every CSMS-command handler of the 1.6 charger shares: its type, and how a payload it
cannot use is refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from simfleet.protocol.errors import ErrorCode
from simfleet.protocol.frames import Call

if TYPE_CHECKING:
    from simfleet.protocol.v16.charger import Charger16

#: Answers the CALL and returns the status word the stats count for it.
Handler = Callable[["Charger16", Call, float], str]


def reject_payload(ch: Charger16, call: Call, what: str) -> str:
    """A payload we cannot use: the OCPP-J error a schema validator would give (§4.2.3),
    in the session's spelling (FormationViolation in 1.6); returns that code."""
    ch.session.answer_error(call, ErrorCode.FORMAT_VIOLATION, what[:200])
    return ch.session.dialect.spell(ErrorCode.FORMAT_VIOLATION)
