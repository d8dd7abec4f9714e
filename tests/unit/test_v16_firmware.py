"""FirmwareManagement on the 1.6 charger, pure: UpdateFirmware, SignedUpdateFirmware and their
status notifications, stepped with numbers (no sockets, no clock)."""

from __future__ import annotations

import base64
import datetime
import math
from dataclasses import replace
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from ocpp_schemas import check
from test_charger16 import SETTINGS, Csms
from test_v16_core_commands import DriverMeter, command

from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16.charger import Charger16, Status
from simfleet.protocol.v16.commands import DEFAULT_PAYLOADS
from simfleet.protocol.v16.firmware import new_version, signed_firmware_status_payload
from simfleet.protocol.v16.maintenance import Draws
from simfleet.protocol.v16.state import FirmwareSettings
from simfleet.sim.stats import Recorder

NOTIFICATIONS = (
    "FirmwareStatusNotification",
    "SignedFirmwareStatusNotification",
    "DiagnosticsStatusNotification",
    "LogStatusNotification",
)
#: Fixed durations, no failures: every step at a known time.
EXACT = FirmwareSettings(
    download_s=(10.0, 10.0),
    install_s=(20.0, 20.0),
    reboot_s=(30.0, 30.0),
    download_failure_rate=0.0,
    install_failure_rate=0.0,
    seed=5,
)
T0 = 1_700_000_000.0  # epoch seconds of the first command
LOCATION = "http://127.0.0.1/fw/acme-2.1.0.bin"


class Clocked(Csms):
    """The test CSMS, also remembering when each CALL arrived; every CALL is schema-checked."""

    def __init__(self, charger: Charger16) -> None:
        super().__init__(charger, {action: {} for action in NOTIFICATIONS})
        self.log: list[tuple[float, str, dict[str, Any]]] = []

    def serve(self, now: float, rounds: int = 50) -> None:
        before = len(self.seen)
        super().serve(now, rounds)
        for action, payload in self.seen[before:]:
            check(action, payload)
            self.log.append((now, action, payload))

    def statuses(self, action: str) -> list[tuple[float, str]]:
        return [(t, p["status"]) for t, a, p in self.log if a == action]


def charger_with(
    firmware: FirmwareSettings = EXACT, meter: DriverMeter | None = None, index: int = 1
) -> tuple[Charger16, Clocked]:
    settings = replace(SETTINGS, firmware="simfleet-0.1", index=index, firmware_settings=firmware)
    charger = Charger16(settings, Recorder(), meter or DriverMeter())
    csms = Clocked(charger)
    charger.connected(T0 - 100)
    csms.serve(T0 - 100)
    return charger, csms


def advance(charger: Charger16, csms: Clocked, now: float, until: float) -> float:
    """Run the charger's timers up to `until` (the CSMS answers at once); stops early, and
    returns the time, when the charger is ready to reboot."""
    while not (charger.reset_pending and charger.ready_to_reboot(now)):
        due = charger.next_wakeup()
        if due > until:
            return until
        now = max(now, due)
        charger.step(now)
        csms.serve(now)
    return now


def reboot(charger: Charger16, csms: Clocked, now: float) -> float:
    """What the agent and the engine do with a charger ready to reboot; returns when it is
    back (connected, boot answered)."""
    assert charger.ready_to_reboot(now)
    back = now + charger.reboot_duration()
    charger.reset_pending = ""
    charger.reset_deadline = math.inf
    charger.reboot("HardReset", now)
    charger.disconnected(now)
    charger.connected(back)
    csms.serve(back)
    return back


def update(charger: Charger16, csms: Clocked, now: float = T0, **fields: Any) -> Any:
    payload = {"location": LOCATION, "retrieveDate": iso_utc(now - 60), **fields}
    check("UpdateFirmware", payload)
    answer = command(charger, "UpdateFirmware", payload, now)
    csms.serve(now)
    return answer


def test_update_firmware_downloads_installs_reboots_and_reports_installed() -> None:
    charger, csms = charger_with()
    assert update(charger, csms) == {}  # retrieveDate in the past: at once
    reboot_at = advance(charger, csms, T0, T0 + 1000)
    assert csms.statuses("FirmwareStatusNotification") == [
        (T0, "Downloading"),
        (T0 + 10, "Downloaded"),
        (T0 + 10, "Installing"),
    ]
    assert reboot_at == T0 + 30  # installed: reboot once the notification is answered
    assert charger.reboot_duration() == 30.0
    back = reboot(charger, csms, reboot_at)
    boot = [p for t, a, p in csms.log if a == "BootNotification" and t == back]
    assert boot[0]["firmwareVersion"] == "acme-2.1.0"  # from the location's file name
    assert csms.statuses("FirmwareStatusNotification")[-1] == (back, "Installed")
    assert charger.firmware_status == "Idle"  # §4.5: nothing going on any more
    assert charger.status_of(1) is charger.status_of(2) is Status.AVAILABLE


def test_retrieve_date_in_the_future_waits_for_it() -> None:
    charger, csms = charger_with()
    update(charger, csms, retrieveDate=iso_utc(T0 + 500))
    advance(charger, csms, T0, T0 + 499)
    assert csms.statuses("FirmwareStatusNotification") == []
    advance(charger, csms, T0 + 499, T0 + 500)
    assert csms.statuses("FirmwareStatusNotification") == [(T0 + 500, "Downloading")]


def test_a_failed_download_is_retried_then_download_failed() -> None:
    charger, csms = charger_with(replace(EXACT, download_failure_rate=1.0))
    update(charger, csms, retries=2, retryInterval=15)
    advance(charger, csms, T0, T0 + 1000)
    assert csms.statuses("FirmwareStatusNotification") == [
        (T0, "Downloading"),
        (T0 + 25, "Downloading"),  # failed at +10, retried 15 s later
        (T0 + 50, "Downloading"),
        (T0 + 60, "DownloadFailed"),  # after the last retry
    ]
    assert charger.firmware_status == "Idle"
    assert not charger.reset_pending


def test_installation_failed_keeps_the_old_firmware_and_frees_the_connectors() -> None:
    charger, csms = charger_with(replace(EXACT, install_failure_rate=1.0))
    update(charger, csms)
    advance(charger, csms, T0, T0 + 1000)
    assert [s for _, s in csms.statuses("FirmwareStatusNotification")] == [
        "Downloading",
        "Downloaded",
        "Installing",
        "InstallationFailed",
    ]
    assert not charger.reset_pending  # no reboot
    assert charger.status_of(1) is charger.status_of(2) is Status.AVAILABLE
    command(charger, "TriggerMessage", {"requestedMessage": "BootNotification"}, T0 + 1000)
    csms.serve(T0 + 1000)
    boots = [p for _, a, p in csms.log if a == "BootNotification"]
    assert boots[-1]["firmwareVersion"] == "simfleet-0.1"


def test_installation_waits_for_the_running_transaction() -> None:
    charger, csms = charger_with()
    charger.plug_in(1, "TAG1", T0 - 50)
    csms.serve(T0 - 50)
    assert charger.status_of(1) is Status.CHARGING
    update(charger, csms)
    advance(charger, csms, T0, T0 + 300)
    assert [s for _, s in csms.statuses("FirmwareStatusNotification")] == [
        "Downloading",
        "Downloaded",
    ]
    # §5.19: the free connector is Unavailable while the installation waits; the busy one
    # charges on.
    assert charger.status_of(2) is Status.UNAVAILABLE
    assert charger.status_of(1) is Status.CHARGING
    assert not charger.plug_in(2, "TAG2", T0 + 300)  # no new session meanwhile
    charger.unplug(1, T0 + 300)
    csms.serve(T0 + 300)
    assert charger.status_of(1) is Status.UNAVAILABLE  # the session ended: held too
    reboot_at = advance(charger, csms, T0 + 300, T0 + 1000)
    installing = csms.statuses("FirmwareStatusNotification")[2]
    assert installing[1] == "Installing"
    assert T0 + 300 <= installing[0] <= T0 + 305  # at the next look (every 5 s)
    back = reboot(charger, csms, reboot_at)
    assert charger.status_of(1) is charger.status_of(2) is Status.AVAILABLE
    reported = [
        (p["connectorId"], p["status"])
        for t, a, p in csms.log
        if t == back and a == "StatusNotification"
    ]
    assert (1, "Available") in reported and (2, "Available") in reported


def test_trigger_message_reports_the_firmware_status_truthfully() -> None:
    charger, csms = charger_with()

    def triggered(now: float) -> str:
        command(charger, "TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"}, now)
        csms.serve(now)
        return str(csms.log[-1][2]["status"])

    assert triggered(T0 - 10) == "Idle"
    update(charger, csms)
    assert triggered(T0 + 5) == "Downloading"
    back = reboot(charger, csms, advance(charger, csms, T0 + 5, T0 + 1000))
    assert triggered(back + 1) == "Idle"


def test_a_second_update_replaces_one_not_yet_installing() -> None:
    charger, csms = charger_with()
    update(charger, csms)
    update(charger, csms, T0 + 5, location="http://127.0.0.1/fw/acme-3.0.bin")
    back = reboot(charger, csms, advance(charger, csms, T0 + 5, T0 + 1000))
    statuses = [s for _, s in csms.statuses("FirmwareStatusNotification")]
    assert statuses.count("Installing") == 1  # the first one's timers did nothing
    boot = [p for t, a, p in csms.log if a == "BootNotification" and t == back]
    assert boot[0]["firmwareVersion"] == "acme-3.0"


def test_new_version_is_visible_to_a_csms() -> None:
    assert new_version("sf-0.1", "sf-0.1", "https://h/fw/acme-2.1.0.tar.gz", 1) == "acme-2.1.0"
    assert new_version("sf-0.1", "sf-0.1", "ftp://h/firmware.bin", 1) == "sf-0.1-u1"
    assert new_version("sf-0.1", "acme-2", "http://h/acme-2.bin", 2) == "sf-0.1-u2"
    assert len(new_version("x" * 50, "x", "http://h/fw", 12)) == 50


def test_failure_rates_and_durations_over_many_chargers() -> None:
    settings = FirmwareSettings(
        download_s=(30.0, 120.0),
        install_s=(60.0, 180.0),
        download_failure_rate=0.0,
        install_failure_rate=0.25,
        seed=11,
    )
    failed, downloads = 0, []
    for index in range(1, 401):
        charger, csms = charger_with(settings, index=index)
        update(charger, csms)
        advance(charger, csms, T0, T0 + 400)
        statuses = csms.statuses("FirmwareStatusNotification")
        failed += statuses[-1][1] == "InstallationFailed"
        downloads.append(statuses[1][0] - statuses[0][0])
    # Binomial(400, 0.25): mean 100, sd 8.7; the draws are fixed by the seed.
    assert 70 <= failed <= 130
    assert all(30 <= d <= 120 for d in downloads)
    assert max(downloads) - min(downloads) > 60  # spread over the range, not one value


def test_draws_are_deterministic_per_seed_and_index() -> None:
    def stream(seed: int, index: int) -> list[float]:
        draws = Draws(seed, index)
        return [draws.uniform() for _ in range(1000)]

    assert stream(3, 7) == stream(3, 7)
    assert stream(3, 7) != stream(3, 8)
    assert stream(3, 7) != stream(4, 7)
    values = stream(3, 7)
    assert all(0 <= v < 1 for v in values)
    assert 0.45 < sum(values) / len(values) < 0.55
    draws = Draws(9, 1)
    hits = sum(draws.chance(0.1) for _ in range(10_000))
    assert 900 <= hits <= 1100  # Binomial(10000, 0.1): sd 30


def test_bad_update_payloads_are_formation_violations() -> None:
    charger, _ = charger_with()
    for payload in (
        {"retrieveDate": iso_utc(T0)},
        {"location": LOCATION, "retrieveDate": "yesterday"},
        {"location": LOCATION, "retrieveDate": iso_utc(T0), "retries": "3"},
    ):
        answer = command(charger, "UpdateFirmware", payload, T0)
        assert answer[0] == 4 and answer[2] == "FormationViolation", payload


# -- SignedUpdateFirmware -------------------------------------------------------------------


def certificate_and_signature(kind: str = "ec") -> tuple[str, str]:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "firmware signing")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    image = b"firmware image"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(image, ec.ECDSA(hashes.SHA256()))
    else:
        from cryptography.hazmat.primitives.asymmetric import padding

        signature = key.sign(image, padding.PKCS1v15(), hashes.SHA256())
    return cert.public_bytes(Encoding.PEM).decode(), base64.b64encode(signature).decode()


def signed(
    charger: Charger16,
    csms: Clocked,
    now: float,
    request_id: int,
    certificate: str,
    signature: str,
    **firmware: Any,
) -> Any:
    payload = {
        "requestId": request_id,
        "firmware": {
            "location": LOCATION,
            "retrieveDateTime": iso_utc(now),
            "signingCertificate": certificate,
            "signature": signature,
            **firmware,
        },
    }
    check("SignedUpdateFirmware", payload)
    answer = command(charger, "SignedUpdateFirmware", payload, now)
    csms.serve(now)
    return answer


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_signed_update_reports_every_step_with_its_request_id(kind: str) -> None:
    certificate, signature = certificate_and_signature(kind)
    charger, csms = charger_with()
    later = {"retrieveDateTime": iso_utc(T0 + 100), "installDateTime": iso_utc(T0 + 200)}
    assert signed(charger, csms, T0, 7, certificate, signature, **later) == {"status": "Accepted"}
    assert charger.signed_firmware_status == "DownloadScheduled"
    assert signed_firmware_status_payload(charger) == {
        "status": "DownloadScheduled",
        "requestId": 7,
    }
    back = reboot(charger, csms, advance(charger, csms, T0, T0 + 1000))
    log = [(t, p) for t, a, p in csms.log if a == "SignedFirmwareStatusNotification"]
    assert [(t - T0, p["status"]) for t, p in log] == [
        (0, "DownloadScheduled"),
        (100, "Downloading"),
        (110, "Downloaded"),
        (110, "SignatureVerified"),
        (110, "InstallScheduled"),
        (200, "Installing"),
        (220, "InstallRebooting"),
        (back - T0, "Installed"),
    ]
    assert {p["requestId"] for _, p in log} == {7}
    assert charger.signed_firmware_status == "Idle"
    assert signed_firmware_status_payload(charger) == {"status": "Idle"}
    assert csms.statuses("FirmwareStatusNotification") == []  # the plain one stays quiet


def test_signed_update_with_a_bad_certificate_or_signature() -> None:
    certificate, signature = certificate_and_signature()
    charger, csms = charger_with()
    not_pem = signed(charger, csms, T0, 1, "MIIB...not a certificate", signature)
    assert not_pem == {"status": "InvalidCertificate"}
    assert csms.statuses("SignedFirmwareStatusNotification") == []
    assert signed(charger, csms, T0, 2, certificate, "not base64!") == {"status": "Accepted"}
    advance(charger, csms, T0, T0 + 1000)
    assert [s for _, s in csms.statuses("SignedFirmwareStatusNotification")] == [
        "Downloading",
        "Downloaded",
        "InvalidSignature",
    ]
    assert not charger.reset_pending
    _, rsa_signature = certificate_and_signature("rsa")
    assert signed(charger, csms, T0 + 1000, 3, certificate, rsa_signature) == {"status": "Accepted"}
    advance(charger, csms, T0 + 1000, T0 + 2000)
    assert csms.statuses("SignedFirmwareStatusNotification")[-1][1] == "InvalidSignature"


def test_signed_update_cancels_one_downloading_and_is_refused_while_installing() -> None:
    certificate, signature = certificate_and_signature()
    charger, csms = charger_with()
    signed(charger, csms, T0, 1, certificate, signature)
    second = signed(charger, csms, T0 + 5, 2, certificate, signature)
    assert second == {"status": "AcceptedCanceled"}
    advance(charger, csms, T0 + 5, T0 + 16)  # the second is installing now
    log = [(p["status"], p["requestId"]) for _, a, p in csms.log if a.startswith("Signed")]
    assert log == [
        ("Downloading", 1),
        ("Downloading", 2),
        ("Downloaded", 2),
        ("SignatureVerified", 2),
        ("Installing", 2),
    ]
    assert signed(charger, csms, T0 + 16, 3, certificate, signature) == {"status": "Rejected"}


def test_default_payloads_are_valid_and_accepted() -> None:
    charger, _ = charger_with()
    for action in ("UpdateFirmware", "SignedUpdateFirmware", "GetDiagnostics", "GetLog"):
        check(action, DEFAULT_PAYLOADS[action])
    answer = command(charger, "SignedUpdateFirmware", DEFAULT_PAYLOADS["SignedUpdateFirmware"])
    assert answer == {"status": "Accepted"}
    assert command(charger, "UpdateFirmware", DEFAULT_PAYLOADS["UpdateFirmware"]) == {}
    for action in ("UpdateFirmware", "SignedUpdateFirmware", "GetDiagnostics", "GetLog"):
        frame = orjson.dumps([2, "x", action, DEFAULT_PAYLOADS[action]])
        charger.receive(frame, T0)
        answers = [orjson.loads(f) for f in charger.take_outbox()]
        assert [a[0] for a in answers if a[1] == "x"] == [3], action  # not NotSupported
