"""CSMS-initiated OCPP 2.0.1 / 2.1 commands the charging station core answers.

Handler shape as in 1.6 (`core_profile.py`): `handler(ch, call, now) -> status word`, the CALL
answered first, follow-ups after. `HANDLERS` is this block's table; further blocks (device
model B, smart charging K, reservations H, firmware L, display messages O) add tables of their
own, merged in `charger.py`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from simfleet.protocol.errors import ErrorCode
from simfleet.protocol.frames import Call
from simfleet.protocol.strict import schema_names
from simfleet.protocol.v16.state import Status

if TYPE_CHECKING:
    from simfleet.protocol.v201.charger import Charger201
    from simfleet.protocol.v201.state import Evse

#: A Reset waits this long at most for its Ended events to be answered before rebooting.
RESET_GRACE_S: Final = 5.0
#: TxCtrlr.EVConnectionTimeOut: a remote start waits this long for the cable.
EV_CONNECTION_TIMEOUT_S: Final = 60.0


@functools.cache
def known_actions(version: str) -> frozenset[str]:
    """Every action the version defines (a Request schema exists): one we have no handler
    for is answered NotSupported, anything else NotImplemented (OCPP-J 2.0.1 §4.3)."""
    return frozenset(
        name.removesuffix("Request") for name in schema_names(version) if name.endswith("Request")
    )


def _answer(ch: Charger201, call: Call, payload: dict[str, Any], status: str) -> str:
    ch.session.answer(call, payload)
    return status


def reject_payload(ch: Charger201, call: Call, what: str) -> str:
    """A payload we cannot use: FormatViolation (OCPP-J 2.0.1 §4.3); returns that code."""
    ch.session.answer_error(call, ErrorCode.FORMAT_VIOLATION, what[:200])
    return ch.session.dialect.spell(ErrorCode.FORMAT_VIOLATION)


def _evse(ch: Charger201, evse_id: object) -> Evse | None:
    if type(evse_id) is int and 1 <= evse_id <= len(ch.connectors):
        return ch.connectors[evse_id - 1]
    return None


def _targets(ch: Charger201, evse: object) -> list[Evse] | None:
    """An optional EVSEType: all EVSEs when absent, None when it names no EVSE of ours (or a
    connector other than the one each EVSE has)."""
    if evse is None:
        return ch.connectors
    if not isinstance(evse, dict):
        return None
    found = _evse(ch, evse.get("id"))
    if found is None or evse.get("connectorId", 1) != 1:
        return None
    return [found]


# -- B11/B12 Reset -------------------------------------------------------------------------------


def reset(ch: Charger201, call: Call, now: float) -> str:
    kind = call.payload.get("type")
    if kind not in ("Immediate", "OnIdle"):
        return reject_payload(ch, call, "type must be Immediate or OnIdle")
    if "evseId" in call.payload:  # B11 resetting one EVSE is optional: not supported
        return _answer(ch, call, {"status": "Rejected"}, "Rejected")
    busy = any(e.in_transaction for e in ch.connectors)
    if kind == "OnIdle" and busy:
        # B12 OnIdle with transactions going: Scheduled, reboot when they have ended.
        ch.session.answer(call, {"status": "Scheduled"})
        ch.reset_when_idle(now)
        return "Scheduled"
    ch.session.answer(call, {"status": "Accepted"})
    # B11: Immediate ends the transactions (stoppedReason ImmediateReset), then reboots.
    ch.end_all("ImmediateReset", now)
    ch.reset_pending = str(kind)
    ch.reset_deadline = now + RESET_GRACE_S
    return "Accepted"


# -- F01-F03 remote start/stop, E14 GetTransactionStatus ------------------------------------------


def request_start(ch: Charger201, call: Call, now: float) -> str:
    token = call.payload.get("idToken")
    remote_start_id = call.payload.get("remoteStartId")
    if not (
        isinstance(token, dict)
        and type(token.get("idToken")) is str
        and type(token.get("type")) is str
        and type(remote_start_id) is int
    ):
        return reject_payload(ch, call, "idToken {idToken, type} and remoteStartId are required")
    evse_id = call.payload.get("evseId")
    if evse_id is None:  # F01 no evseId: the station picks a free EVSE
        evse = next((e for e in ch.connectors if e.status is Status.AVAILABLE), None)
    else:
        evse = _evse(ch, evse_id)
    if (
        evse is None
        or evse.in_transaction
        or evse.status
        not in (
            Status.AVAILABLE,
            Status.PREPARING,
        )
    ):
        return _answer(ch, call, {"status": "Rejected"}, "Rejected")
    ch.session.answer(call, {"status": "Accepted"})
    ch.remote_start(evse.connector_id, token, remote_start_id, now)
    return "Accepted"


def request_stop(ch: Charger201, call: Call, now: float) -> str:
    tx = call.payload.get("transactionId")
    if type(tx) is not str:
        return reject_payload(ch, call, "transactionId must be a string")
    for evse in ch.connectors:
        if evse.transaction_id == tx:
            ch.session.answer(call, {"status": "Accepted"})
            ch.stop_transaction(evse.connector_id, "Remote", now)  # F03: stoppedReason Remote
            return "Accepted"
    return _answer(ch, call, {"status": "Rejected"}, "Rejected")


def get_transaction_status(ch: Charger201, call: Call, _now: float) -> str:
    tx = call.payload.get("transactionId")
    if tx is not None and type(tx) is not str:
        return reject_payload(ch, call, "transactionId must be a string")
    payload: dict[str, Any] = {"messagesInQueue": ch.queued_events(tx)}
    if tx is not None:  # E14 ongoingIndicator only about a named transaction
        payload["ongoingIndicator"] = any(e.transaction_id == tx for e in ch.connectors)
    return _answer(ch, call, payload, "Answered")


# -- F05 UnlockConnector, F06 TriggerMessage -----------------------------------------------------


def unlock_connector(ch: Charger201, call: Call, _now: float) -> str:
    evse = _evse(ch, call.payload.get("evseId"))
    if evse is None or call.payload.get("connectorId") != 1:
        return _answer(ch, call, {"status": "UnknownConnector"}, "UnknownConnector")
    if evse.in_transaction:  # F05.FR.02: not while an authorized transaction goes on
        status = "OngoingAuthorizedTransaction"
        return _answer(ch, call, {"status": status}, status)
    return _answer(ch, call, {"status": "Unlocked"}, "Unlocked")


def trigger_message(ch: Charger201, call: Call, now: float) -> str:
    requested = call.payload.get("requestedMessage")
    send = _TRIGGERED.get(str(requested))
    if send is None:
        return _answer(ch, call, {"status": "NotImplemented"}, "NotImplemented")
    targets = _targets(ch, call.payload.get("evse"))
    if targets is None or (requested == "BootNotification" and ch.accepted):
        # F06.FR.17: no BootNotification once the boot was Accepted.
        return _answer(ch, call, {"status": "Rejected"}, "Rejected")
    ch.session.answer(call, {"status": "Accepted"})
    send(ch, targets, now)
    return "Accepted"


def _trigger_status(ch: Charger201, targets: list[Evse], now: float) -> None:
    for evse in targets:
        ch.report_status(evse, now)


def _trigger_meter_values(ch: Charger201, targets: list[Evse], now: float) -> None:
    for evse in targets:
        ch.send_meter_values(evse, now)


def _trigger_transaction(ch: Charger201, targets: list[Evse], now: float) -> None:
    # F06 TransactionEvent Updated with triggerReason Trigger for each transaction.
    for evse in targets:
        if evse.in_transaction:
            ch.send_transaction_updated(evse, "Trigger", "Trigger", now)


_TRIGGERED: Final[dict[str, Callable[[Charger201, list[Evse], float], None]]] = {
    "BootNotification": lambda ch, _targets, now: ch.send_boot_triggered(now),
    "Heartbeat": lambda ch, _targets, now: ch.send_heartbeat(now),
    "StatusNotification": _trigger_status,
    "MeterValues": _trigger_meter_values,
    "TransactionEvent": _trigger_transaction,
}


# -- G03/G04 ChangeAvailability, C11 ClearCache, P01 DataTransfer ---------------------------------


def change_availability(ch: Charger201, call: Call, now: float) -> str:
    kind = call.payload.get("operationalStatus")
    if kind not in ("Inoperative", "Operative"):
        return reject_payload(ch, call, "operationalStatus must be Inoperative or Operative")
    targets = _targets(ch, call.payload.get("evse"))
    if targets is None:
        return _answer(ch, call, {"status": "Rejected"}, "Rejected")
    inoperative = kind == "Inoperative"
    # G03 / G04: an EVSE with a transaction changes when the transaction ends.
    scheduled = inoperative and any(e.in_transaction for e in targets)
    status = "Scheduled" if scheduled else "Accepted"
    ch.session.answer(call, {"status": status})
    for evse in targets:
        evse.inoperative = inoperative
        if not evse.in_transaction and evse.status in (
            Status.AVAILABLE,
            Status.UNAVAILABLE,
            Status.PREPARING,
            Status.RESERVED,
        ):
            if evse.status is Status.PREPARING:
                evse.id_tag = ""
            if evse.status is not evse.free_status:
                ch.set_status(evse, evse.free_status, now)
    return status


def clear_cache(ch: Charger201, call: Call, _now: float) -> str:
    status = ch.clear_cache()
    return _answer(ch, call, {"status": status}, status)


def data_transfer(ch: Charger201, call: Call, _now: float) -> str:
    # P01: no vendor extensions on a simulated station.
    return _answer(ch, call, {"status": "UnknownVendorId"}, "UnknownVendorId")


HANDLERS: Final[dict[str, Callable[[Charger201, Call, float], str]]] = {
    "ChangeAvailability": change_availability,
    "ClearCache": clear_cache,
    "DataTransfer": data_transfer,
    "GetTransactionStatus": get_transaction_status,
    "RequestStartTransaction": request_start,
    "RequestStopTransaction": request_stop,
    "Reset": reset,
    "TriggerMessage": trigger_message,
    "UnlockConnector": unlock_connector,
}
