"""What strict mode costs: CPU per validated frame, and a strict run against a normal one.

1. In this process: `FrameValidator` on typical frames as the 1.6 charger builds them
   (MeterValues with the default AC measurands on 3 phases, StatusNotification, Heartbeat, a
   BootNotification answer), µs of CPU per frame (best of 5 rounds), next to `orjson.loads` of
   the same frame (what the charger pays to decode it anyway); and the one-off cost of
   compiling a schema (the first frame of each action in each process pays it).
2. `simfleet run` with N chargers (meter values every second, short sessions: every 1.6 core
   message flows) against a separate `simfleet csms`, once plain and once with `--strict`:
   the workers' CPU over a window once every charger is booted, divided by the frames the
   workers sent and received in it (from the run's own /metrics). The difference per frame is
   strict mode's cost as the engine pays it (validation, the second parse, the counting).

The machine is shared: the ratio of the two runs, taken minutes apart, says more than either.

Usage: python -m benchmarks.strict [--chargers N] [--window S] [--out bench-strict.json]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks.procs import Tracked, descendants
from benchmarks.scrape import _gauge, _scrape, _wait_url

ROUNDS = 5
NOW = 1_714_557_600.0

SCENARIO = """
name = "bench-strict"
seed = 1

[run]
duration_s = 3600
workers = 1

[fleet]
chargers = {chargers}
ramp_per_s = 500

[charger]
connectors = 2
meter_interval_s = 1

[behaviour]
idle_s = 2
session_s = 10

[timeouts]
call_s = 30
"""


def typical_frames() -> dict[str, list[tuple[str, bytes]]]:
    """name -> the (direction, frame)s of it, as simfleet's 1.6 charger and a CSMS write them."""
    from simfleet.protocol.ports import Reading  # noqa: PLC0415
    from simfleet.protocol.v16 import messages  # noqa: PLC0415
    from simfleet.scenario.model import ChargerModel  # noqa: PLC0415

    reading = Reading(12_345.6, 11_040.0, (16.0, 16.0, 16.0), 230.0, 32.0)
    sampled = messages.sampled_values(
        reading, ChargerModel().measurands_ac, "Sample.Periodic", ac=True
    )
    meter = messages.meter_values(1, 42, sampled, NOW)
    status = messages.status_notification(1, "Charging", NOW, "NoError")
    boot = messages.boot_notification("simfleet", "virtual", "SN-1", "1.0")
    accepted = {"status": "Accepted", "currentTime": "2024-05-01T10:00:00Z", "interval": 60}
    return {
        "MeterValues (AC, 3 phases)": [("sent", orjson.dumps([2, "m", "MeterValues", meter]))],
        "StatusNotification": [("sent", orjson.dumps([2, "s", "StatusNotification", status]))],
        "Heartbeat": [("sent", orjson.dumps([2, "h", "Heartbeat", {}]))],
        "BootNotification CALL + answer": [
            ("sent", orjson.dumps([2, "b", "BootNotification", boot])),
            ("received", orjson.dumps([3, "b", accepted])),
        ],
    }


def _best_us(run: Callable[[int], None], count: int) -> float:
    """CPU µs per iteration of `run(count)`, the best of ROUNDS rounds."""
    best = float("inf")
    for _ in range(ROUNDS):
        t0 = time.process_time()
        run(count)
        best = min(best, time.process_time() - t0)
    return best / count * 1e6


def measure_validation(count: int = 20_000) -> dict[str, Any]:
    from simfleet.protocol import strict  # noqa: PLC0415

    names = ("MeterValues", "StatusNotification", "Heartbeat", "BootNotificationResponse")
    t0 = time.process_time()
    for name in names:
        strict.compiled("1.6", name)
    out: dict[str, Any] = {
        "compile_ms_per_schema": round((time.process_time() - t0) * 1000 / len(names), 2)
    }
    for name, frames in typical_frames().items():
        validator = strict.FrameValidator("1.6")
        checks = [
            (validator.sent if direction == "sent" else validator.received, data)
            for direction, data in frames
        ]

        def validate(n: int, checks: list[tuple[Callable[[bytes], Any], bytes]] = checks) -> None:
            for _ in range(n):
                for check, data in checks:
                    if check(data) is not None:
                        raise AssertionError(check(data))

        def parse(n: int, frames: list[tuple[str, bytes]] = frames) -> None:
            for _ in range(n):
                for _direction, data in frames:
                    orjson.loads(data)

        out[name] = {
            "frames": len(frames),
            "bytes": sum(len(data) for _, data in frames),
            "validate_us": round(_best_us(validate, count), 2),
            "orjson_loads_us": round(_best_us(parse, count), 2),
        }
    return out


def _frames(url: str) -> float:
    text = _scrape(url)
    values = re.findall(rb"^simfleet_ocpp_frames_total\{[^}]*\} (\S+)$", text, re.MULTILINE)
    return sum(float(v) for v in values)


def _start_csms(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = tmp / "csms.log"
    with log.open("wb") as sink:
        csms = subprocess.Popen(
            [sys.executable, "-m", "simfleet", "csms", "--port", "0", "--heartbeat-interval", "2"],
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and csms.poll() is None:
        match = re.search(r"ws://127\.0\.0\.1:(\d+)/", log.read_text(errors="replace"))
        if match:
            return csms, f"ws://127.0.0.1:{match.group(1)}/ocpp"
        time.sleep(0.05)
    csms.terminate()
    raise SystemExit(f"simfleet csms did not start: {log.read_text(errors='replace')}")


def measure_run(
    tmp: Path, target: str, chargers: int, window_s: float, strict: bool
) -> dict[str, Any]:
    scenario = tmp / "strict.toml"
    scenario.write_text(SCENARIO.format(chargers=chargers), encoding="utf-8")
    log = tmp / f"run-{'strict' if strict else 'plain'}.log"
    command = [sys.executable, "-m", "simfleet", "run", str(scenario), "--target", target]
    command += ["--metrics-port", "0", "--quiet", *(["--strict"] if strict else [])]
    with log.open("wb") as sink:
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sink)
    try:
        url = _wait_url(log, run)
        deadline = time.monotonic() + 60
        while _gauge(_scrape(url), "simfleet_fleet_booted_chargers") < chargers:
            if time.monotonic() > deadline or run.poll() is not None:
                raise SystemExit(f"not all {chargers} chargers booted: {log.read_text()}")
            time.sleep(0.5)
        time.sleep(3)  # past the boot storm
        workers = Tracked(descendants(run.pid))
        cpu0, frames0 = workers.sample().cpu_s, _frames(url)
        time.sleep(window_s)
        cpu1, frames1 = workers.sample().cpu_s, _frames(url)
        violations = re.findall(
            rb"^simfleet_schema_violations_total\{[^}]*\} (\S+)$", _scrape(url), re.M
        )
    finally:
        run.terminate()
        run.wait(timeout=60)
    frames = frames1 - frames0
    return {
        "strict": strict,
        "frames": int(frames),
        "frames_per_s": round(frames / window_s),
        "worker_cpu_s": round(cpu1 - cpu0, 3),
        "cpu_us_per_frame": round((cpu1 - cpu0) / frames * 1e6, 2),
        "violations": sum(float(v) for v in violations),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=300)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    result: dict[str, Any] = {"validation": measure_validation()}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        csms, target = _start_csms(tmp)
        try:
            plain = measure_run(tmp, target, args.chargers, args.window, strict=False)
            strict = measure_run(tmp, target, args.chargers, args.window, strict=True)
        finally:
            csms.terminate()
            csms.wait(timeout=30)
    result["runs"] = {
        "plain": plain,
        "strict": strict,
        "strict_over_plain_cpu_per_frame": round(
            strict["cpu_us_per_frame"] / plain["cpu_us_per_frame"], 3
        ),
        "strict_extra_us_per_frame": round(
            strict["cpu_us_per_frame"] - plain["cpu_us_per_frame"], 2
        ),
    }
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
