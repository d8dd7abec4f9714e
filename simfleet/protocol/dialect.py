"""What differs between OCPP-J versions at the RPC level: subprotocol name and error spelling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from simfleet.protocol.errors import V2_SPELLING, V16_SPELLING, ErrorCode


@dataclass(frozen=True, slots=True)
class Dialect:
    version: str
    subprotocol: str
    spelling: Mapping[ErrorCode, str]

    def spell(self, code: ErrorCode) -> str:
        """The wire spelling of `code` in this version."""
        return self.spelling.get(code, code.value)


V16 = Dialect(version="1.6", subprotocol="ocpp1.6", spelling=V16_SPELLING)
V201 = Dialect(version="2.0.1", subprotocol="ocpp2.0.1", spelling=V2_SPELLING)
V21 = Dialect(version="2.1", subprotocol="ocpp2.1", spelling=V2_SPELLING)

DIALECTS: Mapping[str, Dialect] = {d.version: d for d in (V16, V201, V21)}
