"""Fleet building, plans, backoff and the agent's energy register (pure, no sockets)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from simfleet.behaviour.plans import FixedRates, fixed_plans
from simfleet.scenario import parse
from simfleet.sim.agent import ChargerAgent
from simfleet.sim.backoff import backoff, ocpp2_backoff
from simfleet.sim.fleet import (
    build_agents,
    connect_at,
    hardware_of,
    settings_for,
    shard,
    worker_count,
)
from simfleet.sim.stats import Recorder

RATES = FixedRates(idle_s=60, session_s=600, power_w=7000, energy_wh=1e12, id_tag="T{index}")


def test_shards_cover_the_fleet_once() -> None:
    for workers in (1, 2, 3, 7):
        indices = sorted(i for w in range(workers) for i in shard(100, workers, w))
        assert indices == list(range(1, 101))


def test_worker_count() -> None:
    assert worker_count(3, 2) == 2
    assert worker_count(2, 100) == 2
    assert worker_count(0, 100) >= 1


def test_ramp_is_fleet_wide() -> None:
    assert connect_at(1, 100.0, 50.0) == 100.0
    assert connect_at(51, 100.0, 50.0) == pytest.approx(101.0)


def test_a_chargers_plan_does_not_depend_on_the_worker_split() -> None:
    alone = {p.index: p for p in fixed_plans(RATES, 4, range(1, 3001), 2, 3600.0)}
    for w in range(3):
        for plan in fixed_plans(RATES, 4, shard(3000, 3, w), 2, 3600.0):
            assert plan == alone[plan.index]


def test_first_arrivals_are_spread_over_the_idle_time() -> None:
    plans = fixed_plans(RATES, 1, range(1, 2001), 1, 600.0)
    arrivals = np.array([p.visits[0].arrive_s for p in plans])
    assert arrivals.min() >= 0.0
    assert arrivals.max() < 60.0
    counts, _ = np.histogram(arrivals, bins=6, range=(0, 60))
    assert counts.min() > 250  # ~333 per bin if uniform


def test_fixed_visits_repeat_until_the_horizon() -> None:
    (plan,) = fixed_plans(RATES, 1, [7], 1, 3000.0)
    starts = [v.arrive_s for v in plan.visits]
    assert np.allclose(np.diff(starts), 660.0)
    assert starts[-1] < 3000.0
    assert all(v.depart_s - v.arrive_s == pytest.approx(600.0) for v in plan.visits)


def test_backoff_is_bounded_jittered_and_growing() -> None:
    delays = backoff(np.random.default_rng(0), 1.0, 60.0, 2.0)
    first = [next(delays) for _ in range(200)]
    assert all(1.0 <= d <= 60.0 for d in first)
    assert first[0] == 1.0  # the first retry waits the minimum
    assert max(first[:3]) <= 4.0
    assert max(first[10:]) > 30.0
    assert len(set(first[10:])) == len(first[10:])  # jittered, not synchronised


def test_backoff_is_reproducible() -> None:
    a = backoff(np.random.default_rng(3), 1, 30, 2)
    b = backoff(np.random.default_rng(3), 1, 30, 2)
    assert [next(a) for _ in range(40)] == [next(b) for _ in range(40)]


class Answering:
    """A CSMS for one agent: answers every CALL, StartTransaction with transaction 7."""

    def __init__(self, agent: ChargerAgent) -> None:
        self.agent = agent
        self.seen: list[tuple[str, dict[str, object]]] = []

    def serve(self, now: float) -> None:
        for _ in range(50):
            frames = self.agent.take_outbox()
            if not frames:
                return
            for raw in frames:
                _, uid, action, payload = orjson.loads(raw)
                self.seen.append((action, payload))
                answer: dict[str, object] = {}
                if action == "BootNotification":
                    answer = {"status": "Accepted", "currentTime": "t", "interval": 3600}
                elif action in ("Authorize", "StartTransaction"):
                    answer = {"idTagInfo": {"status": "Accepted"}, "transactionId": 7}
                self.agent.receive(orjson.dumps([3, uid, answer]), now)


def run_agent(agent: ChargerAgent, csms: Answering, until: float) -> None:
    now = 0.0
    agent.connected(now)
    csms.serve(now)
    while True:
        now = agent.next_wakeup()
        if now > until:
            return
        agent.step(now)
        csms.serve(now)


def test_agent_charges_and_the_register_is_the_integral_of_power() -> None:
    scenario = parse(
        "[charger]\nconnectors = 1\nmeter_interval_s = 60\nmax_power_w = 22000\n"
        "[behaviour]\nidle_s = 100\nsession_s = 3600\npower_w = 11000"
    )
    agent = build_agents(scenario, [1], Recorder(), 0.0)[0]
    csms = Answering(agent)
    run_agent(agent, csms, until=4000.0)
    first_stop = next(p for a, p in csms.seen if a == "StopTransaction")
    meters = [
        p
        for a, p in csms.seen
        if a == "MeterValues"
        and p["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic"  # type: ignore[index]
    ]
    meters = [
        p
        for p in meters
        if p["meterValue"][0]["timestamp"] < first_stop["timestamp"]  # type: ignore[index,operator]
    ]
    assert len(meters) > 50
    energies = [
        float(p["meterValue"][0]["sampledValue"][0]["value"])  # type: ignore[index]
        for p in meters
    ]
    assert energies == sorted(energies)  # never decreasing
    # 60 s at 11 kW between samples: 183.3 Wh (rounded to whole Wh on the wire).
    steps = np.diff(energies)
    assert np.all(np.abs(steps - 11000 * 60 / 3600) <= 1.0)
    start = next(p for a, p in csms.seen if a == "StartTransaction")
    stop = next(p for a, p in csms.seen if a == "StopTransaction")
    delivered = float(stop["meterStop"]) - float(start["meterStart"])  # type: ignore[arg-type]
    assert delivered == pytest.approx(11000.0, abs=2.0)  # one hour at 11 kW
    assert stop["reason"] == "EVDisconnected"


def test_power_is_capped_by_the_charger() -> None:
    scenario = parse(
        "[charger]\nconnectors = 1\nmax_power_w = 8000\n[behaviour]\npower_w = 11000\n"
        "idle_s = 10\nsession_s = 100"
    )
    agent = build_agents(scenario, [1], Recorder(), 0.0)[0]
    csms = Answering(agent)
    run_agent(agent, csms, until=80.0)
    meters = [p for a, p in csms.seen if a == "MeterValues"]
    assert meters
    power = meters[-1]["meterValue"][0]["sampledValue"][1]  # type: ignore[index]
    assert power["value"] == "8000"


def test_ev_suspends_when_its_energy_is_delivered() -> None:
    scenario = parse(
        "[charger]\nconnectors = 1\nmeter_interval_s = 10\n"
        "[behaviour]\npower_w = 3600\nenergy_wh = 50\nidle_s = 10\nsession_s = 200"
    )
    agent = build_agents(scenario, [1], Recorder(), 0.0)[0]
    csms = Answering(agent)
    run_agent(agent, csms, until=150.0)
    statuses = [p["status"] for a, p in csms.seen if a == "StatusNotification"]
    assert "SuspendedEV" in statuses
    assert statuses.index("SuspendedEV") > statuses.index("Charging")


def test_stop_ends_every_transaction() -> None:
    scenario = parse("[behaviour]\nidle_s = 1\nsession_s = 1000")
    agent = build_agents(scenario, [1], Recorder(), 0.0)[0]
    csms = Answering(agent)
    run_agent(agent, csms, until=20.0)
    agent.stop(21.0)
    csms.serve(21.0)
    starts = sum(1 for a, _ in csms.seen if a == "StartTransaction")
    stops = sum(1 for a, _ in csms.seen if a == "StopTransaction")
    assert starts == stops == 2
    assert agent.next_wakeup() > 21.0


def test_settings_follow_the_scenario() -> None:
    scenario = parse(
        '[fleet]\nidentity = "X-{index:03d}"\n[charger]\nconnectors = 3\n'
        '[behaviour]\nmodel = "fixed"'
    )
    (plan,) = fixed_plans(scenario.fixed, 1, [5], 3, 10.0)
    settings = settings_for(scenario, 5, hardware_of(scenario, plan))
    assert (settings.identity, settings.connectors) == ("X-005", 3)


def test_ocpp2_backoff_doubles_the_minimum_up_to_repeat_times_plus_a_random_range() -> None:
    delays = ocpp2_backoff(np.random.default_rng(1), 10, 5, 3)
    waits = [next(delays) for _ in range(7)]
    floors = [10, 20, 40, 80, 80, 80, 80]  # doubled at most RetryBackOffRepeatTimes (3) times
    assert all(f <= w <= f + 5 for w, f in zip(waits, floors, strict=True)), waits
    assert len({round(w - f, 6) for w, f in zip(waits, floors, strict=True)}) == 7  # new draws


def test_a_2x_charger_reconnects_by_its_retry_back_off_variables() -> None:
    from simfleet.engine.connection import reconnect_delays
    from simfleet.scenario.load import parse

    scenario = parse('[charger]\nocpp_versions = ["2.0.1"]\n', "s.toml")
    agent = build_agents(scenario, [1], Recorder(), 0.0)[0]
    dm = agent.charger.device_model  # type: ignore[union-attr]
    dm.set_actual("OCPPCommCtrlr", "RetryBackOffWaitMinimum", "3")
    dm.set_actual("OCPPCommCtrlr", "RetryBackOffRandomRange", "0")
    delays = reconnect_delays(scenario, np.random.default_rng(0))(agent)
    assert [next(delays) for _ in range(3)] == [3.0, 6.0, 12.0]
