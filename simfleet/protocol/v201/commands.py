"""CSMS-initiated OCPP 2.0.1 (and 2.1) commands: default payloads the embedded CSMS sends.

The smallest plausible request of every CSMS-initiated 2.0.1 message (OCPP 2.0.1 Part 2 §1).
Fields that only make sense for one charger or one send are left out here and filled in when the
command goes out (`CsmsConnection201.complete_payload`): the transaction to stop or to bill
(F03, I02), the reservation id and expiry (H01), the request ids that tie a charger's follow-up
messages to the request (B07 NotifyReport, N01 LogStatusNotification, L01 FirmwareStatus...),
and RequestStartTransaction's remoteStartId (F01.FR.01).

2.1 keeps the 2.0.1 messages: the defaults valid against the 2.1 schemas are its defaults too
(a unit test checks which); the commands 2.1 adds (DER control, tariffs, periodic event
streams, battery swap...) have no default: a scenario gives their payload.
"""

from __future__ import annotations

from typing import Final

from simfleet.protocol.ca_root import SIMULATOR_ROOT_PEM
from simfleet.protocol.frames import Payload
from simfleet.protocol.v16.commands import (
    FIRMWARE_SIGNATURE,
    SIGNING_CERTIFICATE,
    SIMULATOR_ROOT_HASH_DATA,
)

#: A retrieve date in the past: the chargers start at once (L01.FR.01).
_PAST: Final = "2024-01-01T00:00:00.000Z"
_FIRMWARE_URL: Final = "http://127.0.0.1/firmware/simfleet-0.2.bin"
#: MD5 of the published file (L03: a 32-character hex checksum).
_FIRMWARE_MD5: Final = "0f343b0931126a20f133d67c2b018a3b"
# Part 2 appendix: HeartbeatInterval belongs to OCPPCommCtrlr.
_HEARTBEAT: Final = {
    "component": {"name": "OCPPCommCtrlr"},
    "variable": {"name": "HeartbeatInterval"},
}

#: Commands whose `requestId` (a number the charger quotes back) is fresh per send.
REQUEST_ID_ACTIONS: Final = frozenset(
    {
        "CustomerInformation",
        "GetBaseReport",
        "GetChargingProfiles",
        "GetDisplayMessages",
        "GetLog",
        "GetMonitoringReport",
        "GetReport",
        "PublishFirmware",
        "UpdateFirmware",
    }
)

DEFAULT_PAYLOADS: Final[dict[str, Payload]] = {
    "CancelReservation": {},  # the last reservation made at that charger (H02)
    "CertificateSigned": {"certificateChain": SIMULATOR_ROOT_PEM},  # unasked for: Rejected
    "ChangeAvailability": {"operationalStatus": "Operative"},  # the whole station (G03)
    "ClearCache": {},
    "ClearChargingProfile": {},  # every profile (K10)
    "ClearDisplayMessage": {"id": 1},
    "ClearVariableMonitoring": {"id": [1]},
    "CostUpdated": {"totalCost": 4.2},  # a transaction running there (I02)
    "CustomerInformation": {
        "report": True,
        "clear": False,
        "customerIdentifier": "simfleet-customer",
    },
    "DataTransfer": {"vendorId": "simfleet"},
    "DeleteCertificate": {"certificateHashData": SIMULATOR_ROOT_HASH_DATA},
    "GetBaseReport": {"reportBase": "SummaryInventory"},
    "GetChargingProfiles": {"chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}},
    "GetCompositeSchedule": {"duration": 3600, "evseId": 1},
    "GetDisplayMessages": {},
    "GetInstalledCertificateIds": {},
    "GetLocalListVersion": {},
    "GetLog": {
        "logType": "DiagnosticsLog",
        "log": {"remoteLocation": "http://127.0.0.1/logs/"},
        "retries": 1,
        "retryInterval": 30,
    },
    "GetMonitoringReport": {},
    "GetReport": {"componentVariable": [{"component": {"name": "OCPPCommCtrlr"}}]},
    "GetTransactionStatus": {},  # any transaction message still queued (E14)
    "GetVariables": {"getVariableData": [_HEARTBEAT]},
    "InstallCertificate": {
        "certificateType": "CSMSRootCertificate",
        "certificate": SIMULATOR_ROOT_PEM,
    },
    "PublishFirmware": {"location": _FIRMWARE_URL, "checksum": _FIRMWARE_MD5},
    # A fresh remoteStartId per send (F01.FR.01); the CSMS accepts any token prefix but INV/BLK...
    "RequestStartTransaction": {"idToken": {"idToken": "REMOTE0001", "type": "Central"}},
    "RequestStopTransaction": {},  # a transaction running there (F03)
    "ReserveNow": {"idToken": {"idToken": "RESERVE0001", "type": "ISO14443"}},  # id + expiry
    "Reset": {"type": "OnIdle"},
    # D01: a Full update without a list empties the local list (the schema wants no empty array).
    "SendLocalList": {"versionNumber": 1, "updateType": "Full"},
    "SetChargingProfile": {
        "evseId": 0,
        "chargingProfile": {
            "id": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [
                {
                    "id": 1,
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}],
                }
            ],
        },
    },
    "SetDisplayMessage": {
        "message": {
            "id": 1,
            "priority": "NormalCycle",
            "message": {"format": "UTF8", "content": "Welcome to simfleet"},
        }
    },
    "SetMonitoringBase": {"monitoringBase": "All"},
    "SetMonitoringLevel": {"severity": 5},
    "SetNetworkProfile": {
        "configurationSlot": 2,
        "connectionData": {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": "ws://127.0.0.1:9000/ocpp",
            "messageTimeout": 30,
            "securityProfile": 1,
            "ocppInterface": "Wired0",
        },
    },
    "SetVariableMonitoring": {
        "setMonitoringData": [
            {
                "value": 10.0,
                "type": "Delta",
                "severity": 7,
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Power"},
            }
        ]
    },
    "SetVariables": {"setVariableData": [{**_HEARTBEAT, "attributeValue": "300"}]},
    "TriggerMessage": {"requestedMessage": "Heartbeat"},
    "UnlockConnector": {"evseId": 1, "connectorId": 1},
    "UnpublishFirmware": {"checksum": _FIRMWARE_MD5},
    "UpdateFirmware": {
        "retries": 2,
        "retryInterval": 60,
        "firmware": {
            "location": _FIRMWARE_URL,
            "retrieveDateTime": _PAST,
            "signingCertificate": SIGNING_CERTIFICATE,
            "signature": FIRMWARE_SIGNATURE,
        },
    },
}


def _defaults_by_version() -> dict[str, dict[str, Payload]]:
    from simfleet.protocol.v16.commands import DEFAULT_PAYLOADS as V16_DEFAULTS  # noqa: PLC0415

    return {"1.6": V16_DEFAULTS, "2.0.1": DEFAULT_PAYLOADS, "2.1": DEFAULT_PAYLOADS}


#: Each OCPP version's default command payloads (2.1: the 2.0.1 ones, which its schemas accept).
DEFAULTS_BY_VERSION: Final = _defaults_by_version()


def command_defaults(action: str) -> dict[str, Payload]:
    """The versions that have `action` as a default command, with their payloads."""
    return {v: table[action] for v, table in DEFAULTS_BY_VERSION.items() if action in table}
