"""The embedded CSMS's side of the 1.6 security extension, and a whole certificate update between
a charger and the embedded CSMS's protocol core, pure. Every frame either side sends is checked
against the official 1.6 schemas."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from certs import NOW
from ocpp_schemas import check
from test_charger16 import SETTINGS, SteadyMeter

from simfleet.protocol.certificates import (
    CertificateStore,
    issued_by,
    parse_certificates,
    same_key,
    simulator_ca,
)
from simfleet.protocol.v16.charger import Charger16
from simfleet.protocol.v16.commands import DEFAULT_PAYLOADS
from simfleet.protocol.v16.csms import CsmsConnection16, CsmsSettings
from simfleet.sim.stats import Recorder


class Wire:
    """Carries frames both ways and checks each against its schema (answers by the action of
    the CALL they answer)."""

    def __init__(self, charger: Charger16, csms: CsmsConnection16) -> None:
        self.charger = charger
        self.csms = csms
        self.pending: dict[str, str] = {}  # (direction + message id) -> action
        self.calls: list[tuple[str, str]] = []  # (sender, action)

    def check(self, sender: str, frame: bytes) -> None:
        message = orjson.loads(frame)
        if message[0] == 2:
            _, uid, action, payload = message
            check(action, payload)
            self.pending[sender + uid] = action
            self.calls.append((sender, action))
        elif message[0] == 3:
            other = "csms" if sender == "charger" else "charger"
            check(self.pending.pop(other + message[1]) + "Response", message[2])
        else:
            raise AssertionError(f"{sender} sent a CALLERROR: {message}")

    def run(self, now: float) -> None:
        for _ in range(100):
            # Copies: an empty outbox is handed out as the session's own (live) list.
            to_charger, to_csms = list(self.csms.take_outbox()), list(self.charger.take_outbox())
            if not to_charger and not to_csms:
                return
            for frame in to_charger:
                self.check("csms", frame)
                self.charger.receive(frame, now)
            for frame in to_csms:
                self.check("charger", frame)
                self.csms.receive(frame, now)
        raise AssertionError("the two sides never went quiet")


def connected() -> Wire:
    charger = Charger16(SETTINGS, Recorder(), SteadyMeter())
    wire = Wire(charger, CsmsConnection16(SETTINGS.identity, CsmsSettings(), itertools.count(1)))
    charger.connected(NOW)
    wire.run(NOW)
    assert wire.csms.accepted
    return wire


def test_certificate_update_between_charger_and_embedded_csms() -> None:
    wire = connected()
    wire.csms.command("ExtendedTriggerMessage", DEFAULT_PAYLOADS["ExtendedTriggerMessage"], NOW)
    wire.run(NOW)
    assert wire.calls[-3:] == [
        ("csms", "ExtendedTriggerMessage"),
        ("charger", "SignCertificate"),
        ("csms", "CertificateSigned"),
    ]
    assert wire.csms.commands == {
        ("ExtendedTriggerMessage", "Accepted"): 1,
        ("CertificateSigned", "Accepted"): 1,
    }
    certificates = wire.charger._security
    assert certificates is not None and certificates.key is not None
    leaf = certificates.chain[0]
    assert same_key(leaf, certificates.key)
    assert issued_by(leaf, simulator_ca().certificate)


def test_root_installed_listed_and_deleted_through_the_default_payloads() -> None:
    wire = connected()
    for action in ("InstallCertificate", "GetInstalledCertificateIds", "DeleteCertificate"):
        wire.csms.command(action, DEFAULT_PAYLOADS[action], NOW)
    wire.csms.command(
        "GetInstalledCertificateIds", DEFAULT_PAYLOADS["GetInstalledCertificateIds"], NOW
    )
    wire.run(NOW)
    assert wire.csms.commands == {
        ("InstallCertificate", "Accepted"): 1,
        ("GetInstalledCertificateIds", "Accepted"): 1,
        ("DeleteCertificate", "Accepted"): 1,
        ("GetInstalledCertificateIds", "NotFound"): 1,
    }


def test_unasked_certificate_signed_rejected_and_reported() -> None:
    wire = connected()
    wire.csms.command("CertificateSigned", DEFAULT_PAYLOADS["CertificateSigned"], NOW)
    wire.run(NOW)
    assert wire.csms.commands == {("CertificateSigned", "Rejected"): 1}
    assert wire.calls[-1] == ("charger", "SecurityEventNotification")


def ask(conn: CsmsConnection16, action: str, payload: dict[str, Any]) -> list[Any]:
    conn.receive(orjson.dumps([2, "c1", action, payload]), NOW)
    return [orjson.loads(frame) for frame in conn.take_outbox()]


def test_sign_certificate_answered_then_signed_from_the_csr() -> None:
    conn = CsmsConnection16("CP-1", CsmsSettings(), itertools.count(1))
    store = CertificateStore()
    answer, follow_up = ask(conn, "SignCertificate", {"csr": store.new_request("CP-1", "CPO")})
    assert answer == [3, "c1", {"status": "Accepted"}]  # the answer first (A02 steps 5, 9)
    assert follow_up[:3] == [2, "1", "CertificateSigned"]
    check("CertificateSigned", follow_up[3])
    leaf = parse_certificates(follow_up[3]["certificateChain"])[0]
    assert leaf.subject.rfc4514_string() == "O=CPO,CN=CP-1"
    assert leaf.not_valid_before_utc.timestamp() == NOW  # validity from `now`
    assert store.accept_signed(follow_up[3]["certificateChain"], NOW) == ""


def test_sign_certificate_with_a_bad_csr_rejected() -> None:
    conn = CsmsConnection16("CP-1", CsmsSettings(), itertools.count(1))
    for payload in ({"csr": "-----BEGIN CERTIFICATE REQUEST-----"}, {"csr": 5}, {}):
        assert ask(conn, "SignCertificate", payload) == [[3, "c1", {"status": "Rejected"}]]
