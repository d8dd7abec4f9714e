"""The RPC session: ids, one outstanding CALL with a queue, deadlines, error spelling."""

from __future__ import annotations

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
