"""`simfleet` as a user runs it: real processes, real sockets on 127.0.0.1, bounded runs.

Covers the help texts, the report format, CLI overrides, progress output, every class of bad
input (exit 2, nothing run), the password never leaking, an unreachable target (exit 3) and a
graceful stop on SIGTERM/SIGINT (exit 143/130) that leaves no process behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import psutil
import pytest
from conftest import (
    ROOT,
    SIMFLEET,
    CsmsProcess,
    run_simfleet,
    small_scenario,
    stop_process,
    write_scenario,
)

from simfleet.drivers.cli import main as cli_main

#: Keys every per-action row of the report carries.
ACTION_KEYS = {"sent", "ok", "errors", "timeouts", "p50_ms", "p95_ms", "p99_ms", "max_ms"}
CONNECTION_KEYS = {"opened", "failed", "dropped", "reconnects"}


# -- helpers ---------------------------------------------------------------------------------


def read_report(path: Path) -> dict[str, Any]:
    assert path.is_file(), f"no report written at {path}"
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def tweak(path: Path, *replacements: tuple[str, str], append: str = "") -> Path:
    """Edit a scenario file in place: each (old, new) must match, `append` goes at the end."""
    text = path.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, f"{old!r} not in the scenario"
        text = text.replace(old, new)
    path.write_text(text + append, encoding="utf-8")
    return path


def percentile_violations(report: dict[str, Any]) -> list[str]:
    """Actions whose p50 <= p95 <= p99 <= max ordering does not hold."""
    bad = []
    for action, row in report["messages"].items():
        if not row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"]:
            bad.append(f"{action}: {row}")
    return bad


def assert_report_shape(report: dict[str, Any]) -> None:
    for key in ("scenario", "seed", "duration_s", "chargers", "messages", "errors"):
        assert key in report, f"report has no {key!r}: {sorted(report)}"
    assert set(report["chargers"]) >= {"planned", "connected_max", "booted"}
    assert set(report["connections"]) >= CONNECTION_KEYS
    for action, row in report["messages"].items():
        assert set(row) >= ACTION_KEYS, f"{action}: {sorted(row)}"
    for code, count in report["errors"].items():
        assert isinstance(code, str)
        assert isinstance(count, int)


def assert_clean_fleet_run(report: dict[str, Any], chargers: int) -> None:
    """A well-behaved CSMS, a fleet that fits: everybody connected and booted, no failures."""
    assert_report_shape(report)
    c = report["chargers"]
    assert c["planned"] == c["booted"] == c["connected_max"] == chargers, c
    assert report["errors"] == {}
    assert report["timeouts"] == 0
    assert report["malformed"] == {}
    for action, row in report["messages"].items():
        assert row["errors"] == 0, (action, row)
        assert row["timeouts"] == 0, (action, row)
        assert row["sent"] >= row["ok"] > 0, (action, row)
    assert report["messages"]["BootNotification"]["sent"] == chargers
    assert report["messages"]["BootNotification"]["ok"] == chargers
    k = report["connections"]
    assert k == {"opened": chargers, "failed": 0, "dropped": 0, "reconnects": 0, "offline": 0}, k
    assert report["stopped_by"] == "duration"


def assert_summary(stdout: str, chargers: int) -> None:
    lines = stdout.splitlines()
    assert lines, "no summary on stdout"
    assert lines[0].split()[:5] == ["action", "sent", "ok", "errors", "timeouts"], lines[0]
    assert any(line.startswith("BootNotification ") for line in lines), stdout
    assert f"chargers: {chargers} planned" in stdout
    assert "connections: " in stdout


def free_port_holder() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1 but not listening: connections are refused,
    and no other process can take the port while the test holds it."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    return holder


def env_without(*names: str, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(values)
    return env


def run_with_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`simfleet ARGS...` to completion with the given environment, output captured."""
    return subprocess.run(
        [*SIMFLEET, *args],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=ROOT,
        env=env,
        check=False,
    )


class Watched:
    """`simfleet ARGS...` in the background; stdout/stderr read line by line as they come."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [*SIMFLEET, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout)),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    def _read(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self._lock:
                into.append(line)

    def wait_for_stderr(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.stderr:
                    match = regex.search(line)
                    if match is not None:
                        return match
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no stderr line matching {pattern!r}: {''.join(self.stderr)}")

    def finish(self, timeout_s: float) -> int:
        code = self.process.wait(timeout=timeout_s)
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code

    def close(self) -> None:
        stop_process(self.process)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def watched() -> Iterator[list[Watched]]:
    """Background runs of a test, ended by their own handles whatever happens."""
    runs: list[Watched] = []
    yield runs
    for run in runs:
        run.close()


# -- help ------------------------------------------------------------------------------------


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option)]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), ["--version", "--help", "run", "csms"]),
        (
            ("run",),
            [
                "SCENARIO",
                "--target",
                "--chargers",
                "--duration",
                "--ramp",
                "--workers",
                "--seed",
                "--report",
                "--progress-every",
                "--quiet",
                "Exit codes",
                "130/143",
            ],
        ),
        (
            ("csms",),
            [
                "--host",
                "--port",
                "--heartbeat-interval",
                "--boot-status",
                "--callerror-rate",
                "--garbage-rate",
                "--close-rate",
                "--delay-ms",
                "--seed",
            ],
        ),
    ],
    ids=["simfleet", "run", "csms"],
)
def test_help_documents_every_option(args: tuple[str, ...], expected: list[str]) -> None:
    # The installed console script, as users type it (`python -m simfleet` says so in Usage).
    script = Path(sys.executable).parent / "simfleet"
    assert script.is_file(), f"simfleet is not installed in {script.parent}"
    result = subprocess.run(
        [str(script), *args, "--help"],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    text = result.stdout
    assert text.startswith("Usage: simfleet")
    for word in expected:
        assert word in text, f"{word!r} missing from `simfleet {' '.join(args)} --help`"
    # Every option the command really has is in its help, with a description.
    command: click.Command = cli_main
    for name in args:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    for option in _options(command):
        for flag in option.opts:
            assert flag in text, f"{flag} of `simfleet {' '.join(args)}` is not in its help"
        assert option.help, f"{option.opts} has no help text"


# -- runs that go well ------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_run_with_embedded_csms_writes_report_and_summary(tmp_path: Path) -> None:
    scenario = small_scenario(tmp_path, chargers=200, duration=5, workers=2, ramp=200)
    report_path = tmp_path / "report.json"
    started = time.monotonic()
    result = run_simfleet("run", str(scenario), "--report", str(report_path), timeout=50)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 40
    assert "the embedded CSMS at ws://127.0.0.1:" in result.stderr
    report = read_report(report_path)
    assert report["scenario"] == "test-small"
    assert report["seed"] == 3
    assert report["workers"] == 2
    assert report["target"].startswith("ws://127.0.0.1:")
    assert 5 <= report["duration_s"] < 30
    assert_clean_fleet_run(report, 200)
    assert_summary(result.stdout, 200)
    assert "stopped by duration" in result.stdout
    assert percentile_violations(report) == []


@pytest.mark.timeout(60)
def test_run_against_separate_csms_via_target(tmp_path: Path, csms: CsmsProcess) -> None:
    scenario = small_scenario(tmp_path, chargers=200, duration=5, workers=2, ramp=200)
    report_path = tmp_path / "report.json"
    result = run_simfleet(
        "run", str(scenario), "--target", csms.url, "--report", str(report_path), timeout=50
    )
    assert result.returncode == 0, result.stderr
    assert "embedded CSMS" not in result.stderr
    assert csms.url in result.stderr
    report = read_report(report_path)
    assert report["target"] == csms.url
    assert_clean_fleet_run(report, 200)
    assert_summary(result.stdout, 200)
    assert csms.process.poll() is None, "the separate CSMS must outlive the run"
    assert percentile_violations(report) == []


@pytest.mark.timeout(60)
def test_overrides_are_reflected_in_the_report(tmp_path: Path) -> None:
    scenario = small_scenario(tmp_path, chargers=20, duration=30, workers=1, ramp=200)
    report_path = tmp_path / "report.json"
    result = run_simfleet(
        "run",
        str(scenario),
        "--seed",
        "4242",
        "--chargers",
        "30",
        "--duration",
        "3",
        "--workers",
        "2",
        "--ramp",
        "300",
        "--quiet",
        "--report",
        str(report_path),
        timeout=50,
    )
    assert result.returncode == 0, result.stderr
    report = read_report(report_path)
    assert report["seed"] == 4242
    assert report["workers"] == 2
    assert report["chargers"]["planned"] == 30
    assert report["chargers"]["booted"] == 30
    assert report["messages"]["BootNotification"]["sent"] == 30
    # The 30 s of the file are overridden: the run lasts 3 s plus the stop grace.
    assert 3 <= report["duration_s"] < 15
    # --quiet: neither the start line nor progress, but the summary still.
    assert "connected" not in result.stderr
    assert_summary(result.stdout, 30)


@pytest.mark.timeout(60)
def test_non_tty_progress_is_one_line_per_interval(tmp_path: Path) -> None:
    scenario = small_scenario(tmp_path, chargers=20, duration=5)
    result = run_simfleet("run", str(scenario), "--progress-every", "1", timeout=50)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "\x1b[" not in result.stderr
    progress = [line for line in result.stderr.splitlines() if "connected" in line]
    # t = 0, 1, ..., 5 s; each interval may slip by one poll (0.1 s).
    assert 4 <= len(progress) <= 7, result.stderr
    assert all(line.startswith("[") and "/20 booted" in line for line in progress)
    assert "connected 20/20" in progress[-1]
    seconds = [int(re.match(r"\[\s*(\d+)s\]", line).group(1)) for line in progress]  # type: ignore[union-attr]
    assert seconds == sorted(set(seconds)), seconds


# -- bad input: exit 2, nothing run ----------------------------------------------------------

BAD_SCENARIOS = [
    pytest.param('name = "unterminated\n', "", "not valid TOML", id="invalid-toml"),
    pytest.param("[fleet]\ncharger = 5\n", "fleet.charger", "5", id="unknown-key"),
    pytest.param("typo = 1\n", "typo", "1", id="unknown-top-level-key"),
    pytest.param('[fleet]\nchargers = "many"\n', "fleet.chargers", "'many'", id="wrong-type"),
    pytest.param("[run]\nduration_s = true\n", "run.duration_s", "True", id="wrong-type-bool"),
    pytest.param("[fleet]\nchargers = 0\n", "fleet.chargers", "0", id="chargers-zero"),
    pytest.param("[fleet]\nramp_per_s = -1\n", "fleet.ramp_per_s", "-1", id="ramp-negative"),
    pytest.param("[timeouts]\ncall_s = 0\n", "timeouts.call_s", "0", id="timeout-zero"),
    pytest.param('[fleet]\nidentity = "CP"\n', "fleet.identity", "'CP'", id="identity-no-index"),
    pytest.param(
        '[fleet]\nidentity = "CP-{idx}"\n', "fleet.identity", "CP-{idx}", id="identity-bad-field"
    ),
    pytest.param(
        '[fleet]\nidentity = "CP:{index}"\n', "fleet.identity", "CP:{index}", id="identity-colon"
    ),
    pytest.param(
        '[fleet]\nidentity = "' + "X" * 50 + '{index}"\n',
        "fleet.identity",
        "X" * 50,
        id="identity-too-long",
    ),
    pytest.param(
        '[target]\nurl = "http://127.0.0.1:9/ocpp"\n',
        "target.url",
        "http://127.0.0.1:9/ocpp",
        id="http-url",
    ),
    pytest.param('[target]\nurl = "wss-nope"\n', "target.url", "wss-nope", id="url-without-scheme"),
    pytest.param(
        '[charger]\nocpp_version = "9.9"\n', "charger.ocpp_version", "9.9", id="ocpp-version"
    ),
    pytest.param(
        "[target]\nsecurity_profile = 1\n",
        "target.security_profile",
        "1",
        id="profile-without-password",
    ),
    pytest.param(
        '[target]\nsecurity_profile = 1\npassword_file = "/nonexistent/simfleet-password"\n',
        "target.password_file",
        "/nonexistent/simfleet-password",
        id="password-file-missing",
    ),
]


def assert_rejected(
    result: subprocess.CompletedProcess[str], path: Path, key: str, value: str, report: Path
) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    err = result.stderr
    assert err.startswith("simfleet: error: "), err
    assert str(path) in err, err
    if key:
        assert key in err, err
        assert value in err.split(key, 1)[1], f"{value!r} not named after {key!r}: {err}"
    else:
        assert value in err, err
    # Nothing was run: no start line, no summary, no report.
    assert "chargers (OCPP" not in err
    assert result.stdout == ""
    assert not report.exists()


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("text", "key", "value"), BAD_SCENARIOS)
def test_bad_scenario_exits_2_naming_file_key_and_value(
    tmp_path: Path, text: str, key: str, value: str
) -> None:
    path = write_scenario(tmp_path, text, name="bad-scenario.toml")
    report = tmp_path / "report.json"
    started = time.monotonic()
    result = run_simfleet("run", str(path), "--report", str(report), timeout=20)
    assert time.monotonic() - started < 15
    assert_rejected(result, path, key, value, report)


@pytest.mark.timeout(30)
def test_missing_scenario_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "does-not-exist.toml"
    report = tmp_path / "report.json"
    result = run_simfleet("run", str(path), "--report", str(report), timeout=20)
    assert_rejected(result, path, "", "cannot read", report)


@pytest.mark.timeout(30)
def test_more_chargers_per_worker_than_open_files_exits_2(tmp_path: Path) -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no limit on open files here")
    path = small_scenario(tmp_path)
    result = run_simfleet(
        "run", str(path), "--chargers", str(2 * hard), "--workers", "1", timeout=20
    )
    assert result.returncode == 2, result.stderr
    assert "connections per worker" in result.stderr
    assert "--workers 3" in result.stderr
    assert result.stdout == ""


@pytest.mark.timeout(30)
def test_bad_target_override_exits_2(tmp_path: Path) -> None:
    path = small_scenario(tmp_path)
    report = tmp_path / "report.json"
    result = run_simfleet(
        "run", str(path), "--target", "http://127.0.0.1:9/ocpp", "--report", str(report)
    )
    assert_rejected(result, path, "target.url", "http://127.0.0.1:9/ocpp", report)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("option", "value"),
    [("--chargers", "0"), ("--duration", "0"), ("--workers", "none"), ("--seed", "-1")],
)
def test_bad_option_values_exit_2(tmp_path: Path, option: str, value: str) -> None:
    path = small_scenario(tmp_path)
    result = run_simfleet("run", str(path), option, value, timeout=20)
    assert result.returncode == 2, result.stderr
    assert option in result.stderr
    assert result.stdout == ""


# -- security profile 1: the password ---------------------------------------------------------

PROFILE_1 = '\n[target]\nsecurity_profile = 1\npassword_env = "{var}"\n'


@pytest.mark.timeout(30)
def test_password_env_unset_exits_2(tmp_path: Path, csms: CsmsProcess) -> None:
    var = "SIMFLEET_TEST_PASSWORD_UNSET"
    path = tweak(small_scenario(tmp_path), append=PROFILE_1.format(var=var))
    report = tmp_path / "report.json"
    result = run_with_env(
        env_without(var), "run", str(path), "--target", csms.url, "--report", str(report)
    )
    assert_rejected(result, path, "target.password_env", var, report)


@pytest.mark.timeout(60)
def test_password_never_appears_in_output(tmp_path: Path, csms: CsmsProcess) -> None:
    var = "SIMFLEET_TEST_PASSWORD"
    password = "pw-" + secrets.token_hex(12)
    scenario = small_scenario(tmp_path, chargers=20, duration=3)
    path = tweak(scenario, append=PROFILE_1.format(var=var))
    report_path = tmp_path / "report.json"
    result = run_with_env(
        env_without(**{var: password}),
        "run",
        str(path),
        "--target",
        csms.url,
        "--report",
        str(report_path),
    )
    assert result.returncode == 0, result.stderr
    report_text = report_path.read_text(encoding="utf-8")
    assert json.loads(report_text)["chargers"]["booted"] == 20  # the run really ran
    for where, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        assert password not in text, f"the password leaked on {where}"
    assert password not in report_text, "the password leaked into the report"


# -- unreachable target -------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_unreachable_target_exits_3_and_still_reports(tmp_path: Path) -> None:
    holder = free_port_holder()
    try:
        url = f"ws://127.0.0.1:{holder.getsockname()[1]}/ocpp"
        path = tweak(
            small_scenario(tmp_path, chargers=20, duration=60),
            ("unreachable_s = 5", "unreachable_s = 3"),
        )
        report_path = tmp_path / "report.json"
        started = time.monotonic()
        result = run_simfleet(
            "run", str(path), "--target", url, "--report", str(report_path), timeout=45
        )
        elapsed = time.monotonic() - started
    finally:
        holder.close()
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert elapsed < 30
    assert "cannot reach" in result.stderr
    assert url in result.stderr.split("cannot reach", 1)[1]
    report = read_report(report_path)
    assert report["stopped_by"] == "unreachable target"
    assert report["connections"]["opened"] == 0
    assert report["connections"]["failed"] > 0
    assert report["connection_failures"].get("refused", 0) > 0
    assert report["chargers"]["booted"] == 0
    assert "stopped by unreachable target" in result.stdout


# -- stopped by a signal -------------------------------------------------------------------------


def _live(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_signal_stops_gracefully(
    tmp_path: Path, watched: list[Watched], sig: signal.Signals, code: int
) -> None:
    scenario = small_scenario(tmp_path, chargers=50, duration=60, workers=2)
    report_path = tmp_path / "report.json"
    run = Watched("run", str(scenario), "--report", str(report_path), "--progress-every", "0.5")
    watched.append(run)
    run.wait_for_stderr(r"booted [1-9]", timeout_s=20)
    children = psutil.Process(run.process.pid).children(recursive=True)
    # Two workers and the embedded CSMS at least (multiprocessing may add its resource tracker).
    assert len(children) >= 3, children
    sent_at = time.monotonic()
    run.process.send_signal(sig)
    assert run.finish(timeout_s=25) == code, "".join(run.stderr)
    assert time.monotonic() - sent_at < 20
    stdout = "".join(run.stdout)
    assert f"stopped by signal {sig.name}" in stdout
    assert_summary(stdout, 50)
    report = read_report(report_path)
    assert sig.name in report["stopped_by"]
    assert report["chargers"]["booted"] > 0
    assert report["duration_s"] < 30
    assert percentile_violations(report) == []
    # Nothing of that run is left behind.
    deadline = time.monotonic() + 10
    while _live(children) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftovers = [(p, p.pid, p.name()) for p in _live(children)]
    for process, _pid, _name in leftovers:  # children of the run we started: end by handle
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    assert not leftovers, [(pid, name) for _p, pid, name in leftovers]
