"""The `simfleet` command line."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from simfleet import __version__
from simfleet.drivers.run import RunError, RunOptions, execute
from simfleet.scenario import ScenarioError, load, validate
from simfleet.scenario.model import CsmsCommand

EXIT_USAGE = 2


def _fail(message: str) -> None:
    click.echo(f"simfleet: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


class _Workers(click.ParamType):  # type: ignore[type-arg]
    name = "auto|N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        if value == "auto":
            return 0
        try:
            workers = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither 'auto' nor a number", param, ctx)
        if workers < 1:
            self.fail(f"{value!r}: need at least 1 worker", param, ctx)
        return workers


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="simfleet")
def main() -> None:
    """simfleet: thousands of virtual OCPP-J EV chargers against your CSMS.

    Start with `simfleet run scenarios/quickstart.toml` (an embedded CSMS is started when the
    scenario names no target), then point `--target` at your own CSMS.
    """


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option(
    "--target",
    metavar="URL",
    help="CSMS endpoint, ws:// or wss://; the charger identity is appended as a path "
    "segment. Default: the scenario's target.url, else an embedded CSMS.",
)
@click.option("--chargers", type=click.IntRange(min=1), help="Fleet size (fleet.chargers).")
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Run length in seconds, ramp included (run.duration_s).",
)
@click.option(
    "--ramp",
    type=click.FloatRange(min=0, min_open=True),
    metavar="PER_SECOND",
    help="Chargers connecting per second, fleet-wide (fleet.ramp_per_s).",
)
@click.option(
    "--workers", type=_Workers(), help="Worker processes: 'auto' = one per core (run.workers)."
)
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (seed).")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the run report as JSON to this file.",
)
@click.option(
    "--progress-every",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="Progress interval (one line each when not a terminal).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on this port; 0 = any free port (metrics.port).",
)
@click.option(
    "--metrics-host",
    help="Address the metrics endpoint binds (metrics.host, default 127.0.0.1).",
)
@click.option(
    "--metrics-hold",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Keep serving metrics this long after the run, for a last scrape (metrics.hold_s).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Check every frame sent and received against the official OCPP JSON schemas and "
    "count the violations (run.strict); the exit code stays 0.",
)
@click.option(
    "--fail-on-violations",
    is_flag=True,
    help="--strict, and exit 4 if any frame broke a schema (run.fail_on_violations).",
)
@click.option("--quiet", is_flag=True, help="No progress, only the summary.")
def run(
    scenario: str,
    target: str | None,
    chargers: int | None,
    duration: float | None,
    ramp: float | None,
    workers: int | None,
    seed: int | None,
    report_path: str | None,
    progress_every: float,
    metrics_port: int | None,
    metrics_host: str | None,
    metrics_hold: float | None,
    strict: bool,
    fail_on_violations: bool,
    quiet: bool,
) -> None:
    """Run the fleet described by SCENARIO (a TOML file) and report what the CSMS did.

    Exit codes: 0 run completed, 1 a worker failed, 2 bad input, 3 target unreachable,
    4 schema violations (only with --fail-on-violations), 130/143 stopped by SIGINT/SIGTERM
    (summary and report are still written).
    """
    try:
        loaded = load(scenario)
        loaded = validate(
            loaded.with_overrides(
                target=target,
                chargers=chargers,
                duration_s=duration,
                ramp_per_s=ramp,
                workers=workers,
                seed=seed,
                strict=(strict or fail_on_violations) or None,
                fail_on_violations=fail_on_violations or None,
            ).with_metrics(port=metrics_port, host=metrics_host, hold_s=metrics_hold)
        )
    except ScenarioError as error:
        _fail(str(error))
    options = RunOptions(
        report_path=report_path or "", progress_every_s=progress_every, quiet=quiet
    )
    try:
        code = execute(loaded, options)
    except RunError as error:
        _fail(str(error))
    sys.exit(code)


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option(
    "--hours",
    type=click.IntRange(1, 24 * 14),
    default=24,
    show_default=True,
    help="Simulated hours to plan, from the scenario's start_at.",
)
@click.option("--chargers", type=click.IntRange(min=1), help="Fleet size (fleet.chargers).")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (seed).")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write the hourly table as CSV to this file.",
)
@click.option("--no-chart", is_flag=True, help="Only the table.")
def plan(
    scenario: str,
    hours: int,
    chargers: int | None,
    seed: int | None,
    csv_path: str | None,
    no_chart: bool,
) -> None:
    """Show what SCENARIO will do, hour by hour, without running it.

    Per simulated hour: EV arrivals, sessions in progress and drawing power, fleet power, and
    the messages per (wall-clock) second each OCPP action will cost. Same seed, same plan,
    byte for byte.
    """
    from simfleet.drivers.planning import render_plan  # noqa: PLC0415

    try:
        loaded = validate(load(scenario).with_overrides(chargers=chargers, seed=seed))
    except ScenarioError as error:
        _fail(str(error))
    click.echo(render_plan(loaded, hours, csv_path, chart_too=not no_chart))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9000,
    show_default=True,
    help="Port to listen on (0: any free port, printed at start).",
)
@click.option(
    "--heartbeat-interval",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    metavar="SECONDS",
    help="Interval sent in BootNotification answers.",
)
@click.option(
    "--boot-status",
    type=click.Choice(["Accepted", "Pending", "Rejected"]),
    default="Accepted",
    show_default=True,
    help="BootNotification answer.",
)
@click.option(
    "--boot-retry-interval",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    metavar="SECONDS",
    help="Interval sent with a Pending or Rejected BootNotification answer.",
)
@click.option(
    "--callerror-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of CALLs answered with CALLERROR InternalError (fault injection).",
)
@click.option(
    "--garbage-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of messages answered with a non-OCPP frame (fault injection).",
)
@click.option(
    "--close-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of messages answered by closing the connection (fault injection).",
)
@click.option(
    "--delay-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Service time added before each answer.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the fault injection draws.",
)
@click.option(
    "--password-env",
    metavar="VAR",
    help="Require Basic auth (security profiles 1/2) with the password held in this "
    "environment variable; any user name (the charger identity).",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve wss:// with this certificate chain (PEM).",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False),
    help="Private key of --tls-cert (PEM), if not inside it.",
)
@click.option(
    "--command",
    "commands",
    multiple=True,
    metavar="ACTION=PER_SECOND",
    help="Send this command (default payload) to random booted chargers at this rate; "
    "repeatable, e.g. --command TriggerMessage=5.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Check every frame received and sent against the OCPP 1.6 JSON schemas; the "
    "violations are printed every 10 s.",
)
@click.option(
    "--ocpp-versions",
    default="1.6,2.0.1,2.1",
    show_default=True,
    metavar="LIST",
    help="OCPP versions to speak, comma-separated; each charger gets the first of its "
    "offered subprotocols found here (none: no subprotocol, connection closed).",
)
def csms(
    host: str,
    port: int,
    heartbeat_interval: int,
    boot_status: str,
    boot_retry_interval: int,
    callerror_rate: float,
    garbage_rate: float,
    close_rate: float,
    delay_ms: float,
    seed: int,
    password_env: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    commands: tuple[str, ...],
    strict: bool,
    ocpp_versions: str,
) -> None:
    """Run the embedded OCPP CSMS (1.6J, 2.0.1, 2.1) on its own (Ctrl-C to stop).

    Chargers connect to ws://HOST:PORT/<anything>/<identity>.
    """
    import uvloop  # noqa: PLC0415 - only this command needs a loop in this process

    from simfleet.engine.csms_server import CsmsStats, Faults, Security, run_csms  # noqa: PLC0415
    from simfleet.protocol.v16.csms import CsmsSettings  # noqa: PLC0415

    settings = CsmsSettings(
        heartbeat_interval_s=heartbeat_interval,
        boot_status=boot_status,
        boot_retry_s=boot_retry_interval,
    )
    faults = Faults(callerror_rate, garbage_rate, close_rate, delay_ms / 1000)
    if callerror_rate + garbage_rate + close_rate > 1:
        _fail("--callerror-rate + --garbage-rate + --close-rate must not exceed 1")

    versions = _versions(ocpp_versions)
    command_rates = tuple(_command_rate(text, versions) for text in commands)
    password = ""
    if password_env:
        password = os.environ.get(password_env, "")
        if not password:
            _fail(f"--password-env {password_env}: that environment variable is not set or empty")
    security = Security(password=password, tls_cert=tls_cert or "", tls_key=tls_key or "")
    scheme = "wss" if tls_cert else "ws"

    def ready(bound: int) -> None:
        auth = ", Basic auth required" if password else ""
        click.echo(
            f"simfleet csms: listening on {scheme}://{host}:{bound}/ocpp "
            f"(OCPP {', '.join(versions)}{auth})",
            err=True,
        )

    last = [0]
    shown = [0]  # violation examples already printed

    def tick(stats: CsmsStats) -> None:
        rate = (stats.calls - last[0]) / 10
        last[0] = stats.calls
        by_version = ", ".join(f"{v}: {n}" for v, n in sorted(stats.versions.items()))
        click.echo(
            f"simfleet csms: {stats.connections} connected ({by_version or 'none yet'}), "
            f"{rate:.0f} msg/s, {stats.calls} messages, injected {stats.injected or 'nothing'}",
            err=True,
        )
        if stats.commands:
            answers = ", ".join(f"{a} {s}: {n}" for (a, s), n in sorted(stats.commands.items()))
            click.echo(f"simfleet csms: commands answered: {answers}", err=True)
        if strict:
            _strict_tick(stats, shown)

    try:
        uvloop.run(
            run_csms(
                host,
                port,
                settings,
                faults,
                seed,
                ready,
                tick,
                security=security,
                commands=command_rates,
                strict=strict,
                versions=versions,
            )
        )
    except OSError as error:
        _fail(f"cannot listen on {host}:{port}: {error.strerror}")


def _strict_tick(stats: Any, shown: list[int]) -> None:
    """The CSMS's strict-mode line, then the violation examples not printed yet."""
    total = sum(stats.violations.values())
    found = ", ".join(f"{a} {d} {k}={n}" for (a, d, k), n in sorted(stats.violations.items()))
    click.echo(
        f"simfleet csms: strict: {stats.validated} frames checked, {total} schema violations"
        + (f": {found}" if found else ""),
        err=True,
    )
    for example in stats.examples[shown[0] :]:
        click.echo(f"simfleet csms: schema violation: {example}", err=True)
    shown[0] = len(stats.examples)


def _versions(text: str) -> tuple[str, ...]:
    """--ocpp-versions: known versions, comma-separated, none twice."""
    from simfleet.protocol.dialect import DIALECTS  # noqa: PLC0415

    versions = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in versions if v not in DIALECTS]
    if not versions or unknown or len(set(versions)) != len(versions):
        _fail(
            f"--ocpp-versions {text}: must list OCPP versions once each, "
            f"comma-separated (known: {', '.join(DIALECTS)})"
        )
    return versions


def _command_rate(text: str, versions: tuple[str, ...]) -> CsmsCommand:
    """ACTION=PER_SECOND, with each version's default payload; it goes to the chargers of the
    versions that have it."""
    from simfleet.protocol.v201.commands import DEFAULTS_BY_VERSION, command_defaults  # noqa: PLC0415

    action, _, rate = text.partition("=")
    defaults = {v: p for v, p in command_defaults(action).items() if v in versions}
    if not defaults:
        known = sorted({a for v in versions for a in DEFAULTS_BY_VERSION[v]})
        _fail(
            f"--command {text}: unknown command {action!r} for OCPP {', '.join(versions)} "
            f"(known: {', '.join(known)})"
        )
    try:
        per_s = float(rate)
    except ValueError:
        per_s = 0.0
    if not per_s > 0:
        _fail(f"--command {text}: the rate after '=' must be a positive number per second")
    chosen = tuple(defaults)
    return CsmsCommand(
        action,
        per_s,
        defaults[chosen[0]],
        versions=chosen,
        version_payloads=tuple(defaults.items()),
    )


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.pass_context
def locust(ctx: click.Context, scenario: str) -> None:
    """Locust drives the fleet: users = chargers; other arguments go to Locust."""
    from simfleet.drivers.locust_cli import run_locust  # noqa: PLC0415 (Locust is optional)

    try:
        code = run_locust(scenario, ctx.args)
    except (ScenarioError, RunError) as error:
        _fail(str(error))
    sys.exit(code)
