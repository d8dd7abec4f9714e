"""The embedded CSMS's 2.0.1 and 2.1 answers and default commands, pure, schema-checked."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp2_schemas import minimal, names, violations

from simfleet.protocol.dialect import V21, V201, Dialect
from simfleet.protocol.v16.csms import CsmsSettings
from simfleet.protocol.v201.commands import DEFAULT_PAYLOADS
from simfleet.protocol.v201.csms import (
    CHARGER_INITIATED_21_ONLY,
    CHARGER_INITIATED_201,
    CsmsConnection201,
)

NOW = 1_714_564_800.25  # 2024-05-01T12:00:00.250Z
DIALECT = {"2.0.1": V201, "2.1": V21}
#: 2.1 messages that need a message type this CSMS does not read (SEND, OCPP-J 2.1 §4.3).
SEND_ONLY = {"NotifyPeriodicEventStream"}


def connection(dialect: Dialect = V201, **settings: Any) -> CsmsConnection201:
    return CsmsConnection201("CP", CsmsSettings(**settings), itertools.count(500), dialect=dialect)


def ask(conn: CsmsConnection201, action: str, payload: dict[str, Any]) -> list[Any]:
    """Send one CALL, return every frame the CSMS wrote (the answer first)."""
    conn.receive(orjson.dumps([2, "u1", action, payload]), NOW)
    return [orjson.loads(frame) for frame in conn.take_outbox()]


def answered(version: str, conn: CsmsConnection201, action: str, payload: dict[str, Any]) -> Any:
    """The CALLRESULT's payload, checked against the version's Response schema."""
    assert violations(version, f"{action}Request", payload) == []
    answer = ask(conn, action, payload)[0]
    assert answer[:2] == [3, "u1"], answer
    assert violations(version, f"{action}Response", answer[2]) == []
    return answer[2]


def requests(version: str) -> set[str]:
    return {n.removesuffix("Request") for n in names(version) if n.endswith("Request")}


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_every_request_is_classified(version: str) -> None:
    """Each request the schemas know is either sent by chargers (and answered here) or a
    default command; a message a new `ocpp` release adds shows up here."""
    charger = CHARGER_INITIATED_201 | (CHARGER_INITIATED_21_ONLY if version == "2.1" else set())
    assert charger <= requests(version)
    csms_side = requests(version) - charger
    assert set(DEFAULT_PAYLOADS) - {"DataTransfer"} <= csms_side
    if version == "2.0.1":
        assert csms_side == set(DEFAULT_PAYLOADS) - {"DataTransfer"}


@pytest.mark.parametrize(
    ("version", "action"),
    [("2.0.1", a) for a in sorted(CHARGER_INITIATED_201)]
    + [("2.1", a) for a in sorted(CHARGER_INITIATED_201 | CHARGER_INITIATED_21_ONLY)],
)
def test_answers_every_charger_message_schema_valid(version: str, action: str) -> None:
    conn = connection(DIALECT[version])
    answered(version, conn, action, minimal(version, f"{action}Request"))


def test_2_1_only_messages_are_not_implemented_on_a_2_0_1_connection() -> None:
    conn = connection(V201)
    assert ask(conn, "VatNumberValidation", {"vatNumber": "x"})[0] == [
        4,
        "u1",
        "NotImplemented",
        "VatNumberValidation",
        {},
    ]


def test_boot_accepted_pending_rejected() -> None:
    conn = connection(heartbeat_interval_s=45)
    request = minimal("2.0.1", "BootNotificationRequest")
    assert answered("2.0.1", conn, "BootNotification", request) == {
        "status": "Accepted",
        "currentTime": "2024-05-01T12:00:00.250Z",
        "interval": 45,
    }
    assert conn.accepted
    for status in ("Pending", "Rejected"):
        conn = connection(boot_status=status, boot_retry_s=7)
        answer = answered("2.0.1", conn, "BootNotification", request)
        assert (answer["status"], answer["interval"], conn.accepted) == (status, 7, False)


def test_authorize_by_token_prefix() -> None:
    conn = connection()
    for token, status in (("ABC", "Accepted"), ("INV1", "Invalid"), ("BLK2", "Blocked")):
        payload = {"idToken": {"idToken": token, "type": "ISO14443"}}
        assert answered("2.0.1", conn, "Authorize", payload) == {"idTokenInfo": {"status": status}}


def event(kind: str, seq: int, transaction: str, token: str = "") -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": kind,
        "timestamp": "2024-05-01T12:00:00.000Z",
        "triggerReason": {"Started": "Authorized", "Updated": "MeterValuePeriodic"}.get(
            kind, "EVCommunicationLost"
        ),
        "seqNo": seq,
        "transactionInfo": {"transactionId": transaction},
        "evse": {"id": 1, "connectorId": 1},
    }
    if token:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    return payload


def test_transactions_remembered_from_started_to_ended() -> None:
    conn = connection()
    assert answered("2.0.1", conn, "TransactionEvent", event("Started", 0, "T1", "EXP9")) == {
        "idTokenInfo": {"status": "Expired"}
    }
    assert answered("2.0.1", conn, "TransactionEvent", event("Started", 0, "T2")) == {}
    assert answered("2.0.1", conn, "TransactionEvent", event("Updated", 1, "T1")) == {}
    assert conn.open_transactions == ("T1", "T2")
    stop = conn.complete_payload("RequestStopTransaction", {}, NOW)
    assert stop == {"transactionId": "T2"}
    answered("2.0.1", conn, "TransactionEvent", event("Ended", 1, "T2", "ABC"))
    assert list(conn.open_transactions) == ["T1"]
    assert conn.complete_payload("RequestStopTransaction", {}, NOW) == {"transactionId": "T1"}
    answered("2.0.1", conn, "TransactionEvent", event("Ended", 2, "T1"))
    # None running: a transaction the charger does not know, which it answers Rejected.
    assert (
        violations(
            "2.0.1",
            "RequestStopTransactionRequest",
            conn.complete_payload("RequestStopTransaction", {}, NOW),
        )
        == []
    )


def csr() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "CP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test CPO"),
        ]
    )
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_sign_certificate_then_certificate_signed(version: str) -> None:
    conn = connection(DIALECT[version])
    conn.receive(
        orjson.dumps([2, "b", "BootNotification", minimal(version, "BootNotificationRequest")]), NOW
    )
    conn.take_outbox()
    payload = {"csr": csr(), "certificateType": "ChargingStationCertificate"}
    answer, follow_up = ask(conn, "SignCertificate", payload)
    assert answer[2] == {"status": "Accepted"}
    assert violations(version, "SignCertificateResponse", answer[2]) == []
    assert follow_up[0] == 2 and follow_up[2] == "CertificateSigned"
    signed = follow_up[3]
    assert violations(version, "CertificateSignedRequest", signed) == []
    assert signed["certificateType"] == "ChargingStationCertificate"
    chain = x509.load_pem_x509_certificates(signed["certificateChain"].encode())
    assert chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP"
    # The charger's answer is tallied as the command's outcome.
    conn.receive(orjson.dumps([3, follow_up[1], {"status": "Accepted"}]), NOW)
    assert conn.commands == {("CertificateSigned", "Accepted"): 1}


def test_sign_certificate_with_a_bad_csr_rejected() -> None:
    conn = connection()
    assert ask(conn, "SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"}) == [
        [3, "u1", {"status": "Rejected"}]
    ]


@pytest.mark.parametrize("action", sorted(DEFAULT_PAYLOADS))
def test_default_commands_valid_once_completed(action: str) -> None:
    conn = connection()
    answered("2.0.1", conn, "TransactionEvent", event("Started", 0, "T7"))
    conn.command(action, DEFAULT_PAYLOADS[action], NOW)
    (frame,) = [orjson.loads(f) for f in conn.take_outbox()]
    assert frame[:1] == [2] and frame[2] == action
    assert violations("2.0.1", f"{action}Request", frame[3]) == []


def test_completed_ids_are_fresh() -> None:
    conn = connection()
    first = conn.complete_payload(
        "RequestStartTransaction", DEFAULT_PAYLOADS["RequestStartTransaction"], NOW
    )
    second = conn.complete_payload(
        "RequestStartTransaction", DEFAULT_PAYLOADS["RequestStartTransaction"], NOW
    )
    assert (first["remoteStartId"], second["remoteStartId"]) == (1, 2)
    reserve = conn.complete_payload("ReserveNow", DEFAULT_PAYLOADS["ReserveNow"], NOW)
    assert reserve["id"] == 500 and reserve["expiryDateTime"] == "2024-05-01T12:15:00.250Z"
    assert conn.complete_payload("CancelReservation", {}, NOW) == {"reservationId": 500}
    reports = [
        conn.complete_payload("GetBaseReport", DEFAULT_PAYLOADS["GetBaseReport"], NOW) for _ in "ab"
    ]
    assert [r["requestId"] for r in reports] == [501, 502]
    # A scenario's own payload is left alone.
    assert (
        conn.complete_payload(
            "GetBaseReport", {"requestId": 9, "reportBase": "FullInventory"}, NOW
        )["requestId"]
        == 9
    )


def test_2_1_reuses_the_defaults_its_schemas_accept() -> None:
    """Which 2.0.1 defaults 2.1 accepts unchanged (the README lists the others)."""
    conn = connection(V21)
    answered("2.1", conn, "TransactionEvent", event("Started", 0, "T7"))
    broken = set()
    for action, payload in DEFAULT_PAYLOADS.items():
        if violations("2.1", f"{action}Request", conn.complete_payload(action, payload, NOW)):
            broken.add(action)
    assert broken == set()


def test_unanswered_command_times_out_and_is_counted() -> None:
    conn = connection(call_timeout_s=5)
    conn.command("Reset", DEFAULT_PAYLOADS["Reset"], NOW)
    conn.take_outbox()
    conn.expire(NOW + 6)
    assert conn.commands == {("Reset", "Timeout"): 1}
