"""OCPP 1.6J conformance on real sockets: each CSMS command the charger answers, driven from a
test CSMS (csms_harness.py), with its answer, the state change and the follow-up messages.

One module-wide run of two `simfleet run` processes against one harness:

* "CONF-1".."CONF-4" (fixed model, 2 AC connectors at 22 kW, EVs of 11 kW) sit idle: the seed is
  chosen so that every connector's one planned visit lies after the run's end (`dormant_seed`),
  so no EV arrives by itself, while RemoteStartTransaction still finds a planned driver to plug
  in (sim/agent.py `remote_start`). Each test uses connectors of its own (the table below), so
  the tests do not depend on their order.
* "TICK-1" (1 connector) is a metronome: an EV every 9 s for 7 s. It gives transactions that
  end by themselves (ChangeAvailability Scheduled) and the plain charging flow.

    CONF-1  c1 RemoteStart/Stop    c2 RemoteStart refused by Authorize; ChangeAvailability
    CONF-2  c1 TxProfile           c2 TxDefaultProfile, ChargePointMaxProfile (on 0)
    CONF-3  c1 Reset Soft          c2 UnlockConnector
    CONF-4  c1 Reset Hard          c2 AuthorizeRemoteTxRequests false, MeterValueSampleInterval

Every CALL the chargers send and every CALLRESULT they give is checked against the official
schemas by the harness; the last test asserts that none failed over the whole module.
Reservations, firmware, diagnostics, security and offline replay belong to later suites: add
them with `remote_start`, `wait_status` and `wait_meter` below.
"""

from __future__ import annotations

import itertools
import statistics
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SIMFLEET, stop_process, write_scenario
from csms_harness import CallError, CsmsHarness, Frame, now_iso

from simfleet.protocol.timefmt import parse_iso_utc
from simfleet.protocol.v16.charger import _HANDLERS, KNOWN_CSMS_ACTIONS
from simfleet.protocol.v16.smart_charging import VOLTAGE_V
from simfleet.scenario import parse
from simfleet.sim.fleet import plans_for

pytestmark = pytest.mark.timeout(300)

#: Upper bound of the run; the module ends it (SIGTERM) as soon as its tests are done.
DURATION_S = 150
HEARTBEAT_S = 10  # the BootNotification answer's interval
WAIT_S = 15  # generous: the machine may be loaded
#: A Reset keeps the charger offline `reboot_s` (15 s, no scenario key), then it boots again.
REBOOT_WAIT_S = 45
REMOTE = ("CONF-1", "CONF-2", "CONF-3", "CONF-4")
TICK = "TICK-1"
PHASES = 3  # 22 kW AC chargers are 3-phase (sim/fleet.py hardware_of)
EV_POWER_W = 11_000
#: A seed found by `dormant_seed` (checked each run; searched again if planning changed).
SEED_HINT = 60660
NO_SUCH_TRANSACTION = 2**31 - 1  # the harness counts transactionIds up from 1001

REMOTE_SCENARIO = """
name = "conformance-remote"
seed = {seed}

[run]
duration_s = {duration}
workers = 1

[fleet]
chargers = {chargers}
ramp_per_s = 50
identity = "CONF-{{index}}"

[target]
url = "{url}"

[charger]
connectors = 2
max_power_w = 22000
meter_interval_s = 1
clock_aligned_s = 0

[behaviour]
model = "fixed"
idle_s = {idle}          # one visit per connector, its arrival uniform in [0, idle_s)
session_s = 3600         # a remote-started EV stays for the whole run
power_w = {ev_power}
id_tag = "PLAN{{index}}"

[auth]
connection_timeout_s = 5 # a refused driver leaves after this

[timeouts]
call_s = 10
connect_s = 5
unreachable_s = 20

[reconnect]
min_s = 0.5
max_s = 2
"""

TICK_SCENARIO = """
name = "conformance-metronome"
seed = 1

[run]
duration_s = {duration}
workers = 1

[fleet]
chargers = 1
identity = "TICK-{{index}}"

[target]
url = "{url}"

[charger]
connectors = 1
max_power_w = 22000
meter_interval_s = 2
clock_aligned_s = 0

[behaviour]
model = "fixed"
idle_s = 2
session_s = 7
power_w = {ev_power}
id_tag = "TICK{{index}}"

[timeouts]
call_s = 10
connect_s = 5
unreachable_s = 20
"""


# -- the run --------------------------------------------------------------------------------------


def remote_scenario_text(url: str, seed: int) -> str:
    # horizon (sim/fleet.py) = duration + 60 = idle_s: exactly one visit per connector.
    return REMOTE_SCENARIO.format(
        seed=seed,
        duration=DURATION_S,
        chargers=len(REMOTE),
        url=url,
        idle=DURATION_S + 60,
        ev_power=EV_POWER_W,
    )


def is_dormant(text: str) -> bool:
    """Every connector has a planned visit, and none arrives before the run's end."""
    scenario = parse(text)
    plans = plans_for(scenario, range(1, scenario.chargers + 1))
    return all(
        {v.connector_id for v in plan.visits} == {1, 2}
        and all(v.arrive_s >= DURATION_S for v in plan.visits)
        for plan in plans
    )


def dormant_seed(url: str) -> int:
    """The hint if it still plans dormant visits only, else the first seed that does."""
    if is_dormant(remote_scenario_text(url, SEED_HINT)):
        return SEED_HINT
    for seed in range(1_000_000):  # p = (60/210)**8 per seed: ~23,000 tries on average
        if is_dormant(remote_scenario_text(url, seed)):
            return seed
    raise AssertionError("no seed plans dormant visits only")


@dataclass
class Fleet:
    csms: CsmsHarness
    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def output(self) -> str:
        return "\n".join(log.read_text(errors="replace")[-3000:] for log in self.logs)


def start_run(tmp: Path, name: str, text: str) -> tuple[subprocess.Popen[bytes], Path]:
    path = write_scenario(tmp, text, f"{name}.toml")
    log = tmp / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*SIMFLEET, "run", str(path), "--quiet", "--report", str(tmp / f"{name}.json")],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    return process, log


def on_connector(connector: int) -> Callable[[Any], bool]:
    def matches(payload: Any) -> bool:
        return bool(payload["connectorId"] == connector)

    return matches


def wait_booted(csms: CsmsHarness, identity: str, connectors: int) -> None:
    boot = csms.wait_for(identity, "BootNotification", timeout=60)
    for connector in range(connectors + 1):
        csms.wait_for(
            identity,
            "StatusNotification",
            on_connector(connector),
            since=boot.seq,
        )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("conformance")
    with CsmsHarness(heartbeat_s=HEARTBEAT_S) as csms:
        fleet = Fleet(csms, [], [])
        texts = {
            "remote": remote_scenario_text(csms.url, dormant_seed(csms.url)),
            "tick": TICK_SCENARIO.format(duration=DURATION_S, url=csms.url, ev_power=EV_POWER_W),
        }
        try:
            for name, text in texts.items():
                process, log = start_run(tmp, name, text)
                fleet.processes.append(process)
                fleet.logs.append(log)
            try:
                for identity in REMOTE:
                    wait_booted(csms, identity, 2)
                wait_booted(csms, TICK, 1)
            except AssertionError as error:
                raise AssertionError(f"{error}\n{fleet.output()}") from None
            yield fleet
        finally:
            for process in fleet.processes:
                stop_process(process)


@pytest.fixture
def csms(fleet: Fleet) -> CsmsHarness:
    return fleet.csms


# -- helpers for tests of this module and the suites to come -------------------------------------


@dataclass(frozen=True)
class Tx:
    identity: str
    connector: int
    id_tag: str
    transaction_id: int
    start: Frame  # the StartTransaction CALL


def last_status(csms: CsmsHarness, identity: str, connector: int) -> str | None:
    """The status the charger last reported for `connector`."""
    for frame in reversed(csms.calls(identity, "StatusNotification")):
        if frame.payload["connectorId"] == connector:
            status: str = frame.payload["status"]
            return status
    return None


def wait_status(
    csms: CsmsHarness,
    identity: str,
    connector: int,
    status: str,
    since: int,
    timeout: float = WAIT_S,
) -> Frame:
    """The first StatusNotification `status` of `connector` from `since` on."""
    return csms.wait_for(
        identity,
        "StatusNotification",
        lambda p: p["connectorId"] == connector and p["status"] == status,
        timeout,
        since,
    )


def transaction_id(csms: CsmsHarness, start: Frame) -> int:
    """The transactionId the harness gave a StartTransaction."""
    answer = csms.answer_to(start)
    assert answer.kind == "CALLRESULT", answer
    value: int = answer.payload["transactionId"]
    return value


def remote_start(csms: CsmsHarness, identity: str, connector: int, id_tag: str) -> Tx:
    """RemoteStartTransaction on `connector`; returns once the transaction is Charging."""
    since = csms.mark()
    answer = csms.call(
        identity, "RemoteStartTransaction", {"connectorId": connector, "idTag": id_tag}
    )
    assert answer == {"status": "Accepted"}
    start = csms.wait_for(
        identity,
        "StartTransaction",
        lambda p: p["connectorId"] == connector and p["idTag"] == id_tag,
        since=since,
    )
    wait_status(csms, identity, connector, "Charging", since)
    return Tx(identity, connector, id_tag, transaction_id(csms, start), start)


def remote_stop(csms: CsmsHarness, tx: Tx) -> Frame:
    """RemoteStopTransaction; the StopTransaction it causes."""
    since = csms.mark()
    answer = csms.call(tx.identity, "RemoteStopTransaction", {"transactionId": tx.transaction_id})
    assert answer == {"status": "Accepted"}
    return stop_of(csms, tx, since)


def stop_of(csms: CsmsHarness, tx: Tx, since: int, timeout: float = WAIT_S) -> Frame:
    """The StopTransaction of `tx` from `since` on."""
    return csms.wait_for(
        tx.identity,
        "StopTransaction",
        lambda p: p["transactionId"] == tx.transaction_id,
        timeout,
        since,
    )


def samples(payload: dict[str, Any], measurand: str) -> list[float]:
    return [
        float(sample["value"])
        for value in payload["meterValue"]
        for sample in value["sampledValue"]
        if sample.get("measurand", "Energy.Active.Import.Register") == measurand
    ]


def contexts(payload: dict[str, Any]) -> set[str]:
    return {
        s.get("context", "Sample.Periodic")
        for v in payload["meterValue"]
        for s in v["sampledValue"]
    }


def wait_meter(
    csms: CsmsHarness,
    tx: Tx,
    after: float,
    predicate: Callable[[dict[str, Any]], bool] = lambda _p: True,
    timeout: float = WAIT_S,
) -> Frame:
    """The first periodic MeterValues of `tx` sampled after `after` (epoch seconds) for which
    `predicate` holds. By its timestamp, not its arrival: one queued earlier may arrive later."""

    def matches(p: dict[str, Any]) -> bool:
        return (
            p.get("transactionId") == tx.transaction_id
            and "Sample.Periodic" in contexts(p)
            and parse_iso_utc(p["meterValue"][0]["timestamp"]) > after
            and predicate(p)
        )

    return csms.wait_for(tx.identity, "MeterValues", matches, timeout, tx.start.seq)


def call_at(
    csms: CsmsHarness, identity: str, action: str, payload: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    """A CALL that must get a CALLRESULT: its payload, and when the harness received it."""
    frame = csms.send_frame(identity, action, payload)
    assert frame.kind == "CALLRESULT", frame
    result: dict[str, Any] = frame.payload
    return result, frame.at


def sample_time(frame: Frame) -> float:
    return parse_iso_utc(frame.payload["meterValue"][0]["timestamp"])


def periodic_samples(csms: CsmsHarness, tx: Tx, after: float, count: int) -> list[Frame]:
    """`count` successive periodic MeterValues of `tx` sampled after `after`."""
    frames: list[Frame] = []
    for _ in range(count):
        frames.append(wait_meter(csms, tx, after))
        after = sample_time(frames[-1])
    return frames


def gaps(frames: list[Frame]) -> list[float]:
    times = [sample_time(f) for f in frames]
    return [b - a for a, b in itertools.pairwise(times)]


def assert_capped(frame: Frame, limit_a: float) -> None:
    """Power and per-phase current at or under `limit_a` on each phase (nominal voltage);
    the values are rounded to 1 W and 0.1 A in the message."""
    power = samples(frame.payload, "Power.Active.Import")
    currents = samples(frame.payload, "Current.Import")
    assert power and currents, frame.payload
    assert 0 < max(power) <= limit_a * PHASES * VOLTAGE_V + 0.5, frame.payload
    assert max(currents) <= limit_a + 0.05, frame.payload


def profile(profile_id: int, purpose: str, limit_a: float, **extra: Any) -> dict[str, Any]:
    """A one-period csChargingProfiles in amps (ChargingScheduleAllowedChargingRateUnit)."""
    schedule: dict[str, Any] = {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_a}],
    }
    if "startSchedule" in extra:
        schedule["startSchedule"] = extra.pop("startSchedule")
    return {
        "chargingProfileId": profile_id,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute" if "startSchedule" in schedule else "Relative",
        "chargingSchedule": schedule,
        **extra,
    }


# -- §5.8 GetConfiguration, §5.3 ChangeConfiguration ---------------------------------------------

#: §9.1-§9.4: the keys a charger supporting Core, LocalAuthListManagement and SmartCharging
#: must report (the "Required" ones).
REQUIRED_KEYS = (
    "AuthorizeRemoteTxRequests",
    "ClockAlignedDataInterval",
    "ConnectionTimeOut",
    "ConnectorPhaseRotation",
    "GetConfigurationMaxKeys",
    "HeartbeatInterval",
    "LocalAuthorizeOffline",
    "LocalPreAuthorize",
    "MeterValuesAlignedData",
    "MeterValuesSampledData",
    "MeterValueSampleInterval",
    "NumberOfConnectors",
    "ResetRetries",
    "StopTransactionOnEVSideDisconnect",
    "StopTransactionOnInvalidId",
    "StopTxnAlignedData",
    "StopTxnSampledData",
    "SupportedFeatureProfiles",
    "TransactionMessageAttempts",
    "TransactionMessageRetryInterval",
    "UnlockConnectorOnEVSideDisconnect",
    "LocalAuthListEnabled",
    "LocalAuthListMaxLength",
    "SendLocalListMaxLength",
    "ChargeProfileMaxStackLevel",
    "ChargingScheduleAllowedChargingRateUnit",
    "ChargingScheduleMaxPeriods",
    "MaxChargingProfilesInstalled",
)


def configuration(csms: CsmsHarness, identity: str, *keys: str) -> dict[str, dict[str, Any]]:
    answer = csms.call(identity, "GetConfiguration", {"key": list(keys)} if keys else {})
    return {entry["key"]: entry for entry in answer["configurationKey"]}


def test_get_configuration_without_keys_reports_every_key(csms: CsmsHarness) -> None:
    answer = csms.call("CONF-1", "GetConfiguration", {})
    entries = answer["configurationKey"]
    keys = {entry["key"]: entry for entry in entries}
    assert len(keys) == len(entries), "a key reported twice"
    assert answer.get("unknownKey", []) == []
    missing = [key for key in REQUIRED_KEYS if key not in keys]
    assert missing == []
    assert keys["NumberOfConnectors"] == {
        "key": "NumberOfConnectors",
        "readonly": True,
        "value": "2",
    }
    assert keys["MeterValueSampleInterval"] == {
        "key": "MeterValueSampleInterval",
        "readonly": False,
        "value": "1",  # the scenario's meter_interval_s
    }
    # §4.2: the BootNotification answer's interval is the heartbeat interval in use.
    assert keys["HeartbeatInterval"]["value"] == str(HEARTBEAT_S)
    assert "AuthorizationKey" not in keys  # write-only (security whitepaper)


def test_get_configuration_of_some_keys_names_the_unknown_ones(csms: CsmsHarness) -> None:
    answer = csms.call(
        "CONF-1",
        "GetConfiguration",
        {"key": ["NumberOfConnectors", "NoSuchKey", "ConnectionTimeOut"]},
    )
    assert [entry["key"] for entry in answer["configurationKey"]] == [
        "NumberOfConnectors",
        "ConnectionTimeOut",
    ]
    assert answer["unknownKey"] == ["NoSuchKey"]


@pytest.mark.parametrize(
    ("key", "value", "status"),
    [
        ("NumberOfConnectors", "3", "Rejected"),  # read-only
        ("HeartbeatInterval", "often", "Rejected"),  # not an integer
        ("MeterValueSampleInterval", "-1", "Rejected"),  # out of range
        ("MeterValuesSampledData", "Power.Active.Import,Banana", "Rejected"),  # not a measurand
        ("NoSuchKey", "1", "NotSupported"),
    ],
)
def test_change_configuration_refused(csms: CsmsHarness, key: str, value: str, status: str) -> None:
    before = configuration(csms, "CONF-1", key)
    assert csms.call("CONF-1", "ChangeConfiguration", {"key": key, "value": value}) == {
        "status": status
    }
    assert configuration(csms, "CONF-1", key) == before  # nothing changed


def test_change_heartbeat_interval_paces_the_heartbeats(csms: CsmsHarness) -> None:
    identity = "CONF-1"
    answer, at = call_at(
        csms, identity, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "1"}
    )
    try:
        assert answer == {"status": "Accepted"}
        assert (
            configuration(csms, identity, "HeartbeatInterval")["HeartbeatInterval"]["value"] == "1"
        )
        since = csms.mark()
        beats = [csms.wait_for(identity, "Heartbeat", since=since)]
        for _ in range(3):
            beats.append(csms.wait_for(identity, "Heartbeat", since=beats[-1].seq + 1))
    finally:
        restored = csms.call(
            identity,
            "ChangeConfiguration",
            {"key": "HeartbeatInterval", "value": str(HEARTBEAT_S)},
        )
    assert restored == {"status": "Accepted"}
    assert beats[0].at > at
    # Every second instead of every HEARTBEAT_S (receive times: allow for a loaded machine).
    assert statistics.median(b.at - a.at for a, b in itertools.pairwise(beats)) < 2.5


@pytest.fixture(scope="module")
def pre_authorized(fleet: Fleet) -> tuple[Tx, int]:
    """A remote start on CONF-4 connector 2 with AuthorizeRemoteTxRequests false (restored to
    true once it started); the transaction and where the recording stood before."""
    csms, identity = fleet.csms, "CONF-4"
    change = {"key": "AuthorizeRemoteTxRequests", "value": "false"}
    assert csms.call(identity, "ChangeConfiguration", change) == {"status": "Accepted"}
    since = csms.mark()
    try:
        tx = remote_start(csms, identity, 2, "PRE-AUTHORIZED")
    finally:
        change["value"] = "true"
        assert csms.call(identity, "ChangeConfiguration", change) == {"status": "Accepted"}
    return tx, since


def test_remote_start_without_authorize_when_not_required(
    csms: CsmsHarness, pre_authorized: tuple[Tx, int]
) -> None:
    """§5.11: AuthorizeRemoteTxRequests false: the idTag is not authorized first."""
    tx, since = pre_authorized
    preparing = wait_status(csms, tx.identity, tx.connector, "Preparing", since)
    assert preparing.seq < tx.start.seq
    asked = [
        f for f in csms.calls(tx.identity, "Authorize", since) if f.payload["idTag"] == tx.id_tag
    ]
    assert asked == []


def test_change_meter_value_sample_interval_paces_the_samples(
    csms: CsmsHarness, pre_authorized: tuple[Tx, int]
) -> None:
    tx, _since = pre_authorized
    before = periodic_samples(csms, tx, tx.start.at, 4)
    change = {"key": "MeterValueSampleInterval", "value": "2"}
    answer, at = call_at(csms, tx.identity, "ChangeConfiguration", change)
    try:
        assert answer == {"status": "Accepted"}
        after = periodic_samples(csms, tx, at, 3)
    finally:
        change["value"] = "1"
        assert csms.call(tx.identity, "ChangeConfiguration", change) == {"status": "Accepted"}
    # Sample timestamps are the instants they were due: 1 s apart, then 2 s (more only if the
    # process fell behind by a whole interval and restarted the grid).
    assert statistics.median(gaps(before)) < 1.5, gaps(before)
    assert min(gaps(after)) >= 1.99, gaps(after)


# -- §5.11 RemoteStartTransaction, §5.12 RemoteStopTransaction ----------------------------------


def test_remote_start_and_stop_follow_the_transaction_flow(csms: CsmsHarness) -> None:
    identity, tag = "CONF-1", "REMOTE-FLOW"
    assert last_status(csms, identity, 1) == "Available"
    since = csms.mark()
    tx = remote_start(csms, identity, 1, tag)
    preparing = wait_status(csms, identity, 1, "Preparing", since)
    authorize = csms.wait_for(identity, "Authorize", lambda p: p["idTag"] == tag, since=since)
    charging = wait_status(csms, identity, 1, "Charging", since)
    begin = csms.wait_for(
        identity,
        "MeterValues",
        lambda p: (
            p.get("transactionId") == tx.transaction_id and contexts(p) == {"Transaction.Begin"}
        ),
        since=since,
    )
    # AuthorizeRemoteTxRequests is true by default: Preparing, Authorize, StartTransaction.
    assert preparing.seq < authorize.seq < tx.start.seq < charging.seq
    assert tx.start.seq < begin.seq
    periodic = wait_meter(csms, tx, sample_time(begin))
    assert max(samples(periodic.payload, "Power.Active.Import")) > 0
    busy = {"connectorId": 1, "idTag": "ANOTHER"}
    assert csms.call(identity, "RemoteStartTransaction", busy) == {"status": "Rejected"}

    since = csms.mark()
    stop = remote_stop(csms, tx)
    assert stop.payload["reason"] == "Remote"
    assert stop.payload["idTag"] == tag
    assert stop.payload["meterStop"] > tx.start.payload["meterStart"]
    finishing = wait_status(csms, identity, 1, "Finishing", since)  # the EV is still plugged in
    assert finishing.seq > stop.seq


def test_remote_stop_of_an_unknown_transaction_is_rejected(csms: CsmsHarness) -> None:
    answer = csms.call("CONF-1", "RemoteStopTransaction", {"transactionId": NO_SUCH_TRANSACTION})
    assert answer == {"status": "Rejected"}


def test_remote_start_refused_by_the_csms_does_not_start(csms: CsmsHarness) -> None:
    identity, tag = "CONF-1", "REMOTE-INVALID"

    def invalid(_identity: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        return {"idTagInfo": {"status": "Invalid"}} if payload["idTag"] == tag else None

    assert last_status(csms, identity, 2) == "Available"
    since = csms.mark()
    with csms.override("Authorize", invalid):
        request = {"connectorId": 2, "idTag": tag}
        assert csms.call(identity, "RemoteStartTransaction", request) == {"status": "Accepted"}
        wait_status(csms, identity, 2, "Preparing", since)
        authorize = csms.wait_for(identity, "Authorize", lambda p: p["idTag"] == tag, since=since)
        assert csms.answer_to(authorize).payload == {"idTagInfo": {"status": "Invalid"}}
        # The driver gives up ([auth] connection_timeout_s) and unplugs.
        available = wait_status(csms, identity, 2, "Available", authorize.seq)
    starts = csms.calls(identity, "StartTransaction", since)
    assert [f for f in starts if f.seq < available.seq] == []


# -- §5.2 ChangeAvailability ----------------------------------------------------------------------


def change_availability(csms: CsmsHarness, identity: str, connector: int, kind: str) -> str:
    answer = csms.call(identity, "ChangeAvailability", {"connectorId": connector, "type": kind})
    status: str = answer["status"]
    return status


def test_change_availability_of_a_connector(csms: CsmsHarness) -> None:
    identity = "CONF-1"
    assert last_status(csms, identity, 2) == "Available"
    since = csms.mark()
    try:
        assert change_availability(csms, identity, 2, "Inoperative") == "Accepted"
        wait_status(csms, identity, 2, "Unavailable", since)
        # Unavailable: a remote start there is refused.
        request = {"connectorId": 2, "idTag": "WHILE-UNAVAILABLE"}
        assert csms.call(identity, "RemoteStartTransaction", request) == {"status": "Rejected"}
    finally:
        since = csms.mark()
        assert change_availability(csms, identity, 2, "Operative") == "Accepted"
    wait_status(csms, identity, 2, "Available", since)


def test_change_availability_of_the_whole_charger(csms: CsmsHarness) -> None:
    identity = "CONF-1"
    free = [c for c in (1, 2) if last_status(csms, identity, c) == "Available"]
    since = csms.mark()
    try:
        assert change_availability(csms, identity, 0, "Inoperative") == "Accepted"
        wait_status(csms, identity, 0, "Unavailable", since)
        for connector in free:
            wait_status(csms, identity, connector, "Unavailable", since)
    finally:
        since = csms.mark()
        assert change_availability(csms, identity, 0, "Operative") == "Accepted"
    wait_status(csms, identity, 0, "Available", since)
    for connector in free:
        wait_status(csms, identity, connector, "Available", since)


def test_change_availability_during_a_transaction_is_scheduled(csms: CsmsHarness) -> None:
    """§5.2: Scheduled while a transaction runs; Unavailable once it has ended (the metronome's
    EV leaves on its own after session_s)."""
    since = csms.mark()
    start = csms.wait_for(TICK, "StartTransaction", since=since, timeout=30)
    tx_id = transaction_id(csms, start)
    try:
        answer = csms.send_frame(
            TICK, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}
        )
        assert answer.payload == {"status": "Scheduled"}
        stop = csms.wait_for(
            TICK, "StopTransaction", lambda p: p["transactionId"] == tx_id, since=start.seq
        )
        assert stop.payload["reason"] == "EVDisconnected"
        unavailable = wait_status(csms, TICK, 1, "Unavailable", answer.seq)
        assert unavailable.seq > stop.seq  # not before the transaction ended
    finally:
        since = csms.mark()
        assert change_availability(csms, TICK, 1, "Operative") == "Accepted"
    wait_status(csms, TICK, 1, "Available", since)


def test_a_planned_session_runs_its_course(csms: CsmsHarness) -> None:
    """The metronome's own sessions: the charger-initiated flow of §4 end to end."""
    preparing = wait_status(csms, TICK, 1, "Preparing", csms.mark(), timeout=30)
    authorize = csms.wait_for(TICK, "Authorize", since=preparing.seq)
    start = csms.wait_for(
        TICK,
        "StartTransaction",
        lambda p: p["idTag"] == authorize.payload["idTag"],
        since=authorize.seq,
    )
    tx_id = transaction_id(csms, start)
    wait_status(csms, TICK, 1, "Charging", start.seq)
    stop = csms.wait_for(
        TICK, "StopTransaction", lambda p: p["transactionId"] == tx_id, since=start.seq, timeout=30
    )
    assert stop.payload["reason"] == "EVDisconnected"
    assert {s["context"] for s in stop.payload["transactionData"][0]["sampledValue"]} == {
        "Transaction.End"
    }
    wait_status(csms, TICK, 1, "Available", stop.seq)
    meter = [f for f in csms.calls(TICK, "MeterValues", start.seq) if f.seq < stop.seq]
    assert [f for f in meter if f.payload.get("transactionId") != tx_id] == []
    assert {"Transaction.Begin", "Sample.Periodic"} <= set().union(
        *(contexts(f.payload) for f in meter)
    )


# -- §5.13 Reset, §5.18 UnlockConnector -----------------------------------------------------------


def test_reset_stops_the_transaction_and_boots_again(csms: CsmsHarness) -> None:
    """Soft on CONF-3 and Hard on CONF-4 at the same time (each reboot takes 15 s)."""
    txs = {
        "Soft": remote_start(csms, "CONF-3", 1, "RESET-SOFT"),
        "Hard": remote_start(csms, "CONF-4", 1, "RESET-HARD"),
    }
    since = csms.mark()
    for kind, tx in txs.items():
        assert csms.call(tx.identity, "Reset", {"type": kind}) == {"status": "Accepted"}
    for kind, tx in txs.items():
        stop = stop_of(csms, tx, since)
        assert stop.payload["reason"] == f"{kind}Reset"
        closed = csms.wait_closed(tx.identity, since)
        assert closed.seq > stop.seq  # the stop went out before the reboot
        boot = csms.wait_for(
            tx.identity, "BootNotification", since=closed.seq, timeout=REBOOT_WAIT_S
        )
        assert boot.connection != stop.connection  # on a new connection
        for connector in (0, 1, 2):
            wait_status(csms, tx.identity, connector, "Available", boot.seq)


def test_unlock_connector_stops_its_transaction(csms: CsmsHarness) -> None:
    tx = remote_start(csms, "CONF-3", 2, "UNLOCK")
    since = csms.mark()
    assert csms.call(tx.identity, "UnlockConnector", {"connectorId": 2}) == {"status": "Unlocked"}
    stop = stop_of(csms, tx, since)
    assert stop.payload["reason"] == "UnlockCommand"
    assert wait_status(csms, tx.identity, 2, "Finishing", since).seq > stop.seq


# -- §5.17 TriggerMessage, §5.6 DataTransfer, §5.4 ClearCache, unknown actions -------------------


@pytest.mark.parametrize(
    ("requested", "connector", "expected"),
    [
        ("BootNotification", None, lambda p: True),
        ("DiagnosticsStatusNotification", None, lambda p: p == {"status": "Idle"}),
        ("FirmwareStatusNotification", None, lambda p: p == {"status": "Idle"}),
        ("Heartbeat", None, lambda p: p == {}),
        (
            "MeterValues",
            1,
            lambda p: p["connectorId"] == 1 and contexts(p) == {"Trigger"},
        ),
        ("StatusNotification", 2, lambda p: p["connectorId"] == 2),
        ("StatusNotification", None, lambda p: p["connectorId"] == 0),
    ],
)
def test_trigger_message_sends_the_message_after_its_answer(
    csms: CsmsHarness, requested: str, connector: int | None, expected: Callable[[Any], bool]
) -> None:
    request: dict[str, Any] = {"requestedMessage": requested}
    if connector is not None:
        request["connectorId"] = connector
    answer = csms.send_frame("CONF-1", "TriggerMessage", request)
    assert answer.payload == {"status": "Accepted"}
    csms.wait_for("CONF-1", requested, expected, since=answer.seq)


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        ({"requestedMessage": "StatusNotification", "connectorId": 9}, "Rejected"),
        ({"requestedMessage": "NoSuchMessage"}, "NotImplemented"),
    ],
)
def test_trigger_message_refused(csms: CsmsHarness, request_: dict[str, Any], status: str) -> None:
    assert csms.call("CONF-1", "TriggerMessage", request_) == {"status": status}


def test_data_transfer_to_an_unknown_vendor(csms: CsmsHarness) -> None:
    request = {"vendorId": "org.example.conformance", "messageId": "ping", "data": "1"}
    assert csms.call("CONF-1", "DataTransfer", request) == {"status": "UnknownVendorId"}


def test_clear_cache(csms: CsmsHarness) -> None:
    assert csms.call("CONF-1", "ClearCache", {}) == {"status": "Accepted"}


def test_an_unknown_action_is_not_implemented(csms: CsmsHarness) -> None:
    answer = csms.send("CONF-1", "NoSuchAction", {})
    assert isinstance(answer, CallError)
    assert answer.code == "NotImplemented"


def test_a_known_action_not_simulated_yet_is_not_supported(csms: CsmsHarness) -> None:
    pending = sorted(KNOWN_CSMS_ACTIONS - _HANDLERS.keys())
    if not pending:
        pytest.skip("every OCPP 1.6 CSMS action has a handler")
    answer = csms.send("CONF-1", pending[0], {})
    assert isinstance(answer, CallError)
    assert answer.code == "NotSupported", pending[0]


# -- §5.15 SendLocalList, §5.10 GetLocalListVersion ----------------------------------------------


def test_send_local_list_full_then_differential(csms: CsmsHarness) -> None:
    identity = "CONF-2"

    def version() -> int:
        value: int = csms.call(identity, "GetLocalListVersion", {})["listVersion"]
        return value

    full = {
        "listVersion": 10,
        "updateType": "Full",
        "localAuthorizationList": [
            {"idTag": "LOCAL-1", "idTagInfo": {"status": "Accepted"}},
            {"idTag": "LOCAL-2", "idTagInfo": {"status": "Blocked"}},
        ],
    }
    assert csms.call(identity, "SendLocalList", full) == {"status": "Accepted"}
    assert version() == 10
    differential = {
        "listVersion": 11,
        "updateType": "Differential",
        "localAuthorizationList": [
            {"idTag": "LOCAL-3", "idTagInfo": {"status": "Accepted"}},
            {"idTag": "LOCAL-1"},  # no idTagInfo: removed
        ],
    }
    assert csms.call(identity, "SendLocalList", differential) == {"status": "Accepted"}
    assert version() == 11
    stale = {"listVersion": 11, "updateType": "Differential"}
    assert csms.call(identity, "SendLocalList", stale) == {"status": "VersionMismatch"}
    assert version() == 11


# -- §3.13 smart charging: SetChargingProfile, ClearChargingProfile, GetCompositeSchedule ---------


def test_tx_profile_caps_the_power_until_cleared(csms: CsmsHarness) -> None:
    limit_a, identity = 6.0, "CONF-2"
    tx = remote_start(csms, identity, 1, "SMART-TX")
    before = wait_meter(csms, tx, tx.start.at)
    assert max(samples(before.payload, "Power.Active.Import")) > limit_a * PHASES * VOLTAGE_V
    request = {
        "connectorId": 1,
        "csChargingProfiles": profile(61, "TxProfile", limit_a, transactionId=tx.transaction_id),
    }
    answer, at = call_at(csms, identity, "SetChargingProfile", request)
    try:
        assert answer == {"status": "Accepted"}
        assert_capped(wait_meter(csms, tx, at), limit_a)
        composite = csms.call(
            identity,
            "GetCompositeSchedule",
            {"connectorId": 1, "duration": 300, "chargingRateUnit": "A"},
        )
        assert composite["status"] == "Accepted"
        assert composite["connectorId"] == 1
        schedule = composite["chargingSchedule"]
        assert schedule["chargingRateUnit"] == "A"
        assert schedule["chargingSchedulePeriod"][0] == {"startPeriod": 0, "limit": limit_a}
    finally:
        cleared, at = call_at(csms, identity, "ClearChargingProfile", {"id": 61})
    assert cleared == {"status": "Accepted"}
    rises = wait_meter(csms, tx, at)
    assert max(samples(rises.payload, "Power.Active.Import")) > 1.2 * limit_a * PHASES * VOLTAGE_V
    remote_stop(csms, tx)


def test_default_and_charge_point_max_profiles_cap_the_power(csms: CsmsHarness) -> None:
    identity = "CONF-2"
    default = {"connectorId": 2, "csChargingProfiles": profile(62, "TxDefaultProfile", 8.0)}
    assert csms.call(identity, "SetChargingProfile", default) == {"status": "Accepted"}
    try:
        tx = remote_start(csms, identity, 2, "SMART-DEFAULT")
        assert_capped(wait_meter(csms, tx, tx.start.at), 8.0)
    finally:
        cleared, at = call_at(csms, identity, "ClearChargingProfile", {"id": 62})
    assert cleared == {"status": "Accepted"}
    rises = wait_meter(csms, tx, at)
    assert max(samples(rises.payload, "Power.Active.Import")) > 1.2 * 8.0 * PHASES * VOLTAGE_V

    # §3.13.1: ChargePointMaxProfile, on connector 0 only, with a fixed start.
    started = now_iso()
    cp_max = profile(63, "ChargePointMaxProfile", 10.0, startSchedule=started)
    on_connector = {"connectorId": 2, "csChargingProfiles": cp_max}
    assert csms.call(identity, "SetChargingProfile", on_connector) == {"status": "Rejected"}
    answer, at = call_at(
        csms, identity, "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": cp_max}
    )
    try:
        assert answer == {"status": "Accepted"}
        assert_capped(wait_meter(csms, tx, at), 10.0)
        composite = csms.call(identity, "GetCompositeSchedule", {"connectorId": 0, "duration": 60})
        assert composite["status"] == "Accepted"
        assert composite["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 10.0
    finally:
        cleared, at = call_at(csms, identity, "ClearChargingProfile", {"id": 63})
    assert cleared == {"status": "Accepted"}
    rises = wait_meter(csms, tx, at)
    assert max(samples(rises.payload, "Power.Active.Import")) > 1.2 * 10.0 * PHASES * VOLTAGE_V
    remote_stop(csms, tx)


def test_a_profile_in_an_unsupported_unit_is_rejected(csms: CsmsHarness) -> None:
    """§9.4.2: ChargingScheduleAllowedChargingRateUnit is Current: a profile in W is refused."""
    allowed = configuration(csms, "CONF-2", "ChargingScheduleAllowedChargingRateUnit")
    assert allowed["ChargingScheduleAllowedChargingRateUnit"]["value"] == "Current"
    watts = profile(64, "TxDefaultProfile", 4000.0)
    watts["chargingSchedule"]["chargingRateUnit"] = "W"
    request = {"connectorId": 1, "csChargingProfiles": watts}
    assert csms.call("CONF-2", "SetChargingProfile", request) == {"status": "Rejected"}


# -- over the whole module ------------------------------------------------------------------------

#: What any 1.6 charger sends in a run with transactions (the metronome alone sends all of them).
CORE_SENT = (
    "BootNotification",
    "StatusNotification",
    "Heartbeat",
    "Authorize",
    "StartTransaction",
    "MeterValues",
    "StopTransaction",
)


def test_every_message_exchanged_was_valid(fleet: Fleet) -> None:
    """Last: zero schema violations over everything the chargers sent and answered."""
    csms = fleet.csms
    for action in CORE_SENT:
        csms.wait_for(None, action, timeout=30)
    frames = csms.messages()
    sent = Counter(f.action for f in frames if f.direction == "in" and f.kind == "CALL")
    answered = Counter(
        f"{f.action} {f.kind}"
        for f in frames
        if f.kind in ("CALLRESULT", "CALLERROR") and f.direction == "in"
    )
    print("charger CALLs:", dict(sorted(sent.items())))
    print("charger answers:", dict(sorted(answered.items())))
    assert csms.violations == []
    assert csms.own_violations == []
    assert [f for f in frames if f.kind == "BAD"] == []
    assert set(CORE_SENT) <= set(sent)
    replies = {
        (f.identity, f.unique_id) for f in frames if f.direction == "in" and f.kind != "CALL"
    }
    ours = [f for f in frames if f.direction == "out" and f.kind == "CALL"]
    assert [f for f in ours if (f.identity, f.unique_id) not in replies] == []
    # Both runs still going: nothing crashed, and none ended by duration (dormant visits).
    assert [p.poll() for p in fleet.processes] == [None, None], fleet.output()
