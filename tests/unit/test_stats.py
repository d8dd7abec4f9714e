"""HDR-style histograms (1 % accuracy, mergeable) and the recorder's snapshots."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simfleet.sim.histogram import Histogram, bucket_of, bucket_value_s, percentile_s
from simfleet.sim.stats import (
    EXAMPLE_FRAME_CHARS,
    VIOLATION_EXAMPLES,
    ActionStats,
    Recorder,
    Snapshot,
    merge,
)


@pytest.mark.parametrize("seconds", [1e-6, 3.7e-5, 0.0012, 0.25, 1.0, 17.3, 59.9])
def test_bucket_value_is_within_one_percent(seconds: float) -> None:
    value = bucket_value_s(bucket_of(seconds))
    assert abs(value - seconds) / seconds <= 0.01


def test_percentiles_match_numpy_within_one_percent() -> None:
    rng = np.random.default_rng(5)
    samples = rng.lognormal(mean=math.log(0.004), sigma=1.0, size=50_000)
    histogram = Histogram()
    for value in samples.tolist():
        histogram.record(value)
    buckets = dict(histogram.sparse())
    for fraction in (0.5, 0.9, 0.95, 0.99, 0.999):
        exact = float(np.quantile(samples, fraction, method="inverted_cdf"))
        assert abs(percentile_s(buckets, fraction) - exact) / exact <= 0.01
    assert histogram.max_s == pytest.approx(samples.max())


def test_merging_histograms_equals_recording_everything_in_one() -> None:
    rng = np.random.default_rng(1)
    a, b, whole = Histogram(), Histogram(), Histogram()
    for i, value in enumerate(rng.exponential(0.01, 10_000).tolist()):
        (a if i % 3 else b).record(value)
        whole.record(value)
    ra, rb = Recorder(), Recorder()
    ra.actions[("1.6", "Heartbeat")] = _with_histogram(a)
    rb.actions[("1.6", "Heartbeat")] = _with_histogram(b)
    merged = merge([ra.snapshot(0, 1.0), rb.snapshot(1, 2.0)])
    assert merged.actions["1.6|Heartbeat"].buckets == dict(whole.sparse())
    assert merged.at == 2.0


def _with_histogram(histogram: Histogram) -> ActionStats:
    stats = ActionStats()
    stats.latency = histogram
    stats.ok = histogram.count
    return stats


def test_recorder_counts_outcomes_per_action() -> None:
    recorder = Recorder()
    recorder.call_answered("1.6", "Authorize", 0.01, None)
    recorder.call_answered("1.6", "Authorize", 0.02, "InternalError")
    recorder.call_timed_out("1.6", "Authorize")
    recorder.call_lost("1.6", "Authorize")
    recorder.malformed("1.6", "FormationViolation")
    recorder.command_handled("1.6", "Reset", "NotSupported")
    recorder.connection_failed("refused")
    snap = recorder.snapshot(3, 10.0)
    authorize = snap.actions["1.6|Authorize"]
    assert (authorize.ok, authorize.errors, authorize.timeouts, authorize.lost) == (
        1,
        {"InternalError": 1},
        1,
        1,
    )
    assert authorize.sent == 4
    assert snap.malformed == {"FormationViolation": 1}
    assert snap.commands == {"1.6|Reset|NotSupported": 1}
    assert snap.connections["failed"] == 1
    assert snap.failure_reasons == {"refused": 1}


def test_snapshot_survives_the_wire() -> None:
    recorder = Recorder()
    recorder.planned = 5
    recorder.call_answered("1.6", "Heartbeat", 0.003, None)
    recorder.call_answered("1.6", "Heartbeat", 0.3, "GenericError")
    snap = recorder.snapshot(1, 12.5)
    again = Snapshot.from_wire(snap.to_wire())
    assert again == snap


def test_merge_adds_counters_and_gauges() -> None:
    a, b = Recorder(), Recorder()
    a.planned, b.planned = 3, 4
    a.connected, b.connected = 2, 4
    a.opened, b.reconnects = 5, 2
    merged = merge([a.snapshot(0, 0), b.snapshot(1, 0)])
    assert merged.gauges == {"planned": 7, "connected": 6, "booted": 0}
    assert merged.connections == {
        "opened": 5,
        "failed": 0,
        "dropped": 0,
        "reconnects": 2,
        "offline": 0,
    }


def _commanded(worker: int, handling_s: list[float]) -> Snapshot:
    recorder = Recorder()
    for seconds in handling_s:
        recorder.command_handled("1.6", "Reset", "Accepted")
        recorder.command_answered(seconds)
    recorder.command_handled("1.6", "DataTransfer", "UnknownVendorId")
    recorder.command_answered(0.002)
    recorder.validated_sent, recorder.validated_received = 10 + worker, 20
    recorder.schema_violation("1.6", "received", "Reset", "call", "bad type", b'[2,"1"]')
    return recorder.snapshot(worker, 5.0)


def test_command_handling_times_are_kept_per_action() -> None:
    recorder = Recorder()
    recorder.command_handled("1.6", "Reset", "Accepted")
    assert recorder.pending_command == ("1.6", "Reset", "Accepted")
    recorder.command_answered(0.0003)
    assert recorder.pending_command is None
    recorder.command_answered(9.0)  # nothing pending: not a command's time
    times = recorder.snapshot(0, 1.0).command_times["1.6|Reset"]
    assert times.count == 1
    assert times.max_s == pytest.approx(0.0003)
    assert percentile_s(times.buckets, 0.5) == pytest.approx(0.0003, rel=0.01)


def test_new_fields_survive_the_wire_and_default_when_absent() -> None:
    snap = _commanded(1, [0.001, 0.0004])
    assert Snapshot.from_wire(snap.to_wire()) == snap
    assert snap.validated == {"sent": 11, "received": 20}
    assert snap.violations == {"1.6|Reset|received|call": 1}
    assert snap.violation_examples == ('1.6 received Reset call: bad type in [2,"1"]',)
    # A snapshot from before these fields (or strict mode off) reads as empty ones.
    raw = snap.to_dict()
    for key in ("command_times", "validated", "violations", "violation_examples"):
        del raw[key]
    old = Snapshot.from_dict(raw)
    assert (old.command_times, old.validated, old.violations) == ({}, {}, {})
    assert Recorder().snapshot(0, 0.0).validated == {}  # off: no figures at all


def test_merge_combines_handling_times_and_violations() -> None:
    a, b = _commanded(0, [0.001]), _commanded(1, [0.0004, 0.0005])
    merged = merge([a, b])
    reset = merged.command_times["1.6|Reset"]
    assert reset.count == 3
    assert reset.max_s == pytest.approx(0.001)
    assert reset.sum_s == pytest.approx(0.0019)
    assert merged.command_times["1.6|DataTransfer"].count == 2
    assert merged.validated == {"sent": 21, "received": 40}
    assert merged.violations == {"1.6|Reset|received|call": 2}
    assert len(merged.violation_examples) == 2


def test_violation_examples_are_bounded() -> None:
    recorders = [Recorder(), Recorder()]
    for recorder in recorders:
        for n in range(VIOLATION_EXAMPLES + 5):
            recorder.schema_violation("1.6", "sent", "Heartbeat", "call", f"n{n}", b"x" * 1000)
    snaps = [r.snapshot(i, 1.0) for i, r in enumerate(recorders)]
    assert len(snaps[0].violation_examples) == VIOLATION_EXAMPLES
    assert snaps[0].violations == {"1.6|Heartbeat|sent|call": VIOLATION_EXAMPLES + 5}
    assert max(map(len, snaps[0].violation_examples)) < EXAMPLE_FRAME_CHARS + 60
    assert len(merge(snaps).violation_examples) == VIOLATION_EXAMPLES
