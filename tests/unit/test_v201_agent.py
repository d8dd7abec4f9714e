"""The agent drives a 2.0.1 station exactly as it drives a 1.6 charger: one sampled visit gives
the same session (same authorizations, same readings, same energy, same end) in both protocols.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest
from test_agent_realistic import (
    AC_MEASURANDS,
    FLEET,
    HOUR,
    INV,
    OK,
    REGISTER0,
    WALL0,
    Csms,
    Frame,
    Pump,
    visit,
)
from test_v201_charger import check

from simfleet.behaviour.model import ChargerPlan, SiteType, Visit
from simfleet.behaviour.tokens import TokenBook
from simfleet.protocol.v16.charger import Charger16, ChargerSettings
from simfleet.protocol.v201.charger import Charger201
from simfleet.scenario import parse
from simfleet.sim.agent import ChargerAgent
from simfleet.sim.battery import ConnectorBattery
from simfleet.sim.fleet import build_agents
from simfleet.sim.stats import Recorder

TIME = "2023-11-14T00:00:00.000Z"


class Csms201(Csms):
    """The same CSMS in 2.0.1 words (tokens judged by their prefix); checks every payload."""

    def serve(self, now: float) -> None:
        if not self.online:
            return
        for _ in range(1000):
            frames = self.agent.take_outbox()
            if not frames:
                return
            for raw in frames:
                _, uid, action, payload = orjson.loads(raw)
                check("2.0.1", f"{action}Request", payload)
                self.frames.append(Frame(now, action, payload))
                answer = self.answer(action, payload)
                check("2.0.1", f"{action}Response", answer)
                self.agent.receive(orjson.dumps([3, uid, answer]), now)
        raise AssertionError("the agent keeps sending")

    def answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": TIME, "interval": 3600}
        if action == "Authorize":
            status = self.book.status_of(str(payload["idToken"]["idToken"]))
            return {"idTokenInfo": {"status": status}}
        if action == "Heartbeat":
            return {"currentTime": TIME}
        return {}


def make_agent(version: str, visits: tuple[Visit, ...]) -> ChargerAgent:
    plan = ChargerPlan(
        index=1, site=SiteType.PUBLIC_AC, visits=visits, faults=(), offline=(), reboots=()
    )
    settings = ChargerSettings(
        identity="SF-000001",
        vendor="simfleet",
        model="test",
        serial="000001",
        firmware="1",
        connectors=1,
        heartbeat_interval_s=HOUR,
        meter_interval_s=300.0,
        call_timeout_s=30.0,
        boot_retry_s=30.0,
        measurands=AC_MEASURANDS,
        ocpp_version=version,
    )
    battery = ConnectorBattery(11_000.0, True, 3, REGISTER0, [0.0, 0.5, -0.5])
    return ChargerAgent(
        plan, "SF-000001", settings, [battery], TokenBook(), Recorder(), WALL0, 1.0, 90.0
    )


def _energy(values: list[dict[str, Any]]) -> float:
    for sample in values[0]["sampledValue"]:
        if sample.get("measurand", "Energy.Active.Import.Register") == (
            "Energy.Active.Import.Register"
        ):
            return float(sample["value"])
    raise AssertionError("no energy register")


def test_one_visit_has_the_same_session_on_16_and_201() -> None:
    # A refused card first, then an accepted one; 2 h plugged in, charging until full.
    visits = (visit(arrive=600.0, stay=2 * HOUR, auth=(INV, OK)),)
    agent16 = make_agent("1.6", visits)
    agent201 = make_agent("2.0.1", visits)
    assert type(agent16.charger) is Charger16 and type(agent201.charger) is Charger201
    pump16 = Pump(agent16).start().run_sim(3 * HOUR)
    pump201 = Pump(agent201, Csms201(agent201)).start().run_sim(3 * HOUR)
    c16, c201 = pump16.csms, pump201.csms

    assert len(c16.of("Authorize")) == len(c201.of("Authorize")) == 2
    starts, stops = c16.of("StartTransaction"), c16.of("StopTransaction")
    events = [f.payload for f in c201.of("TransactionEvent")]
    kinds = [e["eventType"] for e in events]
    assert len(starts) == len(stops) == kinds.count("Started") == kinds.count("Ended") == 1
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    # Periodic readings: as many Updated MeterValuePeriodic as Sample.Periodic MeterValues.
    periodic16 = [
        f
        for f in c16.of("MeterValues")
        if f.payload["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic"
    ]
    periodic201 = [e for e in events if e["triggerReason"] == "MeterValuePeriodic"]
    assert len(periodic16) == len(periodic201) > 10
    # The same energy in both, start to stop (1.6 meterStart/meterStop are whole Wh).
    energy16 = stops[0].payload["meterStop"] - starts[0].payload["meterStart"]
    energy201 = _energy(events[-1]["meterValue"]) - _energy(events[0]["meterValue"])
    assert energy16 > 1000.0
    assert abs(energy16 - energy201) <= 1.0
    # Same moments: start and stop at the same wall times.
    started_at = c201.of("TransactionEvent")[0].at
    assert abs(started_at - starts[0].at) < 1e-6
    assert abs(c201.of("TransactionEvent")[-1].at - stops[0].at) < 1e-6
    assert stops[0].payload["reason"] == "EVDisconnected"
    assert events[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    # The behaviour statuses are the same; 2.0.1 only says Occupied for the middle ones.
    names16 = c16.status_names()
    names201 = [str(f.payload["connectorStatus"]) for f in c201.of("StatusNotification")]
    assert names16[0] == names201[0] == "Available" and names16[-1] == names201[-1] == "Available"
    assert names201 == ["Available", "Occupied", "Available"]
    suspended = [e for e in events if e["triggerReason"] == "ChargingStateChanged"]
    assert ("SuspendedEV" in names16) == bool(suspended)


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_a_scenarios_version_builds_its_chargers(version: str) -> None:
    scenario = parse(FLEET.format(no_plug=0.0), "fleet.toml")
    scenario = replace(scenario, charger=replace(scenario.charger, ocpp_version=version))
    agents = build_agents(scenario, range(1, 4), Recorder(), WALL0)
    assert {type(a.charger) for a in agents} == {Charger201}
    assert {a.charger.version for a in agents} == {version}
    assert {a.charger.session.dialect.subprotocol for a in agents} == {f"ocpp{version}"}


def test_a_sampled_2_0_1_fleet_closes_every_transaction_it_opens() -> None:
    """A day of sampled visits (refusals, failed starts, no-plugs, faults) on 2.0.1 stations:
    every Started has one Ended, seqNo runs 0..n per transaction, all payloads valid."""
    scenario = parse(FLEET.format(no_plug=0.3), "fleet.toml")
    scenario = replace(scenario, charger=replace(scenario.charger, ocpp_version="2.0.1"))
    started = 0
    for agent in build_agents(scenario, range(1, 7), Recorder(), WALL0):
        pump = Pump(agent, Csms201(agent)).start().run_sim(24 * HOUR)
        pump.stop()
        pump.run_until(pump.now + 60.0)
        by_tx: dict[str, list[dict[str, Any]]] = {}
        for frame in pump.csms.of("TransactionEvent"):
            tx = frame.payload["transactionInfo"]["transactionId"]
            by_tx.setdefault(tx, []).append(frame.payload)
        for events in by_tx.values():
            kinds = [e["eventType"] for e in events]
            assert kinds[0] == "Started" and kinds[-1] == "Ended"
            assert kinds.count("Started") == kinds.count("Ended") == 1
            assert [e["seqNo"] for e in events] == list(range(len(events)))
        started += len(by_tx)
    assert started > 5


def test_a_late_step_sends_the_due_reading_before_what_the_plan_does_now() -> None:
    """E02: TransactionEvent timestamps follow seqNo. When the engine wakes the agent late,
    the reading due before `now` goes out (stamped at its due time) before the plan's change
    at `now` (here the EV is full: Updated ChargingStateChanged)."""
    agent = make_agent("2.0.1", (visit(arrive=600.0, stay=2 * HOUR, auth=(OK,)),))
    pump = Pump(agent, Csms201(agent)).start().run_sim(900.0)
    battery = agent.plans[0].battery
    full_at = agent.wall(battery.full_at)
    pump.run_until(full_at - 1.0)
    due = agent.charger.meter_at
    assert due < full_at + agent.charger.meter_interval
    late = max(full_at, due) + 1.0  # past both the reading and the full battery
    agent.step(late)
    pump.csms.serve(late)
    events = [f.payload for f in pump.csms.of("TransactionEvent")]
    triggers = [e["triggerReason"] for e in events]
    assert "ChargingStateChanged" in triggers and triggers.count("MeterValuePeriodic") > 1
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps), [(e["seqNo"], e["timestamp"]) for e in events]
