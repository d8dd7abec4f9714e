"""What every version's CSMS side shares: one charger's connection as the CSMS sees it.

A subclass (protocol/v16/csms.py, protocol/v201/csms.py) gives the handlers of the charger's
CALLs (`_handlers`: action -> function of payload and time) and fills in the per-charger fields
of default command payloads (`complete_payload`); receiving, answering, sending commands,
counting their answers and giving up on them are the same in every version. Pure: frames in,
frames out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from simfleet.protocol.dialect import Dialect
from simfleet.protocol.errors import ErrorCode
from simfleet.protocol.frames import Call, Payload
from simfleet.protocol.session import Malformed, OutgoingCall, RpcSession
from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16.commands import answer_status

if TYPE_CHECKING:
    from simfleet.protocol.v16.csms import CsmsSettings

ACCEPTED: Final = {"status": "Accepted"}

Handler = Callable[[Payload, float], Payload]


class CsmsConnection:
    """One charger's connection as the CSMS sees it, whatever the OCPP version."""

    __slots__ = (
        "_follow_up",
        "_handlers",
        "_reservation_ids",
        "accepted",
        "commands",
        "identity",
        "malformed",
        "session",
        "settings",
    )

    def __init__(
        self,
        identity: str,
        settings: CsmsSettings,
        dialect: Dialect,
        commands: dict[tuple[str, str], int] | None,
    ) -> None:
        self.identity = identity
        #: (action, answer status) -> count of commands we sent, shared by all connections.
        self.commands = {} if commands is None else commands
        self.settings = settings
        self.session = RpcSession(dialect, settings.call_timeout_s)
        self.session.online = True
        self.malformed = 0
        self.accepted = False  # the charger's boot was accepted: commands may go to it
        self._handlers: dict[str, Handler] = {}
        #: A CALL of ours that goes out right after the answer to the charger's CALL.
        self._follow_up: tuple[str, Payload] | None = None
        self._reservation_ids: list[int] = []  # ReserveNow sent here, the latest last

    def receive(self, data: bytes | str, now: float) -> str | None:
        """Answer one frame; returns the action of a CALL (None for anything else)."""
        event = self.session.receive(data, now)
        if type(event) is Call:
            handler = self._handlers.get(event.action)
            if handler is None:
                # OCPP-J 1.6 §4.2.3, 2.0.1 §4.3: NotImplemented for an action we do not know.
                self.session.answer_error(event, ErrorCode.NOT_IMPLEMENTED, event.action)
            else:
                self.session.answer(event, handler(event.payload, now))
                if self._follow_up is not None:
                    action, payload = self._follow_up
                    self._follow_up = None
                    self.command(action, payload, now)
            return event.action
        if type(event) is OutgoingCall:
            self._count(event.action, answer_status(event.result, event.error_code))
        elif type(event) is Malformed:
            self.malformed += 1
        return None

    def command(self, action: str, payload: Payload, now: float) -> None:
        """Send a CALL to the charger (queued behind one in flight, OCPP-J §4.1.1)."""
        payload = self.complete_payload(action, payload, now)
        if self.session.call(action, payload, now, now) is None:
            self._count(action, "Dropped")

    def complete_payload(self, action: str, payload: Payload, now: float) -> Payload:
        """Fill in what a default payload leaves to the charger it goes to."""
        return payload

    def _new_reservation(self, reservation_id: int) -> int:
        """A default ReserveNow's id (unique across the CSMS), kept for a default cancel."""
        made = self._reservation_ids
        made.append(reservation_id)
        del made[:-8]  # the recent ones are enough to cancel
        return reservation_id

    def _last_reservation(self) -> int:
        """What a default CancelReservation cancels: the latest reservation made here (0, which
        the charger answers Rejected, if none is left)."""
        made = self._reservation_ids
        return made.pop() if made else 0

    def expire(self, now: float) -> None:
        """Give up on a command the charger has not answered in time."""
        expired = self.session.expire(now)
        if expired is not None:
            self._count(expired.action, "Timeout")

    def take_outbox(self) -> list[bytes]:
        return self.session.take_outbox()

    def _count(self, action: str, status: str) -> None:
        key = (action, status)
        self.commands[key] = self.commands.get(key, 0) + 1

    def _boot(self, _payload: Payload, now: float) -> Payload:
        """1.6 §4.2, 2.0.1 B01-B03: Accepted with the heartbeat interval; Pending or Rejected
        with the interval after which the charger boots again."""
        status = self.settings.boot_status
        interval = (
            self.settings.heartbeat_interval_s
            if status == "Accepted"
            else self.settings.boot_retry_s
        )
        self.accepted = status == "Accepted"
        return {"status": status, "currentTime": iso_utc(now), "interval": interval}

    def _sign(self, csr: object, now: float, signed: Payload) -> Payload:
        """SignCertificate (1.6 security whitepaper A02, 2.0.1 A02/A03): Accepted, then the
        chain this CSMS's CA signed (it is its own CA; A02.FR.04 advises a separate one) in a
        CertificateSigned with `signed`'s other fields; Rejected if the CSR is not a well-signed
        PKCS#10 request (A02.FR.12)."""
        # Loaded on first use, like the charger's certificate store (X.509 costs ~16 MB).
        from simfleet.protocol.certificates import simulator_ca  # noqa: PLC0415

        chain = simulator_ca().sign(csr, now) if isinstance(csr, str) else None
        if chain is None:
            return {"status": "Rejected"}
        self._follow_up = ("CertificateSigned", {"certificateChain": chain, **signed})
        return ACCEPTED


def empty(_payload: Payload, _now: float) -> Payload:
    return {}


def current_time(_payload: Payload, now: float) -> Payload:
    return {"currentTime": iso_utc(now)}


def unknown_vendor(_payload: Payload, _now: float) -> Payload:
    # Vendor-specific (1.6 §4.3, 2.0.1 P01/P02): we know no vendor, so UnknownVendorId.
    return {"status": "UnknownVendorId"}
