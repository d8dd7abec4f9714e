"""The CSMS side of OCPP 1.6J: plausible answers to every charger-initiated action.

Used by the embedded CSMS (`simfleet csms`). Pure like the charger: frames in, frames out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from simfleet.protocol.csms_connection import (
    ACCEPTED,
    CsmsConnection,
    current_time,
    empty,
    unknown_vendor,
)
from simfleet.protocol.dialect import V16
from simfleet.protocol.frames import Payload
from simfleet.protocol.timefmt import iso_utc

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


class CsmsConnection16(CsmsConnection):
    """One 1.6 charger's connection as the CSMS sees it."""

    __slots__ = ("_open_transactions", "_transaction_ids")

    def __init__(
        self,
        identity: str,
        settings: CsmsSettings,
        transaction_ids: Iterator[int],
        commands: dict[tuple[str, str], int] | None = None,
    ) -> None:
        super().__init__(identity, settings, V16, commands)
        self._transaction_ids = transaction_ids
        self._open_transactions: list[int] = []  # given out here, not stopped yet
        self._handlers = {
            "BootNotification": self._boot,
            "Heartbeat": current_time,
            "StatusNotification": empty,
            "Authorize": self._authorize,
            "StartTransaction": self._start,
            "StopTransaction": self._stop,
            "MeterValues": empty,
            "DataTransfer": unknown_vendor,
            "DiagnosticsStatusNotification": empty,
            "FirmwareStatusNotification": empty,
            "SecurityEventNotification": empty,
            "LogStatusNotification": empty,
            "SignedFirmwareStatusNotification": empty,
            "SignCertificate": self._sign_certificate,
        }

    def complete_payload(self, action: str, payload: Payload, now: float) -> Payload:
        """Fill in what a default payload leaves to the charger it goes to: RemoteStop's
        transactionId (the latest running here; an old one, answered Rejected, if none),
        ReserveNow's reservationId and expiryDate, CancelReservation's reservationId."""
        if action == "RemoteStopTransaction" and "transactionId" not in payload:
            running = self._open_transactions
            return {**payload, "transactionId": running[-1] if running else 0}
        if action == "ReserveNow" and "reservationId" not in payload:
            reservation_id = self._new_reservation(next(self._transaction_ids))
            expiry = payload.get("expiryDate", iso_utc(now + RESERVATION_S))
            return {**payload, "reservationId": reservation_id, "expiryDate": expiry}
        if action == "CancelReservation" and "reservationId" not in payload:
            return {**payload, "reservationId": self._last_reservation()}
        return payload

    def _authorize(self, payload: Payload, _now: float) -> Payload:
        return {"idTagInfo": {"status": self.settings.status_of(payload.get("idTag"))}}

    def _sign_certificate(self, payload: Payload, now: float) -> Payload:
        return self._sign(payload.get("csr"), now, {})

    def _start(self, payload: Payload, _now: float) -> Payload:
        status = self.settings.status_of(payload.get("idTag"))
        transaction_id = next(self._transaction_ids)
        self._open_transactions.append(transaction_id)
        return {"transactionId": transaction_id, "idTagInfo": {"status": status}}

    def _stop(self, payload: Payload, _now: float) -> Payload:
        with contextlib.suppress(ValueError):
            self._open_transactions.remove(payload.get("transactionId"))  # type: ignore[arg-type]
        return {"idTagInfo": ACCEPTED}
