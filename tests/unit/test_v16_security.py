"""The OCPP 1.6 security extension on the charger (simfleet.protocol.v16.security), pure.

Every request the tests send, every answer the charger gives and every message it sends is
checked against the official 1.6 JSON schemas (the `ocpp` package's, security ones included).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from certs import NOW, pem, root
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from ocpp_schemas import check
from test_charger16 import SETTINGS, Csms, SteadyMeter
from test_v16_core_commands import command

from simfleet.protocol.ca_root import SIMULATOR_ROOT_PEM
from simfleet.protocol.certificates import CertificateStore, hash_data, simulator_ca
from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16 import security
from simfleet.protocol.v16.charger import Charger16
from simfleet.protocol.v16.commands import DEFAULT_PAYLOADS
from simfleet.sim.stats import Recorder

SECURITY_ANSWERS: dict[str, Any] = {
    "SignCertificate": {"status": "Accepted"},
    "SecurityEventNotification": {},
    "SignedFirmwareStatusNotification": {},
    "LogStatusNotification": {},
}
PASSWORD = "0123456789abcdef0123"


class Fleet:
    """One booted charger and the CSMS fake serving it; every message the charger sends is
    checked against its schema."""

    def __init__(self, profile: int = 0, cpo_name: str | None = None) -> None:
        settings = dataclasses.replace(SETTINGS, security_profile=profile)
        self.recorder = Recorder()
        self.charger = Charger16(settings, self.recorder, SteadyMeter())
        if cpo_name is not None:
            self.charger.config.change("CpoName", cpo_name)
        self.csms = Csms(self.charger, SECURITY_ANSWERS)
        self.charger.connected(NOW)
        self.csms.serve(NOW)

    def command(self, action: str, payload: dict[str, Any], now: float = NOW) -> Any:
        check(action, payload)  # the request itself is a valid one
        return command(self.charger, action, payload, now)

    def sent(self, now: float = NOW) -> list[tuple[str, dict[str, Any]]]:
        """What the charger sends from here on (answered by the CSMS fake), schema-checked."""
        before = len(self.csms.seen)
        self.csms.serve(now)
        messages = self.csms.seen[before:]
        for action, payload in messages:
            check(action, payload)
        return messages


def events(messages: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [p for a, p in messages if a == "SecurityEventNotification"]


# -- M05 / M03 / M04 ------------------------------------------------------------------------------


def test_install_then_list_then_delete() -> None:
    f = Fleet()
    wanted = {"certificateType": "CentralSystemRootCertificate"}
    assert f.command("GetInstalledCertificateIds", wanted) == {"status": "NotFound"}
    assert f.charger._security is None  # asking made no store
    assert f.command("InstallCertificate", DEFAULT_PAYLOADS["InstallCertificate"]) == {
        "status": "Accepted"
    }
    ca = simulator_ca().certificate
    listed = f.command("GetInstalledCertificateIds", wanted)
    assert listed == {"status": "Accepted", "certificateHashData": [hash_data(ca, ca)]}
    other = {"certificateType": "ManufacturerRootCertificate"}
    assert f.command("GetInstalledCertificateIds", other) == {"status": "NotFound"}
    assert f.command("DeleteCertificate", DEFAULT_PAYLOADS["DeleteCertificate"]) == {
        "status": "Accepted"
    }
    assert f.command("GetInstalledCertificateIds", wanted) == {"status": "NotFound"}
    assert f.command("DeleteCertificate", DEFAULT_PAYLOADS["DeleteCertificate"]) == {
        "status": "NotFound"
    }
    assert f.recorder.commands[("1.6", "InstallCertificate", "Accepted")] == 1
    assert f.sent() == []  # none of this makes the charger send anything


def test_store_full_per_certificate_store_max_length() -> None:
    f = Fleet()
    limit = f.charger.config.integer("CertificateStoreMaxLength")
    for i in range(limit):
        payload = {
            "certificateType": "ManufacturerRootCertificate",
            "certificate": pem(root(f"R{i}")[0]),
        }
        assert f.command("InstallCertificate", payload, NOW) == {"status": "Accepted"}
    one_more = {
        "certificateType": "CentralSystemRootCertificate",
        "certificate": SIMULATOR_ROOT_PEM,
    }
    assert f.command("InstallCertificate", one_more, NOW) == {"status": "Rejected"}
    assert f.command("InstallCertificate", {**one_more, "certificate": "junk"}) == {
        "status": "Rejected"
    }


def test_delete_of_the_last_root_fails_under_tls_profiles() -> None:
    f = Fleet(profile=2)
    f.command("InstallCertificate", DEFAULT_PAYLOADS["InstallCertificate"])
    assert f.command("DeleteCertificate", DEFAULT_PAYLOADS["DeleteCertificate"]) == {
        "status": "Failed"
    }


def test_malformed_requests_are_format_violations() -> None:
    f = Fleet()
    bad = [
        ("InstallCertificate", {"certificateType": "V2GRootCertificate", "certificate": "x"}),
        ("InstallCertificate", {"certificateType": "CentralSystemRootCertificate"}),
        ("GetInstalledCertificateIds", {}),
        ("DeleteCertificate", {"certificateHashData": {"hashAlgorithm": "MD5"}}),
        ("CertificateSigned", {"certificateChain": 7}),
    ]
    for action, payload in bad:
        answer = command(f.charger, action, payload)
        assert answer[0] == 4 and answer[2] == "FormationViolation", (action, answer)


# -- A02: ExtendedTriggerMessage SignChargePointCertificate -> SignCertificate -> CertificateSigned


def sign_request(f: Fleet) -> str:
    """Trigger a certificate update; returns the CSR the charger sends."""
    trigger = {"requestedMessage": "SignChargePointCertificate"}
    assert f.command("ExtendedTriggerMessage", trigger) == {"status": "Accepted"}
    sent = f.sent()
    assert [a for a, _ in sent] == ["SignCertificate"]
    return str(sent[0][1]["csr"])


def test_certificate_update_accepted() -> None:
    f = Fleet(cpo_name="Example CPO")
    csr = x509.load_pem_x509_csr(sign_request(f).encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SETTINGS.identity
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example CPO"
    chain = simulator_ca().sign(csr.public_bytes(Encoding.PEM).decode(), NOW)
    assert chain is not None
    assert f.command("CertificateSigned", {"certificateChain": chain}) == {"status": "Accepted"}
    assert f.sent() == []  # no security event
    certificates = f.charger._security
    assert certificates is not None and certificates.has_valid_certificate(NOW)
    assert f.recorder.commands[("1.6", "CertificateSigned", "Accepted")] == 1


def test_chain_for_the_wrong_key_rejected_with_a_security_event() -> None:
    f = Fleet()
    sign_request(f)
    stranger = CertificateStore()
    chain = simulator_ca().sign(stranger.new_request(SETTINGS.identity, "simfleet"), NOW)
    assert chain is not None
    assert f.command("CertificateSigned", {"certificateChain": chain}, NOW + 1) == {
        "status": "Rejected"
    }
    (event,) = events(f.sent(NOW + 1))
    assert event["type"] == "InvalidChargePointCertificate"
    assert event["timestamp"] == iso_utc(NOW + 1)
    assert "key" in event["techInfo"]
    assert f.recorder.commands[("1.6", "CertificateSigned", "Rejected")] == 1


def test_certificate_signed_unasked_or_too_long_is_rejected() -> None:
    f = Fleet()
    default = DEFAULT_PAYLOADS["CertificateSigned"]
    assert f.command("CertificateSigned", default) == {"status": "Rejected"}
    assert [e["type"] for e in events(f.sent())] == ["InvalidChargePointCertificate"]
    sign_request(f)
    too_long = {"certificateChain": SIMULATOR_ROOT_PEM * 20}  # > CertificateSignedMaxChainSize
    assert len(too_long["certificateChain"]) > 10_000
    answer = command(f.charger, "CertificateSigned", too_long)
    assert answer == {"status": "Rejected"}
    (event,) = events(f.sent())
    assert "CertificateSignedMaxChainSize" in event["techInfo"]


def test_sign_certificate_refused_by_the_csms_drops_the_request() -> None:
    f = Fleet()
    f.csms.answers["SignCertificate"] = {"status": "Rejected"}
    csr = sign_request(f)
    chain = simulator_ca().sign(csr, NOW)
    assert chain is not None
    assert f.command("CertificateSigned", {"certificateChain": chain}) == {"status": "Rejected"}
    (event,) = events(f.sent())
    assert "pending" in event["techInfo"]


def test_no_cpo_name_no_certificate_request() -> None:
    f = Fleet(cpo_name="")
    trigger = {"requestedMessage": "SignChargePointCertificate"}
    assert f.command("ExtendedTriggerMessage", trigger) == {"status": "Rejected"}
    assert f.sent() == []


# -- §5.5 ExtendedTriggerMessage of every kind ----------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "connector", "expected"),
    [
        # Accepted again: the charger reports its statuses again, as after any boot (§4.2).
        ("BootNotification", None, ["BootNotification"] + ["StatusNotification"] * 3),
        ("Heartbeat", None, ["Heartbeat"]),
        ("MeterValues", 1, ["MeterValues"]),
        ("StatusNotification", 2, ["StatusNotification"]),
        ("StatusNotification", None, ["StatusNotification"] * 3),
        ("FirmwareStatusNotification", None, ["SignedFirmwareStatusNotification"]),
        ("LogStatusNotification", None, ["LogStatusNotification"]),
    ],
)
def test_extended_trigger_sends_the_message_after_the_answer(
    requested: str, connector: int | None, expected: list[str]
) -> None:
    f = Fleet()
    payload: dict[str, Any] = {"requestedMessage": requested}
    if connector is not None:
        payload["connectorId"] = connector
    f.charger.receive(orjson.dumps([2, "t1", "ExtendedTriggerMessage", payload]), NOW)
    frames = [orjson.loads(frame) for frame in f.charger.take_outbox()]
    assert frames[0] == [3, "t1", {"status": "Accepted"}]  # the answer goes out first
    check("ExtendedTriggerMessageResponse", frames[0][2])
    f.charger.session.outbox[:0] = [orjson.dumps(frame) for frame in frames[1:]]
    sent = f.sent()
    assert [a for a, _ in sent] == expected
    if requested == "StatusNotification" and connector == 2:
        assert sent[0][1]["connectorId"] == 2


def test_triggered_firmware_and_log_statuses() -> None:
    f = Fleet()
    f.charger.signed_firmware_status = "Downloading"
    f.charger.log_status = "Uploading"
    f.command("ExtendedTriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
    f.command("ExtendedTriggerMessage", {"requestedMessage": "LogStatusNotification"})
    assert [p for _, p in f.sent()] == [{"status": "Downloading"}, {"status": "Uploading"}]
    f.charger.signed_firmware_status = "Installed"  # L01.FR.28: Idle once Installed
    f.command("ExtendedTriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
    assert f.sent() == [("SignedFirmwareStatusNotification", {"status": "Idle"})]


def test_extended_trigger_refusals() -> None:
    f = Fleet()
    for payload, status in [
        ({"requestedMessage": "DiagnosticsStatusNotification"}, "NotImplemented"),
        ({"requestedMessage": "Heartbeat", "connectorId": 0}, "Rejected"),
        ({"requestedMessage": "MeterValues", "connectorId": 3}, "Rejected"),
    ]:
        assert command(f.charger, "ExtendedTriggerMessage", payload) == {"status": status}
    assert f.sent() == []


# -- A05 SecurityProfile prerequisites, A01 key change, §8 events ---------------------------------


def change(f: Fleet, key: str, value: str, now: float = NOW) -> str:
    return str(f.command("ChangeConfiguration", {"key": key, "value": value}, now)["status"])


def test_security_profile_upgrades_need_their_certificates() -> None:
    f = Fleet()
    assert change(f, "AuthorizationKey", PASSWORD) == "Accepted"
    (event,) = events(f.sent())
    assert event == {
        "type": "ReconfigurationOfSecurityParameters",
        "timestamp": iso_utc(NOW),
        "techInfo": "AuthorizationKey",  # never its value (A01.FR.12)
    }
    assert change(f, "SecurityProfile", "2") == "Rejected"  # A05.FR.03: no CPO root yet
    f.command("InstallCertificate", DEFAULT_PAYLOADS["InstallCertificate"])
    assert change(f, "SecurityProfile", "3") == "Rejected"  # A05.FR.04: no certificate yet
    assert change(f, "SecurityProfile", "2") == "Accepted"
    assert [e["type"] for e in events(f.sent())] == ["ReconfigurationOfSecurityParameters"]
    csr = sign_request(f)
    chain = simulator_ca().sign(csr, NOW)
    assert chain is not None
    assert f.command("CertificateSigned", {"certificateChain": chain}) == {"status": "Accepted"}
    assert change(f, "SecurityProfile", "3") == "Accepted"
    assert change(f, "HeartbeatInterval", "120") == "Accepted"
    assert [e["techInfo"] for e in events(f.sent())] == ["SecurityProfile"]  # not Heartbeat...


def reboot_and_return(f: Fleet, reason: str, down: float, up: float) -> list[tuple[str, Any]]:
    f.charger.reboot(reason, down)
    f.charger.disconnected(down)
    f.charger.connected(up)
    return f.sent(up)


def test_reset_reported_when_back_up_if_the_charger_has_a_security_profile() -> None:
    f = Fleet(profile=1)
    sent = reboot_and_return(f, "HardReset", NOW, NOW + 15)
    assert [a for a, _ in sent][:2] == ["BootNotification", "SecurityEventNotification"]
    assert events(sent) == [
        {"type": "ResetOrReboot", "timestamp": iso_utc(NOW), "techInfo": "HardReset"}
    ]
    sent = reboot_and_return(f, "PowerLoss", NOW + 100, NOW + 160)
    assert events(sent) == [
        {"type": "StartupOfTheDevice", "timestamp": iso_utc(NOW + 160), "techInfo": "PowerLoss"}
    ]
    # A reconnect without a reboot reports nothing.
    f.charger.disconnected(NOW + 200)
    f.charger.connected(NOW + 201)
    assert events(f.sent(NOW + 201)) == []


def test_plain_chargers_report_no_reboots() -> None:
    f = Fleet(profile=0)
    assert events(reboot_and_return(f, "SoftReset", NOW, NOW + 15)) == []
    assert f.charger._reboot_event is None and f.charger._security is None


def test_critical_events_survive_a_lost_connection_others_do_not() -> None:
    f = Fleet()
    f.charger.disconnected(NOW)  # offline: both wait in the queue...
    security.security_event(f.charger, "TamperDetectionActivated", NOW, "lid open")
    security.security_event(f.charger, "InvalidMessages", NOW)
    f.charger.connected(NOW + 1)  # ...both go out, one at a time: the first is in flight...
    f.charger.take_outbox()
    f.charger.disconnected(NOW + 1)  # ...when the connection drops again.
    f.charger.connected(NOW + 2)
    assert [e["type"] for e in events(f.sent(NOW + 2))] == ["TamperDetectionActivated"]
    # The non-critical one, still queued, was dropped with the connection and counted lost.
    assert f.recorder.actions[("1.6", "SecurityEventNotification")].lost == 1


def test_refused_credentials_reported_once_connected() -> None:
    recorder = Recorder()
    charger = Charger16(dataclasses.replace(SETTINGS, security_profile=1), recorder, SteadyMeter())
    security.authentication_refused(charger, NOW)  # never connected yet: queued
    csms = Csms(charger, SECURITY_ANSWERS)
    charger.connected(NOW + 5)
    csms.serve(NOW + 5)
    for action, payload in csms.seen:
        check(action, payload)
    assert csms.seen[0][0] == "BootNotification"
    assert events(csms.seen) == [
        {
            "type": "FailedToAuthenticationAtCentralSystem",
            "timestamp": iso_utc(NOW),
            "techInfo": "HTTP 401",
        }
    ]
