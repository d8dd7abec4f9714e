"""What the metrics cost: the parent's CPU per /metrics scrape, and a worker's fleet scan.

1. `simfleet run` with N chargers (5,000 by default) against the embedded CSMS, metrics on.
   Once every charger is connected: the parent's CPU over a window without scrapes, then over
   a window of K scrapes; the difference over K is the CPU one scrape costs the parent.
2. In this process: the fleet scan (statuses, transactions, power, energy) that the workers
   run a slice at a time, timed over N agents.
3. In this process: one exposition (merge + families + text) of a wide case, 2 workers with
   10 actions each and latencies spread over ~300 histogram buckets (a realistic run has few
   actions and narrow latencies; this is the expensive end).

Usage: python -m benchmarks.scrape [--chargers N] [--scrapes K] [--window S] [--out FILE]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from benchmarks.procs import cpu_seconds

SCENARIO = """
name = "bench-scrape"
seed = 1

[run]
duration_s = {duration}

[fleet]
chargers = {chargers}
ramp_per_s = 2000

[charger]
heartbeat_interval_s = 30

[behaviour]
idle_s = 60
session_s = 600
"""


def _scrape(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: bytes = response.read()
        return data


def _gauge(text: bytes, name: str) -> float:
    match = re.search(rb"^" + name.encode() + rb"\{[^}]*\} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else -1.0


def measure_scrapes(chargers: int, scrapes: int, window_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "scrape.toml"
        scenario.write_text(SCENARIO.format(chargers=chargers, duration=600), encoding="utf-8")
        log = Path(tmp) / "run.log"
        with log.open("wb") as sink:
            run = subprocess.Popen(
                [sys.executable, "-m", "simfleet", "run", str(scenario), "--metrics-port", "0"],
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        try:
            url = _wait_url(log, run)
            _wait_connected(url, chargers, run)
            time.sleep(2)
            before = cpu_seconds(run.pid)
            time.sleep(window_s)
            idle_cpu = cpu_seconds(run.pid) - before
            walls = []
            size = 0
            before = cpu_seconds(run.pid)
            started = time.monotonic()
            for i in range(scrapes):
                t0 = time.perf_counter()
                size = len(_scrape(url))
                walls.append(time.perf_counter() - t0)
                pause = started + (i + 1) * window_s / scrapes - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            busy_cpu = cpu_seconds(run.pid) - before
            busy_window = time.monotonic() - started
        finally:
            run.terminate()
            run.wait(timeout=60)
    per_scrape = (busy_cpu - idle_cpu * busy_window / window_s) / scrapes
    walls.sort()
    return {
        "chargers": chargers,
        "scrapes": scrapes,
        "parent_cpu_idle_s_per_s": idle_cpu / window_s,
        "parent_cpu_ms_per_scrape": per_scrape * 1000,
        "scrape_wall_ms_median": walls[len(walls) // 2] * 1000,
        "scrape_wall_ms_max": walls[-1] * 1000,
        "exposition_bytes": size,
    }


def _wait_url(log: Path, run: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(r"metrics at (http://\S+)", log.read_text(errors="replace"))
        if match:
            return match.group(1)
        if run.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"simfleet did not start: {log.read_text(errors='replace')}")


def _wait_connected(url: str, chargers: int, run: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        if _gauge(_scrape(url), "simfleet_fleet_booted_chargers") >= chargers:
            return
        time.sleep(1)
    raise SystemExit(f"not all {chargers} chargers booted in time")


def measure_scan(chargers: int, repeats: int = 10) -> dict[str, Any]:
    from simfleet.scenario import load  # noqa: PLC0415
    from simfleet.sim.fleet import build_agents  # noqa: PLC0415
    from simfleet.sim.scan import scan  # noqa: PLC0415
    from simfleet.sim.stats import Recorder  # noqa: PLC0415

    scenario = load("scenarios/quickstart.toml").with_overrides(chargers=chargers)
    agents = build_agents(scenario, range(1, chargers + 1), Recorder(), time.time())
    t0 = time.process_time()
    for i in range(repeats):
        scan(agents, time.time() + i)
    per_scan = (time.process_time() - t0) / repeats
    return {"chargers": chargers, "scan_cpu_ms": per_scan * 1000}


def measure_wide_exposition(repeats: int = 100) -> dict[str, Any]:
    import random  # noqa: PLC0415

    from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415

    from simfleet.exporters.prometheus import FleetCollector, RunInfo  # noqa: PLC0415
    from simfleet.sim.stats import Recorder  # noqa: PLC0415

    actions = [
        "BootNotification",
        "StatusNotification",
        "Heartbeat",
        "Authorize",
        "StartTransaction",
        "StopTransaction",
        "MeterValues",
        "DataTransfer",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
    ]
    draw = random.Random(1)
    snapshots = []
    for worker in range(2):
        recorder = Recorder()
        for action in actions:
            for i in range(2000):
                error = None if i % 50 else "InternalError"
                recorder.call_answered("1.6", action, draw.lognormvariate(-5, 1.5), error)
        snapshots.append(recorder.snapshot(worker, time.time()))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(RunInfo("wide", 1, "1.6"), lambda: snapshots))
    t0 = time.process_time()
    for _ in range(repeats):
        size = len(generate_latest(registry))
    per = (time.process_time() - t0) / repeats
    return {"actions": len(actions), "cpu_ms": per * 1000, "exposition_bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=5000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    result = {
        "scrape": measure_scrapes(args.chargers, args.scrapes, args.window),
        "scan": measure_scan(args.chargers),
        "wide_exposition": measure_wide_exposition(),
    }
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
