"""Locust-side CPU of merging simfleet's statistics at a given OCPP sample rate.

`python -m benchmarks.locust_merge [--samples-per-s 50000] [--seconds 10]`: a real engine
LocustTally records the samples (as the engine child does), its 100 ms deltas go through JSON
lines exactly as on the pipe, and the bridge's `merge_locust` merges them into a Locust
RequestStats. Reports the CPU the merging side spends per wall second (the share of a core the
Locust process would use for it) and per sample. Locust is imported (gevent patches this
process), so run it on its own.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import orjson
from locust.stats import RequestStats

from simfleet.drivers.locust_bridge import merge_locust
from simfleet.sim.locust_tally import LocustTally

ACTIONS = (
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "Authorize",
    "StartTransaction",
    "StopTransaction",
    "BootNotification",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples-per-s", type=int, default=50_000)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    per_tick = args.samples_per_s // 10  # one delta per 100 ms, as the engine child sends
    rng = np.random.default_rng(1)
    latencies = rng.lognormal(np.log(0.004), 1.0, per_tick).tolist()
    actions = rng.choice(len(ACTIONS), per_tick).tolist()
    stats = RequestStats()
    merge_cpu = 0.0
    now = time.time()
    for tick in range(args.seconds * 10):
        tally = LocustTally()
        for latency, action in zip(latencies, actions, strict=True):
            tally.record("1.6", ACTIONS[action], latency, None)
        line = orjson.dumps(tally.drain(now + tick / 10), option=orjson.OPT_NON_STR_KEYS)
        start = time.process_time()  # the pipe line's parse counts: the bridge does it too
        merge_locust(stats, orjson.loads(line))  # what the bridge's reader greenlet does
        merge_cpu += time.process_time() - start
    samples = per_tick * args.seconds * 10
    assert stats.total.num_requests == samples
    print(f"merged {samples} samples ({args.samples_per_s}/s for {args.seconds} s)")
    print(
        f"Locust-side CPU: {100 * merge_cpu / args.seconds:.2f} % of a core, "
        f"{1e6 * merge_cpu / samples:.3f} µs per sample"
    )


if __name__ == "__main__":
    main()
