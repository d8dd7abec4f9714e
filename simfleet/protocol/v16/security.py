"""The OCPP 1.6 security extension on the charger: "Improved security for OCPP 1.6-J", edition 3.

Certificates: InstallCertificate (M05), GetInstalledCertificateIds (M03), DeleteCertificate
(M04), and the charge point certificate update (A02): ExtendedTriggerMessage
SignChargePointCertificate -> SignCertificate (a new key and CSR) -> CertificateSigned (checked,
installed or Rejected). Security events (A04, §8) through `security_event`. ExtendedTriggerMessage
(§5.5) for every message it names. SecurityProfile upgrades check their prerequisites (A05).

Pure, like the charger. The certificate store is made on a charger's first security operation
(`store`), and the X.509 code is only imported then: chargers that never see these commands pay
nothing, neither memory nor time. Not here: GetLog, SignedUpdateFirmware (diagnostics and
firmware live elsewhere); this module only reports their statuses when triggered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from simfleet.protocol.frames import Call
from simfleet.protocol.session import OutgoingCall
from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16 import core_profile, diagnostics, firmware
from simfleet.protocol.v16.answers import reject_payload

if TYPE_CHECKING:
    from simfleet.protocol.certificates import CertificateStore
    from simfleet.protocol.v16.answers import Handler
    from simfleet.protocol.v16.charger import Charger16

CENTRAL_SYSTEM_ROOT: Final = "CentralSystemRootCertificate"
#: CertificateUseEnumType (§6.4).
CERTIFICATE_USES: Final = (CENTRAL_SYSTEM_ROOT, "ManufacturerRootCertificate")
#: HashAlgorithmEnumType (§6.12).
HASH_ALGORITHMS: Final = ("SHA256", "SHA384", "SHA512")
#: §8: the events marked critical. They are pushed to the Central System and, while the charger
#: is offline, queued with guaranteed delivery (A04.FR.01, A04.FR.02). The others the simulator
#: has are sent too (the compliance tests expect InvalidChargePointCertificate, TC_077), but a
#: dropped connection may lose them, as it loses any other non-transaction message.
CRITICAL_EVENTS: Final = frozenset(
    {
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
    }
)
#: ChangeConfiguration of these is a ReconfigurationOfSecurityParameters event (§8, A01.FR.11).
SECURITY_KEYS: Final = frozenset({"AuthorizationKey", "SecurityProfile"})
#: MessageTriggerEnumType (§6.16).
EXTENDED_TRIGGERS: Final = (
    "BootNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "SignChargePointCertificate",
    "StatusNotification",
)


def store(ch: Charger16) -> CertificateStore:
    """The charger's certificate store, made on first use."""
    certificates = ch._security
    if certificates is None:
        # Loaded on first use: ~16 MB and ~60 ms a process that never needs X.509 saves.
        from simfleet.protocol.certificates import CertificateStore  # noqa: PLC0415

        certificates = ch._security = CertificateStore()
    return certificates


def _answer(ch: Charger16, call: Call, payload: dict[str, Any], status: str) -> str:
    ch.session.answer(call, payload)
    return status


# -- A04 security events ---------------------------------------------------------------------------


def security_event(ch: Charger16, kind: str, now: float, tech_info: str = "") -> None:
    """SecurityEventNotification (§5.15) of an event that happened at `now` (§8 type)."""
    payload: dict[str, Any] = {"type": kind, "timestamp": iso_utc(now)}
    if tech_info:
        payload["techInfo"] = tech_info[:255]
    ch._call("SecurityEventNotification", payload, now, now, keep_offline=kind in CRITICAL_EVENTS)


def security_profile(ch: Charger16) -> int:
    """The SecurityProfile in use (§7.6), without making the configuration for it."""
    config = ch._config
    return config.integer("SecurityProfile") if config is not None else ch.settings.security_profile


def rebooted(ch: Charger16, reason: str, now: float) -> None:
    """The charger goes down (Reset, or power loss): its events come when it is back up. Only a
    charger configured with a security profile reports them: a profile-0 charger is a plain 1.6
    charger, and a plain 1.6 CSMS would answer every one with a CALLERROR."""
    if security_profile(ch) > 0:
        ch._reboot_event = (reason, now)


def back_up(ch: Charger16, now: float) -> None:
    """Connected again after a reboot: ResetOrReboot (a Reset, timestamped when it happened) or
    StartupOfTheDevice (power loss, timestamped now, as the device has just started), §8."""
    event = ch._reboot_event
    if event is None:
        return
    ch._reboot_event = None
    reason, at = event
    if reason in ("SoftReset", "HardReset"):
        security_event(ch, "ResetOrReboot", at, reason)
    else:
        security_event(ch, "StartupOfTheDevice", now, reason)


def authentication_refused(ch: Charger16, now: float) -> None:
    """The CSMS answered the connection's Basic auth with HTTP 401 (§8; delivered if a later
    connection gets through)."""
    security_event(ch, "FailedToAuthenticationAtCentralSystem", now, "HTTP 401")


# -- A05 SecurityProfile prerequisites, A01 key changes -------------------------------------------


def change_configuration(ch: Charger16, call: Call, now: float) -> str:
    """ChangeConfiguration (core_profile) with the security extension's rules: a higher
    SecurityProfile needs its certificates (A05.FR.03, A05.FR.04), and an accepted change of
    SecurityProfile or AuthorizationKey is a ReconfigurationOfSecurityParameters event."""
    key, value = call.payload.get("key"), call.payload.get("value")
    if key == "SecurityProfile" and type(value) is str and not _prerequisites_met(ch, value, now):
        return _answer(ch, call, {"status": "Rejected"}, "Rejected")
    status = core_profile.change_configuration(ch, call, now)
    if status == "Accepted" and key in SECURITY_KEYS:
        # A01.FR.12: the AuthorizationKey's value is never disclosed, only that it changed.
        security_event(ch, "ReconfigurationOfSecurityParameters", now, str(key))
    return status


def _prerequisites_met(ch: Charger16, value: str, now: float) -> bool:
    try:
        wanted = int(value)
    except ValueError:
        return True  # not a number: the configuration rejects it
    if wanted <= security_profile(ch):
        return True  # not an upgrade: the configuration decides (A05.FR.01)
    certificates = ch._security
    if wanted >= 2 and not (certificates and certificates.has_valid(CENTRAL_SYSTEM_ROOT, now)):
        return False
    return wanted < 3 or bool(certificates and certificates.has_valid_certificate(now))


# -- M05 InstallCertificate, M03 GetInstalledCertificateIds, M04 DeleteCertificate ----------------


def install_certificate(ch: Charger16, call: Call, now: float) -> str:
    kind, pem = call.payload.get("certificateType"), call.payload.get("certificate")
    if kind not in CERTIFICATE_USES or type(pem) is not str:
        return reject_payload(ch, call, "certificateType, certificate")
    limit = ch.config.integer("CertificateStoreMaxLength")
    status = store(ch).install(str(kind), pem, now, limit)
    return _answer(ch, call, {"status": status}, status)


def get_installed_certificate_ids(ch: Charger16, call: Call, _now: float) -> str:
    kind = call.payload.get("certificateType")
    if kind not in CERTIFICATE_USES:
        return reject_payload(ch, call, "certificateType")
    certificates = ch._security
    found = certificates.installed_ids(str(kind)) if certificates is not None else []
    if not found:  # M03.FR.02 (the schema wants no empty list)
        return _answer(ch, call, {"status": "NotFound"}, "NotFound")
    return _answer(ch, call, {"status": "Accepted", "certificateHashData": found}, "Accepted")


def delete_certificate(ch: Charger16, call: Call, _now: float) -> str:
    wanted = call.payload.get("certificateHashData")
    if not _is_hash_data(wanted):
        return reject_payload(ch, call, "certificateHashData")
    assert isinstance(wanted, dict)
    certificates = ch._security
    # M04.FR.06: the root that validates the connection (TLS: profiles 2 and 3) stays. Which
    # root that is, a simulated charger does not know: the last one is kept.
    keep_last_root = security_profile(ch) >= 2
    status = certificates.delete(wanted, keep_last_root) if certificates else "NotFound"
    return _answer(ch, call, {"status": status}, status)


def _is_hash_data(value: object) -> bool:
    if not isinstance(value, dict) or value.get("hashAlgorithm") not in HASH_ALGORITHMS:
        return False
    fields = ("issuerNameHash", "issuerKeyHash", "serialNumber")
    return all(type(value.get(name)) is str for name in fields)


# -- A02 charge point certificate: SignCertificate, CertificateSigned -----------------------------


def send_sign_certificate(ch: Charger16, now: float) -> None:
    """A new key pair and its CSR in a SignCertificate.req (A02.FR.02, A02.FR.03). The CN is the
    identity the charger connects with (A00.FR.511 asks for its serial number: a simulated
    charger's serial is its identity), the O its CpoName (A02.FR.13)."""
    csr = store(ch).new_request(ch.settings.identity, ch.config.text("CpoName"))
    ch.session.call("SignCertificate", {"csr": csr}, now, now)


def on_sign_certificate(ch: Charger16, outgoing: OutgoingCall, _now: float) -> None:
    """SignCertificate.conf: Rejected means no certificate will come for this key (A02.FR.12;
    no retry, A02 error handling)."""
    if (outgoing.result or {}).get("status") != "Accepted" and ch._security is not None:
        ch._security.forget_request()


def certificate_signed(ch: Charger16, call: Call, now: float) -> str:
    """CertificateSigned (§5.1): verified (A02.FR.06), then Accepted and installed, or Rejected,
    discarded and reported as an InvalidChargePointCertificate event (A02.FR.07)."""
    chain = call.payload.get("certificateChain")
    if type(chain) is not str:
        return reject_payload(ch, call, "certificateChain must be a string")
    limit = ch.config.integer("CertificateSignedMaxChainSize")
    if len(chain) > limit:
        problem = (
            f"certificateChain has {len(chain)} characters, CertificateSignedMaxChainSize {limit}"
        )
    else:
        problem = store(ch).accept_signed(chain, now)
    if not problem:
        return _answer(ch, call, {"status": "Accepted"}, "Accepted")
    ch.session.answer(call, {"status": "Rejected"})
    security_event(ch, "InvalidChargePointCertificate", now, problem)
    return "Rejected"


# -- §5.5 ExtendedTriggerMessage -------------------------------------------------------------------


def extended_trigger_message(ch: Charger16, call: Call, now: float) -> str:
    """Answered first, then the message follows (§5.5; what the core messages do is 1.6's
    TriggerMessage). connectorId, when given, is a connector of this charger (> 0)."""
    requested = call.payload.get("requestedMessage")
    if requested not in EXTENDED_TRIGGERS:
        return _answer(ch, call, {"status": "NotImplemented"}, "NotImplemented")
    cid = call.payload.get("connectorId", 0)
    if "connectorId" in call.payload and (
        type(cid) is not int or not 1 <= cid <= len(ch.connectors)
    ):
        return _answer(ch, call, {"status": "Rejected"}, "Rejected")
    if requested == "SignChargePointCertificate" and not ch.config.text("CpoName"):
        return _answer(ch, call, {"status": "Rejected"}, "Rejected")  # A02: CpoName MUST be set
    ch.session.answer(call, {"status": "Accepted"})
    if requested == "SignChargePointCertificate":
        send_sign_certificate(ch, now)
    elif requested == "FirmwareStatusNotification":
        # L01.FR.28/29: the last status, Idle once an update was Installed. The requestId is
        # optional when triggered (§5.19).
        payload = firmware.signed_firmware_status_payload(ch)
        if payload["status"] == "Installed":
            payload = {"status": "Idle"}
        ch.session.call("SignedFirmwareStatusNotification", payload, now, now)
    elif requested == "LogStatusNotification":
        # With the GetLog's requestId while an upload is under way.
        ch.session.call("LogStatusNotification", diagnostics.log_status_payload(ch), now, now)
    else:
        core_profile.send_triggered(ch, str(requested), int(cid), now)
    return "Accepted"


HANDLERS: Final[dict[str, Handler]] = {
    "CertificateSigned": certificate_signed,
    "ChangeConfiguration": change_configuration,  # wraps core_profile's (A05, A01.FR.11)
    "DeleteCertificate": delete_certificate,
    "ExtendedTriggerMessage": extended_trigger_message,
    "GetInstalledCertificateIds": get_installed_certificate_ids,
    "InstallCertificate": install_certificate,
}
