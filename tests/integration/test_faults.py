"""A misbehaving CSMS (`simfleet csms` fault injection) against a real fleet run.

Each test starts its own CSMS with one kind of fault, runs a small fleet against it for a few
seconds, and checks that the run completes (exit 0) and that the report counts what happened.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import CsmsProcess, run_simfleet, small_scenario, start_csms, stop_process

CHARGERS = 30


@contextmanager
def faulty_csms(*args: str) -> Iterator[CsmsProcess]:
    server = start_csms(*args)
    try:
        yield server
    finally:
        stop_process(server.process)


def scenario(
    tmp_path: Path,
    *,
    duration: float = 8,
    call_s: float = 5,
    boot_retry_s: float | None = None,
    reconnect: tuple[float, float] | None = None,
) -> Path:
    """The conftest small scenario, with a few timeouts changed."""
    path = small_scenario(tmp_path, chargers=CHARGERS, duration=duration, workers=1)
    text = path.read_text(encoding="utf-8")
    assert "call_s = 5\n" in text
    text = text.replace("call_s = 5\n", f"call_s = {call_s}\n")
    if boot_retry_s is not None:
        text = text.replace("[timeouts]\n", f"[timeouts]\nboot_retry_s = {boot_retry_s}\n")
    if reconnect is not None:
        text += f"\n[reconnect]\nmin_s = {reconnect[0]}\nmax_s = {reconnect[1]}\n"
    path.write_text(text, encoding="utf-8")
    return path


def run_against(server: CsmsProcess, path: Path, tmp_path: Path) -> tuple[dict[str, Any], str, str]:
    """Run the fleet to completion against `server`; (report, stdout, stderr). Must exit 0."""
    report_path = tmp_path / "report.json"
    started = time.monotonic()
    result = run_simfleet(
        "run", str(path), "--target", server.url, "--report", str(report_path), timeout=50
    )
    assert time.monotonic() - started < 45
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert server.process.poll() is None, "the CSMS died during the run"
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["stopped_by"] == "duration"
    assert report["chargers"]["planned"] == CHARGERS
    for action, row in report["messages"].items():
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"], (action, row)
    return report, result.stdout, result.stderr


def total(report: dict[str, Any], field: str) -> int:
    return sum(row[field] for row in report["messages"].values())


@pytest.mark.timeout(60)
def test_callerror_internal_error_is_counted_and_run_continues(tmp_path: Path) -> None:
    path = scenario(tmp_path, boot_retry_s=1)
    with faulty_csms("--callerror-rate", "0.1", "--heartbeat-interval", "1") as server:
        report, stdout, _ = run_against(server, path, tmp_path)
    errors = report["errors"]
    assert set(errors) == {"InternalError"}, errors
    assert errors["InternalError"] > 0
    # The per-action error counts add up to the per-code total.
    assert total(report, "errors") == errors["InternalError"]
    assert "CALLERRORs: InternalError=" in stdout
    # The run went on despite the errors.
    messages = report["messages"]
    assert messages["Heartbeat"]["ok"] > 0
    assert messages["StatusNotification"]["ok"] > 0
    # A CALLERROR is an answer: no timeouts, nothing malformed, no connection dropped.
    assert report["timeouts"] == 0
    assert report["malformed"] == {}
    assert report["connections"]["dropped"] == 0
    # A BootNotification answered with a CALLERROR is retried (boot_retry_s = 1): all booted.
    assert report["chargers"]["booted"] == CHARGERS
    boot = messages["BootNotification"]
    assert boot["ok"] == CHARGERS
    assert boot["sent"] == CHARGERS + boot["errors"]


@pytest.mark.timeout(60)
def test_garbage_answers_are_malformed_and_the_calls_time_out(tmp_path: Path) -> None:
    path = scenario(tmp_path, call_s=2)
    with faulty_csms("--garbage-rate", "0.05", "--heartbeat-interval", "1") as server:
        report, stdout, _ = run_against(server, path, tmp_path)
    malformed = sum(report["malformed"].values())
    assert malformed > 0, report["malformed"]
    assert "malformed from CSMS: " in stdout
    # Each garbage frame replaced an answer: that call timed out, or was still waiting for its
    # answer when the run ended (at most one per charger: one CALL outstanding at a time).
    timeouts = report["timeouts"]
    assert timeouts == total(report, "timeouts")
    assert 0 < timeouts <= malformed <= timeouts + CHARGERS, (timeouts, malformed)
    assert report["errors"] == {}
    assert report["connections"]["dropped"] == 0
    assert report["messages"]["Heartbeat"]["ok"] > 0


@pytest.mark.timeout(60)
def test_closed_connections_are_reopened(tmp_path: Path) -> None:
    path = scenario(tmp_path, reconnect=(0.2, 1))
    with faulty_csms("--close-rate", "0.02", "--heartbeat-interval", "1") as server:
        report, stdout, _ = run_against(server, path, tmp_path)
    k = report["connections"]
    assert k["dropped"] > 0, k
    assert k["reconnects"] > 0, k
    assert k["reconnects"] <= k["dropped"], k
    assert k["opened"] == CHARGERS + k["reconnects"], k
    assert k["failed"] == 0, k
    assert f"{k['dropped']} dropped, {k['reconnects']} reconnects" in stdout
    # A charger that lost its connection after its boot was accepted does not boot again.
    assert report["chargers"]["booted"] == CHARGERS
    assert report["errors"] == {}
    assert report["malformed"] == {}


@pytest.mark.timeout(60)
def test_boot_pending_is_retried_at_the_csms_interval(tmp_path: Path) -> None:
    # The CSMS answers Pending with interval 4 s; the charger's own retry (boot_retry_s = 1)
    # must not be used when the CSMS gives one. In 6 s every charger boots twice (at ~0 s and
    # ~4 s), not 6 times.
    path = scenario(tmp_path, duration=6, boot_retry_s=1)
    with faulty_csms("--boot-status", "Pending", "--boot-retry-interval", "4") as server:
        report, stdout, _ = run_against(server, path, tmp_path)
    assert report["chargers"]["booted"] == 0
    assert report["chargers"]["connected_max"] == CHARGERS
    boot = report["messages"]["BootNotification"]
    assert boot["sent"] > CHARGERS
    assert boot["sent"] == boot["ok"] == 2 * CHARGERS, boot
    # Not accepted: nothing but BootNotification may be sent (OCPP 1.6 §4.2).
    assert set(report["messages"]) == {"BootNotification"}, sorted(report["messages"])
    assert f"{CHARGERS} planned" in stdout
    assert "0 boots accepted" in stdout


@pytest.mark.timeout(60)
def test_slow_csms_shows_in_latencies(tmp_path: Path) -> None:
    path = scenario(tmp_path, duration=5)
    with faulty_csms("--delay-ms", "150") as server:
        report, _, _ = run_against(server, path, tmp_path)
    boot = report["messages"]["BootNotification"]
    assert boot["ok"] == CHARGERS
    assert boot["p50_ms"] >= 150 * 0.99  # 1 % histogram resolution
    assert boot["max_ms"] >= 150
    assert report["timeouts"] == 0


@pytest.mark.timeout(60)
def test_answers_later_than_the_call_timeout(tmp_path: Path) -> None:
    # Every answer comes 1.5 s after a 1 s call timeout: each call times out, and the late
    # answers are counted as malformed (UnexpectedAnswer), not taken for the next call's.
    path = scenario(tmp_path, duration=5, call_s=1, boot_retry_s=1)
    with faulty_csms("--delay-ms", "1500") as server:
        report, _, _ = run_against(server, path, tmp_path)
    boot = report["messages"]["BootNotification"]
    assert boot["ok"] == 0
    assert boot["timeouts"] >= CHARGERS
    assert report["chargers"]["booted"] == 0
    assert report["malformed"].get("UnexpectedAnswer", 0) > 0, report["malformed"]


@pytest.mark.timeout(30)
def test_fault_rates_adding_up_to_more_than_one_are_refused() -> None:
    result = run_simfleet(
        "csms", "--port", "0", "--callerror-rate", "0.6", "--garbage-rate", "0.6", timeout=20
    )
    assert result.returncode == 2
    assert "must not exceed 1" in result.stderr
