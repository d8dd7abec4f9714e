"""The CSMS side of OCPP 2.0.1 and 2.1: plausible answers to every charger-initiated message.

Used by the embedded CSMS (`simfleet csms`) for connections that negotiated ocpp2.0.1 or ocpp2.1.
Pure like protocol/v16/csms.py, with the same public surface (receive, command,
complete_payload, expire, take_outbox, accepted, commands), so the server treats both alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Final

from simfleet.protocol.csms_connection import (
    ACCEPTED,
    CsmsConnection,
    Handler,
    current_time,
    empty,
    unknown_vendor,
)
from simfleet.protocol.dialect import V21, V201, Dialect
from simfleet.protocol.frames import Payload
from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16.csms import RESERVATION_S, CsmsSettings
from simfleet.protocol.v201.commands import REQUEST_ID_ACTIONS

#: Open transactions remembered per charger (a charger has a few EVSEs; ids of transactions
#: whose Ended was lost must not pile up).
MAX_OPEN: Final = 16
#: Messages only a charger sends (2.0.1 Part 2 §1, "Charging Station -> CSMS"), and
#: DataTransfer, which both sides send. The 2.1 ones follow.
CHARGER_INITIATED_201: Final = frozenset(
    {
        "Authorize",
        "BootNotification",
        "ClearedChargingLimit",
        "DataTransfer",
        "FirmwareStatusNotification",
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
        "NotifyChargingLimit",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule",
        "NotifyEvent",
        "NotifyMonitoringReport",
        "NotifyReport",
        "PublishFirmwareStatusNotification",
        "ReportChargingProfiles",
        "ReservationStatusUpdate",
        "SecurityEventNotification",
        "SignCertificate",
        "StatusNotification",
        "TransactionEvent",
    }
)
#: What 2.1 adds from the charger (OCPP 2.1 Part 2). NotifyPeriodicEventStream is a SEND
#: (OCPP-J 2.1 §4.3, message type 6, no answer): not in this list, see OpenPeriodicEventStream.
CHARGER_INITIATED_21_ONLY: Final = frozenset(
    {
        "BatterySwap",
        "ClosePeriodicEventStream",
        "GetCertificateChainStatus",
        "NotifyDERAlarm",
        "NotifyDERStartStop",
        "NotifyPriorityCharging",
        "NotifySettlement",
        "OpenPeriodicEventStream",
        "PullDynamicScheduleUpdate",
        "ReportDERControl",
        "VatNumberValidation",
    }
)
#: Messages acknowledged with an empty confirmation: the CSMS takes note.
_NOTED: Final = (
    "StatusNotification",
    "MeterValues",
    "NotifyReport",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "SecurityEventNotification",
    "FirmwareStatusNotification",
    "PublishFirmwareStatusNotification",
    "LogStatusNotification",
    "ReservationStatusUpdate",
    "NotifyChargingLimit",
    "ClearedChargingLimit",
    "ReportChargingProfiles",
    "NotifyDisplayMessages",
    "NotifyCustomerInformation",
)
_NOTED_21: Final = (
    "BatterySwap",
    "ClosePeriodicEventStream",
    "NotifyDERAlarm",
    "NotifyDERStartStop",
    "NotifyPriorityCharging",
    "NotifySettlement",
    "ReportDERControl",
)


class CsmsConnection201(CsmsConnection):
    """One 2.0.1 (or 2.1) charger's connection as the CSMS sees it."""

    __slots__ = ("_ids", "_open_transactions", "_remote_start_ids", "dialect")

    def __init__(
        self,
        identity: str,
        settings: CsmsSettings,
        ids: Iterator[int],
        commands: dict[tuple[str, str], int] | None = None,
        dialect: Dialect = V201,
    ) -> None:
        super().__init__(identity, settings, dialect, commands)
        self.dialect = dialect
        self._ids = ids  # unique across the CSMS: reservation and request ids
        self._remote_start_ids = itertools.count(1)
        self._open_transactions: list[str] = []  # Started here, not Ended yet
        self._handlers = self._make_handlers()

    def _make_handlers(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = dict.fromkeys(_NOTED, empty)
        handlers.update(
            BootNotification=self._boot,
            Heartbeat=current_time,
            Authorize=self._authorize,
            TransactionEvent=self._transaction_event,
            DataTransfer=unknown_vendor,
            SignCertificate=self._sign_certificate,
            NotifyEVChargingNeeds=_accepted,  # K15/K16: the schedule follows from the CSMS
            NotifyEVChargingSchedule=_accepted,
            Get15118EVCertificate=_no_ev_certificate,
            GetCertificateStatus=_no_ocsp,
        )
        if self.dialect is V21:
            handlers.update(dict.fromkeys(_NOTED_21, empty))
            handlers.update(
                GetCertificateChainStatus=_chain_status_unknown,
                OpenPeriodicEventStream=_rejected,
                PullDynamicScheduleUpdate=_rejected,
                VatNumberValidation=_vat_number,
            )
        return handlers

    def complete_payload(self, action: str, payload: Payload, now: float) -> Payload:
        """Fill in what a default payload leaves to the charger it goes to (see commands.py)."""
        if action in REQUEST_ID_ACTIONS and "requestId" not in payload:
            payload = {**payload, "requestId": next(self._ids)}
        if action in ("RequestStopTransaction", "CostUpdated") and "transactionId" not in payload:
            # F03 / I02: the latest transaction running here; a made-up one (Rejected) if none.
            running = self._open_transactions
            return {**payload, "transactionId": running[-1] if running else "none"}
        if action == "RequestStartTransaction" and "remoteStartId" not in payload:
            return {**payload, "remoteStartId": next(self._remote_start_ids)}  # F01.FR.01
        if action == "ReserveNow" and "id" not in payload:
            reservation_id = self._new_reservation(next(self._ids))  # H01
            expiry = payload.get("expiryDateTime", iso_utc(now + RESERVATION_S))
            return {**payload, "id": reservation_id, "expiryDateTime": expiry}
        if action == "CancelReservation" and "reservationId" not in payload:
            return {**payload, "reservationId": self._last_reservation()}
        return payload

    @property
    def open_transactions(self) -> tuple[str, ...]:
        return tuple(self._open_transactions)

    def _token_info(self, token: object) -> Payload:
        value = token.get("idToken") if isinstance(token, dict) else None
        return {"status": self.settings.status_of(value)}

    def _authorize(self, payload: Payload, _now: float) -> Payload:
        """C01: idTokenInfo by the token's prefix (CsmsSettings.token_statuses)."""
        return {"idTokenInfo": self._token_info(payload.get("idToken"))}

    def _transaction_event(self, payload: Payload, _now: float) -> Payload:
        """E01-E07: the transaction is known from its Started event until its Ended one;
        idTokenInfo when the event carries an idToken (E01, C01: its authorization)."""
        info = payload.get("transactionInfo")
        transaction_id = info.get("transactionId") if isinstance(info, dict) else None
        if isinstance(transaction_id, str):
            running = self._open_transactions
            if payload.get("eventType") == "Ended":
                if transaction_id in running:
                    running.remove(transaction_id)
            elif transaction_id not in running:
                # Started, or an Updated whose Started was lost: the transaction runs.
                running.append(transaction_id)
                del running[:-MAX_OPEN]
        if "idToken" in payload:
            return {"idTokenInfo": self._token_info(payload["idToken"])}
        return {}

    def _sign_certificate(self, payload: Payload, now: float) -> Payload:
        """A02/A03: the chain comes with the certificate type asked for."""
        kind = payload.get("certificateType")
        return self._sign(payload.get("csr"), now, {"certificateType": kind} if kind else {})


def _accepted(_payload: Payload, _now: float) -> Payload:
    return ACCEPTED


def _rejected(_payload: Payload, _now: float) -> Payload:
    return {"status": "Rejected"}


def _no_ev_certificate(_payload: Payload, _now: float) -> Payload:
    # M02/M03: no Mobility Operator / contract certificate pool behind this CSMS.
    return {"status": "Failed", "exiResponse": ""}


def _no_ocsp(_payload: Payload, _now: float) -> Payload:
    # M06: no OCSP responder to ask.
    return {"status": "Failed"}


def _chain_status_unknown(payload: Payload, _now: float) -> Payload:
    """2.1 GetCertificateChainStatus: no revocation source, so every certificate is Unknown."""
    asked = payload.get("certificateStatusRequests")
    entries = asked if isinstance(asked, list) else []
    return {
        "certificateStatus": [
            {
                "certificateHashData": entry.get("certificateHashData", {}),
                "source": entry.get("source", "OCSP"),
                "status": "Unknown",
                "nextUpdate": "2099-01-01T00:00:00.000Z",
            }
            for entry in entries
            if isinstance(entry, dict)
        ]
    }


def _vat_number(payload: Payload, _now: float) -> Payload:
    # 2.1: no VAT register behind this CSMS: the number is echoed, Rejected.
    return {"vatNumber": str(payload.get("vatNumber", "")), "status": "Rejected"}
