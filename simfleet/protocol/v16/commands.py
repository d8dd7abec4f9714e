"""CSMS-initiated OCPP 1.6 commands: default payloads, and how an answer reads as a status.

The embedded CSMS sends these at the rates a scenario's `[[csms.commands]]` asks for; a scenario
can give any payload of its own. The defaults are the smallest valid requests (OCPP 1.6 §6).
"""

from __future__ import annotations

from typing import Final

from simfleet.protocol.ca_root import SIMULATOR_ROOT_PEM
from simfleet.protocol.frames import Payload

#: CertificateHashDataType (security whitepaper §6.1) of the simulator's root, SHA256; a unit
#: test recomputes it from the certificate.
SIMULATOR_ROOT_HASH_DATA: Final = {
    "hashAlgorithm": "SHA256",
    "issuerNameHash": "90529d26ac382db019f75ae99f00a4cad9bb849d78ee8cd4fa897296138e8f7c",
    "issuerKeyHash": "e25964c7aba6c6e31f2f5689c431250eeb3f766b65a7e2fd39e6a64b92e5ce46",
    "serialNumber": "5F1EE7",
}

DEFAULT_PAYLOADS: Final[dict[str, Payload]] = {
    "CancelReservation": {"reservationId": 1},
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
    "RemoteStopTransaction": {"transactionId": 1},
    "ReserveNow": {
        "connectorId": 1,
        "expiryDate": "2030-01-01T00:00:00.000Z",
        "idTag": "RESERVE0001",
        "reservationId": 1,
    },
    "Reset": {"type": "Soft"},
    "SendLocalList": {"listVersion": 1, "updateType": "Full", "localAuthorizationList": []},
    "TriggerMessage": {"requestedMessage": "Heartbeat"},
    "UnlockConnector": {"connectorId": 1},
    "UpdateFirmware": {
        "location": "ftp://127.0.0.1/firmware.bin",
        "retrieveDate": "2030-01-01T00:00:00.000Z",
    },
    "GetInstalledCertificateIds": {"certificateType": "CentralSystemRootCertificate"},
    # Security whitepaper: the charge point certificate update (A02) through the embedded
    # CSMS's CA, and the simulator's root (the same CA) installed, listed and deleted (M03-M05).
    "ExtendedTriggerMessage": {"requestedMessage": "SignChargePointCertificate"},
    "InstallCertificate": {
        "certificateType": "CentralSystemRootCertificate",
        "certificate": SIMULATOR_ROOT_PEM,
    },
    "DeleteCertificate": {"certificateHashData": SIMULATOR_ROOT_HASH_DATA},
    # Unasked for, a root is no charge point certificate: Rejected, and the charger's
    # InvalidChargePointCertificate event (A02.FR.07).
    "CertificateSigned": {"certificateChain": SIMULATOR_ROOT_PEM},
}


def answer_status(result: Payload | None, error_code: str) -> str:
    """One word for how the charger answered: its `status` field, the CALLERROR code, or
    "Answered" for confirmations without a status (GetConfiguration, GetLocalListVersion...)."""
    if error_code:
        return error_code
    status = (result or {}).get("status")
    return status if isinstance(status, str) else "Answered"
