"""OCPP 1.6J conformance on real sockets: each CSMS command the charger answers, driven from a
test CSMS (csms_harness.py), with its answer, the state change and the follow-up messages.

One module-wide run of three `simfleet run` processes against one harness:

* "CONF-1".."CONF-4" and "EXT-1".."EXT-5" (two runs; fixed model, 2 AC connectors at 22 kW, EVs
  of 11 kW) sit idle: each run's seed is chosen so that every connector has one planned visit
  and none arrives before DORMANT_S, longer than the module takes (`dormant_seed`), so no EV
  arrives by itself, while RemoteStartTransaction still finds a planned driver to plug in
  (sim/agent.py `remote_start`). The EXT run has short `[firmware]` timings and no failures.
  Each test uses connectors of its own (the table below), so the tests do not depend on their
  order.
* "TICK-1", "TICK-2" (1 connector each) are metronomes: an EV every 9 s for 7 s. They give
  transactions that end by themselves (ChangeAvailability Scheduled), the plain charging flow,
  and tokens presented at the charger (local authorization).

    CONF-1  c1 RemoteStart/Stop    c2 RemoteStart refused by Authorize; ChangeAvailability
    CONF-2  c1 TxProfile           c2 TxDefaultProfile, ChargePointMaxProfile (on 0)
    CONF-3  c1 Reset Soft          c2 UnlockConnector
    CONF-4  c1 Reset Hard          c2 AuthorizeRemoteTxRequests false, MeterValueSampleInterval
    EXT-1   c1 ReserveNow + RemoteStart with the reserved idTag
            c2 CancelReservation, expiry, ChangeAvailability ends it; connector 0 refused
    EXT-2   UpdateFirmware (reboots onto the new version)
    EXT-3   GetDiagnostics, GetLog (uploads to an HTTP server of the test), SignedUpdateFirmware
    EXT-4   InstallCertificate / GetInstalledCertificateIds / DeleteCertificate,
            SignChargePointCertificate -> CertificateSigned, ExtendedTriggerMessage
    EXT-5   every known CSMS action with its default payload (Reset last: it reboots)
    TICK-1  ChangeAvailability Scheduled, a planned session
    TICK-2  SendLocalList + LocalPreAuthorize, ClearCache with the cache disabled

Every CALL the chargers send and every CALLRESULT they give is checked against the official
schemas by the harness; the last test asserts that none failed over the whole module.
Offline replay is covered by test_csms_restart.py. New tests: `remote_start`, `wait_status`,
`wait_meter` below; a new run needs its own identity prefix.
"""

from __future__ import annotations

import hashlib
import itertools
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SIMFLEET, stop_process, write_scenario
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from csms_harness import CallError, CsmsHarness, Frame, now_iso
from upload_sink import UploadSink

from simfleet.protocol.ca_root import SIMULATOR_ROOT_PEM
from simfleet.protocol.certificates import simulator_ca
from simfleet.protocol.timefmt import parse_iso_utc
from simfleet.protocol.v16.charger import KNOWN_CSMS_ACTIONS
from simfleet.protocol.v16.commands import (
    DEFAULT_PAYLOADS,
    FIRMWARE_SIGNATURE,
    SIGNING_CERTIFICATE,
)
from simfleet.protocol.v16.smart_charging import VOLTAGE_V
from simfleet.scenario import parse
from simfleet.sim.fleet import plans_for

pytestmark = pytest.mark.timeout(300)

#: Upper bound of the runs; the module ends them (SIGTERM) as soon as its tests are done.
RUN_S = 300
#: No planned EV arrives before this (s after a run's start): the module is done well before.
DORMANT_S = 180
HEARTBEAT_S = 10  # the BootNotification answer's interval
WAIT_S = 15  # generous: the machine may be loaded
#: A Reset keeps the charger offline `reboot_s` (15 s, no scenario key), then it boots again.
REBOOT_WAIT_S = 45
TICK = "TICK-1"
PHASES = 3  # 22 kW AC chargers are 3-phase (sim/fleet.py hardware_of)
EV_POWER_W = 11_000
NO_SUCH_TRANSACTION = 2**31 - 1  # the harness counts transactionIds up from 1001
NO_SUCH_RESERVATION = 2**31 - 1  # the tests count reservationIds up from 501
#: What the planned drivers present (`id_tag` below): a test never does.
PLANNED_TAG = "PLAN"

DORMANT_SCENARIO = """
name = "{name}"
seed = {seed}

[run]
duration_s = {duration}
workers = 1

[fleet]
chargers = {chargers}
ramp_per_s = 50
identity = "{prefix}-{{index}}"

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
id_tag = "{planned}{{index}}"

[auth]
connection_timeout_s = 5 # a refused driver leaves after this

[timeouts]
call_s = 10
connect_s = 5
unreachable_s = 20

[reconnect]
min_s = 0.5
max_s = 2
{extra}"""

#: Short firmware steps (an update takes seconds) and no random failures; an upload attempt
#: outlasts what the upload sink holds a PUT (upload_sink.HOLD_S).
SHORT_FIRMWARE = """
[firmware]
download_s = 1
install_s = 1
reboot_s = 2
download_failure_rate = 0
install_failure_rate = 0
upload_timeout_s = 10
"""

TICK_SCENARIO = """
name = "conformance-metronome"
seed = 1

[run]
duration_s = {duration}
workers = 1

[fleet]
chargers = 2
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


@dataclass(frozen=True)
class DormantRun:
    """A run of idle chargers `PREFIX-1`..`PREFIX-n` whose planned drivers come when asked."""

    name: str
    prefix: str
    chargers: int
    #: A seed found by `dormant_seed` (checked each run; searched again if planning changed).
    seed_hint: int
    extra: str = ""

    @property
    def identities(self) -> tuple[str, ...]:
        return tuple(f"{self.prefix}-{i}" for i in range(1, self.chargers + 1))

    def text(self, url: str, seed: int) -> str:
        # horizon (sim/fleet.py) = duration + 60 = idle_s: exactly one visit per connector.
        return DORMANT_SCENARIO.format(
            name=self.name,
            seed=seed,
            duration=RUN_S,
            chargers=self.chargers,
            prefix=self.prefix,
            url=url,
            idle=RUN_S + 60,
            ev_power=EV_POWER_W,
            planned=PLANNED_TAG,
            extra=self.extra,
        )


REMOTE_RUN = DormantRun("conformance-remote", "CONF", 4, seed_hint=44)
EXTENDED_RUN = DormantRun("conformance-extended", "EXT", 5, seed_hint=1132, extra=SHORT_FIRMWARE)
REMOTE = REMOTE_RUN.identities


def is_dormant(text: str) -> bool:
    """Every connector has a planned visit, and none arrives before DORMANT_S."""
    scenario = parse(text)
    plans = plans_for(scenario, range(1, scenario.chargers + 1))
    return all(
        {v.connector_id for v in plan.visits} == {1, 2}
        and all(v.arrive_s >= DORMANT_S for v in plan.visits)
        for plan in plans
    )


def dormant_seed(run: DormantRun, url: str) -> int:
    """The hint if it still plans dormant visits only, else the first seed that does."""
    if is_dormant(run.text(url, run.seed_hint)):
        return run.seed_hint
    # p = (1/2)**connectors per seed: ~256 tries for 4 chargers, ~1000 for 5, on average.
    for seed in range(1_000_000):
        if is_dormant(run.text(url, seed)):
            return seed
    raise AssertionError(f"{run.name}: no seed plans dormant visits only")


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
            run.prefix: run.text(csms.url, dormant_seed(run, csms.url))
            for run in (REMOTE_RUN, EXTENDED_RUN)
        }
        texts["TICK"] = TICK_SCENARIO.format(duration=RUN_S, url=csms.url, ev_power=EV_POWER_W)
        try:
            for name, text in texts.items():
                process, log = start_run(tmp, name, text)
                fleet.processes.append(process)
                fleet.logs.append(log)
            try:
                for identity in REMOTE_RUN.identities + EXTENDED_RUN.identities:
                    wait_booted(csms, identity, 2)
                for identity in (TICK, "TICK-2"):
                    wait_booted(csms, identity, 1)
            except AssertionError as error:
                raise AssertionError(f"{error}\n{fleet.output()}") from None
            yield fleet
        finally:
            for process in fleet.processes:
                stop_process(process)


@pytest.fixture(scope="module")
def uploads() -> Iterator[UploadSink]:
    """Where diagnostics and logs go: http://127.0.0.1:PORT/<any directory>/."""
    with UploadSink() as sink:
        yield sink


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


def iso_in(seconds: float) -> str:
    """An OCPP dateTime `seconds` from now (UTC, milliseconds)."""
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


#: Sent by the all-actions test before the others: a reservation before its cancel, a remote
#: start before its stop. Reset goes last: it reboots the charger.
_FIRST = ("RemoteStartTransaction", "ReserveNow")
EVERY_ACTION_RESERVATION = 599


def action_order(action: str) -> tuple[int, str]:
    return (0 if action in _FIRST else 2 if action == "Reset" else 1, action)


def default_payload(action: str, uploads: UploadSink) -> dict[str, Any]:
    """commands.py's default payload, completed as the embedded CSMS completes it
    when it sends one (csms.py `complete_payload`: ReserveNow's reservationId and expiryDate,
    the reservation to cancel), and with two choices of ours: uploads go to the test's HTTP
    server (not to port 80 of this machine), firmware updates are due after the run
    (installing one would reboot the charger under the commands that follow)."""
    payload: dict[str, Any] = dict(DEFAULT_PAYLOADS[action])
    if action == "ReserveNow":
        payload |= {"reservationId": EVERY_ACTION_RESERVATION, "expiryDate": iso_in(900)}
    elif action == "CancelReservation":
        payload["reservationId"] = EVERY_ACTION_RESERVATION
    elif action == "GetDiagnostics":
        payload["location"] = f"{uploads.url}/every-action/"
    elif action == "GetLog":
        payload["log"] = {"remoteLocation": f"{uploads.url}/every-action/"}
    elif action == "UpdateFirmware":
        payload["retrieveDate"] = iso_in(3600)
    elif action == "SignedUpdateFirmware":
        payload["firmware"] = {**payload["firmware"], "retrieveDateTime": iso_in(3600)}
    return payload


def test_every_known_action_is_answered(csms: CsmsHarness, uploads: UploadSink) -> None:
    """Every CSMS action of OCPP 1.6 and of the security whitepaper the charger knows, with the
    payload the embedded CSMS would send, gets a CALLRESULT (no NotImplemented / NotSupported,
    nor any other CALLERROR), and every answer validates (the harness checks it)."""
    identity = "EXT-5"
    assert DEFAULT_PAYLOADS.keys() >= KNOWN_CSMS_ACTIONS  # every command has a default
    since = csms.mark()
    answers: dict[str, Frame] = {}
    for action in sorted(KNOWN_CSMS_ACTIONS, key=action_order):
        payload = default_payload(action, uploads)
        if action == "RemoteStopTransaction":  # the one the remote start began (csms.py too)
            start = csms.wait_for(identity, "StartTransaction", since=since)
            payload["transactionId"] = transaction_id(csms, start)
        answers[action] = csms.send_frame(identity, action, payload)
    print({action: frame.payload.get("status", "-") for action, frame in answers.items()})
    assert {a: f.payload for a, f in answers.items() if f.kind != "CALLRESULT"} == {}
    assert answers["RemoteStartTransaction"].payload == {"status": "Accepted"}
    assert answers["RemoteStopTransaction"].payload == {"status": "Accepted"}
    assert answers["Reset"].payload == {"status": "Accepted"}
    assert [v for v in csms.violations if v.startswith(f"{identity}: ")] == []


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


# -- §5.13 ReserveNow, §5.1 CancelReservation (EXT-1) --------------------------------------------

RESERVER = "EXT-1"
_reservation_ids = itertools.count(501)


def reserve(
    csms: CsmsHarness, identity: str, connector: int, id_tag: str, expires_in: float = 300
) -> tuple[int, str, str]:
    """ReserveNow with a fresh reservationId: (that id, the status answered, the expiryDate)."""
    reservation_id = next(_reservation_ids)
    expiry = iso_in(expires_in)
    request = {
        "connectorId": connector,
        "expiryDate": expiry,
        "idTag": id_tag,
        "reservationId": reservation_id,
    }
    status: str = csms.call(identity, "ReserveNow", request)["status"]
    return reservation_id, status, expiry


def cancel(csms: CsmsHarness, identity: str, reservation_id: int) -> str:
    answer = csms.call(identity, "CancelReservation", {"reservationId": reservation_id})
    status: str = answer["status"]
    return status


def test_a_reservation_holds_the_connector_for_its_id_tag(csms: CsmsHarness) -> None:
    """§5.13: Reserved; another idTag may not start there, the reserved one may, and its
    StartTransaction carries the reservationId (§4.8), which ends the reservation."""
    identity, tag, stranger = RESERVER, "RESERVED-1", "SOMEONE-ELSE"
    assert last_status(csms, identity, 1) == "Available"
    since = csms.mark()
    reservation_id, status, _ = reserve(csms, identity, 1, tag)
    assert status == "Accepted"
    reserved = wait_status(csms, identity, 1, "Reserved", since)
    other = {"connectorId": 1, "idTag": stranger}
    assert csms.call(identity, "RemoteStartTransaction", other) == {"status": "Rejected"}

    tx = remote_start(csms, identity, 1, tag)
    preparing = wait_status(csms, identity, 1, "Preparing", reserved.seq)
    assert preparing.seq < tx.start.seq
    assert tx.start.payload["reservationId"] == reservation_id
    assert [
        f for f in csms.calls(identity, since=since) if f.payload.get("idTag") == stranger
    ] == []
    # Used up: nothing left to cancel; and the connector, in use, is Occupied for a new one.
    assert cancel(csms, identity, reservation_id) == "Rejected"
    assert reserve(csms, identity, 1, tag)[1] == "Occupied"
    remote_stop(csms, tx)


def test_cancel_reservation(csms: CsmsHarness) -> None:
    """§5.1: Accepted for an existing reservation (the connector is Available again), Rejected
    for one that does not exist (any more)."""
    identity = RESERVER
    assert last_status(csms, identity, 2) == "Available"
    since = csms.mark()
    reservation_id, status, _ = reserve(csms, identity, 2, "RESERVED-2")
    assert status == "Accepted"
    wait_status(csms, identity, 2, "Reserved", since)
    answer = csms.send_frame(identity, "CancelReservation", {"reservationId": reservation_id})
    assert answer.payload == {"status": "Accepted"}
    wait_status(csms, identity, 2, "Available", answer.seq)
    assert cancel(csms, identity, reservation_id) == "Rejected"
    assert cancel(csms, identity, NO_SUCH_RESERVATION) == "Rejected"


def test_a_reservation_ends_at_its_expiry_date(csms: CsmsHarness) -> None:
    """§5.13 (2): Reserved until the expiryDate, then Available."""
    identity = RESERVER
    assert last_status(csms, identity, 2) == "Available"
    since = csms.mark()
    reservation_id, status, expiry = reserve(csms, identity, 2, "RESERVED-3", expires_in=3)
    assert status == "Accepted"
    reserved = wait_status(csms, identity, 2, "Reserved", since)
    available = wait_status(csms, identity, 2, "Available", reserved.seq)
    ended = parse_iso_utc(available.payload["timestamp"])  # the charger's clock: this machine's
    assert parse_iso_utc(expiry) - 0.01 <= ended < parse_iso_utc(expiry) + 5, expiry
    assert cancel(csms, identity, reservation_id) == "Rejected"


def test_an_unavailable_connector_loses_its_reservation(csms: CsmsHarness) -> None:
    """§5.13 (3): ChangeAvailability Inoperative ends the reservation of the connector."""
    identity = RESERVER
    assert last_status(csms, identity, 2) == "Available"
    since = csms.mark()
    reservation_id, status, _ = reserve(csms, identity, 2, "RESERVED-4")
    assert status == "Accepted"
    reserved = wait_status(csms, identity, 2, "Reserved", since)
    try:
        assert change_availability(csms, identity, 2, "Inoperative") == "Accepted"
        wait_status(csms, identity, 2, "Unavailable", reserved.seq)
        assert cancel(csms, identity, reservation_id) == "Rejected"
    finally:
        answer = csms.send_frame(
            identity, "ChangeAvailability", {"connectorId": 2, "type": "Operative"}
        )
    assert answer.payload == {"status": "Accepted"}
    back = csms.wait_for(identity, "StatusNotification", on_connector(2), since=answer.seq)
    assert back.payload["status"] == "Available"  # not Reserved again


def test_reserve_now_on_connector_zero_is_rejected(csms: CsmsHarness) -> None:
    """§5.13: connector 0 only where ReserveConnectorZeroSupported (§9.3.1), here false; a
    connector the charger does not have is Rejected too. Neither is kept."""
    identity = RESERVER
    key = configuration(csms, identity, "ReserveConnectorZeroSupported")
    assert key["ReserveConnectorZeroSupported"] == {
        "key": "ReserveConnectorZeroSupported",
        "readonly": True,
        "value": "false",
    }
    for connector in (0, 3):
        reservation_id, status, _ = reserve(csms, identity, connector, "RESERVED-0")
        assert status == "Rejected", connector
        assert cancel(csms, identity, reservation_id) == "Rejected"


# -- §5.19 UpdateFirmware, §4.5 FirmwareStatusNotification (EXT-2) -------------------------------


def firmware_status(csms: CsmsHarness, identity: str, status: str, since: int) -> Frame:
    return csms.wait_for(
        identity, "FirmwareStatusNotification", lambda p: p == {"status": status}, since=since
    )


def test_update_firmware_reboots_onto_the_new_version(csms: CsmsHarness) -> None:
    """Downloading -> Downloaded -> (connectors Unavailable) Installing -> the connection
    closes -> BootNotification with the new firmwareVersion -> Installed; then Idle (§4.5)."""
    identity = "EXT-2"
    old = csms.calls(identity, "BootNotification")[-1].payload["firmwareVersion"]
    request = {
        "location": "http://127.0.0.1/firmware/acme-2.1.0.bin",  # simulated: not fetched
        "retrieveDate": now_iso(),
    }
    answer = csms.send_frame(identity, "UpdateFirmware", request)
    assert answer.payload == {}
    downloading = firmware_status(csms, identity, "Downloading", answer.seq)
    downloaded = firmware_status(csms, identity, "Downloaded", downloading.seq)
    installing = firmware_status(csms, identity, "Installing", downloaded.seq)
    for connector in (1, 2):  # §5.19: not in use: Unavailable while installing
        assert wait_status(csms, identity, connector, "Unavailable", downloaded.seq).seq < (
            installing.seq
        )
    closed = csms.wait_closed(identity, installing.seq)
    boot = csms.wait_for(identity, "BootNotification", since=closed.seq, timeout=30)
    assert boot.connection != installing.connection
    assert (old, boot.payload["firmwareVersion"]) == ("simfleet-0.1", "acme-2.1.0")
    installed = firmware_status(csms, identity, "Installed", boot.seq)
    for connector in (0, 1, 2):
        wait_status(csms, identity, connector, "Available", boot.seq)
    statuses = [
        f.payload["status"]
        for f in csms.calls(identity, "FirmwareStatusNotification", answer.seq)
        if f.seq <= installed.seq
    ]
    assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"]

    trigger = {"requestedMessage": "FirmwareStatusNotification"}
    triggered = csms.send_frame(identity, "TriggerMessage", trigger)
    assert triggered.payload == {"status": "Accepted"}
    firmware_status(csms, identity, "Idle", triggered.seq)


# -- §5.9 GetDiagnostics, GetLog, SignedUpdateFirmware (security whitepaper) (EXT-3) -------------

MAINTAINED = "EXT-3"


def log_status(csms: CsmsHarness, status: str, request_id: int, since: int) -> Frame:
    expected = {"status": status, "requestId": request_id}
    return csms.wait_for(MAINTAINED, "LogStatusNotification", lambda p: p == expected, since=since)


def test_get_diagnostics_uploads_the_file(csms: CsmsHarness, uploads: UploadSink) -> None:
    """§5.9: the fileName answered is the file that arrives in the location (a directory);
    DiagnosticsStatusNotification Uploading, then Uploaded once it is there (§4.4)."""
    answer = csms.send_frame(
        MAINTAINED, "GetDiagnostics", {"location": f"{uploads.url}/diagnostics/"}
    )
    name = answer.payload["fileName"]
    uploading = csms.wait_for(
        MAINTAINED, "DiagnosticsStatusNotification", lambda p: p["status"] == "Uploading"
    )
    uploaded = csms.wait_for(
        MAINTAINED,
        "DiagnosticsStatusNotification",
        lambda p: p["status"] != "Uploading",
        since=uploading.seq,
    )
    assert uploading.seq > answer.seq
    assert uploaded.payload == {"status": "Uploaded"}
    upload = uploads.wait_for(f"/diagnostics/{name}")
    assert upload.at <= uploaded.at
    assert f"chargePointIdentity: {MAINTAINED}" in upload.body.decode()

    trigger = {"requestedMessage": "DiagnosticsStatusNotification"}
    triggered = csms.send_frame(MAINTAINED, "TriggerMessage", trigger)
    assert triggered.payload == {"status": "Accepted"}
    after = csms.wait_for(MAINTAINED, "DiagnosticsStatusNotification", since=triggered.seq)
    assert after.payload == {"status": "Idle"}


def test_get_log_uploads_the_file(csms: CsmsHarness, uploads: UploadSink) -> None:
    """GetLog: Accepted with a filename; LogStatusNotification Uploading, Uploaded, both with
    the requestId; the file arrives in the remoteLocation."""
    request = {
        "logType": "SecurityLog",
        "requestId": 71,
        "log": {"remoteLocation": f"{uploads.url}/logs/", "oldestTimestamp": iso_in(-3600)},
    }
    answer = csms.send_frame(MAINTAINED, "GetLog", request)
    assert answer.payload["status"] == "Accepted"
    uploading = log_status(csms, "Uploading", 71, answer.seq)
    uploaded = log_status(csms, "Uploaded", 71, uploading.seq)
    upload = uploads.wait_for(f"/logs/{answer.payload['filename']}")
    assert upload.at <= uploaded.at
    text = upload.body.decode()
    assert "security" in text.splitlines()[0]
    assert f"chargePointIdentity: {MAINTAINED}" in text


def test_a_triggered_log_status_names_the_upload_under_way(
    csms: CsmsHarness, uploads: UploadSink
) -> None:
    """A LogStatusNotification triggered while an upload is under way carries the GetLog's
    requestId; with none under way, Idle without one. (OCPP 2.0.1 LogStatusNotificationRequest,
    which the whitepaper's message follows: the requestId "is mandatory, unless the message was
    triggered by a TriggerMessageRequest AND there is no log upload ongoing"; what
    diagnostics.log_status_payload means to send.)"""
    request = {
        "logType": "DiagnosticsLog",
        "requestId": 72,
        "log": {"remoteLocation": f"{uploads.url}/held/"},
    }
    trigger = {"requestedMessage": "LogStatusNotification"}
    uploads.hold()
    try:
        answer = csms.send_frame(MAINTAINED, "GetLog", request)
        assert answer.payload["status"] == "Accepted"
        uploading = log_status(csms, "Uploading", 72, answer.seq)
        uploads.wait_for(f"/held/{answer.payload['filename']}")  # under way: not answered yet
        triggered = csms.send_frame(MAINTAINED, "ExtendedTriggerMessage", trigger)
        assert triggered.payload == {"status": "Accepted"}
        during = csms.wait_for(MAINTAINED, "LogStatusNotification", since=triggered.seq)
    finally:
        uploads.release()
    uploaded = log_status(csms, "Uploaded", 72, uploading.seq)
    triggered = csms.send_frame(MAINTAINED, "ExtendedTriggerMessage", trigger)
    after = csms.wait_for(MAINTAINED, "LogStatusNotification", since=triggered.seq)
    assert after.payload == {"status": "Idle"}
    assert during.seq < uploaded.seq
    assert during.payload == {"status": "Uploading", "requestId": 72}


def signed_firmware(certificate: str, signature: str, request_id: int) -> dict[str, Any]:
    return {
        "requestId": request_id,
        "firmware": {
            "location": "http://127.0.0.1/firmware/acme-3.0.0.bin",  # simulated: not fetched
            "retrieveDateTime": now_iso(),
            "signingCertificate": certificate,
            "signature": signature,
        },
    }


def signed_firmware_idle(csms: CsmsHarness, identity: str) -> None:
    """ExtendedTriggerMessage FirmwareStatusNotification: no signed update under way."""
    trigger = {"requestedMessage": "FirmwareStatusNotification"}
    triggered = csms.send_frame(identity, "ExtendedTriggerMessage", trigger)
    assert triggered.payload == {"status": "Accepted"}
    status = csms.wait_for(identity, "SignedFirmwareStatusNotification", since=triggered.seq)
    assert status.payload == {"status": "Idle"}


def test_signed_update_firmware_with_a_bad_certificate(csms: CsmsHarness) -> None:
    """InvalidCertificate for a signing certificate that is not an X.509 certificate; no update
    starts."""
    garbage = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    since = csms.mark()
    request = signed_firmware(garbage, FIRMWARE_SIGNATURE, 73)
    answer = csms.call(MAINTAINED, "SignedUpdateFirmware", request)
    assert answer == {"status": "InvalidCertificate"}
    signed_firmware_idle(csms, MAINTAINED)
    sent = csms.calls(MAINTAINED, "SignedFirmwareStatusNotification", since)
    assert [f.payload for f in sent] == [{"status": "Idle"}]


def test_signed_update_firmware_with_a_bad_signature(csms: CsmsHarness) -> None:
    """A signature that cannot be one by the certificate's key (an ECDSA key: a DER sequence)
    is InvalidSignature once downloaded, with the requestId, and nothing is installed."""
    since = csms.mark()
    request = signed_firmware(SIGNING_CERTIFICATE, "AAAA", 74)
    assert csms.call(MAINTAINED, "SignedUpdateFirmware", request) == {"status": "Accepted"}
    csms.wait_for(
        MAINTAINED,
        "SignedFirmwareStatusNotification",
        lambda p: p == {"status": "InvalidSignature", "requestId": 74},
        since=since,
    )
    sent = csms.calls(MAINTAINED, "SignedFirmwareStatusNotification", since)
    assert [f.payload["status"] for f in sent] == ["Downloading", "Downloaded", "InvalidSignature"]
    signed_firmware_idle(csms, MAINTAINED)


# -- Security whitepaper: certificates (M03-M05, A02), ExtendedTriggerMessage (EXT-4) -----------

CERTIFIED = "EXT-4"
ROOTS = {"certificateType": "CentralSystemRootCertificate"}


def hash_data_of(pem: str) -> dict[str, str]:
    """CertificateHashDataType (whitepaper §6.1, OCSP's CertID, RFC 6960) of a self-signed EC
    certificate, SHA256, computed here: the issuer's DER name, the issuer's key bits (for EC
    the X9.62 point), the serial number in hex."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    key_bits = cert.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(key_bits).hexdigest(),
        "serialNumber": f"{cert.serial_number:x}",
    }


def lowered(hash_data: dict[str, str]) -> dict[str, str]:
    """Hex compared case-insensitively (the whitepaper does not fix the case)."""
    return {k: v if k == "hashAlgorithm" else v.lower() for k, v in hash_data.items()}


def test_install_list_and_delete_a_root_certificate(csms: CsmsHarness) -> None:
    """M05 InstallCertificate, M03 GetInstalledCertificateIds, M04 DeleteCertificate."""
    expected = hash_data_of(SIMULATOR_ROOT_PEM)
    assert csms.call(CERTIFIED, "GetInstalledCertificateIds", ROOTS) == {"status": "NotFound"}
    install = {**ROOTS, "certificate": SIMULATOR_ROOT_PEM}
    assert csms.call(CERTIFIED, "InstallCertificate", install) == {"status": "Accepted"}
    leaf = ca_chain(csr_for(CERTIFIED)).split("-----END CERTIFICATE-----")[0]
    end_entity = {**ROOTS, "certificate": leaf + "-----END CERTIFICATE-----\n"}  # CA:FALSE
    assert csms.call(CERTIFIED, "InstallCertificate", end_entity) == {"status": "Rejected"}

    listed = csms.call(CERTIFIED, "GetInstalledCertificateIds", ROOTS)
    assert listed["status"] == "Accepted"
    assert [lowered(h) for h in listed["certificateHashData"]] == [expected]
    manufacturer = {"certificateType": "ManufacturerRootCertificate"}
    assert csms.call(CERTIFIED, "GetInstalledCertificateIds", manufacturer) == {
        "status": "NotFound"
    }

    delete = {"certificateHashData": {**expected, "serialNumber": expected["serialNumber"].upper()}}
    assert csms.call(CERTIFIED, "DeleteCertificate", delete) == {"status": "Accepted"}
    assert csms.call(CERTIFIED, "DeleteCertificate", delete) == {"status": "NotFound"}
    assert csms.call(CERTIFIED, "GetInstalledCertificateIds", ROOTS) == {"status": "NotFound"}


def csr_for(identity: str) -> str:
    """A CSR as the charger makes it (CN its identity, O its CpoName), for a key of our own."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, identity),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "simfleet"),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def ca_chain(csr: str) -> str:
    """The chain (leaf, root) the simulator's CA signs for a CSR, as the embedded CSMS sends it."""
    chain = simulator_ca().sign(csr, time.time())
    assert chain is not None
    return chain


def test_certificate_update_through_the_simulator_ca(csms: CsmsHarness) -> None:
    """A02: ExtendedTriggerMessage SignChargePointCertificate -> SignCertificate with a CSR
    (CN = the charger's identity) -> CertificateSigned: a chain for another key is Rejected
    with an InvalidChargePointCertificate event (A02.FR.07), the chain for its key Accepted."""
    trigger = {"requestedMessage": "SignChargePointCertificate"}
    triggered = csms.send_frame(CERTIFIED, "ExtendedTriggerMessage", trigger)
    assert triggered.payload == {"status": "Accepted"}
    sign = csms.wait_for(CERTIFIED, "SignCertificate", since=triggered.seq)
    assert csms.answer_to(sign).payload == {"status": "Accepted"}  # the harness's default
    csr = x509.load_pem_x509_csr(sign.payload["csr"].encode())
    assert csr.is_signature_valid
    assert [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [CERTIFIED]

    wrong = csms.send_frame(
        CERTIFIED, "CertificateSigned", {"certificateChain": ca_chain(csr_for(CERTIFIED))}
    )
    assert wrong.payload == {"status": "Rejected"}
    event = csms.wait_for(CERTIFIED, "SecurityEventNotification", since=wrong.seq)
    assert event.payload["type"] == "InvalidChargePointCertificate"
    assert "key" in event.payload["techInfo"]

    chain = ca_chain(sign.payload["csr"])
    assert csms.call(CERTIFIED, "CertificateSigned", {"certificateChain": chain}) == {
        "status": "Accepted"
    }
    # One certificate per request: the same chain again is not asked for.
    assert csms.call(CERTIFIED, "CertificateSigned", {"certificateChain": chain}) == {
        "status": "Rejected"
    }


@pytest.mark.parametrize(
    ("requested", "connector", "sent", "expected"),
    [
        ("Heartbeat", None, "Heartbeat", lambda p: p == {}),
        ("StatusNotification", 2, "StatusNotification", lambda p: p["connectorId"] == 2),
        ("MeterValues", 1, "MeterValues", lambda p: contexts(p) == {"Trigger"}),
        ("LogStatusNotification", None, "LogStatusNotification", lambda p: p == {"status": "Idle"}),
        (
            "FirmwareStatusNotification",
            None,
            "SignedFirmwareStatusNotification",
            lambda p: p == {"status": "Idle"},
        ),
    ],
)
def test_extended_trigger_message_sends_the_message_after_its_answer(
    csms: CsmsHarness,
    requested: str,
    connector: int | None,
    sent: str,
    expected: Callable[[Any], bool],
) -> None:
    request: dict[str, Any] = {"requestedMessage": requested}
    if connector is not None:
        request["connectorId"] = connector
    answer = csms.send_frame(CERTIFIED, "ExtendedTriggerMessage", request)
    assert answer.payload == {"status": "Accepted"}
    csms.wait_for(CERTIFIED, sent, expected, since=answer.seq)


def test_extended_trigger_message_for_a_connector_it_does_not_have(csms: CsmsHarness) -> None:
    request = {"requestedMessage": "StatusNotification", "connectorId": 3}
    assert csms.call(CERTIFIED, "ExtendedTriggerMessage", request) == {"status": "Rejected"}


# -- §3.5 local authorization, §5.4 ClearCache, §5.15 SendLocalList (TICK-2) ---------------------


def next_session(csms: CsmsHarness, identity: str, after: float) -> tuple[Frame, Frame]:
    """The metronome's first Preparing stamped after `after` (epoch seconds: a session that
    began under the configuration in force since then), and its StartTransaction."""
    preparing = csms.wait_for(
        identity,
        "StatusNotification",
        lambda p: p["status"] == "Preparing" and parse_iso_utc(p["timestamp"]) > after,
        timeout=30,
    )
    start = csms.wait_for(identity, "StartTransaction", since=preparing.seq)
    return preparing, start


def asked(csms: CsmsHarness, identity: str, preparing: Frame, start: Frame) -> list[Frame]:
    """The Authorize requests of the session between its Preparing and its StartTransaction."""
    return [
        f
        for f in csms.calls(identity, "Authorize", preparing.seq)
        if f.seq < start.seq and f.payload["idTag"] == start.payload["idTag"]
    ]


def test_a_local_list_entry_pre_authorizes_the_driver(csms: CsmsHarness) -> None:
    """§3.5, §9.1.13 LocalPreAuthorize: online, a token the Local Authorization List holds as
    Accepted starts the transaction without an Authorize; once the list drops it (and the
    cache, disabled, cannot vouch for it), the charger asks again. §5.4: ClearCache is Rejected
    while AuthorizationCacheEnabled is false, Accepted again once it is true."""
    identity, tag = "TICK-2", "TICK2"  # the metronome's token ([behaviour] id_tag)

    def change(key: str, value: str) -> float:
        answer, at = call_at(csms, identity, "ChangeConfiguration", {"key": key, "value": value})
        assert answer == {"status": "Accepted"}, key
        return at

    def send_list(update: dict[str, Any]) -> float:
        answer, at = call_at(csms, identity, "SendLocalList", update)
        assert answer == {"status": "Accepted"}
        return at

    change("AuthorizationCacheEnabled", "false")
    try:
        assert csms.call(identity, "ClearCache", {}) == {"status": "Rejected"}
        entry = {"idTag": tag, "idTagInfo": {"status": "Accepted"}}
        send_list({"listVersion": 20, "updateType": "Full", "localAuthorizationList": [entry]})
        at = change("LocalPreAuthorize", "true")
        preparing, start = next_session(csms, identity, at)
        assert start.payload["idTag"] == tag
        assert asked(csms, identity, preparing, start) == []

        removed = [{"idTag": tag}]  # no idTagInfo: removed (§5.15)
        at = send_list(
            {"listVersion": 21, "updateType": "Differential", "localAuthorizationList": removed}
        )
        preparing, start = next_session(csms, identity, at)
        assert [f.payload for f in asked(csms, identity, preparing, start)] == [{"idTag": tag}]
    finally:
        change("LocalPreAuthorize", "false")
        change("AuthorizationCacheEnabled", "true")
    assert csms.call(identity, "ClearCache", {}) == {"status": "Accepted"}


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
    # The dormant runs' premise: no planned driver came by itself (the module took less than
    # DORMANT_S); the drivers remote starts called presented no token of their own.
    planned = [
        (f.identity, f.action)
        for f in frames
        if f.kind == "CALL"
        and f.action in ("Authorize", "StartTransaction")
        and f.payload["idTag"].startswith(PLANNED_TAG)
    ]
    assert planned == []
    # Every run still going: nothing crashed, and none ended by duration.
    assert [p.poll() for p in fleet.processes] == [None] * len(fleet.processes), fleet.output()
