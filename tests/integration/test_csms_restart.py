"""Offline behaviour on real sockets (OCPP-J 1.6 §3.7, OCPP 1.6 §4.7): a CSMS that dies in the
middle of transactions and comes back on the same port, and one that refuses StartTransaction
twice. The CSMS is tests/integration/replay_csms.py, in a process of its own, logging every frame.
"""

from __future__ import annotations

import itertools
import json
import select
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SIMFLEET, stop_process, write_scenario
from ocpp_schemas import violations

CSMS_SCRIPT = Path(__file__).resolve().parent / "replay_csms.py"
TX = ("StartTransaction", "StopTransaction", "MeterValues")
REPLAY_S = 0.3
DOWN_S = 5.0

RESTART_SCENARIO = f"""
name = "offline-restart"
seed = 5

[run]
duration_s = 20
workers = 1

[fleet]
chargers = 2
ramp_per_s = 20

[charger]
connectors = 1
heartbeat_interval_s = 2
meter_interval_s = 1
clock_aligned_s = 0
replay_interval_s = {REPLAY_S}

[behaviour]
idle_s = 1
session_s = 7

[timeouts]
call_s = 5
connect_s = 2
unreachable_s = 5

[reconnect]
min_s = 0.2
max_s = 0.5
factor = 1.5
"""

RETRY_SCENARIO = """
name = "offline-retry"
seed = 2

[run]
duration_s = 10
workers = 1

[fleet]
chargers = 1

[charger]
connectors = 1
heartbeat_interval_s = 2
meter_interval_s = 1
clock_aligned_s = 0

[behaviour]
idle_s = 1
session_s = 6

[timeouts]
call_s = 5
unreachable_s = 5
"""


def start_csms(log: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    """replay_csms.py in a child process; returns it and its port once it listens."""
    errors = log.with_suffix(".stderr")
    with errors.open("a", encoding="utf-8") as sink:
        process = subprocess.Popen(
            [sys.executable, str(CSMS_SCRIPT), "--log", str(log), *args],
            stdout=subprocess.PIPE,
            stderr=sink,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if readable else ""
    process.stdout.close()  # it prints nothing else
    prefix = "replay_csms: listening on ws://127.0.0.1:"
    if not line.startswith(prefix):
        stop_process(process)
        raise AssertionError(f"CSMS did not start: {line!r} {errors.read_text()!r}")
    return process, int(line[len(prefix) :].split("/", 1)[0])


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]  # a kill may cut the last


def calls(log: list[dict[str, Any]], *actions: str) -> list[dict[str, Any]]:
    return [e for e in log if e["kind"] == "call" and (not actions or e["action"] in actions)]


def stamp(call: dict[str, Any]) -> float:
    """When the charger made the message: its timestamp (a reading's, for MeterValues)."""
    payload = call["payload"]
    text = (
        payload["meterValue"][0]["timestamp"] if "meterValue" in payload else payload["timestamp"]
    )
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def transaction_of(call: dict[str, Any], ids: dict[str, int]) -> int | None:
    """The transaction a transaction message belongs to (a Start: the id it was answered)."""
    if call["action"] == "StartTransaction":
        return ids.get(f"{call['identity']}|{call['uid']}|{call['generation']}")
    return int(call["payload"]["transactionId"])


def key(call: dict[str, Any]) -> tuple[str, str, str]:
    return call["identity"], call["action"], json.dumps(call["payload"], sort_keys=True)


def check_schemas(log: list[dict[str, Any]]) -> None:
    for entry in log:
        if entry["kind"] == "call":
            assert violations(entry["action"], entry["payload"]) == [], entry
        elif entry["kind"] == "answer" and entry["frame"][0] == 3:  # the charger's answers
            assert violations(f"{entry['action']}Response", entry["frame"][2]) == [], entry


def run_simfleet(scenario: Path, url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    report = str(tmp_path / "report.json")
    with (tmp_path / "run.log").open("wb") as sink:
        return subprocess.Popen(
            [*SIMFLEET, "run", str(scenario), "--target", url, "--quiet", "--report", report],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def mid_transaction(log_path: Path, chargers: int) -> bool:
    """Every charger has a transaction and at least two periodic readings sent in it."""
    log = read_log(log_path)
    periodic = Counter(
        c["identity"]
        for c in calls(log, "MeterValues")
        if c["payload"]["meterValue"][0]["sampledValue"][0].get("context") == "Sample.Periodic"
    )
    return len(periodic) == chargers and min(periodic.values()) >= 2


@pytest.mark.timeout(90)
def test_a_csms_restart_mid_transaction_loses_nothing_and_replays_paced(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, RESTART_SCENARIO)
    log1, log2 = tmp_path / "csms1.jsonl", tmp_path / "csms2.jsonl"
    csms, port = start_csms(log1, "--first-transaction-id", "1")
    processes: list[subprocess.Popen[str] | subprocess.Popen[bytes]] = [csms]
    run = run_simfleet(scenario, f"ws://127.0.0.1:{port}/ocpp", tmp_path)
    processes.append(run)
    try:
        wait_for(lambda: mid_transaction(log1, 2), 15, "transactions under way")
        csms.kill()  # a crash: no closing handshake, answers on their way may be lost
        csms.wait(timeout=10)
        killed_at = time.time()
        time.sleep(DOWN_S)
        restarted_at = time.time()
        csms2, _ = start_csms(log2, "--port", str(port), "--first-transaction-id", "1000")
        processes.append(csms2)
        assert run.wait(timeout=45) == 0, (tmp_path / "run.log").read_text(errors="replace")
    finally:
        for process in reversed(processes):
            stop_process(process)
    first, second = read_log(log1), read_log(log2)
    for generation, log in ((1, first), (2, second)):
        for entry in log:
            entry["generation"] = generation
    check_schemas(first + second)
    everything = first + second
    identities = {e["identity"] for e in calls(first)}
    assert len(identities) == 2

    # A resumed connection: no new BootNotification (OCPP-J 1.6 §3.7), both chargers back.
    assert len(calls(first, "BootNotification")) == 2
    assert calls(second, "BootNotification") == []
    assert {e["identity"] for e in second if e["kind"] == "connected"} == identities

    # The only message the CSMS may see twice is the one in flight at the crash (its delivery
    # was unknown): the last CALL the first CSMS got from that charger, sent again first. (Among
    # the messages a timestamp makes unique: a Heartbeat or an Authorize of the same token are
    # the same text every time.)
    in_flight = {}
    for identity in identities:
        last = [c for c in calls(first) if c["identity"] == identity][-1]
        in_flight[identity] = key(last)
    copies = Counter(key(c) for c in calls(everything, *TX, "StatusNotification"))
    for (identity, action, payload), count in copies.items():
        if count > 1:
            assert count == 2 and in_flight[identity] == (identity, action, payload), (
                identity,
                action,
                payload,
            )
            resent = next(c for c in calls(second, *TX) if c["identity"] == identity)
            assert key(resent) == (identity, action, payload)

    # Transaction ids as the CSMSs answered them.
    ids: dict[str, int] = {}
    for entry in everything:
        if (
            entry["kind"] == "reply"
            and entry["action"] == "StartTransaction"
            and entry["frame"][0] == 3
        ):
            answer = f"{entry['identity']}|{entry['uid']}|{entry['generation']}"
            ids[answer] = entry["frame"][2]["transactionId"]
    starts = {key(c) for c in calls(everything, "StartTransaction")}
    assert len(starts) >= 4  # both chargers started again after the restart

    for identity in identities:
        mine = [c for c in calls(everything, *TX) if c["identity"] == identity]
        back = [c for c in calls(second, *TX) if c["identity"] == identity]
        connected = min(
            e["at"] for e in second if e["kind"] == "connected" and e["identity"] == identity
        )
        # Made while the CSMS was down (or in flight at the crash): all delivered after the
        # restart, first in line, each its own gap of >= replay_interval_s after the previous.
        backlog = [c for c in back if stamp(c) < connected - 0.05]
        assert len(backlog) >= 3, backlog
        assert back[: len(backlog)] == backlog
        assert any(killed_at < stamp(c) < restarted_at for c in backlog)
        gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(backlog)]
        assert min(gaps) >= 0.8 * REPLAY_S, gaps
        assert backlog[-1]["at"] - backlog[0]["at"] >= (len(backlog) - 1) * REPLAY_S - 0.05
        # Per transaction, in order and nothing missing: readings every meter_interval_s (1 s)
        # right through the outage, energy never going back, one StopTransaction.
        by_tx: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
        for call in mine:
            by_tx[transaction_of(call, ids)].append(call)
        for tx, messages in by_tx.items():
            if all(c["action"] == "StartTransaction" for c in messages):
                # A Start whose answer the crash swallowed (the CSMS may have logged it): it
                # was sent again, and that copy's transaction is the one the charger ran.
                assert tx is None or copies[key(messages[0])] == 2, (tx, messages)
                continue
            stamps = [stamp(c) for c in messages]
            assert stamps == sorted(stamps), (tx, stamps)
            periodic = [
                stamp(c)
                for c in messages
                if c["action"] == "MeterValues"
                and c["payload"]["meterValue"][0]["sampledValue"][0].get("context")
                == "Sample.Periodic"
            ]
            unique = sorted(set(periodic))
            assert all(b - a <= 2.5 for a, b in itertools.pairwise(unique)), unique
            energy = [
                float(v["value"])
                for c in messages
                if c["action"] == "MeterValues"
                for v in c["payload"]["meterValue"][0]["sampledValue"]
                if v.get("measurand") == "Energy.Active.Import.Register"
            ]
            assert energy == sorted(energy), (tx, energy)
            stops = {key(c) for c in messages if c["action"] == "StopTransaction"}
            assert len(stops) == 1, (tx, stops)
            assert messages[-1]["action"] == "StopTransaction"

    # A transaction id the CSMS gave that the charger never used: only for a duplicated Start.
    used = {transaction_of(c, ids) for c in calls(everything, "MeterValues", "StopTransaction")}
    duplicated_starts = {k for k, n in copies.items() if n > 1 and k[1] == "StartTransaction"}
    assert len(set(ids.values()) - used) <= len(duplicated_starts)

    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["transaction_messages_dropped"] == {}
    assert all(report["messages"][action]["lost"] == 0 for action in TX)
    assert report["connections"]["dropped"] >= 2


@pytest.mark.timeout(60)
def test_a_start_refused_twice_is_retried_at_the_configured_interval(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, RETRY_SCENARIO)
    log_path = tmp_path / "csms.jsonl"
    csms, port = start_csms(log_path, "--start-errors", "2", "--retry-interval", "1")
    try:
        run = run_simfleet(scenario, f"ws://127.0.0.1:{port}/ocpp", tmp_path)
        try:
            assert run.wait(timeout=40) == 0, (tmp_path / "run.log").read_text(errors="replace")
        finally:
            stop_process(run)
    finally:
        stop_process(csms)
    log = read_log(log_path)
    check_schemas(log)
    # The CSMS set TransactionMessageRetryInterval = 1 right after the boot: Accepted.
    changes = [e for e in log if e["kind"] == "answer" and e["action"] == "ChangeConfiguration"]
    assert [e["frame"][2] for e in changes] == [{"status": "Accepted"}]
    starts = calls(log, "StartTransaction")[:3]
    replies = {e["uid"]: e["frame"] for e in log if e["kind"] == "reply"}
    assert [replies[s["uid"]][0] for s in starts] == [4, 4, 3]
    assert starts[0]["payload"] == starts[1]["payload"] == starts[2]["payload"]
    # RetryInterval x the failures so far: 1 s, then 2 s (and not much later: it is a timer).
    first_gap, second_gap = starts[1]["at"] - starts[0]["at"], starts[2]["at"] - starts[1]["at"]
    assert 0.95 <= first_gap <= 1.6, first_gap
    assert 1.95 <= second_gap <= 2.6, second_gap
    transaction = replies[starts[2]["uid"]][2]["transactionId"]
    meter = [c for c in calls(log, "MeterValues") if c["payload"]["transactionId"] == transaction]
    assert meter and meter[0]["at"] >= starts[2]["at"]
    stops = [
        c for c in calls(log, "StopTransaction") if c["payload"]["transactionId"] == transaction
    ]
    assert len(stops) == 1
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    start = report["messages"]["StartTransaction"]
    assert start["errors"] == 2 and start["ok"] >= 1
    assert report["errors"] == {"InternalError": 2}
    assert report["transaction_messages_dropped"] == {}
