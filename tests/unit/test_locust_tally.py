"""Locust-shaped deltas from the engine: the same buckets as Locust, mergeable by Locust.

Importing Locust monkey-patches the whole process with gevent, so the Locust side of these
checks runs in a child interpreter, as it does in real use.
"""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from simfleet.sim.locust_tally import MAX_FAILURE_CHARS, LocustTally, bucket_ms
from simfleet.sim.stats import Recorder

SAMPLES_MS = [0, 1, 49, 99, 100, 147, 999, 1000, 3432, 9999, 10_000, 58_760]

MERGE = """
import sys, orjson
from locust.stats import RequestStats, StatsEntry, bucket_response_time
data = orjson.loads(sys.stdin.buffer.read())
stats = RequestStats()
for raw in data["deltas"]["entries"]:
    raw["response_times"] = {int(k): v for k, v in raw["response_times"].items()}
    entry = StatsEntry.unserialize(raw, stats)
    stats.get(raw["name"], raw["method"]).extend(entry)
    stats.total.extend(entry)
out = {
    "buckets": [bucket_response_time(ms) for ms in data["samples"]],
    "entries": {
        name: [e.num_requests, e.num_failures, e.max_response_time, e.response_times]
        for (name, _method), e in stats.entries.items()
    },
    "total": stats.total.num_requests,
}
sys.stdout.buffer.write(orjson.dumps(out, option=orjson.OPT_NON_STR_KEYS))
"""


def test_deltas_bucket_and_merge_as_locust_does() -> None:
    recorder = Recorder()
    recorder.tally = LocustTally()
    for latency in (0.001, 0.002, 0.150, 3.432):
        recorder.call_answered("1.6", "Heartbeat", latency, None)
    recorder.call_answered("1.6", "Authorize", 0.010, "InternalError")
    recorder.call_timed_out("1.6", "Authorize", 30.0)
    deltas = recorder.tally.drain(1_700_000_000.0)
    assert deltas is not None
    assert recorder.tally.drain(1_700_000_001.0) is None  # drained: nothing twice
    errors = {(e["name"], e["error"]): e["occurrences"] for e in deltas["errors"]}
    assert errors == {("Authorize", "InternalError"): 1, ("Authorize", "Timeout"): 1}

    payload = orjson.dumps(
        {"deltas": deltas, "samples": SAMPLES_MS}, option=orjson.OPT_NON_STR_KEYS
    )
    result = subprocess.run(
        [sys.executable, "-c", MERGE], input=payload, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    merged = orjson.loads(result.stdout)
    assert merged["buckets"] == [bucket_ms(ms) for ms in SAMPLES_MS]
    assert merged["entries"]["Heartbeat"] == [4, 0, 3432, {"1": 1, "2": 1, "150": 1, "3400": 1}]
    assert merged["entries"]["Authorize"][:2] == [2, 2]
    assert merged["total"] == 6


def test_csms_initiated_commands_get_rows_of_their_own() -> None:
    recorder = Recorder()
    recorder.tally = LocustTally()
    recorder.command_handled("1.6", "Reset", "NotSupported")
    assert recorder.tally.drain(1_700_000_000.0) is None  # not until its answer is written
    recorder.command_answered(0.00042)
    recorder.command_handled("1.6", "ChangeConfiguration", "Accepted")
    recorder.command_answered(0.0126)
    recorder.command_answered(0.5)  # nothing pending: ignored
    deltas = recorder.tally.drain(1_700_000_000.0)
    assert deltas is not None
    rows = {
        (e["method"], e["name"]): (e["num_requests"], e["num_failures"], e["max_response_time"])
        for e in deltas["entries"]
    }
    # Response time = handling time, in float milliseconds as Locust keeps them (a
    # sub-millisecond handling time is not 0), bucketed as Locust buckets them.
    assert rows == {
        ("OCPP 1.6 CSMS", "Reset"): (1, 1, pytest.approx(0.42)),
        ("OCPP 1.6 CSMS", "ChangeConfiguration"): (1, 0, pytest.approx(12.6)),
    }
    reset = next(e for e in deltas["entries"] if e["name"] == "Reset")
    assert reset["response_times"] == {0: 1}
    assert reset["total_response_time"] == pytest.approx(0.42)
    assert deltas["errors"] == [
        {"method": "OCPP 1.6 CSMS", "name": "Reset", "error": "NotSupported", "occurrences": 1}
    ]


def test_schema_violations_are_failures_without_a_request() -> None:
    recorder = Recorder()
    recorder.tally = LocustTally()
    recorder.schema_violation(
        "1.6", "received", "BootNotification", "result", "x" * 300, b'[3,"1",{}]'
    )
    recorder.schema_violation("1.6", "received", "BootNotification", "result", "x" * 300, b"")
    deltas = recorder.tally.drain(1_700_000_000.0)
    assert deltas is not None
    assert deltas["entries"] == []
    [error] = deltas["errors"]
    assert error["method"] == "OCPP 1.6 schema"
    assert error["name"] == "BootNotification"
    assert error["occurrences"] == 2
    assert error["error"].startswith("received result: xxx")
    assert len(error["error"]) == MAX_FAILURE_CHARS
