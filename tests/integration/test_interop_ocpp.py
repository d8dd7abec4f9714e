"""simfleet against an independent CSMS: the `ocpp` package's own 1.6 ChargePoint (server side).

One bounded run (30 chargers, 1 worker, 10 s, short intervals so every Core message flows) is
shared by the tests below; each checks one side of it: simfleet's report, and what the CSMS,
which validates every CALL against the official schemas, recorded on the wire.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import pytest
from ocpp_csms import INDEPENDENT_HEARTBEAT_S, FleetRun, independent_csms_run

pytestmark = pytest.mark.timeout(120)

CORE_ACTIONS = (
    "BootNotification",
    "StatusNotification",
    "Authorize",
    "StartTransaction",
    "MeterValues",
    "StopTransaction",
    "Heartbeat",
)
#: Every CALL a 1.6 charger may send that this CSMS has a handler for.
HANDLED_ACTIONS = {*CORE_ACTIONS, "DataTransfer"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> FleetRun:
    return independent_csms_run(tmp_path_factory)


def parse_ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def calls_of(run: FleetRun, action: str) -> list[dict[str, Any]]:
    return [c for c in run.recording.calls if c["action"] == action]


def test_run_completes_cleanly_against_the_ocpp_package_csms(run: FleetRun) -> None:
    assert run.result.returncode == 0, run.output()
    report = run.report
    assert report["chargers"] == {
        "planned": run.chargers,
        "connected_max": run.chargers,
        "booted": run.chargers,
    }, run.output()
    assert report["errors"] == {}, "CALLERRORs from the ocpp package's CSMS: " + run.output()
    assert report["timeouts"] == 0, run.output()
    assert report["malformed"] == {}, run.output()
    assert report["connection_failures"] == {}, run.output()
    assert report["connections"]["opened"] == run.chargers
    assert report["connections"]["dropped"] == 0
    messages = report["messages"]
    for action in CORE_ACTIONS:
        assert messages.get(action, {}).get("ok", 0) > 0, f"no {action} answered: {messages}"
    for action, row in messages.items():
        assert (row["errors"], row["timeouts"], row["lost"]) == (0, 0, 0), (action, row)


def test_the_ocpp_package_accepted_every_call(run: FleetRun) -> None:
    """Its ChargePoint validates each CALL against the 1.6 schemas: a violation is a CALLERROR."""
    recording = run.recording
    errors = [(c["action"], c["error"], c["raw"]) for c in recording.call_errors()]
    assert errors == [], f"{len(errors)} CALLs refused, e.g. {errors[:5]}"
    assert recording.unexpected == [], recording.unexpected[:5]
    assert set(recording.counts()) <= HANDLED_ACTIONS, recording.counts()
    unanswered = [c["raw"] for c in recording.calls if "response" not in c]
    assert unanswered == [], unanswered[:5]


def test_csms_recorded_what_the_report_counts(run: FleetRun) -> None:
    """What the CSMS received matches simfleet's per-action ok counts.

    A CALL is counted ok once its answer arrived, so the CSMS has seen at least as many; it may
    have seen more only for CALLs in flight when the connections closed, at most one per
    charger. simfleet waits for those before closing, so in practice the counts are equal.
    """
    recorded = run.recording.counts()
    messages = run.report["messages"]
    ok = Counter({action: row["ok"] for action, row in messages.items()})
    assert set(recorded) == set(ok), (recorded, ok)
    extra = 0
    for action in recorded:
        assert recorded[action] >= ok[action], (action, recorded[action], ok[action])
        assert recorded[action] <= messages[action]["sent"] + run.chargers
        extra += recorded[action] - ok[action]
    assert extra <= run.chargers, (recorded, ok)


def test_every_charger_connects_once_speaks_ocpp16_and_boots_first(run: FleetRun) -> None:
    recording = run.recording
    expected = {f"SF-{index:06d}" for index in range(1, run.chargers + 1)}
    identities = [c["identity"] for c in recording.connections]
    assert sorted(identities) == sorted(expected)  # one connection each, no reconnects
    for connection in recording.connections:
        assert connection["subprotocol"] == "ocpp1.6", connection
        assert connection["path"] == "/ocpp/" + connection["identity"], connection
    by_connection: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for call in recording.calls:
        by_connection[call["connection"]].append(call)
    assert len(by_connection) == run.chargers
    for calls in by_connection.values():
        assert calls[0]["action"] == "BootNotification", calls[0]
        assert [c["action"] for c in calls].count("BootNotification") == 1
        ids = [c["unique_id"] for c in calls]
        assert len(set(ids)) == len(ids), "message ids repeat on one connection"
        assert all(0 < len(i) <= 36 for i in ids), ids
        assert calls[0]["payload"]["chargePointSerialNumber"] == calls[0]["identity"]


def test_heartbeat_interval_of_the_boot_answer_is_used(run: FleetRun) -> None:
    """The CSMS says interval=3, the scenario 2: §4.2 says the charger uses the CSMS's."""
    assert INDEPENDENT_HEARTBEAT_S != 2
    beats: dict[str, list[float]] = defaultdict(list)
    boots: dict[str, float] = {}
    for call in run.recording.calls:
        if call["action"] == "Heartbeat":
            beats[call["identity"]].append(call["at"])
        elif call["action"] == "BootNotification":
            assert call["response"]["interval"] == INDEPENDENT_HEARTBEAT_S
            boots[call["identity"]] = call["at"]
    assert set(beats) == set(boots), "some chargers never sent a Heartbeat"
    floor = INDEPENDENT_HEARTBEAT_S - 0.5  # a beat can be held back by a CALL in flight
    for identity, times in beats.items():
        gaps = [b - a for a, b in zip([boots[identity], *times], times, strict=False)]
        assert min(gaps) >= floor, (identity, gaps)
        assert max(gaps[1:], default=INDEPENDENT_HEARTBEAT_S) <= INDEPENDENT_HEARTBEAT_S + 1.0


def test_transactions_are_consistent_on_the_csms_side(run: FleetRun) -> None:
    """Every transaction the CSMS opened is stopped once, by its charger, with sane meters."""
    started: dict[int, dict[str, Any]] = {}
    for call in calls_of(run, "StartTransaction"):
        transaction_id = call["response"]["transactionId"]
        assert transaction_id not in started, "the CSMS issued a transactionId twice"
        started[transaction_id] = call
    assert started
    stopped: dict[int, dict[str, Any]] = {}
    for call in calls_of(run, "StopTransaction"):
        payload = call["payload"]
        transaction_id = payload["transactionId"]
        assert transaction_id in started, f"unknown transaction stopped: {call['raw']}"
        assert transaction_id not in stopped, f"transaction stopped twice: {call['raw']}"
        start = started[transaction_id]
        assert call["identity"] == start["identity"], "stopped by another charger"
        assert payload["idTag"] == start["payload"]["idTag"]
        assert payload["meterStop"] >= start["payload"]["meterStart"]
        assert parse_ts(payload["timestamp"]) >= parse_ts(start["payload"]["timestamp"])
        stopped[transaction_id] = call

    for call in calls_of(run, "MeterValues"):
        payload = call["payload"]
        transaction_id = payload["transactionId"]
        start = started.get(transaction_id)
        assert start is not None, f"meter values of an unknown transaction: {call['raw']}"
        assert call["identity"] == start["identity"]
        assert payload["connectorId"] == start["payload"]["connectorId"]
        low = start["payload"]["meterStart"]
        stop = stopped.get(transaction_id)
        high = stop["payload"]["meterStop"] if stop else float("inf")
        for meter_value in payload["meterValue"]:
            for sample in meter_value["sampledValue"]:
                if sample.get("measurand") != "Energy.Active.Import.Register":
                    continue
                value = float(sample["value"])
                assert low <= value <= high, (value, low, high, call["raw"])

    # The run's end lets every EV leave: no transaction may stay open on the CSMS.
    never_stopped = [started[t] for t in sorted(set(started) - set(stopped))]
    assert never_stopped == [], [
        f"{t['identity']} {t['raw']} -> {t['response']}" for t in never_stopped[:3]
    ]


def test_timestamps_are_current(run: FleetRun) -> None:
    """Charger and CSMS share the host clock: a timestamp is within moments of its arrival."""
    late: list[tuple[float, str]] = []
    for call in run.recording.calls:
        payload = call["payload"]
        stamps = [payload["timestamp"]] if "timestamp" in payload else []
        stamps += [mv["timestamp"] for mv in payload.get("meterValue", [])]
        for stamp in stamps:
            age = call["at"] - parse_ts(stamp)
            if not -0.05 <= age <= 2.0:
                late.append((round(age, 3), call["raw"]))
    assert late == [], late[:5]


def test_every_authorized_plug_in_starts_a_transaction(run: FleetRun) -> None:
    """An Authorize answered Accepted is followed by the StartTransaction for that idTag.

    Only an Authorize in flight when the run ended (the EV left) may stay without one.
    """
    by_identity: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in run.recording.calls:
        by_identity[call["identity"]].append(call)
    unmatched: list[str] = []
    for identity, calls in by_identity.items():
        end = max(c["at"] for c in calls)
        waiting: list[dict[str, Any]] = []
        for call in calls:
            if call["action"] == "Authorize":
                assert call["response"]["idTagInfo"]["status"] == "Accepted"
                waiting.append(call)
            elif call["action"] == "StartTransaction":
                tag = call["payload"]["idTag"]
                match = next((a for a in waiting if a["payload"]["idTag"] == tag), None)
                assert match is not None, f"StartTransaction without Authorize: {call['raw']}"
                waiting.remove(match)
        unmatched += [f"{identity} {a['raw']}" for a in waiting if a["at"] < end - 1.0]
    assert unmatched == [], unmatched[:3]
