"""CSMS-initiated Core and RemoteTrigger operations of OCPP 1.6, as a real charger answers them.

Each handler answers the CALL (the CALLRESULT goes out before any follow-up CALL it causes, as a
charger does) and returns the status word the stats count for it. Pure, like the charger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from simfleet.protocol.frames import Call
from simfleet.protocol.v16 import messages, reservation_profile
from simfleet.protocol.v16.answers import Handler, reject_payload
from simfleet.protocol.v16.configuration import Configuration, ConfigurationStatus
from simfleet.protocol.v16.state import BootState, Connector, Status

if TYPE_CHECKING:
    from simfleet.protocol.v16.charger import Charger16


def _answer(ch: Charger16, call: Call, payload: dict[str, Any], status: str) -> str:
    ch.session.answer(call, payload)
    return status


def _connector_id(ch: Charger16, call: Call, required: bool) -> int | None:
    """The payload's connectorId if it is an integer in 0..N (None: absent or invalid)."""
    value = call.payload.get("connectorId")
    if value is None and not required:
        return 0
    if type(value) is not int or not 0 <= value <= len(ch.connectors):
        return None
    return value


# -- §5.2 ChangeAvailability ---------------------------------------------------------------------


def change_availability(ch: Charger16, call: Call, now: float) -> str:
    kind = call.payload.get("type")
    cid = _connector_id(ch, call, required=True)
    if kind not in ("Inoperative", "Operative"):
        return reject_payload(ch, call, "type must be Inoperative or Operative")
    if cid is None:
        return _answer(ch, call, {"status": "Rejected"}, "Rejected")
    targets = ch.connectors if cid == 0 else [ch.connectors[cid - 1]]
    inoperative = kind == "Inoperative"
    # §5.2: a connector with a transaction changes when the transaction has ended: Scheduled.
    scheduled = inoperative and any(c.in_transaction for c in targets)
    status = "Scheduled" if scheduled else "Accepted"
    ch.session.answer(call, {"status": status})
    for connector in targets:
        connector.inoperative = inoperative
        if not connector.in_transaction and connector.status in (
            Status.AVAILABLE,
            Status.UNAVAILABLE,
            Status.PREPARING,
            Status.RESERVED,  # §5.13 (3): Unavailable ends the reservation
        ):
            if connector.status is Status.PREPARING:
                connector.id_tag = ""
            if connector.status is not connector.free_status:
                ch._set_status(connector, connector.free_status, now)
    if cid == 0 and not scheduled:
        ch._report_charger_status("Unavailable" if inoperative else "Available", "NoError", now)
        if inoperative:
            reservation_profile.release(ch, 0, now)
    return status


# -- §5.3 ChangeConfiguration, §5.8 GetConfiguration --------------------------------------------


def get_configuration(ch: Charger16, call: Call, _now: float) -> str:
    keys = call.payload.get("key")
    if keys is not None and not (isinstance(keys, list) and all(type(k) is str for k in keys)):
        return reject_payload(ch, call, "key must be a list of strings")
    known, unknown = ch.config.get(keys or None)
    payload: dict[str, Any] = {"configurationKey": known}
    if unknown:
        payload["unknownKey"] = unknown
    return _answer(ch, call, payload, "Answered")


def change_configuration(ch: Charger16, call: Call, now: float) -> str:
    key, value = call.payload.get("key"), call.payload.get("value")
    if type(key) is not str or type(value) is not str:
        return reject_payload(ch, call, "key and value must be strings")
    status = ch.config.change(key, value)
    ch.session.answer(call, {"status": status.value})
    if status is ConfigurationStatus.ACCEPTED:
        apply_configuration(ch, key, now)
    return status.value


def apply_configuration(ch: Charger16, key: str, now: float) -> None:
    """What a new value changes in the charger's behaviour (§9.1)."""
    config = ch.config
    if key == "HeartbeatInterval":
        ch.heartbeat_interval = float(config.integer(key)) or ch.settings.heartbeat_interval_s
        if ch.boot is BootState.ACCEPTED:
            ch.heartbeat_at = now + ch.heartbeat_interval
    elif key == "MeterValueSampleInterval":
        ch.meter_interval = float(config.integer(key))
        ch.reschedule_meter(now)
    elif key == "ClockAlignedDataInterval":
        ch.clock_aligned_s = float(config.integer(key))
        ch.reschedule_meter(now)
    elif key == "MeterValuesSampledData":
        ch.measurands = config.members(key)
    elif key == "StopTxnSampledData":
        ch.stop_measurands = config.members(key)
    elif key == "AuthorizationCacheEnabled":
        ch.cache.enabled = config.flag(key)
    elif key == "TransactionMessageAttempts":  # §4.7: failures before a message is dropped
        ch.session.retry_attempts = config.integer(key)
    elif key == "TransactionMessageRetryInterval":  # §4.7: x the failures so far
        ch.session.retry_interval = float(config.integer(key))


# -- §5.4 ClearCache, §5.6 DataTransfer -----------------------------------------------------------


def clear_cache(ch: Charger16, call: Call, _now: float) -> str:
    status = ch.clear_authorization_cache()
    return _answer(ch, call, {"status": status}, status)


def data_transfer(ch: Charger16, call: Call, _now: float) -> str:
    if type(call.payload.get("vendorId")) is not str:
        return reject_payload(ch, call, "vendorId must be a string")
    # §5.6: a vendor we do not know (we implement no vendor extension).
    return _answer(ch, call, {"status": "UnknownVendorId"}, "UnknownVendorId")


# -- §5.11 RemoteStartTransaction, §5.12 RemoteStopTransaction -----------------------------------


def remote_start(ch: Charger16, call: Call, now: float) -> str:
    id_tag = call.payload.get("idTag")
    if type(id_tag) is not str or not 0 < len(id_tag) <= 20:
        return reject_payload(ch, call, "idTag must be a string of 1..20 characters")
    requested = call.payload.get("connectorId")
    connector = _remote_start_connector(ch, requested, id_tag, now)
    profile = call.payload.get("chargingProfile")
    # §5.11: a chargingProfile the charger cannot use (not a TxProfile, ...) rejects the start.
    if connector is None or (
        profile is not None
        and not (isinstance(profile, dict) and ch.remote_profile(connector.connector_id, profile))
    ):
        return _answer(ch, call, {"status": "Rejected"}, "Rejected")
    ch.session.answer(call, {"status": "Accepted"})
    ch.remote_start(connector.connector_id, id_tag, now)
    return "Accepted"


def _remote_start_connector(
    ch: Charger16, requested: object, id_tag: str, now: float
) -> Connector | None:
    """The connector a remote start may use: the one asked for, else the first free one;
    a Reserved one only for its reservation's idTag (§5.13)."""
    if requested is not None:
        if type(requested) is not int or not 1 <= requested <= len(ch.connectors):
            return None
        candidates = [ch.connectors[requested - 1]]
    else:
        candidates = ch.connectors
    for connector in candidates:
        if (
            not connector.in_transaction
            and connector.status in (Status.AVAILABLE, Status.PREPARING, Status.RESERVED)
            and reservation_profile.admits(ch, connector, id_tag, now)
        ):
            return connector
    return None


def remote_stop(ch: Charger16, call: Call, now: float) -> str:
    tx = call.payload.get("transactionId")
    if type(tx) is not int:
        return reject_payload(ch, call, "transactionId must be an integer")
    for connector in ch.connectors:
        if connector.transaction_id == tx:
            ch.session.answer(call, {"status": "Accepted"})
            ch.stop_transaction(connector.connector_id, "Remote", now)
            return "Accepted"
    return _answer(ch, call, {"status": "Rejected"}, "Rejected")


# -- §5.13 Reset, §5.18 UnlockConnector -----------------------------------------------------------


def reset(ch: Charger16, call: Call, now: float) -> str:
    kind = call.payload.get("type")
    if kind not in ("Soft", "Hard"):
        return reject_payload(ch, call, "type must be Soft or Hard")
    ch.session.answer(call, {"status": "Accepted"})
    # §5.13: transactions end with reason SoftReset / HardReset, then the charger reboots (the
    # driver closes the connection; the next one starts with a BootNotification).
    for connector in ch.connectors:
        if connector.in_transaction:  # one still starting stops as soon as it has its id
            ch.stop_transaction(connector.connector_id, f"{kind}Reset", now)
    ch.reset_pending = str(kind)
    ch.reset_deadline = now + RESET_GRACE_S
    return "Accepted"


def unlock_connector(ch: Charger16, call: Call, now: float) -> str:
    cid = _connector_id(ch, call, required=True)
    if cid is None or cid == 0:
        return _answer(ch, call, {"status": "NotSupported"}, "NotSupported")
    connector = ch.connectors[cid - 1]
    ch.session.answer(call, {"status": "Unlocked"})
    # §5.18: a transaction on the connector is stopped (reason UnlockCommand).
    if connector.transaction_id is not None or connector.starting:
        ch.stop_transaction(cid, "UnlockCommand", now)
    return "Unlocked"


# -- §5.17 TriggerMessage -------------------------------------------------------------------------

#: A soft reset waits this long at most for its StopTransactions to be answered.
RESET_GRACE_S: Final = 5.0

TRIGGERABLE: Final = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)


def trigger_message(ch: Charger16, call: Call, now: float) -> str:
    requested = call.payload.get("requestedMessage")
    if requested not in TRIGGERABLE:
        return _answer(ch, call, {"status": "NotImplemented"}, "NotImplemented")
    cid = _connector_id(ch, call, required=False)
    if cid is None:
        return _answer(ch, call, {"status": "Rejected"}, "Rejected")
    ch.session.answer(call, {"status": "Accepted"})
    send_triggered(ch, str(requested), cid, now)
    return "Accepted"


def send_triggered(ch: Charger16, requested: str, cid: int, now: float) -> None:
    """The message a TriggerMessage asked for, after its answer (§5.17)."""
    targets = ch.connectors if cid == 0 else [ch.connectors[cid - 1]]
    if requested == "BootNotification":
        ch._send_boot(now, now)
    elif requested == "Heartbeat":
        ch.session.call("Heartbeat", messages.heartbeat(), now, now)
    elif requested == "StatusNotification":
        if cid == 0:
            ch._report_charger_status(ch.charger_status, "NoError", now)
        for connector in targets:
            ch._report_status(connector, now)
    elif requested == "MeterValues":
        for connector in targets:
            ch._send_meter_values_of(connector, now, now, "Trigger")
    elif requested == "FirmwareStatusNotification":
        ch.session.call("FirmwareStatusNotification", {"status": ch.firmware_status}, now, now)
    else:
        ch.session.call(
            "DiagnosticsStatusNotification", {"status": ch.diagnostics_status}, now, now
        )


HANDLERS: Final[dict[str, Handler]] = {
    "ChangeAvailability": change_availability,
    "ChangeConfiguration": change_configuration,
    "ClearCache": clear_cache,
    "DataTransfer": data_transfer,
    "GetConfiguration": get_configuration,
    "RemoteStartTransaction": remote_start,
    "RemoteStopTransaction": remote_stop,
    "Reset": reset,
    "TriggerMessage": trigger_message,
    "UnlockConnector": unlock_connector,
}


#: CpoName (security whitepaper §7.5) until a CSMS sets its own.
DEFAULT_CPO_NAME: Final = "simfleet"


def default_configuration(ch: Charger16) -> Configuration:
    s = ch.settings
    return Configuration.defaults(
        connectors=s.connectors,
        heartbeat_s=ch.heartbeat_interval,  # the BootNotification answer's, once accepted
        meter_interval_s=s.meter_interval_s,
        clock_aligned_s=s.clock_aligned_s,
        measurands=s.measurands,
        authorize_remote=s.authorize_before_start,
        extra={
            # The profile it connects with; a CpoName, so that a certificate request (whitepaper
            # A02, "CpoName MUST be set") works before a CSMS configures its own.
            "SecurityProfile": str(s.security_profile),
            "CpoName": DEFAULT_CPO_NAME,
            "TransactionMessageAttempts": str(s.transaction_message_attempts),
            "TransactionMessageRetryInterval": str(s.transaction_message_retry_interval_s),
        },
    )
