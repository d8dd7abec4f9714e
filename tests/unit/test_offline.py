"""A 1.6 charger offline and back (OCPP 1.6 §4.7, OCPP-J 1.6 §3.7), pure: retries of transaction
messages, their order, the paced replay after a reconnect, a full queue, configuration changes,
and StopTransaction never duplicated. Every CALL the charger sends, every answer the fake CSMS
gives and every answer the charger gives is checked against the official 1.6 schemas.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from ocpp_schemas import check
from test_charger16 import SETTINGS, SteadyMeter
from test_v16_core_commands import command

from simfleet.exporters.report import build_report, summary_table
from simfleet.protocol.v16.charger import Charger16, ChargerSettings, Status
from simfleet.scenario.model import Scenario
from simfleet.sim.stats import Recorder

TX = ("StartTransaction", "StopTransaction", "MeterValues")


class Backend:
    """A CSMS that answers each CALL at the instant it is sent, and logs it.

    `errors[action]` CALLs of that action are answered with a CALLERROR first, `silent[action]`
    left without an answer (they time out); transaction ids count up from 42.
    """

    def __init__(
        self,
        charger: Charger16,
        errors: dict[str, int] | None = None,
        silent: dict[str, int] | None = None,
    ) -> None:
        self.charger = charger
        self.errors = dict(errors or {})
        self.silent = dict(silent or {})
        self.log: list[tuple[float, str, dict[str, Any], str]] = []  # at, action, payload, fate
        self.now = 0.0
        self.transaction_id = 41

    def answer(self, action: str) -> dict[str, Any]:
        now = "2024-01-01T00:00:00Z"
        payload: dict[str, Any] = {}
        if action == "StartTransaction":
            self.transaction_id += 1
            payload = {"transactionId": self.transaction_id, "idTagInfo": {"status": "Accepted"}}
        elif action == "BootNotification":
            payload = {"status": "Accepted", "currentTime": now, "interval": 30}
        elif action == "Heartbeat":
            payload = {"currentTime": now}
        elif action == "Authorize":
            payload = {"idTagInfo": {"status": "Accepted"}}
        check(f"{action}Response", payload)
        return payload

    def deliver(self, now: float) -> None:
        """Answer what the charger has written (and what that makes it write) at `now`."""
        for _ in range(1000):
            frames = self.charger.take_outbox()
            if not frames:
                return
            for raw in frames:
                kind, uid, action, payload = orjson.loads(raw)
                assert kind == 2, raw  # answers to commands are taken by `command`
                check(action, payload)
                if self.silent.get(action, 0) > 0:
                    self.silent[action] -= 1
                    self.log.append((now, action, payload, "silent"))
                    continue
                if self.errors.get(action, 0) > 0:
                    self.errors[action] -= 1
                    self.log.append((now, action, payload, "error"))
                    reply: list[Any] = [4, uid, "InternalError", "", {}]
                else:
                    self.log.append((now, action, payload, "ok"))
                    reply = [3, uid, self.answer(action)]
                self.charger.receive(orjson.dumps(reply), now)
        raise AssertionError("the charger never goes quiet")

    def run(self, until: float) -> None:
        """Step the charger at each of its wake-ups up to `until`, answering as it goes."""
        now = self.now
        for _ in range(100_000):
            self.deliver(now)
            wake = self.charger.next_wakeup()
            if wake > until:
                self.now = until
                return
            now = max(now, wake)
            self.charger.step(now)
            if self.charger.ready_to_reboot(now):
                self.reset(now)
        raise AssertionError("the charger keeps waking at the same instant")

    def reset(self, now: float) -> None:
        """What the agent does for an accepted Reset (sim/agent.py `_reset`): reboot, and the
        connection goes and comes back."""
        kind, self.charger.reset_pending = self.charger.reset_pending, ""
        self.charger.reset_deadline = float("inf")
        self.charger.reboot(f"{kind}Reset", now)
        self.charger.disconnected(now)
        self.charger.connected(now)

    def at(self, now: float) -> None:
        """Run up to `now` (something happens to the charger then)."""
        self.run(now)

    def sent(self, *actions: str) -> list[tuple[float, str, dict[str, Any], str]]:
        return [entry for entry in self.log if entry[1] in actions]

    def times(self, action: str) -> list[float]:
        return [at for at, a, _, _ in self.log if a == action]


def start(
    settings: ChargerSettings | None = None,
    errors: dict[str, int] | None = None,
    silent: dict[str, int] | None = None,
) -> tuple[Charger16, Backend, Recorder]:
    """A charger booted at 0 (heartbeat every 30 s), meter readings every 10 s."""
    recorder = Recorder()
    charger = Charger16(settings or replace(SETTINGS, meter_interval_s=10), recorder, SteadyMeter())
    backend = Backend(charger, errors, silent)
    charger.connected(0.0)
    backend.deliver(0.0)
    return charger, backend, recorder


def charging(backend: Backend, at: float) -> None:
    backend.at(at)
    backend.charger.plug_in(1, "TAG1", at)
    backend.deliver(at)


def meter_timestamps(entries: list[tuple[float, str, dict[str, Any], str]]) -> list[str]:
    return [p["meterValue"][0]["timestamp"] for _, a, p, _ in entries if a == "MeterValues"]


# -- retries (§4.7) ------------------------------------------------------------------------------


def test_a_start_answered_with_errors_twice_is_retried_and_starts() -> None:
    charger, backend, recorder = start(errors={"StartTransaction": 2})
    charging(backend, 10.0)
    backend.run(100.0)
    assert charger.connectors[0].in_transaction  # still starting: not a failed start
    assert charger.status_of(1) is Status.PREPARING
    backend.run(400.0)
    # TransactionMessageRetryInterval 60 x the failures so far: 60 s, then 120 s.
    assert backend.times("StartTransaction") == [10.0, 70.0, 190.0]
    assert [fate for *_, fate in backend.sent("StartTransaction")] == ["error", "error", "ok"]
    payloads = [p for _, _, p, _ in backend.sent("StartTransaction")]
    assert payloads[0] == payloads[1] == payloads[2]  # the same message, sent again
    assert charger.connectors[0].transaction_id == 42
    assert charger.status_of(1) is Status.CHARGING
    stats = recorder.actions[("1.6", "StartTransaction")]
    assert (stats.ok, stats.errors) == (1, {"InternalError": 2})  # each attempt counted
    assert recorder.started == {"1.6": 1}
    assert recorder.tx_dropped == {}


def test_a_start_failing_every_attempt_is_dropped_and_no_stop_is_owed() -> None:
    charger, backend, recorder = start(errors={"StartTransaction": 99})
    charging(backend, 10.0)
    backend.run(1000.0)
    assert backend.times("StartTransaction") == [10.0, 70.0, 190.0]
    assert recorder.tx_dropped == {("1.6", "StartTransaction", "attempts"): 1}
    assert not charger.connectors[0].in_transaction
    assert charger.status_of(1) is Status.FINISHING  # the EV is still plugged in
    assert backend.sent("StopTransaction", "MeterValues") == []
    assert recorder.started == {}


def test_a_stop_that_times_out_is_retried_after_the_timeout() -> None:
    charger, backend, recorder = start(silent={"StopTransaction": 2})
    charging(backend, 10.0)
    backend.at(15.0)
    charger.unplug(1, 15.0)
    backend.run(1000.0)
    # Call timeout 30 s, then 60 s; 30 s, then 120 s.
    assert backend.times("StopTransaction") == [15.0, 105.0, 255.0]
    stats = recorder.actions[("1.6", "StopTransaction")]
    assert (stats.timeouts, stats.ok) == (2, 1)
    assert recorder.stopped == {"1.6": 1}
    assert recorder.tx_dropped == {}


def test_order_is_kept_behind_a_retry_while_other_messages_go() -> None:
    _, backend, _ = start(errors={"MeterValues": 1})
    charging(backend, 10.0)  # its Transaction.Begin reading fails: again at 70
    backend.run(75.0)
    meters = backend.sent("MeterValues")
    assert [at for at, *_ in meters] == [10.0] + [70.0] * 7
    # The failed Begin first, then the periodic readings of 20..70, in order.
    stamps = meter_timestamps(meters)
    assert stamps[0] == stamps[1] == "1970-01-01T00:00:10.000Z"
    assert stamps[1:] == sorted(stamps[1:]) and len(set(stamps[1:])) == 7
    contexts = [p["meterValue"][0]["sampledValue"][0]["context"] for _, _, p, _ in meters]
    assert contexts[:2] == ["Transaction.Begin"] * 2
    # Heartbeats were not held back by the waiting reading.
    assert backend.times("Heartbeat") == [30.0, 60.0]


# -- the replay after a reconnect (PROTOCOL.md: throttled) --------------------------------------


def offline_session(settings: ChargerSettings) -> tuple[Charger16, Backend, Recorder]:
    """Charging from 10, offline from 45 to 200, the EV leaves at 155 (readings every 10 s)."""
    charger, backend, recorder = start(settings)
    charging(backend, 10.0)
    backend.at(45.0)
    charger.disconnected(45.0)
    backend.at(155.0)
    charger.unplug(1, 155.0)
    backend.at(200.0)
    assert backend.sent(*TX)[-1][0] < 45.0  # nothing sent while offline
    backend.log.clear()
    charger.connected(200.0)
    return charger, backend, recorder


def test_the_replay_is_paced_and_the_charger_wakes_for_each_message() -> None:
    charger, backend, recorder = offline_session(replay_settings(0.5))
    backend.run(200.0)  # the first queued message, and the overdue heartbeat
    assert charger.next_wakeup() == 200.5  # the next queued message
    backend.run(220.0)
    replayed = backend.sent(*TX)
    # 50..150: eleven periodic readings, then the StopTransaction, one per 0.5 s.
    assert [at for at, *_ in replayed] == [200.0 + 0.5 * i for i in range(12)]
    assert [a for _, a, _, _ in replayed] == ["MeterValues"] * 11 + ["StopTransaction"]
    stamps = meter_timestamps(replayed)
    assert stamps == sorted(stamps) and len(set(stamps)) == 11
    # StatusNotifications (not transaction messages) went at once, not behind the backlog.
    assert backend.times("StatusNotification") == [200.0] * 2  # connectors 1 and 2
    assert backend.sent("BootNotification") == []
    assert recorder.tx_dropped == {}


def test_replay_interval_zero_replays_as_fast_as_the_answers() -> None:
    _, backend, _ = offline_session(replay_settings(0.0))
    backend.run(220.0)
    assert [at for at, *_ in backend.sent(*TX)] == [200.0] * 12


def replay_settings(interval: float, queue: int = 1000) -> ChargerSettings:
    return replace(
        SETTINGS, meter_interval_s=10, replay_interval_s=interval, max_offline_queue=queue
    )


def test_a_full_queue_drops_the_oldest_readings_and_keeps_the_stop() -> None:
    charger, backend, recorder = offline_session(replay_settings(0.0, queue=5))
    backend.run(220.0)
    replayed = backend.sent(*TX)
    # Eleven readings and a stop for five places: the seven oldest readings made room.
    assert [a for _, a, _, _ in replayed] == ["MeterValues"] * 4 + ["StopTransaction"]
    assert meter_timestamps(replayed) == [f"1970-01-01T00:02:{s}0.000Z" for s in range(4)]
    assert recorder.tx_dropped == {("1.6", "MeterValues", "queue_full"): 7}
    assert all(stats.lost == 0 for (_, a), stats in recorder.actions.items() if a in TX)
    # The report and its summary say so.
    report = build_report(Scenario(), "ws://x", recorder.snapshot(0, 220.0), 1.0, 1, "test", 1)
    assert report["transaction_messages_dropped"] == {"MeterValues": {"queue_full": 7}}
    assert "transaction messages dropped: MeterValues queue_full=7" in summary_table(report)
    assert charger.connectors[0].transaction_id is None


# -- configuration (§9.1.31-32): at boot and after ChangeConfiguration --------------------------


def test_retry_settings_at_boot_reach_the_configuration_and_the_session() -> None:
    settings = replace(
        SETTINGS, transaction_message_attempts=4, transaction_message_retry_interval_s=7
    )
    charger, backend, recorder = start(settings, errors={"StartTransaction": 99})
    keys = ["TransactionMessageAttempts", "TransactionMessageRetryInterval"]
    answer = command(charger, "GetConfiguration", {"key": keys}, 1.0)
    assert [(k["key"], k["value"]) for k in answer["configurationKey"]] == list(
        zip(keys, ["4", "7"], strict=True)
    )
    charging(backend, 10.0)
    backend.run(200.0)
    assert backend.times("StartTransaction") == [10.0, 17.0, 31.0, 52.0]
    assert recorder.tx_dropped == {("1.6", "StartTransaction", "attempts"): 1}


def test_change_configuration_takes_effect_for_the_next_failures() -> None:
    charger, backend, recorder = start(errors={"StopTransaction": 99})
    for key, value in (
        ("TransactionMessageRetryInterval", "5"),
        ("TransactionMessageAttempts", "2"),
    ):
        answer = command(charger, "ChangeConfiguration", {"key": key, "value": value}, 1.0)
        assert answer == {"status": "Accepted"}
    assert command(
        charger, "ChangeConfiguration", {"key": "TransactionMessageAttempts", "value": "-1"}, 1.0
    ) == {"status": "Rejected"}
    charging(backend, 10.0)
    backend.at(12.0)
    charger.unplug(1, 12.0)
    backend.run(200.0)
    assert backend.times("StopTransaction") == [12.0, 17.0]
    assert recorder.tx_dropped == {("1.6", "StopTransaction", "attempts"): 1}
    assert charger.session.retry_interval == 5.0 and charger.session.retry_attempts == 2


# -- StopTransaction never duplicated ------------------------------------------------------------


def stops(backend: Backend) -> list[tuple[int, str]]:
    return [(p["transactionId"], p["reason"]) for _, _, p, _ in backend.sent("StopTransaction")]


def test_a_start_in_flight_at_a_reboot_is_resent_and_its_transaction_stopped_once() -> None:
    charger, backend, recorder = start(silent={"StartTransaction": 1})
    charging(backend, 10.0)  # the CSMS never answers this first StartTransaction
    backend.at(12.0)
    charger.reboot("PowerLoss", 12.0)
    charger.disconnected(12.0)
    backend.at(20.0)
    charger.connected(20.0)
    backend.run(300.0)
    # Its delivery was unknown: sent again (the honest duplicate OCPP-J §3.7 allows), after
    # the new BootNotification; the transaction it opens is stopped once, with the reason.
    starts = backend.sent("StartTransaction")
    assert [(at, fate) for at, _, _, fate in starts] == [(10.0, "silent"), (20.0, "ok")]
    assert starts[0][2] == starts[1][2]
    assert [a for at, a, _, _ in backend.log if at >= 20.0][:2] == [
        "BootNotification",
        "StartTransaction",
    ]
    assert stops(backend) == [(42, "PowerLoss")]
    assert backend.sent("MeterValues") == []  # no ghost transaction metering on
    assert charger.status_of(1) is Status.AVAILABLE
    assert not charger.connectors[0].in_transaction
    assert recorder.started == recorder.stopped == {"1.6": 1}


def test_every_way_to_end_a_starting_transaction_sends_one_stop() -> None:
    charger, backend, _ = start(silent={"StartTransaction": 1})
    charging(backend, 10.0)
    start_frame = backend.sent("StartTransaction")[0]
    assert start_frame[3] == "silent"
    # While the StartTransaction waits for its answer: the EV leaves, a fault, a Reset.
    backend.at(11.0)
    charger.unplug(1, 11.0)
    charger.fault(1, "GroundFailure", 11.0)
    assert command(charger, "Reset", {"type": "Soft"}, 11.0) == {"status": "Accepted"}
    # The soft reset waits 5 s for the start's answer, then reboots: the start is sent again
    # after the new BootNotification, and its transaction stopped with the first reason.
    backend.run(200.0)
    assert backend.times("StartTransaction") == [10.0, 16.0]
    assert backend.times("BootNotification") == [0.0, 16.0]
    assert stops(backend) == [(42, "EVDisconnected")]
    assert not charger.connectors[0].in_transaction


def test_every_way_to_end_a_running_transaction_sends_one_stop() -> None:
    charger, backend, recorder = start()
    charging(backend, 10.0)
    answer = command(charger, "RemoteStopTransaction", {"transactionId": 42}, 20.0)
    assert answer == {"status": "Accepted"}
    assert command(charger, "UnlockConnector", {"connectorId": 1}, 21.0) == {"status": "Unlocked"}
    charger.fault(1, "GroundFailure", 22.0)
    charger.unplug(1, 23.0)
    charger.reboot("PowerLoss", 24.0)
    charger.disconnected(24.0)
    charger.connected(25.0)
    backend.run(100.0)
    assert stops(backend) == [(42, "Remote")]
    assert recorder.stopped == {"1.6": 1}


def test_an_answered_stop_is_not_sent_again_and_one_in_flight_is() -> None:
    # Answered, then the connection drops: nothing to resend.
    charger, backend, _ = start()
    charging(backend, 10.0)
    backend.at(20.0)
    charger.unplug(1, 20.0)
    backend.at(21.0)
    charger.disconnected(21.0)
    backend.at(22.0)
    charger.connected(22.0)
    backend.run(100.0)
    assert [fate for *_, fate in backend.sent("StopTransaction")] == ["ok"]
    # In flight when the connection drops: its delivery is unknown, it goes once more.
    charger, backend, _ = start(silent={"StopTransaction": 1})
    charging(backend, 10.0)
    backend.at(20.0)
    charger.unplug(1, 20.0)
    backend.at(21.0)
    charger.disconnected(21.0)
    backend.at(22.0)
    charger.connected(22.0)
    backend.run(100.0)
    sent = backend.sent("StopTransaction")
    assert [(at, fate) for at, _, _, fate in sent] == [(20.0, "silent"), (22.0, "ok")]
    assert sent[0][2] == sent[1][2]


def test_a_triggered_reading_outside_a_transaction_is_not_kept_offline() -> None:
    charger, backend, recorder = start(silent={"MeterValues": 1})
    backend.at(5.0)
    answer = command(charger, "TriggerMessage", {"requestedMessage": "MeterValues"}, 5.0)
    assert answer == {"status": "Accepted"}
    backend.run(6.0)  # connector 1's reading gets no answer, connector 2's waits behind it
    charger.disconnected(6.0)
    charger.connected(7.0)
    backend.run(100.0)
    assert backend.times("MeterValues") == [5.0]  # neither kept for after the reconnect
    assert recorder.actions[("1.6", "MeterValues")].lost == 2
