"""CSMS-initiated OCPP 1.6 commands: default payloads, and how an answer reads as a status.

The embedded CSMS sends these at the rates a scenario's `[[csms.commands]]` asks for; a scenario
can give any payload of its own. The defaults are the smallest valid requests (OCPP 1.6 §6);
fields that only make sense for one charger (the transaction to stop, the reservation to make or
cancel) are left out here and filled in when the command is sent (`csms.complete_payload`).
"""

from __future__ import annotations

from typing import Final

from simfleet.protocol.ca_root import SIMULATOR_ROOT_PEM
from simfleet.protocol.frames import Payload

#: A self-signed P-256 certificate (valid 2024-2049) for SignedUpdateFirmware's default payload,
#: and an ECDSA signature by its key (of the bytes "simfleet-0.2.bin"; the simulated chargers
#: check the certificate and the signature's form, see `signing`).
SIGNING_CERTIFICATE: Final = """-----BEGIN CERTIFICATE-----
MIIBbzCCARSgAwIBAgIUMQA0GiAMRrLN9GaN6k8Zky9y39AwCgYIKoZIzj0EAwIw
NzEiMCAGA1UEAwwZc2ltZmxlZXQgZmlybXdhcmUgc2lnbmluZzERMA8GA1UECgwI
c2ltZmxlZXQwHhcNMjQwMTAxMDAwMDAwWhcNNDkwMTAxMDAwMDAwWjA3MSIwIAYD
VQQDDBlzaW1mbGVldCBmaXJtd2FyZSBzaWduaW5nMREwDwYDVQQKDAhzaW1mbGVl
dDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABOxhTGbb0q79TzEmwwrziRcZFoF6
3U7cFn35wCxKI7L4LolInyf0dG2g4eaEVRF60nNnP+8cVY+zn2yLGE4m/S8wCgYI
KoZIzj0EAwIDSQAwRgIhANQKJx455M9kDkpGpdGVg+P9/vy72hH8n65WnpKl1POL
AiEA5EGuQRlXtn/Ohz/pvMo3icZRdlWRFgxMsOziYxfjDIM=
-----END CERTIFICATE-----
"""
FIRMWARE_SIGNATURE: Final = (
    "MEUCIQChvzvA9wgCF8Ma7UJgn8EcYrNTe26moX8uFhn0MMoBlgIg"
    "GLuEeR+6XjrLLHSVuOyINY2A/yIyNHw+SUWvywz8iDg="
)
#: A retrieve date in the past: the chargers start at once (§5.19).
_PAST: Final = "2024-01-01T00:00:00.000Z"
#: CertificateHashDataType (security whitepaper §6.1) of the simulator's root, SHA256; a unit
#: test recomputes it from the certificate.
SIMULATOR_ROOT_HASH_DATA: Final = {
    "hashAlgorithm": "SHA256",
    "issuerNameHash": "90529d26ac382db019f75ae99f00a4cad9bb849d78ee8cd4fa897296138e8f7c",
    "issuerKeyHash": "e25964c7aba6c6e31f2f5689c431250eeb3f766b65a7e2fd39e6a64b92e5ce46",
    "serialNumber": "5F1EE7",
}

DEFAULT_PAYLOADS: Final[dict[str, Payload]] = {
    "CancelReservation": {},  # the last reservation made at that charger
    "ChangeAvailability": {"connectorId": 0, "type": "Operative"},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "300"},
    "ClearCache": {},
    "ClearChargingProfile": {},
    "DataTransfer": {"vendorId": "simfleet"},
    "GetCompositeSchedule": {"connectorId": 1, "duration": 3600},
    "GetConfiguration": {},
    "GetDiagnostics": {
        "location": "http://127.0.0.1/diagnostics/",
        "retries": 1,
        "retryInterval": 30,
    },
    "GetLog": {
        "logType": "DiagnosticsLog",
        "requestId": 1,
        "log": {"remoteLocation": "http://127.0.0.1/logs/"},
        "retries": 1,
        "retryInterval": 30,
    },
    "GetLocalListVersion": {},
    "RemoteStartTransaction": {"idTag": "REMOTE0001"},
    # Completed per charger when sent (csms.complete_payload): the transaction running there.
    "RemoteStopTransaction": {},
    # A fresh reservationId, expiring 15 minutes after it is sent.
    "ReserveNow": {"connectorId": 1, "idTag": "RESERVE0001"},
    "Reset": {"type": "Soft"},
    # A site's default cap: every new transaction at most 16 A per phase (§3.13.2).
    "SetChargingProfile": {
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
            },
        },
    },
    "SendLocalList": {"listVersion": 1, "updateType": "Full", "localAuthorizationList": []},
    "TriggerMessage": {"requestedMessage": "Heartbeat"},
    "UnlockConnector": {"connectorId": 1},
    "UpdateFirmware": {
        "location": "http://127.0.0.1/firmware/simfleet-0.2.bin",
        "retrieveDate": _PAST,
        "retries": 2,
        "retryInterval": 60,
    },
    "SignedUpdateFirmware": {
        "requestId": 1,
        "retries": 2,
        "retryInterval": 60,
        "firmware": {
            "location": "http://127.0.0.1/firmware/simfleet-0.2.bin",
            "retrieveDateTime": _PAST,
            "signingCertificate": SIGNING_CERTIFICATE,
            "signature": FIRMWARE_SIGNATURE,
        },
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
