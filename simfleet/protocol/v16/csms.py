"""The CSMS side of OCPP 1.6J: plausible answers to every charger-initiated action.

Used by the embedded CSMS (`simfleet csms`). Pure like the charger: frames in, frames out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from simfleet.protocol.dialect import V16
from simfleet.protocol.errors import ErrorCode
from simfleet.protocol.frames import Call, Payload
from simfleet.protocol.session import Malformed, OutgoingCall, RpcSession
from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16.commands import answer_status

ACCEPTED: Final = {"status": "Accepted"}
#: How long a default ReserveNow holds the connector (a typical app reservation).
RESERVATION_S: Final = 900.0


@dataclass(frozen=True, slots=True)
class CsmsSettings:
    heartbeat_interval_s: int = 60
    boot_status: str = "Accepted"  # Accepted | Pending | Rejected
    boot_retry_s: int = 10  # the interval sent with Pending / Rejected
    call_timeout_s: float = 30.0
    #: idTag prefix -> AuthorizationStatus; any other token is Accepted. The simulated drivers
    #: present tokens with these prefixes when a scenario wants refusals (sim.tokens).
    token_statuses: tuple[tuple[str, str], ...] = (
        ("INV", "Invalid"),
        ("BLK", "Blocked"),
        ("EXP", "Expired"),
        ("CTX", "ConcurrentTx"),
    )

    def status_of(self, id_tag: object) -> str:
        if isinstance(id_tag, str):
            for prefix, status in self.token_statuses:
                if id_tag.startswith(prefix):
                    return status
        return "Accepted"


class CsmsConnection16:
    """One charger's connection as the CSMS sees it."""

    __slots__ = (
        "_follow_up",
        "_handlers",
        "_open_transactions",
        "_reservation_ids",
        "_transaction_ids",
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
        transaction_ids: Iterator[int],
        commands: dict[tuple[str, str], int] | None = None,
    ) -> None:
        self.identity = identity
        #: (action, answer status) -> count of commands we sent, shared by all connections.
        self.commands = {} if commands is None else commands
        self.settings = settings
        self.session = RpcSession(V16, settings.call_timeout_s)
        self.session.online = True
        self._transaction_ids = transaction_ids
        self._open_transactions: list[int] = []  # given out here, not stopped yet
        self._reservation_ids: list[int] = []  # ReserveNow sent here
        self.malformed = 0
        self.accepted = False  # the charger's boot was accepted: commands may go to it
        self._handlers: dict[str, Callable[[Payload, float], Payload]] = {
            "BootNotification": self._boot,
            "Heartbeat": _current_time,
            "StatusNotification": _empty,
            "Authorize": self._authorize,
            "StartTransaction": self._start,
            "StopTransaction": self._stop,
            "MeterValues": _empty,
            "DataTransfer": _data_transfer,
            "DiagnosticsStatusNotification": _empty,
            "FirmwareStatusNotification": _empty,
            "SecurityEventNotification": _empty,
            "LogStatusNotification": _empty,
            "SignedFirmwareStatusNotification": _empty,
            "SignCertificate": self._sign_certificate,
        }
        #: A CALL of ours that goes out right after the answer to the charger's CALL.
        self._follow_up: tuple[str, Payload] | None = None

    def receive(self, data: bytes | str, now: float) -> str | None:
        """Answer one frame; returns the action of a CALL (None for anything else)."""
        event = self.session.receive(data, now)
        if type(event) is Call:
            handler = self._handlers.get(event.action)
            if handler is None:
                # OCPP-J 1.6 §4.2.3: an action we do not know.
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

    def expire(self, now: float) -> None:
        """Give up on a command the charger has not answered in time."""
        expired = self.session.expire(now)
        if expired is not None:
            self._count(expired.action, "Timeout")

    def complete_payload(self, action: str, payload: Payload, now: float) -> Payload:
        """Fill in what a default payload leaves to the charger it goes to: RemoteStop's
        transactionId (the latest running here; an old one, answered Rejected, if none),
        ReserveNow's reservationId and expiryDate, CancelReservation's reservationId."""
        if action == "RemoteStopTransaction" and "transactionId" not in payload:
            running = self._open_transactions
            return {**payload, "transactionId": running[-1] if running else 0}
        if action == "ReserveNow" and "reservationId" not in payload:
            reservation_id = next(self._transaction_ids)  # unique across the CSMS
            self._reservation_ids.append(reservation_id)
            del self._reservation_ids[:-8]  # the recent ones are enough to cancel
            expiry = payload.get("expiryDate", iso_utc(now + RESERVATION_S))
            return {**payload, "reservationId": reservation_id, "expiryDate": expiry}
        if action == "CancelReservation" and "reservationId" not in payload:
            made = self._reservation_ids
            return {**payload, "reservationId": made.pop() if made else 0}
        return payload

    def _count(self, action: str, status: str) -> None:
        key = (action, status)
        self.commands[key] = self.commands.get(key, 0) + 1

    def take_outbox(self) -> list[bytes]:
        return self.session.take_outbox()

    def _boot(self, _payload: Payload, now: float) -> Payload:
        status = self.settings.boot_status
        interval = (
            self.settings.heartbeat_interval_s
            if status == "Accepted"
            else self.settings.boot_retry_s
        )
        self.accepted = status == "Accepted"
        return {"status": status, "currentTime": iso_utc(now), "interval": interval}

    def _authorize(self, payload: Payload, _now: float) -> Payload:
        return {"idTagInfo": {"status": self.settings.status_of(payload.get("idTag"))}}

    def _sign_certificate(self, payload: Payload, now: float) -> Payload:
        """SignCertificate (security whitepaper A02): Accepted, then the signed chain follows in a
        CertificateSigned; Rejected if the CSR is not a well-signed PKCS#10 request (A02.FR.12).
        This CSMS is its own CA (A02.FR.04 advises a separate one; A02 allows the CPO's)."""
        # Loaded on first use, like the charger's certificate store (X.509 costs ~16 MB).
        from simfleet.protocol.certificates import simulator_ca  # noqa: PLC0415

        csr = payload.get("csr")
        chain = simulator_ca().sign(csr, now) if isinstance(csr, str) else None
        if chain is None:
            return {"status": "Rejected"}
        self._follow_up = ("CertificateSigned", {"certificateChain": chain})
        return ACCEPTED

    def _start(self, payload: Payload, _now: float) -> Payload:
        status = self.settings.status_of(payload.get("idTag"))
        transaction_id = next(self._transaction_ids)
        self._open_transactions.append(transaction_id)
        return {"transactionId": transaction_id, "idTagInfo": {"status": status}}

    def _stop(self, payload: Payload, _now: float) -> Payload:
        with contextlib.suppress(ValueError):
            self._open_transactions.remove(payload.get("transactionId"))  # type: ignore[arg-type]
        return {"idTagInfo": ACCEPTED}


def _empty(_payload: Payload, _now: float) -> Payload:
    return {}


def _current_time(_payload: Payload, now: float) -> Payload:
    return {"currentTime": iso_utc(now)}


def _data_transfer(_payload: Payload, _now: float) -> Payload:
    # Vendor-specific: we know no vendor, so the honest answer is UnknownVendorId.
    return {"status": "UnknownVendorId"}
