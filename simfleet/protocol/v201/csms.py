"""The CSMS side of OCPP 2.0.1 and 2.1: plausible answers to every charger-initiated message.

Used by the embedded CSMS (`simfleet csms`) for connections that negotiated ocpp2.0.1 or ocpp2.1.
Pure like protocol/v16/csms.py, with the same public surface (receive, command,
complete_payload, expire, take_outbox, accepted, commands), so the server treats both alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Final

from simfleet.protocol.dialect import V21, V201, Dialect
from simfleet.protocol.errors import ErrorCode
from simfleet.protocol.frames import Call, Payload
from simfleet.protocol.session import Malformed, OutgoingCall, RpcSession
from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16.commands import answer_status
from simfleet.protocol.v16.csms import RESERVATION_S, CsmsSettings
from simfleet.protocol.v201.commands import REQUEST_ID_ACTIONS

ACCEPTED: Final = {"status": "Accepted"}
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

Handler = Callable[[Payload, float], Payload]


class CsmsConnection201:
    """One 2.0.1 (or 2.1) charger's connection as the CSMS sees it."""

    __slots__ = (
        "_follow_up",
        "_handlers",
        "_ids",
        "_open_transactions",
        "_remote_start_ids",
        "_reservation_ids",
        "accepted",
        "commands",
        "dialect",
        "identity",
        "malformed",
        "session",
        "settings",
    )

    def __init__(
        self,
        identity: str,
        settings: CsmsSettings,
        ids: Iterator[int],
        commands: dict[tuple[str, str], int] | None = None,
        dialect: Dialect = V201,
    ) -> None:
        self.identity = identity
        self.dialect = dialect
        #: (action, answer status) -> count of commands we sent, shared by all connections.
        self.commands = {} if commands is None else commands
        self.settings = settings
        self.session = RpcSession(dialect, settings.call_timeout_s)
        self.session.online = True
        self._ids = ids  # unique across the CSMS: reservation and request ids
        self._remote_start_ids = itertools.count(1)
        self._open_transactions: list[str] = []  # Started here, not Ended yet
        self._reservation_ids: list[int] = []  # ReserveNow sent here
        self.malformed = 0
        self.accepted = False  # B01-B03: commands only once the boot is Accepted
        self._follow_up: tuple[str, Payload] | None = None
        self._handlers = self._make_handlers()

    def _make_handlers(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = dict.fromkeys(_NOTED, _empty)
        handlers.update(
            BootNotification=self._boot,
            Heartbeat=_current_time,
            Authorize=self._authorize,
            TransactionEvent=self._transaction_event,
            DataTransfer=_data_transfer,
            SignCertificate=self._sign_certificate,
            NotifyEVChargingNeeds=_accepted,  # K15/K16: the schedule follows from the CSMS
            NotifyEVChargingSchedule=_accepted,
            Get15118EVCertificate=_no_ev_certificate,
            GetCertificateStatus=_no_ocsp,
        )
        if self.dialect is V21:
            handlers.update(dict.fromkeys(_NOTED_21, _empty))
            handlers.update(
                GetCertificateChainStatus=_chain_status_unknown,
                OpenPeriodicEventStream=_rejected,
                PullDynamicScheduleUpdate=_rejected,
                VatNumberValidation=_vat_number,
            )
        return handlers

    def receive(self, data: bytes | str, now: float) -> str | None:
        """Answer one frame; returns the action of a CALL (None for anything else)."""
        event = self.session.receive(data, now)
        if type(event) is Call:
            handler = self._handlers.get(event.action)
            if handler is None:
                # OCPP-J 2.0.1 §4.3: NotImplemented for an action we do not know.
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
        """Send a CALL to the charger (queued behind one in flight, OCPP-J 2.0.1 §4.1.1)."""
        payload = self.complete_payload(action, payload, now)
        if self.session.call(action, payload, now, now) is None:
            self._count(action, "Dropped")

    def expire(self, now: float) -> None:
        """Give up on a command the charger has not answered in time."""
        expired = self.session.expire(now)
        if expired is not None:
            self._count(expired.action, "Timeout")

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
            reservation_id = next(self._ids)  # H01: unique across the CSMS
            self._reservation_ids.append(reservation_id)
            del self._reservation_ids[:-8]  # the recent ones are enough to cancel
            expiry = payload.get("expiryDateTime", iso_utc(now + RESERVATION_S))
            return {**payload, "id": reservation_id, "expiryDateTime": expiry}
        if action == "CancelReservation" and "reservationId" not in payload:
            made = self._reservation_ids
            return {**payload, "reservationId": made.pop() if made else 0}
        return payload

    @property
    def open_transactions(self) -> tuple[str, ...]:
        return tuple(self._open_transactions)

    def _count(self, action: str, status: str) -> None:
        key = (action, status)
        self.commands[key] = self.commands.get(key, 0) + 1

    def take_outbox(self) -> list[bytes]:
        return self.session.take_outbox()

    def _boot(self, _payload: Payload, now: float) -> Payload:
        """B01/B02/B03: Accepted with the heartbeat interval; Pending or Rejected with the
        interval after which the charger boots again."""
        status = self.settings.boot_status
        interval = (
            self.settings.heartbeat_interval_s
            if status == "Accepted"
            else self.settings.boot_retry_s
        )
        self.accepted = status == "Accepted"
        return {"status": status, "currentTime": iso_utc(now), "interval": interval}

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
        """A02/A03: Accepted, then the signed chain in a CertificateSigned, of the
        type asked for; Rejected if the CSR is not a well-signed PKCS#10 request. This CSMS is
        its own CA, as the 1.6 one (protocol/v16/csms.py)."""
        from simfleet.protocol.certificates import simulator_ca  # noqa: PLC0415

        csr = payload.get("csr")
        chain = simulator_ca().sign(csr, now) if isinstance(csr, str) else None
        if chain is None:
            return {"status": "Rejected"}
        signed: Payload = {"certificateChain": chain}
        if isinstance(payload.get("certificateType"), str):
            signed["certificateType"] = payload["certificateType"]
        self._follow_up = ("CertificateSigned", signed)
        return ACCEPTED


def _empty(_payload: Payload, _now: float) -> Payload:
    return {}


def _accepted(_payload: Payload, _now: float) -> Payload:
    return ACCEPTED


def _rejected(_payload: Payload, _now: float) -> Payload:
    return {"status": "Rejected"}


def _current_time(_payload: Payload, now: float) -> Payload:
    return {"currentTime": iso_utc(now)}


def _data_transfer(_payload: Payload, _now: float) -> Payload:
    # P01/P02: vendor-specific; we know no vendor, so the honest answer is UnknownVendorId.
    return {"status": "UnknownVendorId"}


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
