"""Shared test helpers: real processes on 127.0.0.1, started and ended by their own handles."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SIMFLEET = [sys.executable, "-m", "simfleet"]
#: Set by .ci/run: a test that needs a system program fails instead of skipping.
REQUIRE_TOOLS = os.environ.get("SIMFLEET_REQUIRE_SYSTEM_TOOLS") == "1"


def require_program(name: str) -> str:
    """The path of a system program, or skip (fail in CI) when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if REQUIRE_TOOLS:
            pytest.fail(message + " (SIMFLEET_REQUIRE_SYSTEM_TOOLS=1: .ci/run must install it)")
        pytest.skip(message)
    return path


@dataclass
class CsmsProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_csms(*args: str) -> CsmsProcess:
    """`simfleet csms --port 0 ARGS...` in a child process; waits for its bound port.

    Its stderr goes to a file (a pipe nobody reads could fill up and stall it)."""
    log = Path(tempfile.mkstemp(prefix="simfleet-csms-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*SIMFLEET, "csms", "--port", "0", *args],
            stderr=sink,
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"wss?://127\.0\.0\.1:(\d+)/", log.read_text(errors="replace"))
        if match is not None:
            return CsmsProcess(process, int(match.group(1)), log)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    stop_process(process)
    raise AssertionError(f"embedded CSMS did not start: {log.read_text(errors='replace')!r}")


def stop_process(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """End a process this test started, by its handle: SIGTERM, then SIGKILL if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def csms() -> Iterator[CsmsProcess]:
    """A well-behaved embedded CSMS on a free port."""
    server = start_csms()
    try:
        yield server
    finally:
        stop_process(server.process)


def run_simfleet(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`simfleet ARGS...` to completion, output captured."""
    return subprocess.run(
        [*SIMFLEET, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def write_scenario(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


#: A small, fast scenario for integration tests: short intervals so every message type flows.
SMALL_SCENARIO = """
name = "test-small"
seed = 3

[run]
duration_s = {duration}
workers = {workers}

[fleet]
chargers = {chargers}
ramp_per_s = {ramp}

[charger]
connectors = 2
heartbeat_interval_s = 2
meter_interval_s = 1

[behaviour]
idle_s = 1
session_s = 3

[timeouts]
call_s = 5
connect_s = 5
unreachable_s = 5
"""


def small_scenario(
    tmp_path: Path, chargers: int = 20, duration: float = 8, workers: int = 1, ramp: float = 200
) -> Path:
    return write_scenario(
        tmp_path,
        SMALL_SCENARIO.format(chargers=chargers, duration=duration, workers=workers, ramp=ramp),
    )
