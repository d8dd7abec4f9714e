"""`make bench`: simfleet's CPU per round trip against a floor client, RSS per charger, boot storm.

One invocation, one sink (its own process or processes), then in turn:

1. the floor client (benchmarks/floor.py: bare websockets + uvloop + orjson) with a few
   connections, then with N, each doing simfleet's boot CALLs (BootNotification, then a
   StatusNotification per connector and for the charger) then one Heartbeat per H seconds;
2. `simfleet run` with the same few chargers, then with N, same pacing (heartbeat-only scenario);
3. optionally simfleet again with more workers.

For each full-size phase: the boot storm (sink's first connection -> its Nth accepted
BootNotification, and from process launch), then after a settle time a steady-state window in
which the client's CPU time (user + system, read with psutil from outside) is divided by the
round trips the sink answered. RSS per connected charger is the client's RSS at N minus its RSS
with the few-chargers baseline, over the difference in chargers. The figures that matter are the
ratios taken in this one run: the machine is shared, so a lone number says little.

Usage: python -m benchmarks.bench [--quick] [--chargers N] [--workers W] [--also-workers W2]
       [--heartbeat H] [--window S] [--ramp R] [--sinks K] [--out bench-results.json]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from benchmarks.floor import FloorConfig, FloorProcess
from benchmarks.procs import Sample, Tracked, cpu_seconds, schedstat_seconds, tcp_counters
from benchmarks.simfleet_cli import CONNECTORS, SimfleetConfig, SimfleetProcess
from benchmarks.sink import SinkPool, SinkStats

#: The targets of /work/shared/design/PERFORMANCE.md, shown for context (never asserted).
TARGETS = {
    "cpu_ratio_max": 1.5,
    "rss_kb_per_charger_max": 25.0,
    "boot_storm_s_max_for_10k": 15.0,
}
POLL_S = 0.1
#: simfleet's ramp starts this long after launch (`Fleet.start(lead_s=1.0)`); the floor's too.
LEAD_S = 1.0


@dataclass(frozen=True, slots=True)
class Params:
    chargers: int
    base_chargers: int
    workers: int
    also_workers: int
    heartbeat_s: int
    window_s: float
    settle_s: float
    ramp_per_s: float
    sinks: int
    out: Path
    quick: bool


class Client(Protocol):
    """A process (tree) under test: the floor client or a `simfleet run`."""

    def alive(self) -> bool: ...

    def measured_pids(self) -> list[int]: ...

    def supervisor_pid(self) -> int | None: ...

    def stop(self) -> dict[str, Any]: ...


class FloorClient:
    def __init__(self, config: FloorConfig) -> None:
        self.process = FloorProcess(config)

    def alive(self) -> bool:
        return self.process.alive()

    def measured_pids(self) -> list[int]:
        return [self.process.pid]

    def supervisor_pid(self) -> int | None:
        return None

    def stop(self) -> dict[str, Any]:
        return self.process.stop()


class SimfleetClient:
    """simfleet's workers are measured; its parent (the supervisor) is reported apart."""

    def __init__(self, config: SimfleetConfig) -> None:
        self.process = SimfleetProcess(config)

    def alive(self) -> bool:
        return self.process.alive()

    def measured_pids(self) -> list[int]:
        return self.process.workers()

    def supervisor_pid(self) -> int | None:
        return self.process.pid

    def stop(self) -> dict[str, Any]:
        return self.process.stop()


class PhaseError(RuntimeError):
    """A phase that could not be measured (its client died, or never connected)."""


# -- one phase ---------------------------------------------------------------------------------


@dataclass
class _Point:
    """One poll during the boot storm: when, the clients' CPU/RSS, the sink's CPU."""

    at: float
    client: Sample
    sink_cpu_s: float


@dataclass
class _Storm:
    launched_at: float
    tcp_at_launch: dict[str, int]
    before: _Point | None = None  # the last poll before the sink saw a connection
    after: _Point | None = None  # the first poll with N boots accepted


def _sink_cpu(sink: SinkPool) -> float:
    return sum(cpu_seconds(pid) for pid in sink.pids)


def _wait_for_boots(
    sink: SinkPool, client: Client, tracked: Tracked, chargers: int, timeout_s: float
) -> tuple[_Storm, SinkStats]:
    """Poll until the sink has accepted `chargers` boots (or time is up).

    The CPU spent between the last poll before the first connection and the first poll after
    the Nth boot is the storm's cost: a poll interval's worth of error at each end.
    """
    storm = _Storm(launched_at=time.monotonic(), tcp_at_launch=tcp_counters())
    deadline = storm.launched_at + timeout_s
    while True:
        stats = sink.stats()
        tracked.add(client.measured_pids())
        point = _Point(time.monotonic(), tracked.sample(), _sink_cpu(sink))
        if stats.connections_total == 0:
            storm.before = point
        if stats.boots >= chargers:
            storm.after = point
            return storm, stats
        if not client.alive():
            raise PhaseError(f"the client exited during the boot storm ({stats.boots} boots)")
        if point.at >= deadline:
            return storm, stats
        time.sleep(POLL_S)


def _storm_figures(
    storm: _Storm, stats: SinkStats, chargers: int, sink: SinkPool
) -> dict[str, Any]:
    boots = sink.boot_times()
    first = stats.first_connect_at
    complete = len(boots) >= chargers
    end = boots[chargers - 1] if complete else (boots[-1] if boots else 0.0)
    figures: dict[str, Any] = {
        "complete": complete,
        "boots_accepted": len(boots),
        "first_connect_after_launch_s": _round(first - storm.launched_at) if first else None,
        "first_connect_to_n_booted_s": _round(end - first) if first and boots else None,
        "launch_to_n_booted_s": _round(end - storm.launched_at) if boots else None,
        "boots_per_s": _round(len(boots) / (end - first)) if first and end > first else None,
        "boots_per_half_second": _histogram(boots, first, 0.5),
        "tcp_counters_delta": _delta(storm.tcp_at_launch, tcp_counters()),
    }
    before, after = storm.before, storm.after
    if before is not None and after is not None and after.at > before.at:
        client_cpu = after.client.cpu_s - before.client.cpu_s
        sink_cpu = after.sink_cpu_s - before.sink_cpu_s
        figures["client_cpu_s"] = _round(client_cpu)
        figures["client_cpu_ms_per_charger"] = _round(client_cpu / chargers * 1000)
        figures["sink_cpu_s"] = _round(sink_cpu)
        figures["sink_cpu_share_of_core"] = _round(sink_cpu / (after.at - before.at))
    return figures


def _histogram(times: list[float], start: float, step: float) -> list[int]:
    """Counts per `step` seconds from `start`: stalls (SYN retransmissions) show as gaps."""
    if not times or not start:
        return []
    counts = [0] * (int((times[-1] - start) / step) + 1)
    for at in times:
        counts[max(0, int((at - start) / step))] += 1
    return counts


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after}


def _window(
    sink: SinkPool, client: Client, tracked: Tracked, window_s: float
) -> tuple[dict[str, Any], Sample]:
    """CPU per round trip over a steady-state window: client CPU / CALLs the sink answered."""
    supervisor = client.supervisor_pid()
    tracked.add(client.measured_pids())
    stats0, sample0 = sink.stats(), tracked.sample()
    sink0, sup0 = _sink_cpu(sink), cpu_seconds(supervisor) if supervisor else 0.0
    start = time.monotonic()
    time.sleep(window_s)
    stats1, sample1 = sink.stats(), tracked.sample()
    sink1, sup1 = _sink_cpu(sink), cpu_seconds(supervisor) if supervisor else 0.0
    elapsed = time.monotonic() - start
    if not client.alive():
        raise PhaseError("the client exited during the measuring window")
    round_trips = stats1.total_calls - stats0.total_calls
    heartbeats = stats1.calls.get("Heartbeat", 0) - stats0.calls.get("Heartbeat", 0)
    cpu = sample1.cpu_s - sample0.cpu_s
    figures: dict[str, Any] = {
        "seconds": _round(elapsed),
        "connected": stats1.connections,
        "round_trips": round_trips,
        "heartbeats": heartbeats,
        "round_trips_per_s": _round(round_trips / elapsed),
        "client_cpu_s": _round(cpu),
        "client_cpu_share_of_core": _round(cpu / elapsed),
        "cpu_us_per_round_trip": _round(cpu / round_trips * 1e6) if round_trips else None,
        "sink_cpu_share_of_core": _round((sink1 - sink0) / elapsed),
        "sink_cpu_us_per_round_trip": (
            _round((sink1 - sink0) / round_trips * 1e6) if round_trips else None
        ),
        "processes_measured": sample1.processes,
    }
    if supervisor:
        total = cpu + sup1 - sup0
        figures["supervisor_cpu_s"] = _round(sup1 - sup0)
        figures["cpu_us_per_round_trip_with_supervisor"] = (
            _round(total / round_trips * 1e6) if round_trips else None
        )
    return figures, sample1


def run_phase(
    label: str,
    sink: SinkPool,
    start: Callable[[], Client],
    chargers: int,
    params: Params,
    window_s: float,
) -> dict[str, Any]:
    """Launch a client, time its boot storm, measure a window, stop it; always stops it."""
    _say(f"[{label}] {chargers} chargers...")
    sink.reset()
    tracked = Tracked()
    client = start()
    try:
        storm, stats = _wait_for_boots(
            sink, client, tracked, chargers, timeout_s=30 + chargers / 100
        )
        boot = _storm_figures(storm, stats, chargers, sink)
        if not boot["boots_accepted"]:
            raise PhaseError("no charger booted")
        time.sleep(params.settle_s)
        window, sample = _window(sink, client, tracked, window_s)
    finally:
        report = client.stop()
        if not sink.wait_idle(timeout_s=60):
            _say(f"[{label}] warning: the sink still has connections after the client stopped")
    result = {
        "label": label,
        "chargers": chargers,
        "expected_round_trips_per_s": _round(chargers / params.heartbeat_s),
        "boot_storm": boot,
        "window": window,
        "rss_bytes": sample.rss_bytes,
        "pids_measured": tracked.pids,
        "client_report": _brief_report(report),
    }
    _say(f"[{label}] {_one_line(result)}")
    return result


def _brief_report(report: dict[str, Any]) -> dict[str, Any]:
    """What the client said at the end (simfleet's run report is cut to the useful keys)."""
    keep = ("exit_code", "stopped_by", "chargers", "timeouts", "errors", "connections", "frames")
    if "simfleet_version" not in report:
        return report
    brief = {k: report[k] for k in keep if k in report}
    brief["messages"] = {
        action: {k: row[k] for k in ("sent", "ok", "timeouts", "p50_ms", "p99_ms", "max_ms")}
        for action, row in report.get("messages", {}).items()
    }
    return brief


def _one_line(result: dict[str, Any]) -> str:
    w, b = result["window"], result["boot_storm"]
    return (
        f"{w['connected']} connected, {w['round_trips_per_s']} rt/s, "
        f"{w['cpu_us_per_round_trip']} µs CPU/rt, RSS {result['rss_bytes'] / 2**20:.1f} MiB, "
        f"boot storm {b['first_connect_to_n_booted_s']} s"
    )


# -- the whole bench ---------------------------------------------------------------------------


def _floor(sink: SinkPool, chargers: int, params: Params) -> Callable[[], Client]:
    def start() -> Client:
        # The same lead as simfleet's (its ramp starts 1 s after launch): start-up CPU (imports,
        # spawning) then falls before the storm's first connection on both sides.
        start_at = time.time() + LEAD_S
        config = FloorConfig(
            sink.url, chargers, params.ramp_per_s, params.heartbeat_s, start_at, CONNECTORS
        )
        return FloorClient(config)

    return start


def _simfleet(
    sink: SinkPool, chargers: int, workers: int, params: Params, workdir: Path
) -> Callable[[], Client]:
    config = SimfleetConfig(
        sink.url, chargers, params.ramp_per_s, params.heartbeat_s, workers, workdir
    )
    return lambda: SimfleetClient(config)


def _pair(
    name: str,
    sink: SinkPool,
    params: Params,
    factory: Callable[[int], Callable[[], Client]],
) -> dict[str, Any]:
    """A baseline phase (few chargers, for RSS) and the full phase; RSS per charger from both."""
    base = run_phase(
        f"{name} baseline",
        sink,
        factory(params.base_chargers),
        params.base_chargers,
        params,
        float(params.heartbeat_s),
    )
    full = run_phase(name, sink, factory(params.chargers), params.chargers, params, params.window_s)
    added = params.chargers - params.base_chargers
    full["baseline"] = {
        "chargers": params.base_chargers,
        "rss_bytes": base["rss_bytes"],
        "window": base["window"],
    }
    full["rss_kb_per_charger"] = _round((full["rss_bytes"] - base["rss_bytes"]) / added / 1024)
    return full


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="simfleet-bench-") as path:
        yield Path(path)


def run(params: Params) -> dict[str, Any]:
    started = time.time()
    results: dict[str, Any] = {"parameters": _jsonable(asdict(params)), "environment": _env()}
    sink = SinkPool(params.sinks, params.heartbeat_s)
    _say(f"sink: {params.sinks} process(es) on {sink.url}")
    try:
        with _workdir() as workdir:
            results["floor"] = _pair("floor", sink, params, lambda n: _floor(sink, n, params))
            results["simfleet"] = _pair(
                f"simfleet w={params.workers}",
                sink,
                params,
                lambda n: _simfleet(sink, n, params.workers, params, workdir),
            )
            if params.also_workers:
                results["simfleet_also"] = _pair(
                    f"simfleet w={params.also_workers}",
                    sink,
                    params,
                    lambda n: _simfleet(sink, n, params.also_workers, params, workdir),
                )
    finally:
        sink.stop()
    results["summary"] = _summary(results, params)
    results["elapsed_s"] = _round(time.time() - started)
    return results


def _summary(results: dict[str, Any], params: Params) -> dict[str, Any]:
    floor, fleet = results["floor"], results["simfleet"]
    floor_us = floor["window"]["cpu_us_per_round_trip"]
    fleet_us = fleet["window"]["cpu_us_per_round_trip"]
    fleet_all = fleet["window"].get("cpu_us_per_round_trip_with_supervisor")
    storm = fleet["boot_storm"]["first_connect_to_n_booted_s"]
    summary: dict[str, Any] = {
        "chargers": params.chargers,
        "floor_cpu_us_per_round_trip": floor_us,
        "simfleet_cpu_us_per_round_trip": fleet_us,
        "cpu_ratio_simfleet_to_floor": _ratio(fleet_us, floor_us),
        "simfleet_cpu_us_per_round_trip_with_supervisor": fleet_all,
        "cpu_ratio_with_supervisor": _ratio(fleet_all, floor_us),
        "floor_rss_kb_per_charger": floor["rss_kb_per_charger"],
        "simfleet_rss_kb_per_charger": fleet["rss_kb_per_charger"],
        "floor_boot_storm_s": floor["boot_storm"]["first_connect_to_n_booted_s"],
        "simfleet_boot_storm_s": storm,
        "simfleet_launch_to_n_booted_s": fleet["boot_storm"]["launch_to_n_booted_s"],
        "simfleet_connected": fleet["window"]["connected"],
        "targets": TARGETS,
    }
    if "simfleet_also" in results:
        also = results["simfleet_also"]
        also_us = also["window"]["cpu_us_per_round_trip"]
        summary[f"simfleet_w{params.also_workers}_cpu_us_per_round_trip"] = also_us
        summary[f"cpu_ratio_w{params.also_workers}_to_floor"] = _ratio(also_us, floor_us)
        summary[f"simfleet_w{params.also_workers}_rss_kb_per_charger"] = also["rss_kb_per_charger"]
        summary[f"simfleet_w{params.also_workers}_boot_storm_s"] = also["boot_storm"][
            "first_connect_to_n_booted_s"
        ]
    return summary


# -- output ------------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    """The human summary: one column per client."""
    columns = [("floor", results["floor"]), ("simfleet", results["simfleet"])]
    if "simfleet_also" in results:
        columns.append(("simfleet", results["simfleet_also"]))
    floor_us = results["floor"]["window"]["cpu_us_per_round_trip"]

    def row(name: str, get: Callable[[dict[str, Any]], object]) -> list[str]:
        return [name, *(_cell(get(phase)) for _title, phase in columns)]

    rows = [
        ["", *(phase["label"] for _title, phase in columns)],
        row("chargers connected", lambda p: p["window"]["connected"]),
        row("round trips / s (window)", lambda p: p["window"]["round_trips_per_s"]),
        row("  expected (N / H)", lambda p: p["expected_round_trips_per_s"]),
        row("CPU µs / round trip", lambda p: p["window"]["cpu_us_per_round_trip"]),
        row(
            "  ratio to floor",
            lambda p: _ratio(p["window"]["cpu_us_per_round_trip"], floor_us),
        ),
        row(
            "  incl. supervisor",
            lambda p: p["window"].get("cpu_us_per_round_trip_with_supervisor", "-"),
        ),
        row("client CPU, share of a core", lambda p: p["window"]["client_cpu_share_of_core"]),
        row("sink CPU, share of a core", lambda p: p["window"]["sink_cpu_share_of_core"]),
        row("RSS MiB at N", lambda p: round(p["rss_bytes"] / 2**20, 1)),
        row("RSS KB / charger", lambda p: p["rss_kb_per_charger"]),
        row(
            "boot storm s (1st conn -> N boots)", lambda p: _storm(p, "first_connect_to_n_booted_s")
        ),
        row("  from launch s", lambda p: _storm(p, "launch_to_n_booted_s")),
        row("  client CPU ms / charger", lambda p: _storm(p, "client_cpu_ms_per_charger")),
        row("  sink CPU, share of a core", lambda p: _storm(p, "sink_cpu_share_of_core")),
        row("  listen queue overflows", lambda p: _tcp(p, "ListenOverflows")),
        row("  SYN retransmissions", lambda p: _tcp(p, "TCPSynRetrans")),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _storm(phase: dict[str, Any], key: str) -> object:
    return phase["boot_storm"].get(key)


def _tcp(phase: dict[str, Any], counter: str) -> object:
    return phase["boot_storm"]["tcp_counters_delta"].get(counter)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _ratio(a: float | None, b: float | None) -> float | None:
    return _round(a / b) if a is not None and b else None


def _round(value: float) -> float:
    return round(value, 3)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}


def _env() -> dict[str, Any]:
    """Versions and machine facts that change the figures."""
    versions = {"python": platform.python_version()}
    for name in ("websockets", "uvloop", "orjson", "psutil", "simfleet"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "missing"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {
        "versions": versions,
        "cpu_clock": "schedstat (ns)" if schedstat_seconds(os.getpid()) else "psutil (10 ms ticks)",
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "open_files_limit": [soft, hard],
    }


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- command line ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> Params:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench",
        description="Floor client vs simfleet against a fast sink: CPU per round trip, RSS per "
        "charger, boot storm. Prints a table and writes JSON.",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 chargers, 8 s window")
    parser.add_argument("--chargers", type=int, help="N, for floor and simfleet (10000)")
    parser.add_argument("--base-chargers", type=int, default=10, help="RSS baseline size (10)")
    parser.add_argument("--workers", type=int, default=1, help="simfleet workers (1)")
    parser.add_argument(
        "--also-workers", type=int, help="then simfleet with this many workers; 0: skip (2)"
    )
    parser.add_argument("--heartbeat", type=int, default=2, help="heartbeat interval H, s (2)")
    parser.add_argument(
        "--window", type=float, help="measuring window, s, rounded to a multiple of H (20)"
    )
    parser.add_argument("--settle", type=float, help="wait after the boot storm, s (H + 2)")
    parser.add_argument("--ramp", type=float, help="connections opened per second (5000)")
    parser.add_argument("--sinks", type=int, default=1, help="sink processes, SO_REUSEPORT (1)")
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    chargers = args.chargers or (1000 if quick else 10_000)
    also = args.also_workers if args.also_workers is not None else (0 if quick else 2)
    if chargers <= args.base_chargers or args.base_chargers < 1:
        parser.error("need --chargers > --base-chargers >= 1")
    if min(args.workers, args.heartbeat, args.sinks) < 1 or also < 0:
        parser.error("--workers, --heartbeat and --sinks must be >= 1, --also-workers >= 0")
    return Params(
        chargers=chargers,
        base_chargers=args.base_chargers,
        workers=args.workers,
        also_workers=also,
        heartbeat_s=args.heartbeat,
        window_s=_whole_periods(args.window or (8.0 if quick else 20.0), args.heartbeat),
        settle_s=args.settle if args.settle is not None else args.heartbeat + 2.0,
        ramp_per_s=args.ramp or (1000.0 if quick else 5000.0),
        sinks=args.sinks,
        out=args.out,
        quick=quick,
    )


def _whole_periods(window_s: float, heartbeat_s: int) -> float:
    """A window of whole heartbeat periods: each charger then sends the same number of
    heartbeats in it whatever its phase, even when a bursty boot storm left phases uneven."""
    return float(max(1, round(window_s / heartbeat_s)) * heartbeat_s)


def main(argv: list[str] | None = None) -> int:
    params = parse_args(argv)
    try:
        results = run(params)
    except PhaseError as error:
        _say(f"bench: error: {error}")
        return 1
    print(table(results))
    print(orjson.dumps(results["summary"], option=orjson.OPT_INDENT_2).decode())
    params.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    _say(f"bench: wrote {params.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
