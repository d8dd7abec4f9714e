"""The charger agent on hand-built plans: visits, auth retries, failures, faults, offline spells,
reboots, warm start and time scale, driven by a fake CSMS that answers in strings (no sockets).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
import pytest

from simfleet.behaviour.model import (
    AuthMethod,
    AuthOutcome,
    ChargerPlan,
    Episode,
    SiteType,
    Vehicle,
    Visit,
)
from simfleet.behaviour.tokens import TokenBook
from simfleet.protocol.v16.charger import ChargerSettings
from simfleet.scenario import parse
from simfleet.scenario.model import ChargerModel
from simfleet.sim.agent import ChargerAgent
from simfleet.sim.battery import ConnectorBattery
from simfleet.sim.fleet import build_agents, plans_for
from simfleet.sim.stats import Recorder

#: A realistic epoch (not 0), so float rounding between the wall and simulated clocks shows.
WALL0 = 1_700_000_000.0
HOUR = 3600.0
REGISTER0 = 1_234_567.0
AC_MEASURANDS = ChargerModel().measurands_ac
DC_MEASURANDS = ChargerModel().measurands_dc
OK, INV, BLK, EXP, CTX = (
    AuthOutcome.ACCEPTED,
    AuthOutcome.INVALID,
    AuthOutcome.BLOCKED,
    AuthOutcome.EXPIRED,
    AuthOutcome.CONCURRENT_TX,
)
#: 60 kWh, 11 kW 3-phase on-board charger, constant power up to 80 % SoC.
AC_CAR = Vehicle(battery_wh=60_000.0, ac_max_w=11_000.0, ac_phases=3, taper_soc=0.8, dc_curve=1)
DC_CAR = Vehicle(battery_wh=60_000.0, ac_max_w=11_000.0, ac_phases=3, taper_soc=0.8, dc_curve=1)


# -- a fake CSMS and the pump -----------------------------------------------------------------


@dataclass
class Frame:
    at: float  # wall clock when the CSMS got it
    action: str
    payload: dict[str, Any]


class Csms:
    """Answers every CALL of one agent at once: Authorize by the token's prefix (INV, BLK, EXP,
    CTX refused), StartTransaction with a new transaction id, BootNotification Accepted."""

    def __init__(self, agent: ChargerAgent, book: TokenBook | None = None) -> None:
        self.agent = agent
        self.book = book or TokenBook()
        self.frames: list[Frame] = []
        self.online = False
        self.transaction_id = 100
        self.connected_at: list[float] = []

    def connect(self, now: float) -> None:
        self.online = True
        self.connected_at.append(now)
        self.agent.connected(now)
        self.serve(now)

    def disconnect(self, now: float) -> None:
        self.online = False
        self.agent.disconnected(now)  # what was in the outbox is lost with the socket

    def serve(self, now: float) -> None:
        if not self.online:
            return
        for _ in range(1000):
            frames = self.agent.take_outbox()
            if not frames:
                return
            for raw in frames:
                message = orjson.loads(raw)
                assert message[0] == 2, message  # the agent only sends CALLs here
                _, uid, action, payload = message
                self.frames.append(Frame(now, action, payload))
                self.agent.receive(orjson.dumps([3, uid, self.answer(action, payload)]), now)
        raise AssertionError("the agent keeps sending")

    def answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": "2023-11-14T00:00:00Z", "interval": 3600}
        if action == "Authorize":
            return {"idTagInfo": {"status": self.book.status_of(str(payload["idTag"]))}}
        if action == "StartTransaction":
            self.transaction_id += 1
            return {"idTagInfo": {"status": "Accepted"}, "transactionId": self.transaction_id}
        if action == "StopTransaction":
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "Heartbeat":
            return {"currentTime": "2023-11-14T00:00:00Z"}
        return {}

    # -- what it saw -------------------------------------------------------------------------

    def of(self, action: str) -> list[Frame]:
        return [f for f in self.frames if f.action == action]

    def statuses(self, connector_id: int = 1) -> list[tuple[float, str, str]]:
        """(wall time, status, errorCode) of the connector's StatusNotifications."""
        return [
            (f.at, str(f.payload["status"]), str(f.payload["errorCode"]))
            for f in self.of("StatusNotification")
            if f.payload["connectorId"] == connector_id
        ]

    def status_names(self, connector_id: int = 1) -> list[str]:
        return _dedup([s for _, s, _ in self.statuses(connector_id)])

    def first(self, action: str) -> Frame:
        found = self.of(action)
        assert found, f"no {action} in {[f.action for f in self.frames]}"
        return found[0]


def _dedup(items: list[str]) -> list[str]:
    """Consecutive repeats removed (a reconnect re-reports the current status)."""
    return [s for i, s in enumerate(items) if i == 0 or items[i - 1] != s]


class Pump:
    """Steps one agent at `next_wakeup()`, as the engine does, keeping its connection down
    while `offline_until` says so.

    A real clock moves on between two steps; here a step at an instant where the agent makes
    no progress is retried one float step later (`nudges` counts them; `strict` forbids them,
    see test_a_step_at_the_wakeup_makes_progress). Many retries in a row fail: a spin.
    """

    def __init__(self, agent: ChargerAgent, csms: Csms | None = None, strict: bool = False) -> None:
        self.agent = agent
        self.csms = csms or Csms(agent)
        self.now = agent.wall0
        self.steps = 0
        self.nudges = 0
        self.strict = strict
        self.connected = False

    def start(self) -> Pump:
        self.csms.connect(self.now)
        self.connected = True
        return self

    def run_until(self, until: float, max_steps: int = 100_000) -> Pump:
        """Run to wall time `until`."""
        agent, csms = self.agent, self.csms
        same_instant = 0
        while True:
            wake = agent.next_wakeup()
            if not self.connected:
                wake = min(wake, agent.offline_until)
            if wake > until:
                self.now = max(self.now, until)
                return self
            if wake <= self.now:
                same_instant += 1
                assert same_instant < 20, f"spinning at {self.now - agent.wall0} wall s"
                if same_instant >= 3:
                    assert not self.strict, f"no progress at {self.now - agent.wall0} wall s"
                    self.nudges += 1
                    wake = math.nextafter(self.now, math.inf)
            else:
                same_instant = 0
            self.now = max(self.now, wake)
            if not self.connected and agent.offline_until <= self.now:
                csms.connect(self.now)
                self.connected = True
            agent.step(self.now)
            if self.connected and agent.offline_until > self.now:
                csms.disconnect(self.now)
                self.connected = False
            csms.serve(self.now)
            self.steps += 1
            assert self.steps < max_steps, "too many steps"

    def run_sim(self, until_sim_s: float) -> Pump:
        return self.run_until(self.agent.wall(until_sim_s))

    def stop(self) -> Pump:
        self.agent.stop(self.now)
        self.csms.serve(self.now)
        return self


# -- building plans by hand -------------------------------------------------------------------


def visit(
    arrive: float = 600.0,
    stay: float = 4 * HOUR,
    *,
    connector: int = 1,
    soc_start: float = 0.3,
    soc_target: float = 0.6,
    vehicle: Vehicle = AC_CAR,
    auth: Sequence[AuthOutcome] = (OK,),
    auth_delay: float = 20.0,
    no_plug: bool = False,
    start_fails: bool = False,
    stop_early: float = math.nan,
    dwell: float = 180.0,
    dc: bool = False,
    method: AuthMethod = AuthMethod.RFID,
) -> Visit:
    return Visit(
        connector_id=connector,
        arrive_s=arrive,
        depart_s=math.nan if dc else arrive + stay,
        dwell_s=dwell,
        energy_wh=(soc_target - soc_start) * vehicle.battery_wh,
        soc_start=soc_start,
        soc_target=soc_target,
        vehicle=vehicle,
        auth_method=method,
        auth_attempts=tuple(auth),
        auth_delay_s=auth_delay,
        no_plug=no_plug,
        start_fails=start_fails,
        stop_early_s=stop_early,
    )


def make_agent(
    visits: Sequence[Visit] = (),
    *,
    faults: Sequence[Episode] = (),
    offline: Sequence[Episode] = (),
    reboots: Sequence[Episode] = (),
    connectors: int = 1,
    dc: bool = False,
    max_power_w: float | None = None,
    phases: int = 3,
    time_scale: float = 1.0,
    meter_interval_s: float = 60.0,
    clock_aligned_s: float = 0.0,
    connection_timeout_s: float = 90.0,
    wall0: float = WALL0,
) -> ChargerAgent:
    power = max_power_w or (150_000.0 if dc else 11_000.0)
    plan = ChargerPlan(
        index=1,
        site=SiteType.DC_FAST if dc else SiteType.PUBLIC_AC,
        visits=tuple(sorted(visits, key=lambda v: v.arrive_s)),
        faults=tuple(faults),
        offline=tuple(offline),
        reboots=tuple(reboots),
    )
    settings = ChargerSettings(
        identity="SF-000001",
        vendor="simfleet",
        model="test",
        serial="000001",
        firmware="1",
        connectors=connectors,
        heartbeat_interval_s=HOUR,
        meter_interval_s=meter_interval_s,
        call_timeout_s=30.0,
        boot_retry_s=30.0,
        measurands=DC_MEASURANDS if dc else AC_MEASURANDS,
        ac=not dc,
        clock_aligned_s=clock_aligned_s,
    )
    noise = [0.0, 0.5, -0.5]
    batteries = [
        ConnectorBattery(power, not dc, phases, REGISTER0 + 1000.0 * c, noise)
        for c in range(connectors)
    ]
    return ChargerAgent(
        plan,
        "SF-000001",
        settings,
        batteries,
        TokenBook(),
        Recorder(),
        wall0,
        time_scale,
        connection_timeout_s,
    )


# -- reading the frames -----------------------------------------------------------------------


def samples(frame: Frame) -> list[dict[str, Any]]:
    values = frame.payload["meterValue"][0]["sampledValue"]
    return list(values)


def measured(frame: Frame, measurand: str) -> list[float]:
    return [float(s["value"]) for s in samples(frame) if s["measurand"] == measurand]


def context(frame: Frame) -> str:
    return str(samples(frame)[0]["context"])


def stamp(frame: Frame) -> float:
    text = str(frame.payload["meterValue"][0]["timestamp"])
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def delivered(csms: Csms, index: int = 0) -> float:
    start = csms.of("StartTransaction")[index].payload
    stop = csms.of("StopTransaction")[index].payload
    return float(stop["meterStop"]) - float(start["meterStart"])


def sim_of(agent: ChargerAgent, frame: Frame) -> float:
    """When the CSMS got the frame, in simulated seconds."""
    return agent.sim(frame.at)


# -- a normal visit ---------------------------------------------------------------------------


def test_a_normal_ac_visit() -> None:
    v = visit(arrive=600.0, stay=4 * HOUR, soc_start=0.3, soc_target=0.6)
    agent = make_agent([v])
    pump = Pump(agent).start().run_sim(6 * HOUR)
    csms = pump.csms

    assert csms.frames[0].action == "BootNotification"
    assert csms.status_names() == [
        "Available",
        "Preparing",
        "Charging",
        "SuspendedEV",
        "Available",
    ]
    # When each status was first reported (simulated seconds).
    statuses = {s: agent.sim(at) for at, s, _ in reversed(csms.statuses())}
    assert statuses["Preparing"] == pytest.approx(600.0, abs=0.01)
    authorize = csms.first("Authorize")
    assert sim_of(agent, authorize) == pytest.approx(620.0, abs=0.01)  # auth_delay_s later
    assert str(authorize.payload["idTag"]).startswith("OKR")
    start = csms.first("StartTransaction")
    assert start.at == authorize.at
    assert start.payload["idTag"] == authorize.payload["idTag"]
    assert start.payload["meterStart"] == int(REGISTER0)
    # 18 kWh at 11 kW (below the taper): full after 18/11 h, then SuspendedEV.
    full_after = 18_000.0 / 11_000.0 * HOUR
    assert statuses["SuspendedEV"] == pytest.approx(620.0 + full_after, abs=1.0)
    stop = csms.first("StopTransaction")
    assert stop.payload["reason"] == "EVDisconnected"
    assert stop.payload["transactionId"] == 101
    assert sim_of(agent, stop) == pytest.approx(600.0 + 4 * HOUR, abs=0.01)
    assert statuses["Available"] == 0.0  # after boot
    last_at, last, _ = csms.statuses()[-1]
    assert (last, agent.sim(last_at)) == ("Available", pytest.approx(600.0 + 4 * HOUR, abs=0.01))
    assert delivered(csms) == pytest.approx(18_000.0, abs=2.0)
    ends = stop.payload["transactionData"][0]["sampledValue"]
    assert {s["context"] for s in ends} == {"Transaction.End"}
    assert len(csms.of("StartTransaction")) == len(csms.of("StopTransaction")) == 1


def test_periodic_meter_values_only_during_the_transaction() -> None:
    agent = make_agent([visit(arrive=600.0, stay=2 * HOUR)], meter_interval_s=300.0)
    csms = Pump(agent).start().run_sim(4 * HOUR).csms
    start, stop = csms.first("StartTransaction"), csms.first("StopTransaction")
    meters = csms.of("MeterValues")
    assert context(meters[0]) == "Transaction.Begin"
    periodic = [m for m in meters if context(m) == "Sample.Periodic"]
    assert len(periodic) == pytest.approx((stop.at - start.at) / 300.0, abs=1)
    assert all(start.at <= m.at <= stop.at for m in meters)
    assert all(m.payload["transactionId"] == 101 for m in meters)


# -- DC ---------------------------------------------------------------------------------------


def test_a_dc_visit_leaves_a_dwell_after_full() -> None:
    v = visit(arrive=600.0, dc=True, vehicle=DC_CAR, soc_start=0.2, soc_target=0.8, dwell=240.0)
    agent = make_agent([v], dc=True, meter_interval_s=30.0)
    csms = Pump(agent).start().run_sim(3 * HOUR).csms
    assert csms.status_names() == [
        "Available",
        "Preparing",
        "Charging",
        "SuspendedEV",
        "Available",
    ]
    suspended = next(at for at, s, _ in csms.statuses() if s == "SuspendedEV")
    stop = csms.first("StopTransaction")
    assert stop.payload["reason"] == "EVDisconnected"
    assert agent.sim(stop.at) - agent.sim(suspended) == pytest.approx(240.0, abs=0.01)
    # 36 kWh at up to 150 kW on a 2C curve: well under an hour.
    assert agent.sim(suspended) - 620.0 < HOUR
    assert delivered(csms) == pytest.approx(36_000.0, abs=2.0)
    meters = [m for m in csms.of("MeterValues") if context(m) == "Sample.Periodic"]
    socs = [measured(m, "SoC")[0] for m in meters]
    assert socs == sorted(socs)
    assert socs[0] >= 20 and socs[-1] <= 80
    assert all(measured(m, "Power.Active.Import")[0] <= 150_000 for m in meters)
    assert all(len(measured(m, "Current.Import")) == 1 for m in meters)  # DC: no phases


# -- authorization ----------------------------------------------------------------------------


def test_a_refused_token_then_an_accepted_one() -> None:
    agent = make_agent([visit(auth=(INV, OK), auth_delay=30.0)])
    csms = Pump(agent).start().run_sim(2 * HOUR).csms
    first, second = csms.of("Authorize")
    assert str(first.payload["idTag"]).startswith("INV")
    assert str(second.payload["idTag"]).startswith("OK")
    assert first.payload["idTag"] != second.payload["idTag"]
    assert agent.sim(second.at) - agent.sim(first.at) == pytest.approx(30.0, abs=0.01)
    (start,) = csms.of("StartTransaction")
    assert start.at >= second.at
    assert start.payload["idTag"] == second.payload["idTag"]
    assert "Charging" in csms.status_names()


@pytest.mark.parametrize("refused", [INV, BLK, EXP, CTX])
def test_every_token_refused_no_transaction(refused: AuthOutcome) -> None:
    v = visit(arrive=600.0, stay=4 * HOUR, auth=(refused, refused, refused), auth_delay=20.0)
    agent = make_agent([v], connection_timeout_s=90.0)
    csms = Pump(agent).start().run_sim(5 * HOUR).csms
    tags = [str(f.payload["idTag"]) for f in csms.of("Authorize")]
    assert len(tags) == 3
    assert all(tag.startswith(TokenBook().prefix(refused)) for tag in tags)
    assert not csms.of("StartTransaction")
    assert not csms.of("StopTransaction")
    assert csms.status_names() == ["Available", "Preparing", "Available"]
    left = csms.statuses()[-1][0]
    # The driver gives up after the last refusal (ConnectionTimeOut at most), not at depart_s.
    assert agent.sim(left) - agent.sim(csms.of("Authorize")[-1].at) <= 90.0 + 20.0 + 0.01


def test_no_plug_authorizes_then_times_out() -> None:
    v = visit(arrive=600.0, no_plug=True)
    agent = make_agent([v], connection_timeout_s=90.0)
    csms = Pump(agent).start().run_sim(2 * HOUR).csms
    (authorize,) = csms.of("Authorize")
    assert agent.sim(authorize.at) == pytest.approx(600.0, abs=0.01)  # a token, no cable
    assert csms.status_names() == ["Available", "Preparing", "Available"]
    assert agent.sim(csms.statuses()[-1][0]) == pytest.approx(690.0, abs=0.01)
    assert not csms.of("StartTransaction")


def test_start_fails_reports_the_error_and_frees_at_departure() -> None:
    v = visit(arrive=600.0, stay=HOUR, start_fails=True)
    agent = make_agent([v])
    csms = Pump(agent).start().run_sim(2 * HOUR).csms
    (authorize,) = csms.of("Authorize")
    assert str(authorize.payload["idTag"]).startswith("OK")  # accepted, yet no transaction
    assert not csms.of("StartTransaction")
    errors = [(s, e) for _, s, e in csms.statuses() if e != "NoError"]
    assert errors and errors[0][1] == "EVCommunicationError"
    at, status, error = csms.statuses()[-1]
    assert (status, error) == ("Available", "NoError")
    assert agent.sim(at) == pytest.approx(600.0 + HOUR, abs=0.01)
    assert agent.plans[0].battery.register_wh == REGISTER0  # nothing flowed


def test_stop_early_ends_the_transaction_with_other() -> None:
    v = visit(arrive=600.0, stay=4 * HOUR, stop_early=1800.0, soc_target=0.9)
    agent = make_agent([v])
    csms = Pump(agent).start().run_sim(5 * HOUR).csms
    (stop,) = csms.of("StopTransaction")
    assert stop.payload["reason"] == "Other"
    assert agent.sim(stop.at) == pytest.approx(2400.0, abs=0.01)
    assert csms.status_names() == ["Available", "Preparing", "Charging", "Finishing", "Available"]
    assert agent.sim(csms.statuses()[-1][0]) == pytest.approx(600.0 + 4 * HOUR, abs=0.01)
    # Charged from Authorize (620 s) to the stop (2400 s) at 11 kW, nothing after.
    assert delivered(csms) == pytest.approx(11_000.0 * 1780.0 / HOUR, abs=2.0)
    assert agent.plans[0].battery.register_wh == pytest.approx(
        REGISTER0 + 11_000.0 * 1780.0 / HOUR, abs=0.01
    )
    assert all(m.at <= stop.at for m in csms.of("MeterValues"))


# -- faults, reboots, offline spells ----------------------------------------------------------


def test_a_connector_fault_stops_the_session_and_skips_arrivals_until_repaired() -> None:
    visits = [
        visit(arrive=600.0, stay=3000.0, soc_target=0.9),  # charging when the fault comes
        visit(arrive=4000.0, stay=HOUR),  # arrives during the fault: goes elsewhere
        visit(arrive=6000.0, stay=HOUR),  # after the repair: charges
    ]
    fault = Episode(start_s=1800.0, duration_s=3600.0, connector_id=1, error_code="GroundFailure")
    agent = make_agent(visits, faults=[fault])
    csms = Pump(agent).start().run_sim(3 * HOUR).csms
    first_stop, second_stop = csms.of("StopTransaction")
    assert first_stop.payload["reason"] == "Other"
    assert agent.sim(first_stop.at) == pytest.approx(1800.0, abs=0.01)
    faulted = [(agent.sim(at), e) for at, s, e in csms.statuses() if s == "Faulted"]
    assert faulted == [(pytest.approx(1800.0, abs=0.01), "GroundFailure")]
    repaired = [
        agent.sim(at) for at, s, e in csms.statuses() if s == "Available" and agent.sim(at) > 1800
    ]
    assert repaired[0] == pytest.approx(5400.0, abs=0.01)
    # The EV leaves at 3600 s, the connector stays Faulted; nothing happens at 4000 s.
    assert [agent.sim(f.at) for f in csms.of("Authorize")] == [
        pytest.approx(620.0, abs=0.01),
        pytest.approx(6020.0, abs=0.01),
    ]
    assert len(csms.of("StartTransaction")) == 2
    assert second_stop.payload["reason"] == "EVDisconnected"
    # No energy flows while Faulted.
    assert delivered(csms, 0) == pytest.approx(11_000.0 * (1800.0 - 620.0) / HOUR, abs=2.0)
    assert csms.status_names() == [
        "Available",
        "Preparing",
        "Charging",
        "Faulted",
        "Available",
        "Preparing",
        "Charging",
        "Available",
    ]


def test_a_charger_wide_fault_faults_every_connector() -> None:
    visits = [visit(arrive=600.0, connector=1), visit(arrive=700.0, connector=2)]
    fault = Episode(start_s=1800.0, duration_s=600.0, connector_id=0, error_code="OverVoltage")
    agent = make_agent(visits, faults=[fault], connectors=2)
    csms = Pump(agent).start().run_sim(3 * HOUR).csms
    stops = [f for f in csms.of("StopTransaction") if f.payload["reason"] == "Other"]
    assert len(stops) == 2
    for connector_id in (0, 1, 2):
        assert ("Faulted", "OverVoltage") in [(s, e) for _, s, e in csms.statuses(connector_id)]
        _, status, error = csms.statuses(connector_id)[-1]
        assert (status, error) == ("Available", "NoError")
    assert agent.sim(csms.statuses(0)[-1][0]) == pytest.approx(2400.0, abs=0.01)


def test_a_reboot_ends_the_session_with_power_loss_and_boots_again() -> None:
    v = visit(arrive=600.0, stay=4 * HOUR, soc_target=0.9)
    reboot = Episode(start_s=1800.0, duration_s=60.0)
    agent = make_agent([v], reboots=[reboot])
    pump = Pump(agent).start().run_sim(1800.0)
    assert agent.offline_until == pytest.approx(agent.wall(1860.0))
    assert not pump.connected
    assert not pump.csms.of("StopTransaction")  # lost with the connection, still queued
    csms = pump.run_sim(3 * HOUR).csms
    boots = csms.of("BootNotification")
    assert len(boots) == 2
    assert agent.sim(boots[1].at) == pytest.approx(1860.0, abs=0.01)
    (stop,) = csms.of("StopTransaction")
    assert stop.payload["reason"] == "PowerLoss"
    assert stop.payload["transactionId"] == 101
    assert stop.payload["timestamp"].startswith("2023-11-14T22:43:20")
    assert agent.sim(stop.at) == pytest.approx(1860.0, abs=0.01)  # delivered once back
    assert delivered(csms) == pytest.approx(11_000.0 * (1800.0 - 620.0) / HOUR, abs=2.0)
    assert csms.statuses()[-1][1] == "Available"
    assert agent.plans[0].battery.register_wh == pytest.approx(
        REGISTER0 + 11_000.0 * (1800.0 - 620.0) / HOUR, abs=0.01
    )


def test_after_a_reboot_the_boot_notification_comes_first() -> None:
    v = visit(arrive=600.0, stay=4 * HOUR)
    agent = make_agent([v], reboots=[Episode(start_s=1800.0, duration_s=60.0)])
    csms = Pump(agent).start().run_sim(3 * HOUR).csms
    after = [f.action for f in csms.frames if agent.sim(f.at) >= 1860.0]
    assert after[0] == "BootNotification"


def test_an_offline_spell_queues_transaction_messages_for_later() -> None:
    v = visit(arrive=600.0, stay=4 * HOUR, soc_target=0.9)
    spell = Episode(start_s=1800.0, duration_s=600.0)
    agent = make_agent([v], offline=[spell], meter_interval_s=60.0)
    pump = Pump(agent).start().run_sim(1800.0)
    assert agent.offline_until == pytest.approx(agent.wall(2400.0))
    assert not pump.connected
    csms = pump.run_sim(5 * HOUR).csms
    assert csms.connected_at[1] == pytest.approx(agent.wall(2400.0))
    assert len(csms.of("BootNotification")) == 1  # it only lost the network
    periodic = [m for m in csms.of("MeterValues") if context(m) == "Sample.Periodic"]
    during = [m for m in periodic if agent.wall(1800.0) <= stamp(m) < agent.wall(2400.0)]
    assert len(during) == pytest.approx(10, abs=1)
    assert all(m.at == pytest.approx(agent.wall(2400.0)) for m in during)
    registers = [measured(m, "Energy.Active.Import.Register")[0] for m in periodic]
    assert registers == sorted(registers)
    assert [stamp(m) for m in periodic] == sorted(stamp(m) for m in periodic)
    # Back online it says where the connector is.
    back = [s for at, s, _ in csms.statuses() if at == pytest.approx(agent.wall(2400.0))]
    assert back == ["Charging"]
    # The session went on charging through the spell.
    (stop,) = csms.of("StopTransaction")
    assert stop.payload["reason"] == "EVDisconnected"


# -- warm start -------------------------------------------------------------------------------


def test_a_visit_under_way_at_the_start_resumes_right_after_boot() -> None:
    # Plugged in an hour before t = 0 at 11 kW: 0.2 + 11/60 SoC by then.
    v = visit(arrive=-HOUR, stay=4 * HOUR, soc_start=0.2, soc_target=0.8, auth=(INV, OK))
    agent = make_agent([v])
    csms = Pump(agent).start().run_sim(4 * HOUR).csms
    (authorize,) = csms.of("Authorize")  # authorized long ago: the accepted token, at once
    assert str(authorize.payload["idTag"]).startswith("OK")
    start = csms.first("StartTransaction")
    assert agent.sim(start.at) == pytest.approx(0.0, abs=0.01)
    assert start.at >= csms.first("BootNotification").at
    # The register at t = 0 is the connector's own: the energy before the run is not replayed.
    assert start.payload["meterStart"] == int(REGISTER0)
    soc_at_0 = 0.2 + 11_000.0 / 60_000.0
    assert delivered(csms) == pytest.approx((0.8 - soc_at_0) * 60_000.0, abs=2.0)
    assert delivered(csms) < (0.8 - 0.2) * 60_000.0
    (stop,) = csms.of("StopTransaction")
    assert agent.sim(stop.at) == pytest.approx(3 * HOUR, abs=0.01)


def test_a_visit_over_before_the_start_is_skipped() -> None:
    agent = make_agent([visit(arrive=-2 * HOUR, stay=HOUR), visit(arrive=600.0, stay=HOUR)])
    csms = Pump(agent).start().run_sim(2 * HOUR).csms
    assert [agent.sim(f.at) for f in csms.of("Authorize")] == [pytest.approx(620.0, abs=0.01)]


# -- the simulated clock ----------------------------------------------------------------------


def test_time_scale_maps_a_simulated_hour_onto_a_wall_minute() -> None:
    v = visit(arrive=600.0, stay=HOUR, soc_target=0.9)
    agent = make_agent([v], time_scale=60.0, meter_interval_s=5.0)
    csms = Pump(agent).start().run_until(WALL0 + 120.0).csms
    preparing = next(at for at, s, _ in csms.statuses() if s == "Preparing")
    stop = csms.first("StopTransaction")
    assert preparing - WALL0 == pytest.approx(10.0, abs=1e-3)
    assert stop.at - preparing == pytest.approx(60.0, abs=1e-3)
    assert csms.first("Authorize").at - preparing == pytest.approx(20.0 / 60.0, abs=1e-3)
    # Meter values every 5 wall seconds: 300 simulated seconds at 11 kW apart.
    periodic = [m for m in csms.of("MeterValues") if context(m) == "Sample.Periodic"]
    assert len(periodic) == pytest.approx(12, abs=1)
    registers = [measured(m, "Energy.Active.Import.Register")[0] for m in periodic]
    steps = [b - a for a, b in itertools.pairwise(registers)]
    assert steps and all(s == pytest.approx(11_000.0 * 300.0 / HOUR, abs=1.0) for s in steps)
    assert delivered(csms) == pytest.approx(11_000.0 * (HOUR - 20.0) / HOUR, abs=2.0)


def _timeline(scale: float, auth: tuple[AuthOutcome, ...]) -> list[tuple[str, float, object]]:
    visits = [
        visit(arrive=600.0, stay=3 * HOUR, soc_target=0.9),
        visit(arrive=5 * HOUR, stay=2 * HOUR, auth=auth, connector=2),
    ]
    agent = make_agent(visits, connectors=2, time_scale=scale, meter_interval_s=HOUR / scale)
    csms = Pump(agent).start().run_sim(8 * HOUR).csms
    return [
        (f.action, round(agent.sim(f.at), 3), f.payload.get("meterStop"))
        for f in csms.frames
        if f.action in ("Authorize", "StartTransaction", "StopTransaction", "StatusNotification")
    ]


def test_the_plan_plays_out_the_same_at_any_time_scale() -> None:
    assert _timeline(1.0, (OK,)) == _timeline(10.0, (OK,)) == _timeline(600.0, (OK,))


def test_auth_retries_play_out_the_same_at_any_time_scale() -> None:
    assert _timeline(1.0, (BLK, OK)) == _timeline(600.0, (BLK, OK))


# -- the meter --------------------------------------------------------------------------------


def readings(csms: Csms, agent: ChargerAgent) -> list[tuple[float, float, float]]:
    """(simulated s, register Wh, power W) of every meter value, in time order."""
    out = []
    for m in csms.of("MeterValues"):
        (energy,) = measured(m, "Energy.Active.Import.Register")
        (power,) = measured(m, "Power.Active.Import")
        out.append((agent.sim(stamp(m)), energy, power))
    return sorted(out)


@pytest.mark.parametrize("scale", [1.0, 10.0, 120.0])
def test_the_register_is_the_integral_of_the_reported_power(scale: float) -> None:
    # Through the taper (80 % -> 95 %): the power falls along the session.
    v = visit(arrive=600.0, stay=8 * HOUR, soc_start=0.4, soc_target=0.95)
    agent = make_agent([v], time_scale=scale, meter_interval_s=60.0 / scale)
    csms = Pump(agent).start().run_sim(10 * HOUR).csms
    points = readings(csms, agent)
    assert len(points) > 100
    times, registers, powers = zip(*points, strict=True)
    assert list(registers) == sorted(registers)  # never decreases
    assert min(powers) == 0.0 < max(powers) == 11_000.0  # charged, then suspended
    integral = sum(
        (p0 + p1) / 2.0 * (t1 - t0) / HOUR
        for t0, t1, p0, p1 in zip(times, times[1:], powers, powers[1:], strict=False)
    )
    energy = registers[-1] - registers[0]
    assert energy == pytest.approx((0.95 - 0.4) * 60_000.0, abs=2.0)
    assert integral == pytest.approx(energy, rel=0.01)
    assert delivered(csms) == pytest.approx(energy, abs=2.0)


@pytest.mark.parametrize(
    ("start", "target", "vehicle", "dc"),
    [
        (0.1, 0.5, AC_CAR, False),
        (0.5, 1.0, AC_CAR, False),  # AC ends where the BMS stops (99.5 %)
        (0.05, 0.95, replace(AC_CAR, ac_max_w=22_000.0, taper_soc=0.7), False),
        (0.2, 0.8, DC_CAR, True),
        (0.01, 1.0, replace(DC_CAR, dc_curve=2, battery_wh=80_000.0), True),
    ],
)
def test_never_more_energy_than_the_visit_wanted(
    start: float, target: float, vehicle: Vehicle, dc: bool
) -> None:
    v = visit(
        arrive=600.0, stay=20 * HOUR, soc_start=start, soc_target=target, vehicle=vehicle, dc=dc
    )
    agent = make_agent([v], dc=dc)
    csms = Pump(agent).start().run_sim(24 * HOUR).csms
    assert delivered(csms) <= (target - start) * vehicle.battery_wh + 1.0
    assert delivered(csms) >= (min(target, 0.995) - start) * vehicle.battery_wh - 2.0
    assert csms.status_names()[-2:] == ["SuspendedEV", "Available"]


@pytest.mark.parametrize(
    ("max_power_w", "phases", "vehicle"),
    [
        (11_000.0, 3, replace(AC_CAR, ac_max_w=22_000.0)),  # the charger caps a 22 kW car
        (11_000.0, 3, replace(AC_CAR, ac_max_w=7_400.0, ac_phases=1)),  # one phase, capped
        (11_000.0, 3, replace(AC_CAR, ac_max_w=3_600.0, ac_phases=1)),  # under the limit
        (7_400.0, 1, AC_CAR),  # a 3-phase car on a 1-phase box
        (22_000.0, 3, AC_CAR),
    ],
)
def test_ac_currents_never_exceed_the_chargers_limit(
    max_power_w: float, phases: int, vehicle: Vehicle
) -> None:
    limit_a = max_power_w / (phases * 230.0)
    v = visit(arrive=600.0, stay=10 * HOUR, soc_start=0.1, soc_target=0.95, vehicle=vehicle)
    agent = make_agent([v], max_power_w=max_power_w, phases=phases, meter_interval_s=120.0)
    csms = Pump(agent).start().run_sim(11 * HOUR).csms
    meters = csms.of("MeterValues")
    assert len(meters) > 20
    loaded = min(vehicle.ac_phases, phases)
    for m in meters:
        currents = measured(m, "Current.Import")
        assert len(currents) == phases  # one per supply phase
        assert all(0.0 <= a <= limit_a + 0.05 for a in currents)
        assert all(a == 0.0 for a in currents[loaded:])  # phases the car does not load
        assert all(a <= limit_a + 0.05 for a in measured(m, "Current.Offered"))
        (power,) = measured(m, "Power.Active.Import")
        assert power <= max_power_w
        assert power == pytest.approx(sum(currents) * 230.0, abs=0.2 * 230.0 * loaded)
    peak = max(max(measured(m, "Current.Import")) for m in meters)
    per_phase_car = vehicle.ac_max_w / (vehicle.ac_phases * 230.0)
    assert peak == pytest.approx(min(limit_a, per_phase_car), abs=0.05)


# -- pacing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1.0, 60.0, 3600.0])
def test_a_step_at_the_wakeup_makes_progress(scale: float) -> None:
    visits = [
        visit(arrive=600.0, dc=True, vehicle=DC_CAR, soc_start=0.2, soc_target=0.8),
        visit(arrive=3 * HOUR, dc=True, vehicle=DC_CAR, soc_start=0.33, soc_target=0.77),
        visit(arrive=5 * HOUR, dc=True, vehicle=DC_CAR, soc_start=0.1, soc_target=0.9),
    ]
    agent = make_agent(visits, dc=True, time_scale=scale, meter_interval_s=7.0)
    Pump(agent, strict=True).start().run_sim(8 * HOUR)


def test_steps_are_bounded_by_what_happens() -> None:
    """About one step per event: arrivals, auth, full, departure, meter values, heartbeats."""
    visits = [
        visit(arrive=600.0 + 2 * HOUR * i, stay=HOUR, auth=(INV, OK), connector=1 + i % 2)
        for i in range(12)
    ]
    agent = make_agent(visits, connectors=2, time_scale=60.0, meter_interval_s=60.0)
    pump = Pump(agent).start().run_sim(24 * HOUR)
    assert len(pump.csms.of("StartTransaction")) == 12
    # 24 simulated hours = 24 wall minutes: 24 meter values, 12 visits of ~6 events each.
    assert pump.steps <= 24 + 12 * 8 + 10


# -- a sampled fleet --------------------------------------------------------------------------

#: The default site mix, every type overridden to be busy and failure-prone. (A type cannot
#: be both in an explicit [sites] mix and overridden: see test_scenario_realistic.)
FLEET = """
seed = 11
[run]
duration_s = 1440  # 24 simulated hours
time_scale = 60
start_at = "06:00"
[fleet]
chargers = 12
[charger]
meter_interval_s = 30
clock_aligned_s = 300
[sites.public_ac]
sessions_weekday = 6.0
first_attempt_fail = 0.3
no_plug_share = {no_plug}
[sites.dc_fast]
sessions_weekday = 16.0
no_plug_share = {no_plug}
[sites.workplace_ac]
sessions_weekday = 4.0
no_plug_share = {no_plug}
start_failure = 0.2
mid_session_stop = 0.2
[sites.residential]
sessions_weekday = 4.0
no_plug_share = {no_plug}
[faults]
faulted_per_connector_day_ac = 2.0
faulted_per_connector_day_dc = 2.0
offline_per_charger_day = 3.0
reboot_per_charger_day = 1.0
"""


def _run_fleet(no_plug: float) -> list[tuple[ChargerAgent, Pump]]:
    scenario = parse(FLEET.format(no_plug=no_plug), "fleet.toml")
    agents = build_agents(scenario, range(1, 13), Recorder(), WALL0)
    runs = []
    for agent in agents:
        pump = Pump(agent).start().run_sim(24 * HOUR)
        pump.stop()
        runs.append((agent, pump))
    return runs


@pytest.mark.parametrize(
    "no_plug",
    [0.0, 0.3],
)
def test_a_sampled_fleet_keeps_its_invariants(no_plug: float) -> None:
    runs = _run_fleet(no_plug)
    sessions = 0
    for agent, pump in runs:
        csms = pump.csms
        settings = agent.charger.settings
        # Every transaction is stopped once (after agent.stop at the end).
        started = [f.payload for f in csms.of("StartTransaction")]
        stopped = [f.payload["transactionId"] for f in csms.of("StopTransaction")]
        assert sorted(stopped) == list(range(101, 101 + len(started)))
        sessions += len(started)
        # Registers never decrease, per connector.
        by_connector: dict[int, list[tuple[float, float]]] = {}
        for m in csms.of("MeterValues"):
            (energy,) = measured(m, "Energy.Active.Import.Register")
            by_connector.setdefault(int(m.payload["connectorId"]), []).append((stamp(m), energy))
            (power,) = measured(m, "Power.Active.Import")
            battery = agent.plans[int(m.payload["connectorId"]) - 1].battery
            assert power <= battery.evse_max_w + 0.5
            if settings.ac:
                limit_a = battery.evse_max_w / (battery.phases * 230.0)
                assert max(measured(m, "Current.Import")) <= limit_a + 0.05
        for series in by_connector.values():
            energies = [e for _, e in sorted(series)]
            assert energies == sorted(energies)
        for stop in csms.of("StopTransaction"):
            start = started[int(stop.payload["transactionId"]) - 101]
            assert float(stop.payload["meterStop"]) >= float(start["meterStart"])
        # Bounded work, no spin: 24 simulated hours are 24 wall minutes; at most one step per
        # wall second on average (an EV waiting on a down charger looks once a wall second).
        assert pump.steps <= 24 * 60
        assert pump.steps <= 5 * len(csms.frames)
    # The fleet did work. (Drivers who find a charger offline are refused unless the cache
    # knows their token, §3.5.4: fewer sessions than when they waited for it to come back.)
    assert sessions > 30


def test_a_sampled_fleets_plans_are_followed() -> None:
    """Every visit the plan has for a charger either charges, or is refused/failed/skipped for
    a reason the plan or the charger's state gives."""
    scenario = parse(FLEET.format(no_plug=0.0), "fleet.toml")
    plans = {p.index: p for p in plans_for(scenario, range(1, 13))}
    for agent, pump in _run_fleet(0.0):
        plan = plans[agent.index]
        horizon = 24 * HOUR
        charging = [
            v
            for v in plan.visits
            if 0 <= v.arrive_s < horizon - HOUR
            and OK in v.auth_attempts
            and not v.start_fails
            and not v.no_plug
        ]
        starts = pump.csms.of("StartTransaction")
        # Some arrivals balk at a faulted or offline charger; most charge.
        assert len(starts) <= len(plan.visits)
        if len(charging) >= 5 and not plan.faults and not plan.reboots:
            assert len(starts) >= 0.8 * len(charging)
