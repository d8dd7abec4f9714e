"""`simfleet run`: start the workers (and the embedded CSMS if no target), show progress, stop
cleanly on time or on a signal, print the summary and write the report."""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import orjson

from simfleet.drivers.progress import Progress
from simfleet.engine.csms_server import Faults, csms_process_main
from simfleet.engine.supervisor import Fleet
from simfleet.exporters.prometheus import FleetCollector, MetricsServer, run_info
from simfleet.exporters.report import build_report, summary_table
from simfleet.protocol.v16.csms import CsmsSettings
from simfleet.scenario.model import Scenario, Security
from simfleet.sim.fleet import worker_count

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREACHABLE = 3
#: Strict mode with `fail_on_violations`: the run completed but frames broke the OCPP schemas.
EXIT_VIOLATIONS = 4
#: Open files a worker needs besides its sockets (pipes, libraries, the event loop).
FILES_RESERVED = 64
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


class RunError(Exception):
    """A run that cannot start; the message says what to fix. Exit code 2."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    report_path: str = ""
    progress_every_s: float = 2.0
    quiet: bool = False
    csms_heartbeat_s: int = 60


def resolve_password(security: Security, source: str) -> str:
    """The Basic auth password (AuthorizationKey) for security profiles 1/2; never printed."""
    if security.profile == 0:
        return ""
    if security.password_env:
        value = os.environ.get(security.password_env)
        if not value:
            raise RunError(
                f"{source}: target.password_env = {security.password_env!r}: "
                "that environment variable is not set or empty"
            )
        return value
    try:
        value = Path(security.password_file).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise RunError(
            f"{source}: target.password_file = {security.password_file!r}: {error.strerror}"
        ) from None
    if not value:
        raise RunError(f"{source}: target.password_file = {security.password_file!r}: empty")
    return value


class _Signals:
    """Remembers the first SIGINT/SIGTERM; the run loop then stops gracefully."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)


class EmbeddedCsmsProcess:
    """The embedded CSMS in a child process of its own, on a free port of 127.0.0.1.

    It answers tokens by the scenario's prefixes (`[auth]`), so refusals come out as meant.
    """

    def __init__(self, heartbeat_s: int, scenario: Scenario) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        settings = CsmsSettings(
            heartbeat_interval_s=heartbeat_s,
            token_statuses=scenario.realistic.tokens.refusals(),
        )
        self.process = context.Process(
            target=csms_process_main,
            args=("127.0.0.1", 0, settings, Faults(), 0, child_end, scenario.csms_commands),
            name="simfleet-csms",
        )
        self.process.start()
        child_end.close()
        if not self._pipe.poll(30):
            self.stop()
            raise RunError("the embedded CSMS did not start within 30 s")
        self.port: int = self._pipe.recv()

    @property
    def target(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def stop(self) -> None:
        self._pipe.close()  # the child watches the pipe: closing it means stop
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)


def execute(scenario: Scenario, options: RunOptions, out: TextIO = sys.stdout) -> int:
    """Run the scenario to the end; returns the process exit code."""
    password = resolve_password(scenario.security, scenario.source)
    workers = worker_count(scenario.workers, scenario.chargers)
    _check_open_files(scenario.chargers, workers)
    csms = None if scenario.target else EmbeddedCsmsProcess(options.csms_heartbeat_s, scenario)
    target = scenario.target or (csms.target if csms else "")
    err = sys.stderr
    if not options.quiet:
        where = "the embedded CSMS at " + target if csms else target
        print(
            f"simfleet: {scenario.chargers} chargers ({scenario.charger.describe_versions()}) "
            f"-> {where}, {workers} worker(s), {scenario.duration_s:g} s, "
            f"ramp {scenario.ramp_per_s:g}/s, seed {scenario.seed}"
            + (", strict (frames checked against the OCPP schemas)" if scenario.strict else ""),
            file=err,
        )
    fleet = Fleet(scenario, target, password, workers)
    progress = Progress(scenario.chargers, err, options.progress_every_s, options.quiet)
    stopped_by = "duration"
    exit_code = EXIT_OK
    metrics: MetricsServer | None = None
    try:
        with _Signals() as signals:
            fleet.start()
            metrics = _serve_metrics(scenario, fleet, err)
            connected_max = 0
            while True:
                fleet.poll(0.1)
                totals = fleet.totals()
                connected_max = max(connected_max, totals.gauges["connected"])
                now = time.time()
                progress.update(totals, now - fleet.start_at)
                if signals.received is not None:
                    stopped_by = f"signal {signals.received.name}"
                    exit_code = EXIT_SIGNAL[signals.received]
                    break
                if fleet.errors() or not fleet.alive():
                    stopped_by = "worker failure"
                    exit_code = EXIT_FAILED
                    break
                if now - fleet.start_at >= scenario.duration_s:
                    break
                if _unreachable(scenario, totals.connections, now - fleet.start_at):
                    stopped_by = "unreachable target"
                    exit_code = EXIT_UNREACHABLE
                    break
            progress.finish()
            if not options.quiet:
                print("simfleet: stopping (stop transactions, close connections)...", file=err)
            fleet.stop()
            if metrics is not None:
                _hold(scenario.metrics.hold_s, signals, err, options.quiet)
    finally:
        if fleet.children:
            fleet.stop(timeout_s=5)
        if csms is not None:
            csms.stop()
        if metrics is not None:
            metrics.close()
    totals = fleet.totals()
    duration = time.time() - fleet.start_at
    report = build_report(
        scenario, target, totals, duration, max(connected_max, 0), stopped_by, workers
    )
    if options.report_path:
        Path(options.report_path).write_bytes(
            orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n"
        )
    print(summary_table(report), file=out)
    for error in fleet.errors():
        print(f"simfleet: worker error: {error}", file=err)
    violations = report["schema_validation"]["violations_total"]
    if scenario.fail_on_violations and violations and exit_code == EXIT_OK:
        print(f"simfleet: error: {violations} frames broke the OCPP schemas", file=err)
        exit_code = EXIT_VIOLATIONS
    if exit_code == EXIT_UNREACHABLE:
        reasons = ", ".join(f"{k}={v}" for k, v in report["connection_failures"].items())
        print(
            f"simfleet: error: cannot reach {target}: no charger connected within "
            f"{scenario.timeouts.unreachable_s:g} s ({reasons or 'no attempt finished'})",
            file=err,
        )
        if report["connection_failures"].get("no_common_subprotocol"):
            offers = " / ".join(", ".join(o) for o in scenario.charger.offers)
            print(
                f"simfleet: error: the CSMS agreed to none of the offered OCPP versions "
                f"({offers}): no_common_subprotocol",
                file=err,
            )
    return exit_code


def _serve_metrics(scenario: Scenario, fleet: Fleet, err: TextIO) -> MetricsServer | None:
    settings = scenario.metrics
    if not settings.enabled:
        return None
    collector = FleetCollector(run_info(scenario), fleet.latest)
    try:
        server = MetricsServer(collector, settings.host, settings.port)
    except OSError as error:
        raise RunError(
            f"{scenario.source}: metrics.port = {settings.port} on {settings.host}: "
            f"cannot serve metrics: {error.strerror or error}"
        ) from None
    # Always printed (even with --quiet): with port 0 it is the only way to learn the port.
    print(f"simfleet: metrics at {server.url}", file=err, flush=True)
    return server


def _hold(hold_s: float, signals: _Signals, err: TextIO, quiet: bool) -> None:
    """Keep the final numbers on /metrics for `hold_s` (a signal ends the wait)."""
    if hold_s <= 0:
        return
    if not quiet:
        print(f"simfleet: serving the final metrics for {hold_s:g} s", file=err)
    deadline = time.monotonic() + hold_s
    while time.monotonic() < deadline and signals.received is None:
        time.sleep(0.1)


def _check_open_files(chargers: int, workers: int) -> None:
    """Each charger holds a socket: a worker cannot run more chargers than it may open files."""
    per_worker = -(-chargers // workers)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and per_worker + FILES_RESERVED > hard:
        raise RunError(
            f"{chargers} chargers on {workers} worker(s) is {per_worker} connections per worker, "
            f"but a process may open at most {hard} files here: use --workers "
            f"{-(-chargers // (hard - FILES_RESERVED))} or more (or raise `ulimit -n`)"
        )


def _unreachable(scenario: Scenario, connections: dict[str, int], elapsed_s: float) -> bool:
    """No connection ever opened, attempts failed, and the grace period is over."""
    return (
        elapsed_s >= scenario.timeouts.unreachable_s
        and connections["opened"] == 0
        and connections["failed"] > 0
    )
