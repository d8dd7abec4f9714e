"""Realistic fleets on the wire: what sampled plans look like to a CSMS.

Real `simfleet run` processes against the recording CSMS (tests/integration/ocpp_csms.py) in
"embedded" mode, which answers like simfleet's embedded CSMS (tokens refused by prefix) and
records every frame. Checked from the recorded frames alone, plus the scenario itself (the site
of each charger comes from `sampling.site_of` with the run's config and seed):

* a 150-charger fleet over hours of simulated time, with boosted driver failures and faults:
  valid 1.6 CALLs, the whole connector life cycle, tokens answered by prefix and retried,
  the stop reasons, the report's connection counters, measurands by current type;
* physics: registers, SoC, per-phase currents and the energy = integral of power;
* time compression (`time_scale`, `start_at`) against `simfleet plan`;
* warm start: sessions in progress at `start_at` start right after boot.

Simulated time runs at `time_scale` simulated seconds per wall second from the ramp's start,
while OCPP timestamps and the meter intervals stay on the wall clock: energy accrues per
simulated second, so an integral of power over timestamps is multiplied by `time_scale`.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, run_simfleet, write_scenario
from ocpp_csms import Recording, start_recording_csms

from simfleet.behaviour.profiles import SiteProfile
from simfleet.behaviour.sampling import SITE_TYPES, site_of
from simfleet.scenario import Scenario, load, parse
from simfleet.sim.fleet import behaviour_config, plans_for

# -- the shared fleet run (tests 1 and 2) ---------------------------------------------------------

CHARGERS = 150
TIME_SCALE = 900.0  # 15 wall seconds cover 3 h 45 min from 07:00
METER_S = 0.5  # wall seconds: 450 simulated seconds between periodic readings
CLOCK_S = 2.0
HEARTBEAT_S = 5
DURATION_S = 15

#: All four site types, each with its share and overrides in its own table. Driver failures
#: are boosted: refused first tokens (every refusal status equally likely), drivers who never
#: plug in, EVs that never start, unexpected stops. Faults, offline spells and reboots are
#: boosted to several per simulated day.
WIRE_SCENARIO = f"""
name = "realistic-wire"
seed = 11

[run]
duration_s = {DURATION_S}
workers = 2
time_scale = {TIME_SCALE}
start_at = "07:00"
day = "weekday"

[fleet]
chargers = {CHARGERS}
ramp_per_s = 300

[charger]
heartbeat_interval_s = {HEARTBEAT_S}
meter_interval_s = {METER_S}
clock_aligned_s = {CLOCK_S}

[sites.workplace_ac]
share = 0.3
sessions_weekday = 2.0
first_attempt_fail = 0.4
auth_outcome_shares = [0.2, 0.2, 0.2, 0.2, 0.2]
no_plug_share = 0.1
start_failure = 0.1
mid_session_stop = 0.2

[sites.public_ac]
share = 0.3
sessions_weekday = 3.0
first_attempt_fail = 0.4
auth_outcome_shares = [0.2, 0.2, 0.2, 0.2, 0.2]
no_plug_share = 0.1
start_failure = 0.1
mid_session_stop = 0.2

[sites.residential]
share = 0.2
sessions_weekday = 1.0
first_attempt_fail = 0.4
auth_outcome_shares = [0.2, 0.2, 0.2, 0.2, 0.2]
mid_session_stop = 0.2

[sites.dc_fast]
share = 0.2
sessions_weekday = 12.0
first_attempt_fail = 0.4
auth_outcome_shares = [0.2, 0.2, 0.2, 0.2, 0.2]
no_plug_share = 0.1
start_failure = 0.2
mid_session_stop = 0.2

[faults]
enabled = true
faulted_per_connector_day_ac = 3.0
faulted_per_connector_day_dc = 3.0
offline_per_charger_day = 3.0
reboot_per_charger_day = 1.5

[auth]
connection_timeout_s = 60

[timeouts]
call_s = 10
connect_s = 5
unreachable_s = 5
"""

#: What the embedded CSMS answers by token prefix (the [auth] defaults).
PREFIX_STATUS = {
    "INV": "Invalid",
    "BLK": "Blocked",
    "EXP": "Expired",
    "CTX": "ConcurrentTx",
    "OK": "Accepted",
}
#: PREFIX + method letter + charger index + attempt (behaviour.tokens.TokenBook.token).
TOKEN = re.compile(r"^(OK|INV|BLK|EXP|CTX)([RAVH])(\d{8})(\d)$")
PHASE_VOLTAGE = 230.0
AC_MEASURANDS = {
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "Current.Offered",
}
ENERGY = ("Energy.Active.Import.Register", "")
POWER = ("Power.Active.Import", "")
SOC = ("SoC", "")


@dataclass
class FleetRun:
    """One bounded `simfleet run` of a scenario against the recording CSMS."""

    scenario: Scenario
    path: Path
    returncode: int
    output: str
    report: dict[str, Any]
    recording: Recording

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self.recording.calls

    def of(self, action: str) -> list[dict[str, Any]]:
        return [c for c in self.recording.calls if c["action"] == action]

    def sites(self) -> dict[str, SiteProfile]:
        """Each charger identity's site profile, drawn as the run drew it."""
        s = self.scenario
        indices = range(1, s.chargers + 1)
        picks = site_of(behaviour_config(s), s.seed, indices).tolist()
        return {
            s.identity_of(i): s.realistic.sites[SITE_TYPES[k]]
            for i, k in zip(indices, picks, strict=True)
        }

    def first_boot_at(self) -> float:
        """Wall-clock time the fleet's first BootNotification arrived (~ simulated t = 0)."""
        return min(c["at"] for c in self.of("BootNotification"))


def run_scenario(
    tmp_path: Path, text: str, heartbeat_s: int = HEARTBEAT_S, timeout_s: float = 60
) -> FleetRun:
    """`simfleet run` of `text`; the CSMS's BootNotification answer sets `heartbeat_s`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = write_scenario(tmp_path, text)
    report_path = tmp_path / "report.json"
    csms = start_recording_csms(tmp_path, "embedded", heartbeat_s)
    try:
        result = run_simfleet(
            "run",
            str(path),
            "--target",
            csms.url,
            "--report",
            str(report_path),
            "--quiet",
            timeout=timeout_s,
        )
    finally:
        recording = csms.stop()
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    output = f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-4000:]}"
    return FleetRun(load(path), path, result.returncode, output, report, recording)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> FleetRun:
    run = run_scenario(tmp_path_factory.mktemp("realistic-wire"), WIRE_SCENARIO)
    assert run.returncode == 0, run.output
    return run


# -- transactions as the CSMS saw them ------------------------------------------------------------


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


Values = dict[tuple[str, str], float]


def sampled(values: list[dict[str, Any]]) -> tuple[str, Values]:
    """(context, {(measurand, phase): value}) of one meterValue."""
    contexts = {v.get("context", "Sample.Periodic") for v in values}
    assert len(contexts) == 1, values
    out = {(v["measurand"], v.get("phase", "")): float(v["value"]) for v in values}
    return contexts.pop(), out


@dataclass
class Transaction:
    identity: str
    transaction_id: int
    connector_id: int
    id_tag: str
    meter_start: int
    started_at: float
    stop: dict[str, Any] | None = None
    #: (timestamp, context) -> values; a frame sent twice (resent after a reconnect) counts once
    samples: dict[tuple[float, str], Values] = field(default_factory=dict)

    def ordered(self) -> list[tuple[float, str, Values]]:
        return [(t, context, v) for (t, context), v in sorted(self.samples.items())]


def transactions(calls: list[dict[str, Any]]) -> dict[tuple[str, int], Transaction]:
    found: dict[tuple[str, int], Transaction] = {}
    for call in calls:
        if call["action"] == "StartTransaction" and "response" in call:
            p = call["payload"]
            tx_id = call["response"]["transactionId"]
            found[(call["identity"], tx_id)] = Transaction(
                call["identity"],
                tx_id,
                p["connectorId"],
                p["idTag"],
                p["meterStart"],
                stamp(p["timestamp"]),
            )
    for call in calls:
        p = call["payload"]
        if call["action"] == "MeterValues" and "transactionId" in p:
            tx = found[(call["identity"], p["transactionId"])]
            assert p["connectorId"] == tx.connector_id, call["raw"]
            for meter_value in p["meterValue"]:
                context, values = sampled(meter_value["sampledValue"])
                tx.samples[(stamp(meter_value["timestamp"]), context)] = values
        elif call["action"] == "StopTransaction":
            tx = found[(call["identity"], p["transactionId"])]
            tx.stop = p
            for meter_value in p.get("transactionData", []):
                context, values = sampled(meter_value["sampledValue"])
                tx.samples[(stamp(meter_value["timestamp"]), context)] = values
    return found


# -- 1. the realistic fleet on the wire -----------------------------------------------------------


@pytest.mark.timeout(120)
def test_fleet_run_report_counts_faults_offline_spells_and_reboots(fleet: FleetRun) -> None:
    report = fleet.report
    assert report["chargers"]["booted"] >= CHARGERS, fleet.output
    assert report["errors"] == {}, fleet.output  # zero CALLERRORs
    assert report["timeouts"] == 0, fleet.output
    assert report["malformed"] == {}, fleet.output
    connections = report["connections"]
    assert connections["offline"] > 0, connections  # planned offline spells and reboots
    assert connections["reconnects"] > 0, connections
    # A reboot boots again: more BootNotifications than chargers, every one accepted.
    boots = report["messages"]["BootNotification"]
    assert boots["sent"] > CHARGERS, boots
    assert boots["ok"] == boots["sent"], boots
    assert len(fleet.recording.identities()) == CHARGERS
    assert fleet.recording.call_errors() == []
    assert fleet.recording.unexpected == [], fleet.recording.unexpected[:5]


@pytest.mark.timeout(120)
def test_every_call_validates_against_the_ocpp16_schemas(fleet: FleetRun) -> None:
    """Every CALL and every answer, against the official schemas; timestamps Z, <= 3 digits."""
    # Imported here: should test_schemas.py break, only this test fails, not the module.
    from test_schemas import check_calls

    checked = check_calls(fleet.calls, responses=True)
    for action in (
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "Authorize",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
    ):
        assert checked[action] > 0, checked


@pytest.mark.timeout(120)
def test_statuses_cover_the_connector_life_cycle_and_faults(fleet: FleetRun) -> None:
    statuses = fleet.of("StatusNotification")
    seen = Counter(c["payload"]["status"] for c in statuses)
    for status in ("Available", "Preparing", "Charging", "SuspendedEV", "Finishing", "Faulted"):
        assert seen[status] > 0, seen
    faulted = [c["payload"] for c in statuses if c["payload"]["status"] == "Faulted"]
    # Faulted always names its error (the schema checks the code is one of the 1.6 enum).
    assert all(p["errorCode"] != "NoError" for p in faulted), faulted[:5]
    assert len({p["errorCode"] for p in faulted}) >= 3, Counter(p["errorCode"] for p in faulted)
    # An EV that never starts after an accepted token: Finishing with EVCommunicationError.
    payloads = [c["payload"] for c in statuses]
    finishing = Counter(p["errorCode"] for p in payloads if p["status"] == "Finishing")
    assert finishing["EVCommunicationError"] > 0, finishing
    # Every other status comes without an error.
    wrong = [p for p in payloads if p["status"] not in ("Faulted", "Finishing")]
    wrong = [p for p in wrong if p["errorCode"] != "NoError"]
    assert wrong == [], wrong[:5]
    # Drivers who leave without charging (no cable, every token refused): Preparing, Available.
    last: dict[tuple[str, int], str] = {}
    walked_away = 0
    for call in statuses:
        key = (call["identity"], call["payload"]["connectorId"])
        status = call["payload"]["status"]
        walked_away += last.get(key) == "Preparing" and status == "Available"
        last[key] = status
    assert walked_away > 0


@pytest.mark.timeout(120)
def test_tokens_are_answered_by_prefix_and_refused_drivers_retry(fleet: FleetRun) -> None:
    authorizes = fleet.of("Authorize")
    answered: Counter[str] = Counter()
    for call in authorizes:
        tag = call["payload"]["idTag"]
        match = TOKEN.match(tag)
        assert match is not None, tag
        status = call["response"]["idTagInfo"]["status"]
        assert status == PREFIX_STATUS[match.group(1)], (tag, status)
        answered[status] += 1
    for status in PREFIX_STATUS.values():
        assert answered[status] > 0, answered
    # A refused driver presents another token (next attempt, same method) at the same charger.
    refused = [
        (call["at"], call["identity"], TOKEN.match(call["payload"]["idTag"]))
        for call in authorizes
        if call["response"]["idTagInfo"]["status"] != "Accepted"
    ]
    later = {
        (call["identity"], m.group(2), int(m.group(4))): call["at"]
        for call in authorizes
        if (m := TOKEN.match(call["payload"]["idTag"])) is not None
    }
    retried = [
        (identity, m.group(0))
        for at, identity, m in refused
        if m is not None and later.get((identity, m.group(2), int(m.group(4)) + 1), 0.0) > at
    ]
    assert retried, f"no refused driver tried again ({len(refused)} refusals)"
    # Only accepted tokens start transactions; some of them after a refused first attempt.
    start_tags = [c["payload"]["idTag"] for c in fleet.of("StartTransaction")]
    assert all(tag.startswith("OK") for tag in start_tags), start_tags
    assert any(tag.endswith(("1", "2")) for tag in start_tags), start_tags


@pytest.mark.timeout(120)
def test_stop_reasons_and_transaction_end_readings(fleet: FleetRun) -> None:
    stops = fleet.of("StopTransaction")
    reasons = Counter(c["payload"]["reason"] for c in stops)
    assert reasons["EVDisconnected"] > 0, reasons  # the EV leaves
    assert reasons["Other"] > 0, reasons  # unexpected stops and faults
    if fleet.report["messages"]["BootNotification"]["sent"] > CHARGERS:
        assert reasons["PowerLoss"] > 0, reasons  # reboots end their transactions
    for call in stops:
        data = call["payload"].get("transactionData")
        assert data, call["raw"]  # StopTxnSampledData
        for meter_value in data:
            context, values = sampled(meter_value["sampledValue"])
            assert context == "Transaction.End", call["raw"]
            assert values[ENERGY] == call["payload"]["meterStop"], call["raw"]


@pytest.mark.timeout(120)
def test_measurands_follow_the_current_type(fleet: FleetRun) -> None:
    """AC: per-phase current and voltage, never SoC; DC: SoC and temperature, no phases."""
    sites = fleet.sites()
    assert {p.current for p in sites.values()} == {"AC", "DC"}
    contexts: Counter[str] = Counter()
    ac_phases: set[str] = set()
    dc_soc = 0
    for call in fleet.of("MeterValues"):
        profile = sites[call["identity"]]
        for meter_value in call["payload"]["meterValue"]:
            context, values = sampled(meter_value["sampledValue"])
            contexts[context] += 1
            measurands = {m for m, _phase in values}
            if profile.current == "AC":
                assert measurands <= AC_MEASURANDS, (call["identity"], measurands)
                phases = {p for m, p in values if m == "Current.Import"}
                assert phases and phases <= {"L1", "L2", "L3"}, call["raw"]
                volts = {p for m, p in values if m == "Voltage"}
                assert volts == {f"{p}-N" for p in phases}, call["raw"]
                if context == "Transaction.Begin":  # the EV is plugged in: every phase
                    assert phases == {"L1", "L2", "L3"}, call["raw"]
                ac_phases |= phases
            else:
                phased = [(m, p) for m, p in values if p]
                assert phased == [], call["raw"]
                assert ("Current.Import", "") in values, call["raw"]
                if context == "Transaction.Begin":
                    assert SOC in values and ("Temperature", "") in values, call["raw"]
                dc_soc += SOC in values
    assert ac_phases == {"L1", "L2", "L3"}
    assert dc_soc > 0
    for context in ("Sample.Periodic", "Sample.Clock", "Transaction.Begin"):
        assert contexts[context] > 0, contexts
    # Only DC chargers' transactions report SoC (cross-check of the site draw).
    with_soc = {
        tx.identity
        for tx in transactions(fleet.calls).values()
        if any(SOC in v for v in tx.samples.values())
    }
    assert with_soc, "no transaction reported SoC"
    assert all(sites[identity].current == "DC" for identity in with_soc), with_soc


@pytest.mark.timeout(120)
def test_boot_notification_comes_first_after_a_reboot(fleet: FleetRun) -> None:
    """OCPP 1.6 §4.2: nothing but BootNotification until it is accepted, cached messages
    (the StopTransaction PowerLoss of a reboot) included."""
    by_connection: defaultdict[int, list[str]] = defaultdict(list)
    for call in fleet.calls:
        by_connection[call["connection"]].append(call["action"])
    boots = sum("BootNotification" in actions for actions in by_connection.values())
    assert boots > CHARGERS, "no charger rebooted"
    early = [
        actions[: actions.index("BootNotification") + 1]
        for actions in by_connection.values()
        if "BootNotification" in actions and actions[0] != "BootNotification"
    ]
    assert early == [], early[:5]


# -- 2. physics from the wire ---------------------------------------------------------------------

#: Consecutive readings further apart than this (wall s) are not integrated: the trapezoid
#: needs close samples. Around a gap a reading may also have been taken late, after a
#: later-stamped one (see test_offline_spells_do_not_stall_the_other_chargers).
REGULAR_GAP_S = 2 * min(METER_S, CLOCK_S)


def energy_vs_power(tx: Transaction, scale: float) -> tuple[float, float, int]:
    """(register increase, trapezoid integral of power, intervals) over the intervals where
    power was drawn at both ends and the readings are regularly spaced. Wh."""
    rows = tx.ordered()
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(rows)]
    delivered = integral = 0.0
    used = 0
    for i in range(len(gaps)):
        (t0, _, a), (t1, _, b) = rows[i], rows[i + 1]
        # a reading next to a stall may have been taken late (after a later-stamped one)
        neighbours = gaps[max(0, i - 2) : i + 3]
        if a[POWER] <= 0 or b[POWER] <= 0 or max(neighbours) > REGULAR_GAP_S:
            continue
        delivered += b[ENERGY] - a[ENERGY]
        integral += (a[POWER] + b[POWER]) / 2 * (t1 - t0) * scale / 3600.0
        used += 1
    return delivered, integral, used


@pytest.mark.timeout(120)
def test_physics_from_the_wire(fleet: FleetRun) -> None:
    sites = fleet.sites()
    scale = fleet.scenario.realistic.time_scale
    txs = transactions(fleet.calls)
    assert len(txs) >= 50, len(txs)
    problems: list[str] = []
    integrated = 0
    for (identity, tx_id), tx in txs.items():
        profile = sites[identity]
        name = f"{identity} tx {tx_id} ({profile.current} {profile.max_power_w / 1000:g} kW)"
        rows = tx.ordered()
        if not rows:
            problems.append(f"{name}: no readings")
            continue
        energy = [v[ENERGY] for _, _, v in rows]
        if energy != sorted(energy):
            problems.append(f"{name}: register decreases {energy}")
        if energy[0] < tx.meter_start:
            problems.append(f"{name}: first reading {energy[0]} < meterStart {tx.meter_start}")
        if tx.stop is not None:
            stop = tx.stop["meterStop"]
            if energy[-1] > stop or stop < tx.meter_start:
                problems.append(
                    f"{name}: meterStart {tx.meter_start}, readings up to "
                    f"{energy[-1]}, meterStop {stop}"
                )
            # never faster than the hardware, over the whole transaction (simulated time)
            hours = (stamp(tx.stop["timestamp"]) - tx.started_at) * scale / 3600.0
            if stop - tx.meter_start > profile.max_power_w * hours * 1.001 + 2:
                problems.append(f"{name}: {stop - tx.meter_start} Wh in {hours:.3f} h")
        for _, _, v in rows:
            if v[POWER] > profile.max_power_w + 1:
                problems.append(f"{name}: {v[POWER]} W")
        if profile.current == "DC":
            soc = [v[SOC] for _, _, v in rows if SOC in v]
            if soc != sorted(soc) or max(soc, default=0) > 100:
                problems.append(f"{name}: SoC {soc}")
        else:
            limit = profile.max_power_w / (PHASE_VOLTAGE * profile.phases) + 0.05
            amps = [a for _, _, v in rows for (m, p), a in v.items() if m == "Current.Import"]
            if max(amps) > limit:
                problems.append(f"{name}: {max(amps)} A per phase > {limit:.2f} A")
        delivered, integral, used = energy_vs_power(tx, scale)
        if used >= 5 and integral >= 100:
            integrated += 1
            # 1 %, plus 1 Wh an interval: the register is reported in whole Wh
            if abs(delivered - integral) > 0.01 * integral + used:
                problems.append(
                    f"{name}: register +{delivered:.0f} Wh, integral of power {integral:.0f} Wh"
                )
    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems[:20])
    assert integrated >= 20, f"only {integrated} transactions had enough readings to integrate"


# -- 3. time compression --------------------------------------------------------------------------

COMPRESSION_SCENARIO = """
name = "time-scale"
seed = 4

[run]
duration_s = {duration}
workers = 1
time_scale = {scale}
start_at = "08:00"
day = "weekday"

[fleet]
chargers = 100
ramp_per_s = 400

[charger]
heartbeat_interval_s = 30
meter_interval_s = 30
clock_aligned_s = 0

[faults]
enabled = false
"""


def starts_between(run: FleetRun, lo_s: float, hi_s: float) -> int:
    """StartTransactions whose timestamp lies lo..hi wall seconds after the first boot."""
    t0 = run.first_boot_at()
    return sum(
        1
        for c in run.of("StartTransaction")
        if lo_s <= stamp(c["payload"]["timestamp"]) - t0 < hi_s
    )


@pytest.mark.timeout(120)
def test_time_scale_compresses_hours_into_seconds(tmp_path: Path) -> None:
    """time_scale 3600 from 08:00: ten wall seconds are 08:00-18:00; time_scale 1: six seconds.

    The first seconds of both runs hold the warm start (sessions already in progress at
    08:00 start at boot); new arrivals are counted from second 3 on, and compared with the
    plan (`simfleet plan --csv`: StartTransaction per wall second, per simulated hour).
    """
    fast = run_scenario(tmp_path / "fast", COMPRESSION_SCENARIO.format(duration=10, scale=3600))
    slow = run_scenario(tmp_path / "slow", COMPRESSION_SCENARIO.format(duration=6, scale=1))
    assert fast.returncode == 0, fast.output
    assert slow.returncode == 0, slow.output
    # both fleets start with the sessions in progress at 08:00
    assert starts_between(fast, 0, 3) > 10, fast.output
    assert starts_between(slow, 0, 3) > 10, slow.output
    fast_rate = starts_between(fast, 3, 9) / 6
    slow_rate = starts_between(slow, 3, 6) / 3
    assert fast_rate > 5, fast_rate
    assert fast_rate > 10 * max(slow_rate, 0.5), (fast_rate, slow_rate)

    csv_path = tmp_path / "plan.csv"
    result = run_simfleet("plan", str(fast.path), "--hours", "10", "--csv", str(csv_path))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(csv_path.read_text(encoding="utf-8").splitlines()))
    assert [r["clock"] for r in rows[:3]] == ["08:00", "09:00", "10:00"], rows[:3]
    # an hour of the plan takes one wall second: hours 3..8 are wall seconds 3..9
    planned = sum(float(r["StartTransaction_per_s"]) for r in rows[3:9])
    assert planned > 10, planned
    assert 0.6 * planned <= fast_rate * 6 <= 1.4 * planned, (fast_rate * 6, planned)


# -- 4. warm start --------------------------------------------------------------------------------

WARM_SCENARIO = """
name = "warm-start"
seed = 5

[run]
duration_s = 5
workers = 1
time_scale = 1
start_at = "{start_at}"
day = "weekday"

[fleet]
chargers = 200
ramp_per_s = 400

[charger]
heartbeat_interval_s = 30
meter_interval_s = 30
clock_aligned_s = 0

[faults]
enabled = false
"""


def in_progress(scenario: Scenario) -> set[str]:
    """Chargers whose plan has a session under way at t = 0 that charges (it starts at boot)."""
    plans = plans_for(scenario, range(1, scenario.chargers + 1))
    return {
        scenario.identity_of(plan.index)
        for plan in plans
        if any(
            v.arrive_s < 0
            and not v.no_plug
            and not v.start_fails
            and (math.isnan(v.depart_s) or v.depart_s > 5)
            for v in plan.visits
        )
    }


@pytest.mark.timeout(120)
def test_warm_start_sessions_start_right_after_boot(tmp_path: Path) -> None:
    """time_scale 1: at 12:00 on a weekday many connectors are mid-session, at 03:00 fewer;
    those sessions start their transactions within seconds of boot, as the plan says."""
    shares = {}
    for start_at in ("12:00", "03:00"):
        run = run_scenario(tmp_path / start_at[:2], WARM_SCENARIO.format(start_at=start_at))
        assert run.returncode == 0, run.output
        t0 = run.first_boot_at()
        started = {
            c["identity"]
            for c in run.of("StartTransaction")
            if stamp(c["payload"]["timestamp"]) - t0 < 3.0
        }
        expected = in_progress(run.scenario)
        assert len(started ^ expected) <= 0.02 * run.scenario.chargers, (
            sorted(started - expected),
            sorted(expected - started),
        )
        shares[start_at] = len(started) / run.scenario.chargers
    assert shares["12:00"] > 0.15, shares
    assert shares["03:00"] < 0.6 * shares["12:00"], shares


# -- 5. scenario tables and drivers who never plug in ---------------------------------------------


def test_readme_scenario_examples_load() -> None:
    """The README's scenario, a share and overrides for one site type included."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    with_overrides = [b for b in blocks if "[sites." in b]
    assert with_overrides
    for block in blocks:
        scenario = parse(block, "README.md")
        assert scenario.chargers >= 1


NO_PLUG_SCENARIO = """
name = "no-plug"
seed = 9

[run]
duration_s = 6
workers = 1
time_scale = 600
start_at = "17:00"
day = "weekday"

[fleet]
chargers = 40
ramp_per_s = 400

[charger]
heartbeat_interval_s = 30
meter_interval_s = 1
clock_aligned_s = 0

[sites.workplace_ac]
sessions_weekday = 20.0
no_plug_share = 1.0

[sites.public_ac]
sessions_weekday = 20.0
no_plug_share = 1.0

[sites.residential]
sessions_weekday = 20.0
no_plug_share = 1.0

[sites.dc_fast]
sessions_weekday = 20.0
no_plug_share = 1.0

[faults]
enabled = false

[auth]
connection_timeout_s = 60
"""


@pytest.mark.timeout(120)
def test_drivers_who_never_plug_in_start_no_transaction(tmp_path: Path) -> None:
    """Every driver authorizes and walks away: Preparing, then Available after
    ConnectionTimeOut, and no StartTransaction at all."""
    run = run_scenario(tmp_path, NO_PLUG_SCENARIO)
    assert run.returncode == 0, run.output
    assert len(run.of("Authorize")) >= 10, run.output
    starts = [c["payload"] for c in run.of("StartTransaction")]
    assert starts == [], starts[:5]
    seen: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
    for call in run.of("StatusNotification"):
        seen[(call["identity"], call["payload"]["connectorId"])].append(call["payload"]["status"])
    timed_out = [s for s in seen.values() if "Preparing" in s]
    assert len(timed_out) >= 10, seen
    # back to Available once ConnectionTimeOut (60 simulated s, 0.1 wall s) has passed
    assert all(s[-1] == "Available" for s in timed_out), [
        s for s in timed_out if s[-1] != "Available"
    ]
    assert {x for s in seen.values() for x in s} == {"Available", "Preparing"}, seen


# -- known bug -------------------------------------------------------------------------------------

STALL_SCENARIO = """
name = "offline-spells"
seed = 2

[run]
duration_s = 8
workers = 1
time_scale = 60
start_at = "10:00"
day = "weekday"

[fleet]
chargers = 30
ramp_per_s = 300

[charger]
heartbeat_interval_s = 1
meter_interval_s = 1
clock_aligned_s = 0

[faults]
enabled = true
faulted_per_connector_day_ac = 0
faulted_per_connector_day_dc = 0
reboot_per_charger_day = 0
offline_per_charger_day = 150   # about one spell per charger in the 8 simulated minutes
offline_short_share = 0
offline_long_median_s = 120     # two wall seconds
offline_long_sigma = 0.2
"""


@pytest.mark.timeout(120)
def test_offline_spells_do_not_stall_the_other_chargers(tmp_path: Path) -> None:
    """Chargers drop offline for ~2 s each: the others keep their 1 s heartbeat."""
    run = run_scenario(tmp_path, STALL_SCENARIO, heartbeat_s=1)
    assert run.returncode == 0, run.output
    assert run.report["connections"]["offline"] >= 10, run.report["connections"]
    beats: defaultdict[int, list[float]] = defaultdict(list)
    for call in run.of("Heartbeat"):
        beats[call["connection"]].append(call["at"])
    gaps = sorted(
        (round(b - a, 2) for times in beats.values() for a, b in itertools.pairwise(times)),
        reverse=True,
    )
    assert len(gaps) > 50, gaps
    assert gaps[0] < 1.5, f"heartbeats of a connection up to {gaps[0]} s apart: {gaps[:10]}"
