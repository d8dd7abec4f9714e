"""The locustfile: Locust users are virtual chargers, living in an engine child process.

Locust loads this module (`simfleet locust`, or plain `locust -f <this file> --scenario FILE`).
A Locust user is one charger in the count only: its greenlet sleeps. The chargers themselves run
in one engine child per Locust process (`python -m simfleet.engine.child`, asyncio, never gevent),
told over stdin how many chargers to keep; its stdout carries Locust-shaped stats deltas every
~100 ms (merged here as a Locust master merges its workers) and fleet gauges every second (the
"Fleet" tab; in distributed mode they travel to the master as a custom message).

Only definitions and Locust event listener registrations happen at import: Locust requires the
listeners to be registered when it imports the locustfile.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import orjson
from gevent import subprocess
from locust import User, events
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import StatsEntry, StatsError

from simfleet.sim.stats import Snapshot

FLEET_MESSAGE = "simfleet_fleet"
DEBOUNCE_S = 0.2
STOP_WAIT_S = 20.0
#: At test stop: how long to wait for the stop phase's last statistics (engine grace + 1 s).
STOP_DRAIN_S = 10.0
#: The engine child's statistics interval (simfleet.engine.child.TALLY_EVERY_S).
TALLY_S = 0.1
#: Chargers are numbered from 1; worker k (0-based) owns [k * 1e6 + 1, (k + 1) * 1e6].
WORKER_INDEX_SPAN = 1_000_000
FLEET_COLUMNS = (
    ("label", "Worker / child"),
    ("state", "State"),
    ("planned", "Chargers"),
    ("connected", "Connected"),
    ("booted", "Booted"),
    ("transactions", "Transactions"),
    ("charging", "Charging"),
    ("available", "Available"),
    ("faulted", "Faulted"),
    ("preparing", "Preparing"),
    ("suspended", "SuspendedEV"),
    ("finishing", "Finishing"),
    ("unavailable", "Unavailable"),
    ("power_kw", "Power kW"),
    ("energy_kwh", "Energy kWh"),
    ("reconnects", "Reconnects"),
    ("offline", "Offline spells"),
)
_SUMMED = (
    "planned",
    "connected",
    "booted",
    "transactions",
    "charging",
    "available",
    "faulted",
    "preparing",
    "suspended",
    "finishing",
    "unavailable",
    "reconnects",
    "offline",
)
_SUMMED_FLOAT = ("power_kw", "energy_kwh")

log = logging.getLogger("simfleet.locust")


# -- the Fleet tab -------------------------------------------------------------------------------


def fleet_row(data: dict[str, Any]) -> dict[str, Any]:
    """One Fleet-tab row from a child's "fleet" gauges."""
    statuses = data.get("statuses") or {}
    return {
        "label": data.get("label", ""),
        "state": data.get("state", "running"),
        "planned": data.get("planned", 0),
        "connected": data.get("connected", 0),
        "booted": data.get("booted", 0),
        "transactions": data.get("transactions", 0),
        "charging": statuses.get("Charging", 0),
        "available": statuses.get("Available", 0),
        "faulted": statuses.get("Faulted", 0),
        "preparing": statuses.get("Preparing", 0),
        "suspended": statuses.get("SuspendedEV", 0),
        "finishing": statuses.get("Finishing", 0),
        "unavailable": statuses.get("Unavailable", 0),
        "power_kw": round(float(data.get("power_w", 0.0)) / 1000, 1),
        "energy_kwh": round(float(data.get("energy_wh", 0.0)) / 1000, 2),
        "reconnects": data.get("reconnects", 0),
        "offline": data.get("offline", 0),
    }


class FleetBoard:
    """The latest gauges per child (worker side) or per worker (master side)."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}

    def update(self, key: str, data: dict[str, Any]) -> None:
        self.latest[key] = data

    def rows(self) -> list[dict[str, Any]]:
        rows = [fleet_row(self.latest[key]) for key in sorted(self.latest)]
        total: dict[str, Any] = {"label": "Total", "state": ""}
        for column in _SUMMED:
            total[column] = sum(int(row[column]) for row in rows)
        for column in _SUMMED_FLOAT:
            total[column] = round(sum(float(row[column]) for row in rows), 2)
        total["reconnects"] = sum(int(row["reconnects"]) for row in rows)
        return [*rows, total]


# -- merging the child's stats -------------------------------------------------------------------


def _int_keys(table: dict[str, int]) -> dict[int, int]:
    # JSON object keys are strings; Locust keys response times and seconds by int.
    return {int(k): v for k, v in table.items()}


def merge_locust(stats: Any, message: dict[str, Any]) -> None:
    """Merge one "locust" delta exactly as a Locust master merges a worker report."""
    for raw in message.get("entries", ()):
        for field in ("response_times", "num_reqs_per_sec", "num_fail_per_sec"):
            raw[field] = _int_keys(raw.get(field) or {})
        entry = StatsEntry.unserialize(raw, stats)
        stats.get(raw["name"], raw["method"]).extend(entry)
        stats.total.extend(entry)
    for error in message.get("errors", ()):
        # Not stats.log_error: the failures are already counted in the entries above.
        key = StatsError.create_key(error["method"], error["name"], error["error"])
        known = stats.errors.get(key)
        if known is None:
            known = stats.errors[key] = StatsError(error["method"], error["name"], error["error"])
        known.occurrences += int(error["occurrences"])


# -- one engine child ----------------------------------------------------------------------------


class EngineChild:
    """The engine child process and the greenlet reading its stdout."""

    def __init__(self, bridge: Bridge, job: dict[str, Any]) -> None:
        self.bridge = bridge
        self.label = str(job["label"])
        self.stopped = gevent.event.Event()
        self.stop_requested = False
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simfleet.engine.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.send(job)
        self.reader = gevent.spawn(self.read)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and not self.stopped.is_set()

    def send(self, command: dict[str, Any]) -> None:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(orjson.dumps(command) + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as error:
            log.error("engine child %s: cannot send %s: %s", self.label, command, error)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                log.warning("engine child %s: %r", self.label, line[:200])
                continue
            self.bridge.on_message(self, message)
        if not self.stop_requested:
            # EOF, or a "stopped" we did not ask for (SIGTERM, crash): the chargers are gone;
            # say so in the logs and the Fleet tab rather than lose them silently.
            code = self.process.wait()
            log.error("engine child %s (pid %s) died, exit %s", self.label, self.process.pid, code)
            self.bridge.on_child_dead(self, code)
            self.stopped.set()

    def stop(self) -> None:
        """Stop every charger gracefully, bounded; then end the process by its handle."""
        self.stop_requested = True
        if self.process.poll() is None:
            self.send({"cmd": "stop"})
            self.stopped.wait(STOP_WAIT_S)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.error("engine child %s did not exit; killing pid %s", self.label, self.process.pid)
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=5)


# -- the per-process bridge ----------------------------------------------------------------------


class Bridge:
    """Per Locust process (local or worker): the desired charger count -> the engine child."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.board = FleetBoard()
        self.desired = 0
        self.sent = -1
        self.child: EngineChild | None = None
        self.debouncer: Any = None
        self.closing = False
        self.metrics: Any = None  # the MetricsServer, when --simfleet-metrics-port is given
        self.snapshots: list[Snapshot] = []  # the engine child's latest, for /metrics

    # users
    def add(self, delta: int) -> None:
        self.desired = max(0, self.desired + delta)
        if delta > 0:
            self.ensure_started()

    def ensure_started(self) -> None:
        if self.closing:  # users stopped during shutdown must not start a new child
            return
        if self.child is None or not self.child.alive:
            self.child = self.start_child()
        if self.debouncer is None or self.debouncer.dead:
            self.debouncer = gevent.spawn(self.debounce)

    def debounce(self) -> None:
        # Users start one by one; one spawn command per interval, not one per user.
        while True:
            gevent.sleep(DEBOUNCE_S)
            if self.child is not None and self.child.alive and self.desired != self.sent:
                self.child.send({"cmd": "spawn", "count": self.desired, "rate": self.rate()})
                self.sent = self.desired

    def rate(self) -> float:
        rate = float(getattr(self.environment.runner, "spawn_rate", 0) or 0)
        return rate if rate > 0 else 1000.0  # Locust already paces the users

    def start_child(self) -> EngineChild:
        runner = self.environment.runner
        worker = isinstance(runner, WorkerRunner)
        index = max(0, int(getattr(runner, "worker_index", 0))) if worker else 0
        label = f"worker {index}" if worker else "local"
        scenario, target, password = job_settings(self.environment)
        self.sent = -1
        job = {
            "scenario": scenario,
            "target": target,
            "password": password,
            "index_base": index * WORKER_INDEX_SPAN + 1,
            "index_stride": 1,
            "label": label,
            "worker": index,
            "strict": bool(getattr(self.environment.parsed_options, "simfleet_strict", False)),
        }
        log.info("engine child %s: chargers from %d, target %s", label, job["index_base"], target)
        self.serve_metrics(scenario, index)
        return EngineChild(self, job)

    def serve_metrics(self, scenario_path: str, index: int) -> None:
        """This process's /metrics (from its engine child), once, if asked for."""
        options = self.environment.parsed_options
        port = getattr(options, "simfleet_metrics_port", None)
        if port is None or port < 0 or self.metrics is not None:
            return
        from simfleet.exporters.prometheus import (  # noqa: PLC0415 (only when asked for)
            FleetCollector,
            MetricsServer,
            run_info,
        )
        from simfleet.scenario import load  # noqa: PLC0415

        # Several Locust workers on one host: worker k serves on port + k.
        port = port + index if port else 0
        host = getattr(options, "simfleet_metrics_host", "127.0.0.1")
        collector = FleetCollector(run_info(load(scenario_path)), lambda: self.snapshots)
        self.metrics = MetricsServer(collector, host, port)
        log.info("simfleet metrics at %s", self.metrics.url)

    # child messages
    def on_message(self, child: EngineChild, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "locust":
            merge_locust(self.environment.stats, message)
        elif kind == "fleet":
            self.publish(child, message)
        elif kind == "snapshot":
            self.snapshots = [Snapshot.from_dict(message["snapshot"])]
        elif kind == "error":
            log.error("engine child %s: %s", child.label, message.get("message"))
        elif kind == "stopped":
            child.stopped.set()

    def on_child_dead(self, child: EngineChild, code: int | None) -> None:
        last = dict(self.board.latest.get(child.label, {"label": child.label}))
        # Its chargers are gone: keep the row (and the reason), not its last gauges.
        for key in ("planned", "connected", "transactions", "power_w"):
            last[key] = 0
        last["statuses"] = {}
        last["state"] = f"dead (exit {code})"
        self.publish(child, last)

    def publish(self, child: EngineChild, data: dict[str, Any]) -> None:
        self.board.update(child.label, data)
        runner = self.environment.runner
        if isinstance(runner, WorkerRunner):
            runner.send_message(FLEET_MESSAGE, data)

    # test life cycle
    def test_stop(self) -> None:
        self.desired = 0
        child = self.child
        if child is None or not child.alive:
            return
        child.send({"cmd": "spawn", "count": 0, "rate": self.rate()})
        self.sent = 0
        # The stop phase sends StopTransactions: wait (bounded) until the child reports an
        # empty fleet and its last deltas are in, so Locust's final stats and CSV include them.
        deadline = time.monotonic() + STOP_DRAIN_S
        while time.monotonic() < deadline and child.alive:
            if self.board.latest.get(child.label, {}).get("planned", 1) == 0:
                gevent.sleep(2 * TALLY_S)
                return
            gevent.sleep(0.1)

    def quit(self) -> None:
        self.closing = True
        if self.debouncer is not None:
            self.debouncer.kill(block=False)
        if self.child is not None:
            self.child.stop()
        if self.metrics is not None:
            self.metrics.close()


def job_settings(environment: Any) -> tuple[str, str, str]:
    """Scenario path, CSMS URL and password for the engine child."""
    from simfleet.drivers.run import resolve_password  # noqa: PLC0415 (only when a child starts)
    from simfleet.scenario import load  # noqa: PLC0415

    options = environment.parsed_options
    path = getattr(options, "scenario", "") or os.environ.get("SIMFLEET_SCENARIO", "")
    if not path:
        raise RuntimeError("no scenario: pass --scenario FILE or set SIMFLEET_SCENARIO")
    scenario = load(path)
    target = environment.host or scenario.target
    if not target:
        raise RuntimeError("no CSMS: pass --host ws://... or set target.url in the scenario")
    return str(Path(path).resolve()), target, resolve_password(scenario.security, scenario.source)


# -- the Locust user -----------------------------------------------------------------------------


class Charger(User):
    """One virtual charger in the count; the charger itself lives in the engine child."""

    def wait_time(self) -> float:
        return 3600.0

    def on_start(self) -> None:
        _bridge(self.environment).add(+1)

    def on_stop(self) -> None:
        _bridge(self.environment).add(-1)

    def idle(self) -> None:
        gevent.sleep(3600)

    tasks = [idle]


def _bridge(environment: Any) -> Bridge:
    bridge = getattr(environment, "simfleet_bridge", None)
    if bridge is None:
        bridge = environment.simfleet_bridge = Bridge(environment)
    return bridge


# -- Locust events -------------------------------------------------------------------------------


def _on_parser(parser: Any, **_: Any) -> None:
    parser.add_argument(
        "--scenario",
        default="",
        help="simfleet scenario TOML (default: $SIMFLEET_SCENARIO)",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--simfleet-metrics-port",
        type=int,
        default=None,
        help="serve simfleet's Prometheus metrics from each Locust worker on this port "
        "(worker k: port + k; 0: any free port, logged)",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--simfleet-strict",
        action="store_true",
        default=False,
        help="check every OCPP frame against the official JSON schemas; violations show as "
        "failures (method 'OCPP <version> schema') and in the metrics",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--simfleet-metrics-host",
        default="127.0.0.1",
        help="address the metrics endpoint binds (default 127.0.0.1)",
        include_in_web_ui=False,
    )


def _on_init(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        board = environment.simfleet_board = FleetBoard()

        def on_fleet(msg: Any, **_: Any) -> None:
            board.update(str(msg.node_id), msg.data)

        runner.register_message(FLEET_MESSAGE, on_fleet)
    if environment.web_ui is not None:
        _extend_web_ui(environment)


def _fleet_rows(environment: Any) -> list[dict[str, Any]]:
    board = getattr(environment, "simfleet_board", None)
    if board is None:
        board = _bridge(environment).board
    return board.rows()


def _extend_web_ui(environment: Any) -> None:
    from flask import request  # noqa: PLC0415 (Locust's web UI dependency)

    web_ui = environment.web_ui
    web_ui.template_args["extended_tabs"] = [{"title": "Fleet", "key": "fleet"}]
    web_ui.template_args["extended_tables"] = [
        {"key": "fleet", "structure": [{"key": k, "title": t} for k, t in FLEET_COLUMNS]}
    ]

    def add_fleet(response: Any) -> Any:
        if request.path != "/stats/requests" or response.json is None:
            return response
        body = dict(response.json)
        body["extended_stats"] = [{"key": "fleet", "data": _fleet_rows(environment)}]
        response.set_data(orjson.dumps(body))
        return response

    web_ui.app.after_request(add_fleet)


def _on_test_start(environment: Any, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        _bridge(environment).ensure_started()


def _on_test_stop(environment: Any, **_: Any) -> None:
    bridge = getattr(environment, "simfleet_bridge", None)
    if bridge is not None:
        bridge.test_stop()


def _on_quitting(environment: Any, **_: Any) -> None:
    bridge = getattr(environment, "simfleet_bridge", None)
    if bridge is not None:
        bridge.quit()


events.init_command_line_parser.add_listener(_on_parser)  # type: ignore[no-untyped-call]
events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_on_test_stop)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_on_quitting)  # type: ignore[no-untyped-call]
