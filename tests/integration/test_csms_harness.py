"""The conformance test CSMS (csms_harness.py) itself: a raw WebSocket client on 127.0.0.1 plays
the charger, right and wrong, to show that the harness answers, records and catches violations
(the conformance suite's "zero violations" is only worth what this detection is)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from csms_harness import CallError, CsmsHarness
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

BOOT = {"chargePointVendor": "acme", "chargePointModel": "m1"}


def call(ws: ClientConnection, unique_id: str, action: str, payload: dict[str, Any]) -> Any:
    ws.send(json.dumps([2, unique_id, action, payload]))
    return json.loads(ws.recv(timeout=10))


def charger(csms: CsmsHarness, identity: str) -> ClientConnection:
    return connect(f"{csms.url}/{identity}", subprotocols=[Subprotocol("ocpp1.6")])


def test_answers_records_and_validates_the_chargers_calls() -> None:
    with CsmsHarness(heartbeat_s=7) as csms, charger(csms, "SELF-1") as ws:
        boot = call(ws, "1", "BootNotification", BOOT)
        assert boot[:2] == [3, "1"]
        assert boot[2]["status"] == "Accepted"
        assert boot[2]["interval"] == 7
        starts = [
            call(
                ws,
                f"s{i}",
                "StartTransaction",
                {
                    "connectorId": 1,
                    "idTag": "T",
                    "meterStart": 0,
                    "timestamp": "2024-01-01T00:00:00.000Z",
                },
            )[2]["transactionId"]
            for i in range(2)
        ]
        assert starts[1] == starts[0] + 1
        assert csms.violations == []

        bad_status = {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}
        assert call(ws, "2", "StatusNotification", bad_status) == [3, "2", {}]
        bad_time = {
            "connectorId": 1,
            "idTag": "T",
            "meterStart": 0,
            "timestamp": "2024-01-01T00:00:00.123456Z",
        }
        call(ws, "3", "StartTransaction", bad_time)
        assert call(ws, "4", "Frobnicate", {})[:3] == [4, "4", "NotImplemented"]
        ws.send("hello")

        frame = csms.wait_for("SELF-1", "StatusNotification", lambda p: p["status"] == "Sleeping")
        assert frame.direction == "in"
        assert frame.kind == "CALL"
        assert csms.answer_to(frame).payload == {}
        csms.wait_for("SELF-1", "", kind="BAD")
        problems = "\n".join(csms.violations)
        assert len(csms.violations) == 4, problems
        assert "StatusNotification: status" in problems
        assert "StartTransaction: timestamp" in problems
        assert "Frobnicate" in problems
        assert "not an OCPP-J message" in problems
        assert all(v.startswith("SELF-1: ") for v in csms.violations)


def test_sends_calls_and_validates_the_chargers_answers() -> None:
    with CsmsHarness() as csms, charger(csms, "SELF-2") as ws, ThreadPoolExecutor(1) as pool:
        call(ws, "1", "BootNotification", BOOT)

        def answer_next(reply: list[Any]) -> list[Any]:
            request: list[Any] = json.loads(ws.recv(timeout=10))
            ws.send(json.dumps([reply[0], request[1], *reply[1:]]))
            return request

        answered = pool.submit(csms.send, "SELF-2", "Reset", {"type": "Soft"})
        assert answer_next([3, {"status": "Accepted"}])[2:] == ["Reset", {"type": "Soft"}]
        assert answered.result(10) == {"status": "Accepted"}
        assert csms.violations == []

        answered = pool.submit(csms.send, "SELF-2", "Reset", {"type": "Hard"})
        answer_next([3, {"status": "Maybe"}])
        assert answered.result(10) == {"status": "Maybe"}
        answered = pool.submit(csms.send, "SELF-2", "ClearCache", {})
        answer_next([4, "FormatViolation", "2.0.1 spelling", {}])
        assert answered.result(10) == CallError("FormatViolation", "2.0.1 spelling", {})
        problems = "\n".join(csms.violations)
        assert len(csms.violations) == 2, problems
        assert "ResetResponse: status" in problems
        assert "'FormatViolation' is not an OCPP 1.6 code" in problems


def test_overrides_and_connection_events() -> None:
    with CsmsHarness() as csms:
        with charger(csms, "SELF-3") as ws:
            mark = csms.mark()
            invalid = {"idTagInfo": {"status": "Invalid"}}
            with csms.override("Authorize", lambda _i, p: invalid if p["idTag"] == "BAD" else None):
                assert call(ws, "1", "Authorize", {"idTag": "BAD"})[2] == invalid
                assert call(ws, "2", "Authorize", {"idTag": "GOOD"})[2]["idTagInfo"] == {
                    "status": "Accepted"
                }
            assert call(ws, "3", "Authorize", {"idTag": "BAD"})[2]["idTagInfo"] == {
                "status": "Accepted"
            }
        closed = csms.wait_closed("SELF-3", mark)
        assert [f.payload["idTag"] for f in csms.calls("SELF-3", "Authorize")] == [
            "BAD",
            "GOOD",
            "BAD",
        ]
        assert closed.seq > csms.calls("SELF-3")[-1].seq
        assert csms.violations == []
        # Without the subprotocol: a violation, and the connection is closed.
        with connect(f"{csms.url}/SELF-4") as bare:
            csms.wait_closed("SELF-4", 0)
            assert bare.protocol.state.name in ("CLOSING", "CLOSED")
        assert csms.violations == ["SELF-4: connected without subprotocol ocpp1.6"]
