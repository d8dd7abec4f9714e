"""The 1.6 charger state machine, driven with strings and numbers only (no sockets, no clock)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from simfleet.protocol.ports import Reading
from simfleet.protocol.v16.charger import (
    _HANDLERS,
    KNOWN_CSMS_ACTIONS,
    BootState,
    Charger16,
    ChargerSettings,
    Status,
)
from simfleet.sim.stats import Recorder

SETTINGS = ChargerSettings(
    identity="CP-1",
    vendor="simfleet",
    model="SF-AC22",
    serial="CP-1",
    firmware="1.0",
    connectors=2,
    heartbeat_interval_s=300,
    meter_interval_s=60,
    call_timeout_s=30,
    boot_retry_s=20,
)


class SteadyMeter:
    """1 kW on every connector, register = 1000 Wh per hour since t=0."""

    def energy_wh(self, connector_id: int, now: float) -> float:
        return now * 1000.0 / 3600.0

    def power_w(self, connector_id: int, now: float) -> float:
        return 1000.0

    def status_changed(self, connector_id: int, status: str, now: float) -> None:
        pass

    def read(self, connector_id: int, now: float) -> Reading:
        return Reading(self.energy_wh(connector_id, now), 1000.0, (1.45, 1.45, 1.45), 230.0, 16.0)

    def set_limit(self, connector_id: int, limit_w: float, now: float) -> None:
        self.limits[connector_id] = limit_w

    def remote_start(self, connector_id: int, now: float) -> bool:
        return self.driver_present

    def __init__(self) -> None:
        self.limits: dict[int, float] = {}
        self.driver_present = True


class Csms:
    """Answers the charger's CALLs the way a CSMS would, and remembers what it saw."""

    def __init__(self, charger: Charger16, answers: dict[str, Any] | None = None) -> None:
        self.charger = charger
        self.answers = {
            "BootNotification": {"status": "Accepted", "currentTime": "t", "interval": 30},
            "Heartbeat": {"currentTime": "t"},
            "StatusNotification": {},
            "Authorize": {"idTagInfo": {"status": "Accepted"}},
            "StartTransaction": {"transactionId": 42, "idTagInfo": {"status": "Accepted"}},
            "StopTransaction": {},
            "MeterValues": {},
        }
        self.answers.update(answers or {})
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def pending(self) -> list[list[Any]]:
        return [orjson.loads(frame) for frame in self.charger.take_outbox()]

    def serve(self, now: float, rounds: int = 50) -> None:
        """Answer everything the charger sends until it goes quiet."""
        for _ in range(rounds):
            frames = self.pending()
            if not frames:
                return
            for frame in frames:
                assert frame[0] == 2, frame
                _, uid, action, payload = frame
                self.seen.append((action, payload))
                reply = [3, uid, self.answers[action]]
                self.charger.receive(orjson.dumps(reply), now)

    def actions(self, heartbeats: bool = False, begin: bool = False) -> list[str]:
        """Actions seen; heartbeats and Transaction.Begin meter values only when asked."""
        return [
            a
            for a, p in self.seen
            if (heartbeats or a != "Heartbeat") and (begin or not _is_begin_sample(a, p))
        ]


def _is_begin_sample(action: str, payload: dict[str, Any]) -> bool:
    if action != "MeterValues":
        return False
    return bool(payload["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.Begin")


def booted(recorder: Recorder | None = None) -> tuple[Charger16, Csms, Recorder]:
    recorder = recorder or Recorder()
    charger = Charger16(SETTINGS, recorder, SteadyMeter())
    csms = Csms(charger)
    charger.connected(0.0)
    csms.serve(0.0)
    return charger, csms, recorder


def test_boot_then_status_of_every_connector() -> None:
    charger, csms, recorder = booted()
    assert charger.boot is BootState.ACCEPTED
    assert csms.actions() == ["BootNotification"] + ["StatusNotification"] * 3
    boot = csms.seen[0][1]
    assert boot["chargePointVendor"] == "simfleet"
    assert boot["chargePointModel"] == "SF-AC22"
    assert [p["connectorId"] for _, p in csms.seen[1:]] == [0, 1, 2]
    assert {p["status"] for _, p in csms.seen[1:]} == {"Available"}
    assert recorder.booted_count == 1
    # §4.2: the interval from the CSMS replaces the configured heartbeat interval.
    assert charger.next_wakeup() == 30.0


def test_heartbeat_at_the_accepted_interval() -> None:
    charger, csms, recorder = booted()
    charger.step(29.9)
    assert csms.pending() == []
    charger.step(30.0)
    csms.serve(30.0)
    charger.step(60.0)
    csms.serve(60.5)
    assert csms.actions(heartbeats=True)[-2:] == ["Heartbeat", "Heartbeat"]
    stats = recorder.actions[("1.6", "Heartbeat")]
    assert stats.ok == 2
    assert stats.latency.max_s == pytest.approx(0.5)


@pytest.mark.parametrize("status", ["Pending", "Rejected"])
def test_boot_retried_after_the_interval_the_csms_gave(status: str) -> None:
    charger = Charger16(SETTINGS, Recorder(), SteadyMeter())
    csms = Csms(
        charger, {"BootNotification": {"status": status, "currentTime": "t", "interval": 7}}
    )
    charger.connected(0.0)
    csms.serve(0.0)
    assert charger.boot is BootState.PENDING
    assert charger.next_wakeup() == 7.0
    charger.step(6.9)
    assert csms.pending() == []
    charger.step(7.0)
    csms.serve(7.0)
    assert csms.actions() == ["BootNotification", "BootNotification"]


def test_boot_timeout_retries_after_the_configured_delay() -> None:
    recorder = Recorder()
    charger = Charger16(SETTINGS, recorder, SteadyMeter())
    charger.connected(0.0)
    charger.take_outbox()  # the CSMS never answers
    assert charger.next_wakeup() == 30.0  # call timeout
    charger.step(30.0)
    assert recorder.actions[("1.6", "BootNotification")].timeouts == 1
    assert charger.next_wakeup() == 50.0  # boot_retry_s later
    charger.step(50.0)
    assert [orjson.loads(f)[2] for f in charger.take_outbox()] == ["BootNotification"]


def test_a_whole_transaction() -> None:
    charger, csms, _ = booted()
    csms.seen.clear()
    assert charger.plug_in(1, "TAG1", 100.0)
    csms.serve(100.0)
    assert csms.actions(begin=True) == [
        "StatusNotification",
        "Authorize",
        "StartTransaction",
        "StatusNotification",
        "MeterValues",  # the Transaction.Begin reading
    ]
    assert [csms.seen[0][1]["status"], csms.seen[3][1]["status"]] == ["Preparing", "Charging"]
    start = csms.seen[2][1]
    assert start["connectorId"] == 1
    assert start["idTag"] == "TAG1"
    assert start["meterStart"] == int(100 * 1000 / 3600)
    assert charger.connectors[0].transaction_id == 42
    # MeterValueSampleInterval after the start
    assert charger.meter_at == 160.0
    csms.seen.clear()
    charger.step(160.0)
    csms.serve(160.0)
    assert csms.actions() == ["MeterValues"]
    meter = csms.seen[0][1]
    assert meter["transactionId"] == 42
    sampled = {v["measurand"]: v for v in meter["meterValue"][0]["sampledValue"]}
    assert sampled["Energy.Active.Import.Register"]["value"] == str(round(160 * 1000 / 3600))
    assert sampled["Power.Active.Import"]["value"] == "1000"
    csms.seen.clear()
    charger.unplug(1, 200.0)
    csms.serve(200.0)
    assert csms.actions() == ["StopTransaction", "StatusNotification"]
    stop = csms.seen[0][1]
    assert (stop["transactionId"], stop["reason"]) == (42, "EVDisconnected")
    assert stop["meterStop"] == int(200 * 1000 / 3600)
    (end,) = stop["transactionData"]
    assert {v["context"] for v in end["sampledValue"]} == {"Transaction.End"}
    assert csms.seen[1][1]["status"] == "Available"
    assert charger.meter_at == float("inf")  # no transaction, no meter values


def test_stop_by_driver_leaves_the_connector_finishing() -> None:
    charger, csms, _ = booted()
    charger.plug_in(2, "TAG2", 10.0)
    csms.serve(10.0)
    csms.seen.clear()
    charger.stop_transaction(2, "Local", 20.0)
    csms.serve(20.0)
    assert csms.actions() == ["StopTransaction", "StatusNotification"]
    assert csms.seen[0][1]["reason"] == "Local"
    assert charger.connectors[1].status is Status.FINISHING


def test_rejected_id_tag_starts_nothing() -> None:
    charger, csms, _ = booted()
    csms.answers["Authorize"] = {"idTagInfo": {"status": "Invalid"}}
    csms.seen.clear()
    charger.plug_in(1, "BAD", 10.0)
    csms.serve(10.0)
    assert csms.actions() == ["StatusNotification", "Authorize"]
    assert not charger.connectors[0].in_transaction


def test_transaction_refused_at_start_is_stopped_deauthorized() -> None:
    charger, csms, _ = booted()
    csms.answers["StartTransaction"] = {"transactionId": 9, "idTagInfo": {"status": "Blocked"}}
    csms.seen.clear()
    charger.plug_in(1, "T", 10.0)
    csms.serve(10.0)
    assert csms.actions()[-2:] == ["StopTransaction", "StatusNotification"]
    assert csms.seen[-2][1]["reason"] == "DeAuthorized"


def test_busy_connector_refuses_a_second_car() -> None:
    charger, _csms, _ = booted()
    assert charger.plug_in(1, "A", 1.0)
    assert not charger.plug_in(1, "B", 2.0)


def test_every_csms_command_has_a_handler_and_unknown_ones_are_not_implemented() -> None:
    assert set(_HANDLERS) >= KNOWN_CSMS_ACTIONS
    charger, csms, recorder = booted()
    charger.receive(b'[2, "c2", "MakeCoffee", {}]', 1.0)
    assert csms.pending() == [[4, "c2", "NotImplemented", "MakeCoffee", {}]]
    assert recorder.commands == {("1.6", "MakeCoffee", "NotImplemented"): 1}


def test_garbage_from_the_csms_is_counted_and_answered() -> None:
    charger, csms, recorder = booted()
    charger.receive(b"}{", 1.0)
    assert csms.pending() == [[4, "-1", "FormationViolation", "not JSON", {}]]
    assert recorder.malformed_by_code == {"FormationViolation": 1}


def test_offline_transaction_messages_are_delivered_in_order_without_a_new_boot() -> None:
    charger, csms, recorder = booted()
    charger.plug_in(1, "T", 10.0)
    csms.serve(10.0)
    charger.disconnected(50.0)
    for t in (70.0, 130.0):
        charger.step(t)
    charger.unplug(1, 150.0)
    assert csms.pending() == []  # nothing written while offline
    csms.seen.clear()
    charger.connected(200.0)
    csms.serve(200.0)
    # The replay is paced (settings.replay_interval_s): the charger wakes for each message.
    while charger.next_wakeup() <= 202.0:
        at = charger.next_wakeup()
        charger.step(at)
        csms.serve(at)
    actions = csms.actions()
    assert "BootNotification" not in actions
    transaction = [a for a in actions if a in ("MeterValues", "StopTransaction")]
    assert transaction == ["MeterValues", "MeterValues", "StopTransaction"]
    meter_times = [p["meterValue"][0]["timestamp"] for a, p in csms.seen if a == "MeterValues"]
    assert len(meter_times) == 2
    assert meter_times == sorted(meter_times)
    assert recorder.booted_count == 1


def test_call_lost_with_the_connection_is_counted() -> None:
    charger, _csms, recorder = booted()
    charger.step(30.0)  # heartbeat goes out
    charger.disconnected(31.0)
    assert recorder.actions[("1.6", "Heartbeat")].lost == 1


def plug_in_and_hold_the_start(charger: Charger16, csms: Csms) -> list[Any]:
    """Plug in on connector 1 at t=10, answer Preparing and Authorize; return the
    StartTransaction frame, unanswered."""
    charger.plug_in(1, "T", 10.0)
    for _ in range(2):
        (frame,) = csms.pending()
        charger.receive(orjson.dumps([3, frame[1], csms.answers[frame[2]]]), 10.0)
    (start,) = csms.pending()
    assert start[2] == "StartTransaction"
    return start


def test_two_connectors_with_the_same_id_tag_both_start() -> None:
    charger, csms, _ = booted()
    csms.seen.clear()
    charger.plug_in(1, "SAME", 10.0)
    charger.plug_in(2, "SAME", 10.0)  # before the first Authorize is answered
    csms.serve(10.0)
    starts = [p["connectorId"] for a, p in csms.seen if a == "StartTransaction"]
    assert sorted(starts) == [1, 2]
    assert charger.is_charging(1)
    assert charger.is_charging(2)


def test_ev_leaving_while_start_is_in_flight_still_stops_the_transaction() -> None:
    charger, csms, _ = booted()
    start = plug_in_and_hold_the_start(charger, csms)
    charger.unplug(1, 11.0)
    assert not charger.plug_in(1, "OTHER", 11.5)  # busy until the start is resolved
    charger.receive(orjson.dumps([3, start[1], csms.answers["StartTransaction"]]), 12.0)
    csms.seen.clear()
    csms.serve(12.0)
    stops = [p for a, p in csms.seen if a == "StopTransaction"]
    assert [(p["transactionId"], p["reason"]) for p in stops] == [(42, "EVDisconnected")]
    assert charger.connectors[0].status is Status.AVAILABLE
    assert not charger.connectors[0].in_transaction
    assert charger.plug_in(1, "OTHER", 13.0)


def test_failed_start_after_the_ev_left_leaves_the_connector_available() -> None:
    charger, csms, _ = booted()
    start = plug_in_and_hold_the_start(charger, csms)
    charger.unplug(1, 11.0)
    # TransactionMessageAttempts = 3 (§4.7): the start fails when its third attempt does, the
    # retries 60 s and 120 s after the failures (RetryInterval x failures so far).
    at = 12.0
    for retry_in in (60.0, 120.0, None):
        charger.receive(orjson.dumps([4, start[1], "InternalError", "", {}]), at)
        if retry_in is None:
            break
        assert charger.connectors[0].in_transaction  # not a failed start yet
        csms.serve(at)  # other messages go meanwhile (the unplug's Available)
        assert "StartTransaction" not in [action for action, _ in csms.seen]
        at += retry_in
        charger.step(at - 0.01)  # heartbeats meanwhile, no StartTransaction yet
        csms.serve(at - 0.01)
        assert "StartTransaction" not in [action for action, _ in csms.seen]
        assert charger.next_wakeup() == at
        charger.step(at)
        (start,) = csms.pending()
        assert start[2] == "StartTransaction"
    csms.seen.clear()
    csms.serve(at)
    assert "StopTransaction" not in csms.actions()
    assert charger.connectors[0].status is Status.AVAILABLE
    assert not charger.connectors[0].in_transaction


def test_an_offline_charger_does_not_ask_to_wake_for_heartbeats() -> None:
    charger, _csms, _ = booted()
    charger.disconnected(10.0)
    # The heartbeat due at 30 s cannot be sent while offline: waking for it would spin.
    assert charger.next_wakeup() == float("inf")
    charger.step(40.0)
    assert charger.next_wakeup() == float("inf")
    charger.connected(50.0)
    assert charger.next_wakeup() <= 50.0  # the overdue heartbeat goes out once back
