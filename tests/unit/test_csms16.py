"""The embedded CSMS's 1.6 answers, pure."""

from __future__ import annotations

import itertools

import orjson
from ocpp_schemas import check

from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16.commands import DEFAULT_PAYLOADS
from simfleet.protocol.v16.csms import CsmsConnection16, CsmsSettings


def ask(conn: CsmsConnection16, frame: list[object]) -> list[object]:
    conn.receive(orjson.dumps(frame), 1_700_000_000.5)
    (answer,) = conn.take_outbox()
    return orjson.loads(answer)  # type: ignore[no-any-return]


def test_answers_every_core_action() -> None:
    conn = CsmsConnection16("CP", CsmsSettings(heartbeat_interval_s=45), itertools.count(100))
    boot = ask(
        conn, [2, "1", "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}]
    )
    assert boot == [
        3,
        "1",
        {"status": "Accepted", "currentTime": "2023-11-14T22:13:20.500Z", "interval": 45},
    ]
    assert ask(conn, [2, "2", "StartTransaction", {}])[2] == {
        "transactionId": 100,
        "idTagInfo": {"status": "Accepted"},
    }
    assert ask(conn, [2, "3", "StartTransaction", {}])[2]["transactionId"] == 101  # type: ignore[index]
    for action in (
        "Heartbeat",
        "StatusNotification",
        "Authorize",
        "StopTransaction",
        "MeterValues",
        "DataTransfer",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
    ):
        assert ask(conn, [2, "x", action, {}])[0] == 3


def test_pending_boot_carries_the_retry_interval() -> None:
    conn = CsmsConnection16(
        "CP", CsmsSettings(boot_status="Pending", boot_retry_s=7), itertools.count()
    )
    assert ask(conn, [2, "1", "BootNotification", {}])[2]["interval"] == 7  # type: ignore[index]


def test_unknown_action_and_garbage() -> None:
    conn = CsmsConnection16("CP", CsmsSettings(), itertools.count())
    assert ask(conn, [2, "1", "Teleport", {}]) == [4, "1", "NotImplemented", "Teleport", {}]
    conn.receive(b"nonsense", 0)
    assert orjson.loads(conn.take_outbox()[0])[2] == "FormationViolation"
    assert conn.malformed == 1


def test_timestamps_have_three_fractional_digits() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_700_000_000.1239) == "2023-11-14T22:13:20.123Z"


def test_tokens_are_answered_by_the_scenarios_prefixes() -> None:
    from simfleet.behaviour.model import AuthMethod, AuthOutcome
    from simfleet.behaviour.tokens import TokenBook

    book = TokenBook(invalid="NOPE", blocked="STOP")
    settings = CsmsSettings(token_statuses=book.refusals())
    for outcome, status in (
        (AuthOutcome.ACCEPTED, "Accepted"),
        (AuthOutcome.INVALID, "Invalid"),
        (AuthOutcome.BLOCKED, "Blocked"),
        (AuthOutcome.EXPIRED, "Expired"),
        (AuthOutcome.CONCURRENT_TX, "ConcurrentTx"),
    ):
        token = book.token(7, AuthMethod.RFID, outcome, 0)
        assert settings.status_of(token) == status == book.status_of(token)
    assert settings.status_of("INVR000000070") == "Accepted"  # the default prefix is not used


def booted_connection() -> CsmsConnection16:
    conn = CsmsConnection16("CP", CsmsSettings(), itertools.count(1))
    assert not conn.accepted
    ask(conn, [2, "b", "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}])
    assert conn.accepted
    return conn


def test_commands_are_sent_and_their_answers_counted() -> None:
    conn = booted_connection()
    conn.command("Reset", {"type": "Soft"}, 10.0)
    conn.command("GetConfiguration", {}, 10.0)  # waits behind the Reset (one CALL at a time)
    (sent,) = conn.take_outbox()
    message_type, reset_id, action, payload = orjson.loads(sent)
    assert (message_type, action, payload) == (2, "Reset", {"type": "Soft"})
    conn.receive(orjson.dumps([3, reset_id, {"status": "Accepted"}]), 10.1)
    (sent,) = conn.take_outbox()
    _, get_id, action, _ = orjson.loads(sent)
    assert action == "GetConfiguration"
    conn.receive(orjson.dumps([3, get_id, {"configurationKey": []}]), 10.2)
    conn.command("UnlockConnector", {"connectorId": 1}, 11.0)
    (sent,) = conn.take_outbox()
    unlock_id = orjson.loads(sent)[1]
    conn.receive(orjson.dumps([4, unlock_id, "NotSupported", "", {}]), 11.1)
    conn.command("ClearCache", {}, 12.0)
    conn.take_outbox()
    conn.expire(12.0 + 29)  # not yet
    conn.expire(12.0 + 31)
    assert conn.commands == {
        ("Reset", "Accepted"): 1,
        ("GetConfiguration", "Answered"): 1,
        ("UnlockConnector", "NotSupported"): 1,
        ("ClearCache", "Timeout"): 1,
    }


def test_commands_share_one_tally_across_connections() -> None:
    tally: dict[tuple[str, str], int] = {}
    for identity in ("A", "B"):
        conn = CsmsConnection16(identity, CsmsSettings(), itertools.count(1), tally)
        conn.command("ClearCache", {}, 1.0)
        (sent,) = conn.take_outbox()
        conn.receive(orjson.dumps([3, orjson.loads(sent)[1], {"status": "Accepted"}]), 1.1)
    assert tally == {("ClearCache", "Accepted"): 2}


def test_every_default_command_payload_is_valid_once_completed() -> None:
    conn = CsmsConnection16("CP", CsmsSettings(), itertools.count(500))
    for action, payload in DEFAULT_PAYLOADS.items():
        check(action, conn.complete_payload(action, payload, 1_700_000_000.0))


def test_default_payloads_follow_the_chargers_own_transactions_and_reservations() -> None:
    conn = CsmsConnection16("CP", CsmsSettings(), itertools.count(500))
    now = 1_700_000_000.0
    stop = DEFAULT_PAYLOADS["RemoteStopTransaction"]
    assert conn.complete_payload("RemoteStopTransaction", stop, now) == {"transactionId": 0}
    ask(conn, [2, "1", "StartTransaction", {"idTag": "A"}])  # transaction 500
    ask(conn, [2, "2", "StartTransaction", {"idTag": "B"}])  # 501
    ask(conn, [2, "3", "StopTransaction", {"transactionId": 501}])
    assert conn.complete_payload("RemoteStopTransaction", stop, now) == {"transactionId": 500}
    reserve = conn.complete_payload("ReserveNow", DEFAULT_PAYLOADS["ReserveNow"], now)
    assert reserve["reservationId"] == 502
    assert reserve["expiryDate"] == iso_utc(now + 900)
    cancel = conn.complete_payload("CancelReservation", DEFAULT_PAYLOADS["CancelReservation"], now)
    assert cancel == {"reservationId": 502}
    # A payload the user gave is sent as it is.
    mine = {"transactionId": 7}
    assert conn.complete_payload("RemoteStopTransaction", mine, now) is mine
