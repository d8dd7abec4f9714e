"""A mixed-version fleet against an independent CSMS: the `ocpp` package's v201 and v16
ChargePoints (server side), chosen per connection by subprotocol negotiation (issue 7).

One bounded run (12 chargers, half offering only 1.6, half "2.0.1 then 1.6"; 2 workers; 15 s;
short intervals so every message flows) is shared by the tests below. The CSMS validates every
CALL against the official schemas of the version spoken (a violation is a CALLERROR) and
records every frame both ways; each test checks one side of the run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import write_scenario
from ocpp_csms201 import MixedRun, run_mixed

pytestmark = pytest.mark.timeout(120)

CHARGERS = 12
DURATION_S = 15
#: Deliberately not the scenario's heartbeat_interval_s (2): the boot answer must win.
HEARTBEAT_S = 3
MIXED = f"""
name = "interop-mixed"
seed = 11

[run]
duration_s = {DURATION_S}
workers = 2

[fleet]
chargers = {CHARGERS}
ramp_per_s = 50

[charger]
connectors = 2
heartbeat_interval_s = 2
meter_interval_s = 1
ocpp_mix = {{ "1.6" = 0.5, "2.0.1,1.6" = 0.5 }}

[behaviour]
idle_s = 1
session_s = 3

[timeouts]
call_s = 5
connect_s = 5
unreachable_s = 5
"""
#: What a 2.0.1 station of this build sends (README "OCPP 2.0.1 and 2.1").
ACTIONS_201 = {
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "Authorize",
    "TransactionEvent",
    "MeterValues",
    "NotifyReport",
}
ACTIONS_16 = {
    "BootNotification",
    "StatusNotification",
    "Authorize",
    "StartTransaction",
    "MeterValues",
    "StopTransaction",
    "Heartbeat",
    "DataTransfer",
}

_RUN: list[MixedRun] = []


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> MixedRun:
    if not _RUN:
        tmp: Path = tmp_path_factory.mktemp("interop-201")
        scenario = write_scenario(tmp, MIXED)
        _RUN.append(run_mixed(tmp, scenario, CHARGERS, DURATION_S, HEARTBEAT_S))
    return _RUN[0]


def parse_ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def energy(meter_values: list[dict[str, Any]]) -> list[float]:
    return [
        float(sample["value"])
        for meter_value in meter_values
        for sample in meter_value["sampledValue"]
        if sample.get("measurand", "Energy.Active.Import.Register")
        == "Energy.Active.Import.Register"
        and sample.get("phase") is None
    ]


def test_run_completes_cleanly(run: MixedRun) -> None:
    assert run.result.returncode == 0, run.output()
    report = run.report
    assert report["chargers"] == {
        "planned": CHARGERS,
        "connected_max": CHARGERS,
        "booted": CHARGERS,
    }, run.output()
    assert report["errors"] == {}, "CALLERRORs from the ocpp package's CSMS: " + run.output()
    assert report["timeouts"] == 0, run.output()
    assert report["malformed"] == {}, run.output()
    assert report["connection_failures"] == {}, run.output()
    assert report["connections"]["opened"] == CHARGERS
    assert report["connections"]["dropped"] == 0
    for action, row in report["messages"].items():
        assert (row["errors"], row["timeouts"], row["lost"]) == (0, 0, 0), (action, row)


def test_both_versions_negotiated_by_the_chargers_preference(run: MixedRun) -> None:
    recording = run.recording
    identities = sorted(c["identity"] for c in recording.connections)
    assert identities == [f"SF-{i:06d}" for i in range(1, CHARGERS + 1)]  # once each
    offers = Counter(tuple(c["offered"]) for c in recording.connections)
    assert set(offers) == {("ocpp1.6",), ("ocpp2.0.1", "ocpp1.6")}, offers
    for connection in recording.connections:
        # OCPP-J §3.1.2: the charger's first choice, as this CSMS speaks both.
        assert connection["subprotocol"] == connection["offered"][0], connection
    versions = recording.versions()
    assert set(versions) == {"1.6", "2.0.1"}, versions
    assert min(versions.values()) >= 2, versions


def test_the_ocpp_package_accepted_every_call(run: MixedRun) -> None:
    """Both ChargePoints validate each CALL against their version's schemas: a violation, an
    action the version does not have or one without handler would be a CALLERROR."""
    recording = run.recording
    errors = [(c["version"], c["action"], c["error"], c["raw"]) for c in recording.call_errors()]
    assert errors == [], f"{len(errors)} CALLs refused, e.g. {errors[:5]}"
    assert recording.unexpected == [], recording.unexpected[:5]
    unanswered = [c["raw"] for c in recording.calls if "response" not in c]
    assert unanswered == [], unanswered[:5]
    sent_201 = {c["action"] for c in recording.calls_of("2.0.1")}
    sent_16 = {c["action"] for c in recording.calls_of("1.6")}
    assert sent_201 <= ACTIONS_201, sent_201
    assert sent_16 <= ACTIONS_16, sent_16
    assert {"BootNotification", "Heartbeat", "StatusNotification", "TransactionEvent"} <= sent_201
    assert {"StartTransaction", "StopTransaction", "MeterValues"} <= sent_16


def test_every_frame_is_recorded_on_its_connection(run: MixedRun) -> None:
    recording = run.recording
    directions = Counter(f["direction"] for f in recording.frames)
    charger_calls = len(recording.calls)
    commands = len(recording.commands)
    # Each charger CALL in, its answer out; each CSMS CALL out, its answer in.
    assert directions["received"] == charger_calls + commands
    assert directions["sent"] == charger_calls + commands
    for connection, group in defaultdict_by(recording.frames, "connection").items():
        first = group[0]
        assert first["direction"] == "received", first  # the charger speaks first: its boot
        assert '"BootNotification"' in first["raw"], (recording.connections[connection], first)


def defaultdict_by(rows: list[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    grouped: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(row)
    return grouped


def test_201_stations_answer_the_csmss_commands_validly(run: MixedRun) -> None:
    """GetVariables and GetBaseReport after each 2.0.1 boot: the library validated the answers,
    the report comes as NotifyReport pages."""
    recording = run.recording
    stations = {c["identity"] for c in recording.connections if c["version"] == "2.0.1"}
    by_action = defaultdict_by(recording.commands, "action")
    assert {c["identity"] for c in by_action["GetVariables"]} == stations
    assert {c["identity"] for c in by_action["GetBaseReport"]} == stations
    for command in recording.commands:
        assert command.get("outcome") == "ok", command
    for command in by_action["GetVariables"]:
        (result,) = command["response"]["getVariableResult"]
        assert result["attributeStatus"] == "Accepted", result
        assert result["attributeValue"].isdigit(), result
    reports = recording.calls_of("2.0.1", "NotifyReport")
    for command in by_action["GetBaseReport"]:
        assert command["response"]["status"] == "Accepted", command
        request_id = command["payload"]["requestId"]
        pages = [
            r["payload"]
            for r in reports
            if r["identity"] == command["identity"] and r["payload"]["requestId"] == request_id
        ]
        assert pages, f"no NotifyReport for {command['identity']}"
        assert [p["seqNo"] for p in pages] == list(range(len(pages)))
        assert [p.get("tbc", False) for p in pages] == [True] * (len(pages) - 1) + [False]
        names = {d["component"]["name"] for p in pages for d in p.get("reportData", [])}
        assert "ChargingStation" in names, names


def test_heartbeat_interval_of_the_boot_answer_is_used(run: MixedRun) -> None:
    """B01 (2.0.1) and §4.2 (1.6): the CSMS says interval=3, the scenario 2; the CSMS's wins."""
    beats: dict[str, list[float]] = defaultdict(list)
    boots: dict[str, float] = {}
    for call in run.recording.calls:
        if call["action"] == "Heartbeat":
            beats[call["identity"]].append(call["at"])
        elif call["action"] == "BootNotification":
            assert call["response"]["interval"] == HEARTBEAT_S
            boots[call["identity"]] = call["at"]
    assert set(beats) == set(boots), "some chargers never sent a Heartbeat"
    floor = HEARTBEAT_S - 0.5  # a beat can be held back by a CALL in flight
    for identity, times in beats.items():
        gaps = [b - a for a, b in zip([boots[identity], *times], times, strict=False)]
        assert min(gaps) >= floor, (identity, gaps)
        assert max(gaps[1:], default=HEARTBEAT_S) <= HEARTBEAT_S + 1.0, (identity, gaps)


def test_get_variables_reports_the_heartbeat_interval_in_use(run: MixedRun) -> None:
    """B06: OCPPCommCtrlr.HeartbeatInterval reads what the station runs with: the interval of
    the boot answer (B01: the station uses it), here 3, not the scenario's 2."""
    answers = [
        c["response"]["getVariableResult"][0]
        for c in run.recording.commands
        if c["action"] == "GetVariables"
    ]
    assert answers
    values = Counter(a["attributeValue"] for a in answers)
    assert values == {str(HEARTBEAT_S): len(answers)}, values


def transactions_201(run: MixedRun) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every TransactionEvent per (station, transactionId), in arrival order."""
    events: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for call in run.recording.calls_of("2.0.1", "TransactionEvent"):
        key = (call["identity"], call["payload"]["transactionInfo"]["transactionId"])
        events[key].append(call)
    return events


def test_201_transactions_are_whole(run: MixedRun) -> None:
    """E01-E07: one Started and one Ended per transaction, seqNo from 0 with no gap, in order;
    the run's end lets every EV leave, so none stays open."""
    transactions = transactions_201(run)
    assert len(transactions) >= 4, list(transactions)
    for key, events in transactions.items():
        kinds = [e["payload"]["eventType"] for e in events]
        assert kinds.count("Started") == 1, (key, kinds)
        assert kinds.count("Ended") == 1, (key, kinds)
        assert kinds[0] == "Started" and kinds[-1] == "Ended", (key, kinds)
        seq = [e["payload"]["seqNo"] for e in events]
        assert seq == list(range(len(events))), (key, seq)
        started = events[0]["payload"]
        assert started["idToken"]["idToken"], started
        assert started["evse"]["connectorId"] == 1, started
        ended = events[-1]["payload"]
        assert ended["transactionInfo"].get("stoppedReason"), ended
        for event in events:
            if event["payload"]["eventType"] != "Started" and "evse" in event["payload"]:
                assert event["payload"]["evse"] == started["evse"], (key, event["raw"])


def test_201_updated_events_carry_readings(run: MixedRun) -> None:
    """E02/J02: periodic Updated events carry meterValue; the register never runs back."""
    periodic = 0
    for key, events in transactions_201(run).items():
        registers: list[float] = []
        for event in events:
            payload = event["payload"]
            if payload["triggerReason"] in ("MeterValuePeriodic", "MeterValueClock"):
                assert payload["eventType"] == "Updated", event["raw"]
                assert payload.get("meterValue"), event["raw"]
                periodic += 1
            if payload["eventType"] in ("Started", "Ended"):
                assert payload.get("meterValue"), event["raw"]  # Transaction.Begin / .End
            registers += energy(payload.get("meterValue", []))
        assert registers == sorted(registers), (key, registers)
    assert periodic > 0


def test_201_timestamps_do_not_run_back_within_a_transaction(run: MixedRun) -> None:
    """Events in seqNo order carry non-decreasing timestamps (event and reading stamps)."""
    backwards: list[tuple[tuple[str, str], list[tuple[int, str, str]]]] = []
    for key, events in transactions_201(run).items():
        stamps = [
            (e["payload"]["seqNo"], e["payload"]["triggerReason"], e["payload"]["timestamp"])
            for e in events
        ]
        times = [parse_ts(s[2]) for s in stamps]
        if times != sorted(times):
            backwards.append((key, stamps))
    assert backwards == [], backwards[:3]


def test_16_transactions_pair_up(run: MixedRun) -> None:
    """Each StartTransaction's transactionId is stopped once, by its charger, with sane meters."""
    started: dict[int, dict[str, Any]] = {}
    for call in run.recording.calls_of("1.6", "StartTransaction"):
        transaction_id = call["response"]["transactionId"]
        assert transaction_id not in started, "the CSMS issued a transactionId twice"
        started[transaction_id] = call
    assert started
    stopped: dict[int, dict[str, Any]] = {}
    for call in run.recording.calls_of("1.6", "StopTransaction"):
        payload = call["payload"]
        transaction_id = payload["transactionId"]
        assert transaction_id in started, f"unknown transaction stopped: {call['raw']}"
        assert transaction_id not in stopped, f"transaction stopped twice: {call['raw']}"
        start = started[transaction_id]
        assert call["identity"] == start["identity"], "stopped by another charger"
        assert payload["meterStop"] >= start["payload"]["meterStart"]
        assert parse_ts(payload["timestamp"]) >= parse_ts(start["payload"]["timestamp"])
        stopped[transaction_id] = call
    never_stopped = sorted(set(started) - set(stopped))
    assert never_stopped == [], [started[t]["raw"] for t in never_stopped[:3]]


def test_report_counts_each_version_as_the_csms_saw_it(run: MixedRun) -> None:
    versions = run.report["ocpp_versions"]
    assert set(versions) == {"1.6", "2.0.1"}, versions
    recording = run.recording
    started_201 = [
        c
        for c in recording.calls_of("2.0.1", "TransactionEvent")
        if c["payload"]["eventType"] == "Started"
    ]
    ended_201 = [
        c
        for c in recording.calls_of("2.0.1", "TransactionEvent")
        if c["payload"]["eventType"] == "Ended"
    ]
    expected = {
        "1.6": (
            len(recording.calls_of("1.6", "StartTransaction")),
            len(recording.calls_of("1.6", "StopTransaction")),
        ),
        "2.0.1": (len(started_201), len(ended_201)),
    }
    for version, (started, stopped) in expected.items():
        row = versions[version]
        assert row["transactions_started"] > 0, (version, row)
        assert (row["transactions_started"], row.get("transactions_stopped")) == (
            started,
            stopped,
        ), (version, row)
        # Every CALL a charger sent reached the CSMS (no retries: no error, no timeout).
        assert row["calls"] == len(recording.calls_of(version)), (version, row)
