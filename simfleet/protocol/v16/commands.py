"""CSMS-initiated OCPP 1.6 commands: default payloads, and how an answer reads as a status.

The embedded CSMS sends these at the rates a scenario's `[[csms.commands]]` asks for; a scenario
can give any payload of its own. The defaults are the smallest valid requests (OCPP 1.6 §6);
fields that only make sense for one charger (the transaction to stop, the reservation to make or
cancel) are left out here and filled in when the command is sent (`csms.complete_payload`).
"""

from __future__ import annotations

from typing import Final

from simfleet.protocol.frames import Payload

DEFAULT_PAYLOADS: Final[dict[str, Payload]] = {
    "CancelReservation": {},  # the last reservation made at that charger
    "ChangeAvailability": {"connectorId": 0, "type": "Operative"},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "300"},
    "ClearCache": {},
    "ClearChargingProfile": {},
    "DataTransfer": {"vendorId": "simfleet"},
    "GetCompositeSchedule": {"connectorId": 1, "duration": 3600},
    "GetConfiguration": {},
    "GetDiagnostics": {"location": "ftp://127.0.0.1/diagnostics"},
    "GetLocalListVersion": {},
    "RemoteStartTransaction": {"idTag": "REMOTE0001"},
    # Completed per charger when sent (csms.complete_payload): the transaction running there.
    "RemoteStopTransaction": {},
    # A fresh reservationId, expiring 15 minutes after it is sent.
    "ReserveNow": {"connectorId": 1, "idTag": "RESERVE0001"},
    "Reset": {"type": "Soft"},
    "SendLocalList": {"listVersion": 1, "updateType": "Full", "localAuthorizationList": []},
    "TriggerMessage": {"requestedMessage": "Heartbeat"},
    "UnlockConnector": {"connectorId": 1},
    "UpdateFirmware": {
        "location": "ftp://127.0.0.1/firmware.bin",
        "retrieveDate": "2030-01-01T00:00:00.000Z",
    },
    "GetInstalledCertificateIds": {"certificateType": "CentralSystemRootCertificate"},
    "ExtendedTriggerMessage": {"requestedMessage": "Heartbeat"},
}


def answer_status(result: Payload | None, error_code: str) -> str:
    """One word for how the charger answered: its `status` field, the CALLERROR code, or
    "Answered" for confirmations without a status (GetConfiguration, GetLocalListVersion...)."""
    if error_code:
        return error_code
    status = (result or {}).get("status")
    return status if isinstance(status, str) else "Answered"
