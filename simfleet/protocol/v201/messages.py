"""Payloads of the charging-station-initiated OCPP 2.0.1 messages, as plain dicts.

The same payloads are valid OCPP 2.1 (its schemas keep these fields). Optional fields are
omitted rather than sent as null: the official schemas reject null.
"""

from __future__ import annotations

import re
from typing import Final

from simfleet.protocol.frames import Payload
from simfleet.protocol.ports import Reading
from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16.messages import sampled_values as sampled_values16

#: behaviour-level Status (1.6 words) -> 2.0.1 ConnectorStatusEnumType (B01, G01).
CONNECTOR_STATUS: Final = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}

#: behaviour-level Status -> TransactionEvent chargingState (E02: ChargingStateChanged).
CHARGING_STATE: Final = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "Preparing": "EVConnected",
    "Finishing": "EVConnected",
}

#: 1.6 stop reasons the driver uses -> 2.0.1 ReasonEnumType (stoppedReason, E06/E07).
STOPPED_REASON: Final = {
    "Local": "Local",
    "EVDisconnected": "EVDisconnected",
    "Remote": "Remote",
    "DeAuthorized": "DeAuthorized",
    "PowerLoss": "PowerLoss",
    "Reboot": "Reboot",
    "HardReset": "ImmediateReset",
    "SoftReset": "ImmediateReset",
    "ImmediateReset": "ImmediateReset",
    "OnIdleReset": "Reboot",
    "EmergencyStop": "EmergencyStop",
    "Other": "Other",
}

#: stoppedReason -> the Ended event's triggerReason (TriggerReasonEnumType).
ENDED_TRIGGER: Final = {
    "Local": "StopAuthorized",
    "EVDisconnected": "EVCommunicationLost",
    "Remote": "RemoteStop",
    "DeAuthorized": "Deauthorized",
    "ImmediateReset": "ResetCommand",
}

#: MeasurandEnumType of 2.0.1 / 2.1 among what the simulated meter reads: 2.x has no
#: Temperature measurand (temperatures are device model variables, not meter values).
MEASURANDS: Final = frozenset(
    {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "Current.Offered",
        "SoC",
    }
)

#: The token's method letter (behaviour/tokens.py) -> IdTokenEnumType (C01).
_TOKEN_TYPES: Final = {"R": "ISO14443", "A": "Central", "V": "eMAID", "H": "Local"}
_TOKEN_SHAPE: Final = re.compile(r"^.*([RAVH])\d{9,}$")


def token_type(id_token: str) -> str:
    """The IdTokenEnumType of a simulated driver's token (RFID cards unless it says else)."""
    match = _TOKEN_SHAPE.match(id_token)
    return _TOKEN_TYPES[match.group(1)] if match else "ISO14443"


def id_token(token: str, kind: str = "") -> Payload:
    # IdTokenType.idToken is identifierString(36).
    return {"idToken": token[:36], "type": kind or token_type(token)}


def boot_notification(reason: str, vendor: str, model: str, serial: str, firmware: str) -> Payload:
    # B01: ChargingStationType model string(20), vendorName string(50), serialNumber
    # string(25), firmwareVersion string(50).
    return {
        "reason": reason,
        "chargingStation": {
            "model": model[:20],
            "vendorName": vendor[:50],
            "serialNumber": serial[:25],
            "firmwareVersion": firmware[:50],
        },
    }


def heartbeat() -> Payload:
    return {}


def status_notification(evse_id: int, status: str, now: float) -> Payload:
    """B01.FR.05 / G01: one connector per EVSE, so connectorId is always 1."""
    return {
        "timestamp": iso_utc(now),
        "connectorStatus": CONNECTOR_STATUS[status],
        "evseId": evse_id,
        "connectorId": 1,
    }


def authorize(token: str, kind: str = "") -> Payload:
    return {"idToken": id_token(token, kind)}


def meter_value(
    reading: Reading, measurands: tuple[str, ...], context: str, ac: bool, at: float
) -> Payload:
    """One MeterValueType: the 1.6 readings in 2.0.1 form (value a number, unitOfMeasure)."""
    sampled = []
    for sample in sampled_values16(reading, measurands, context, ac):
        if sample["measurand"] not in MEASURANDS:
            continue
        out: Payload = {
            "value": float(sample["value"]),
            "context": context,
            "measurand": sample["measurand"],
            "location": sample["location"],
            "unitOfMeasure": {"unit": sample["unit"]},
        }
        if "phase" in sample:
            out["phase"] = sample["phase"]
        sampled.append(out)
    return {"timestamp": iso_utc(at), "sampledValue": sampled}


def meter_values(evse_id: int, values: list[Payload]) -> Payload:
    """MeterValuesRequest (J01): readings outside a transaction (a TriggerMessage's)."""
    return {"evseId": evse_id, "meterValue": values}


def transaction_event(
    event_type: str,
    trigger: str,
    seq_no: int,
    now: float,
    info: Payload,
    *,
    offline: bool = False,
    evse_id: int = 0,
    token: Payload | None = None,
    values: list[Payload] | None = None,
) -> Payload:
    """TransactionEventRequest (E01-E07): `info` is the transactionInfo."""
    payload: Payload = {
        "eventType": event_type,
        "timestamp": iso_utc(now),
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": info,
    }
    if offline:  # only said when true: the event was made while offline (E04)
        payload["offline"] = True
    if evse_id:
        payload["evse"] = {"id": evse_id, "connectorId": 1}
    if token is not None:
        payload["idToken"] = token
    if values:
        payload["meterValue"] = values
    return payload
