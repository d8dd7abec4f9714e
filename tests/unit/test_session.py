"""The RPC session: ids, one outstanding CALL with a queue, deadlines, error spelling."""

from __future__ import annotations

from typing import Any

import orjson

from simfleet.protocol.dialect import V16, V201
from simfleet.protocol.errors import ErrorCode
from simfleet.protocol.frames import Call
from simfleet.protocol.session import NEVER, Malformed, OutgoingCall, RpcSession


def online(dialect=V16, timeout: float = 10.0) -> RpcSession:  # type: ignore[no-untyped-def]
    session = RpcSession(dialect, timeout)
    session.connected(0.0)
    return session


def sent(session: RpcSession) -> list[list[object]]:
    return [orjson.loads(frame) for frame in session.take_outbox()]


def test_one_call_outstanding_the_rest_queued_in_order() -> None:
    session = online()
    session.call("Heartbeat", {}, 1.0, 1.0)
    session.call("StatusNotification", {"n": 1}, 1.0, 1.0)
    session.call("StatusNotification", {"n": 2}, 1.0, 1.0)
    assert sent(session) == [[2, "1", "Heartbeat", {}]]
    assert session.queued == 2
    event = session.receive(b'[3, "1", {"currentTime": "x"}]', 2.0)
    assert isinstance(event, OutgoingCall)
    assert event.action == "Heartbeat"
    assert event.result == {"currentTime": "x"}
    assert sent(session) == [[2, "2", "StatusNotification", {"n": 1}]]


def test_latency_counts_the_wait_behind_another_call() -> None:
    session = online()
    session.call("A", {}, 10.0, 10.0)
    session.call("B", {}, 10.5, 10.5)  # intended at 10.5, but must wait for A
    session.receive(b'[3, "1", {}]', 12.0)
    answered = session.receive(b'[3, "2", {}]', 12.1)
    assert isinstance(answered, OutgoingCall)
    assert answered.intended_at == 10.5  # the owner measures 12.1 - 10.5, not 12.1 - 12.0


def test_urgent_call_jumps_the_queue() -> None:
    session = online()
    session.call("A", {}, 0, 0)
    session.call("B", {}, 0, 0)
    session.call("BootNotification", {}, 0, 0, urgent=True)
    session.receive(b'[3, "1", {}]', 1)
    assert sent(session)[-1][2] == "BootNotification"


def test_deadline_expires_the_call_and_sends_the_next() -> None:
    session = online(timeout=5.0)
    session.call("A", {}, 0.0, 0.0)
    session.call("B", {}, 0.0, 0.0)
    session.take_outbox()
    assert session.next_deadline == 5.0
    assert session.expire(4.9) is None
    expired = session.expire(5.0)
    assert expired is not None
    assert expired.action == "A"
    assert sent(session) == [[2, "2", "B", {}]]
    assert session.next_deadline == 10.0
    # The late answer to A is not mistaken for B's.
    late = session.receive(b'[3, "1", {}]', 6.0)
    assert isinstance(late, Malformed)
    assert session.in_flight is not None
    assert session.in_flight.action == "B"


def test_callerror_answers_our_call_with_its_wire_code() -> None:
    session = online()
    session.call("Authorize", {"idTag": "X"}, 0, 0)
    event = session.receive(b'[4, "1", "OccurenceConstraintViolation", "bad", {}]', 1)
    assert isinstance(event, OutgoingCall)
    assert event.error_code == "OccurenceConstraintViolation"
    assert event.result is None


def test_malformed_call_gets_a_callerror_spelled_per_version() -> None:
    v16, v201 = online(V16), online(V201)
    for session in (v16, v201):
        event = session.receive(b'[2, "9", "Reset", null]', 0)
        assert isinstance(event, Malformed)
    assert sent(v16) == [[4, "9", "FormationViolation", "CALL payload is not an object", {}]]
    assert sent(v201) == [[4, "9", "FormatViolation", "CALL payload is not an object", {}]]


def test_unreadable_frame_is_answered_with_id_minus_one() -> None:
    session = online(V201)
    assert isinstance(session.receive(b"\x00garbage", 0), Malformed)
    assert sent(session) == [[4, "-1", "RpcFrameworkError", "not JSON", {}]]


def test_broken_answer_is_counted_not_answered() -> None:
    session = online()
    session.call("A", {}, 0, 0)
    session.take_outbox()
    assert isinstance(session.receive(b'[3, "1"]', 1), Malformed)
    assert session.take_outbox() == []


def test_peer_call_is_surfaced_and_answered() -> None:
    session = online()
    event = session.receive(b'[2, "abc", "Reset", {"type": "Soft"}]', 0)
    assert isinstance(event, Call)
    session.answer(event, {"status": "Accepted"})
    session.answer_error(event, ErrorCode.NOT_IMPLEMENTED, "x")
    assert sent(session) == [
        [3, "abc", {"status": "Accepted"}],
        [4, "abc", "NotImplemented", "x", {}],
    ]


def test_offline_calls_wait_and_only_transaction_messages_survive_a_drop() -> None:
    session = RpcSession(V16, 10.0)
    session.call("Heartbeat", {}, 0, 0)
    assert session.take_outbox() == []  # not connected: nothing written
    session.connected(1.0)
    session.call("MeterValues", {"n": 1}, 1, 1, keep_offline=True)
    session.call("StatusNotification", {}, 1, 1)
    assert [f[2] for f in sent(session)] == ["Heartbeat"]
    lost = session.disconnected()
    assert [c.action for c in lost] == ["Heartbeat", "StatusNotification"]
    assert session.next_deadline == NEVER
    session.connected(2.0)
    frames = sent(session)
    assert [f[2] for f in frames] == ["MeterValues"]
    assert frames[0][1] == "2"  # ids keep counting across connections


def test_full_offline_queue_drops_and_says_so() -> None:
    session = RpcSession(V16, 10.0, max_queued=2)
    assert session.call("A", {}, 0, 0) is not None
    assert session.call("B", {}, 0, 0) is not None
    assert session.call("C", {}, 0, 0) is None


# -- transaction messages: retries, order, replay pace, a full queue (OCPP 1.6 §4.7) -----------


def tx_session(**kwargs: float) -> RpcSession:
    """Online, 10 s call timeout, retries every 10 s x failures, 3 attempts, unpaced."""
    options = {"retry_attempts": 3, "retry_interval": 10.0, "replay_interval": 0.0, **kwargs}
    session = RpcSession(
        V16,
        10.0,
        int(options.pop("max_queued", 1000)),
        retry_attempts=int(options["retry_attempts"]),
        retry_interval=options["retry_interval"],
        replay_interval=options["replay_interval"],
    )
    session.connected(0.0)
    return session


def payloads(session: RpcSession) -> list[dict[str, Any]]:
    return [orjson.loads(frame)[3] for frame in session.take_outbox()]


def error(session: RpcSession, now: float) -> OutgoingCall:
    """Answer the call in flight with a CALLERROR."""
    in_flight = session.in_flight
    assert in_flight is not None
    frame = orjson.dumps([4, in_flight.unique_id, "InternalError", "", {}])
    event = session.receive(frame, now)
    assert isinstance(event, OutgoingCall)
    return event


def ok(session: RpcSession, now: float) -> OutgoingCall:
    in_flight = session.in_flight
    assert in_flight is not None
    event = session.receive(orjson.dumps([3, in_flight.unique_id, {}]), now)
    assert isinstance(event, OutgoingCall)
    return event


def test_callerror_retried_after_interval_times_failures_then_given_up() -> None:
    session = tx_session()
    session.call("StopTransaction", {"n": 1}, 0.0, 0.0, keep_offline=True)
    sent_at = [0.0]
    assert [f[2] for f in sent(session)] == ["StopTransaction"]
    now = 0.0
    for failures in (1, 2):
        event = error(session, now)
        assert event.retrying
        assert event.error_code == "InternalError"  # the failed attempt keeps its outcome
        assert session.take_outbox() == []
        assert session.next_due == now + 10.0 * failures
        session.poll(now + 10.0 * failures - 0.001)
        assert session.take_outbox() == []  # not a moment early
        now += 10.0 * failures
        session.poll(now)
        frames = sent(session)
        assert [(f[2], f[3]) for f in frames] == [("StopTransaction", {"n": 1})]
        sent_at.append(now)
    assert sent_at == [0.0, 10.0, 30.0]
    final = error(session, now)
    assert not final.retrying  # the third failure: TransactionMessageAttempts = 3
    assert final.failures == 3
    assert session.queued == 0
    assert session.next_due == NEVER


def test_timeout_is_retried_like_a_callerror() -> None:
    session = tx_session(retry_attempts=2, retry_interval=5.0)
    session.call("MeterValues", {}, 0.0, 0.0, keep_offline=True)
    session.take_outbox()
    assert session.next_due == 10.0  # the call timeout
    expired = session.poll(10.0)
    assert expired is not None and expired.retrying
    assert session.next_due == 15.0
    assert session.poll(15.0) is None
    assert [f[2] for f in sent(session)] == ["MeterValues"]
    expired = session.poll(25.0)
    assert expired is not None and not expired.retrying  # 2 attempts: given up


def test_attempts_zero_or_one_means_no_retry() -> None:
    for attempts in (0, 1):
        session = tx_session(retry_attempts=attempts)
        session.call("StartTransaction", {}, 0.0, 0.0, keep_offline=True)
        assert not error(session, 1.0).retrying
        assert session.queued == 0


def test_nothing_overtakes_a_message_waiting_for_its_retry_but_others_go() -> None:
    session = tx_session()
    session.call("MeterValues", {"n": 1}, 0.0, 0.0, keep_offline=True)
    session.call("MeterValues", {"n": 2}, 0.0, 0.0, keep_offline=True)
    session.call("StopTransaction", {"n": 3}, 0.0, 0.0, keep_offline=True)
    session.call("StatusNotification", {"n": 4}, 0.0, 0.0)
    session.take_outbox()
    error(session, 1.0)  # n=1 waits until 11
    # The StatusNotification goes meanwhile, and a Heartbeat made later too.
    assert [f[3] for f in sent(session)] == [{"n": 4}]
    session.call("Heartbeat", {}, 2.0, 2.0)
    ok(session, 2.0)
    assert [f[2] for f in sent(session)] == ["Heartbeat"]
    ok(session, 3.0)
    assert session.take_outbox() == []  # n=2 and n=3 wait behind n=1
    assert session.next_due == 11.0
    session.poll(11.0)
    order = []
    for now in (11.0, 12.0, 13.0):
        order += [p["n"] for p in payloads(session)]
        ok(session, now)
    assert order == [1, 2, 3]


def test_older_call_first_between_the_two_queues() -> None:
    session = tx_session()
    session.call("Heartbeat", {}, 0.0, 0.0)
    session.call("StopTransaction", {}, 0.0, 0.0, keep_offline=True)
    session.call("StatusNotification", {}, 0.0, 0.0)
    session.call("BootNotification", {}, 0.0, 0.0, urgent=True)
    actions = [f[2] for f in sent(session)]
    for now in (1.0, 2.0, 3.0):
        ok(session, now)
        actions += [f[2] for f in sent(session)]
    assert actions == ["Heartbeat", "BootNotification", "StopTransaction", "StatusNotification"]


def test_replay_after_a_reconnect_is_paced() -> None:
    session = tx_session(replay_interval=0.5)
    session.disconnected()
    for n in range(4):
        session.call("MeterValues", {"n": n}, 10.0 + n, 10.0 + n, keep_offline=True)
    session.connected(20.0)
    sent_at: list[tuple[float, object]] = [(20.0, f[3]) for f in sent(session)]
    ok(session, 20.1)
    session.call("StatusNotification", {"n": "status"}, 20.1, 20.1)  # not held back
    sent_at += [(20.1, f[3]) for f in sent(session)]
    ok(session, 20.2)
    now = 20.2
    while session.queued or session.in_flight is not None:
        if session.in_flight is None:
            assert session.next_due > now  # held back: the owner wakes then
            now = session.next_due
            session.poll(now)
        sent_at += [(now, f[3]) for f in sent(session)]
        ok(session, now)
    assert sent_at == [
        (20.0, {"n": 0}),
        (20.1, {"n": "status"}),
        (20.5, {"n": 1}),
        (21.0, {"n": 2}),
        (21.5, {"n": 3}),
    ]
    # After the backlog, new transaction messages are not paced.
    session.call("MeterValues", {"n": 4}, 30.0, 30.0, keep_offline=True)
    session.call("MeterValues", {"n": 5}, 30.0, 30.0, keep_offline=True)
    assert [f[3] for f in sent(session)] == [{"n": 4}]
    ok(session, 30.0)
    assert [f[3] for f in sent(session)] == [{"n": 5}]


def test_replay_interval_zero_goes_as_fast_as_answers() -> None:
    session = tx_session(replay_interval=0.0)
    session.disconnected()
    for n in range(3):
        session.call("MeterValues", {"n": n}, 1.0, 1.0, keep_offline=True)
    session.connected(5.0)
    got = []
    for _ in range(3):
        got += [p["n"] for p in payloads(session)]
        ok(session, 5.0)
    assert got == [0, 1, 2]


def test_offline_session_never_asks_to_wake_for_its_queue() -> None:
    session = tx_session(replay_interval=0.5)
    session.disconnected()
    session.call("MeterValues", {}, 1.0, 1.0, keep_offline=True)
    assert session.next_due == NEVER


def test_full_queue_drops_the_oldest_meter_values_first() -> None:
    session = tx_session(max_queued=3)
    session.disconnected()
    session.call("StartTransaction", {"n": 0}, 0.0, 0.0, keep_offline=True)
    session.call("MeterValues", {"n": 1}, 0.0, 0.0, keep_offline=True)
    session.call("MeterValues", {"n": 2}, 0.0, 0.0, keep_offline=True)
    assert session.take_displaced() is None
    # A newer MeterValues: the oldest MeterValues makes room (the Start stays).
    assert session.call("MeterValues", {"n": 3}, 0.0, 0.0, keep_offline=True) is not None
    displaced = session.take_displaced()
    assert displaced is not None and displaced.payload == {"n": 1}
    assert session.take_displaced() is None  # reported once
    # A StopTransaction: again a MeterValues goes, never the Start.
    assert session.call("StopTransaction", {"n": 4}, 0.0, 0.0, keep_offline=True) is not None
    displaced = session.take_displaced()
    assert displaced is not None and displaced.payload == {"n": 2}
    session.connected(1.0)
    order = []
    for _ in range(3):
        order += [p["n"] for p in payloads(session)]
        ok(session, 1.0)
    assert order == [0, 3, 4]


def test_full_queue_of_starts_and_stops_drops_the_newcomer() -> None:
    session = tx_session(max_queued=2)
    session.disconnected()
    session.call("StartTransaction", {"n": 0}, 0.0, 0.0, keep_offline=True)
    session.call("StopTransaction", {"n": 1}, 0.0, 0.0, keep_offline=True)
    assert session.call("MeterValues", {"n": 2}, 0.0, 0.0, keep_offline=True) is None
    assert session.call("StartTransaction", {"n": 3}, 0.0, 0.0, keep_offline=True) is None
    assert session.take_displaced() is None
    assert session.queued == 2


def test_full_queue_drops_a_2x_reading_event_never_a_started_or_state_change() -> None:
    session = tx_session(max_queued=3)
    session.disconnected()

    def event(kind: str, trigger: str, n: int) -> OutgoingCall | None:
        payload = {"eventType": kind, "triggerReason": trigger, "seqNo": n}
        return session.call("TransactionEvent", payload, 0.0, 0.0, keep_offline=True)

    event("Started", "Authorized", 0)
    event("Updated", "ChargingStateChanged", 1)
    event("Updated", "MeterValuePeriodic", 2)
    assert event("Ended", "EVDeparted", 3) is not None  # the periodic reading makes room
    displaced = session.take_displaced()
    assert displaced is not None and displaced.payload["seqNo"] == 2
    # Nothing expendable left: the newcomer is dropped, the transaction's events stay.
    assert event("Updated", "MeterValueClock", 4) is None
