"""`simfleet locust`: Locust drives real engine children against a real CSMS on 127.0.0.1."""

from __future__ import annotations

import csv
import json
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, SIMFLEET, CsmsProcess, small_scenario, start_csms, stop_process
from ocpp_csms import start_recording_csms

pytest.importorskip("locust")

RUN_S = 12


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_locust(*args: str, timeout: float = 50) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SIMFLEET, "locust", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def stats_by_action(prefix: Path) -> dict[str, dict[str, str]]:
    rows = read_csv(Path(f"{prefix}_stats.csv"))
    return {row["Name"]: row for row in rows if row["Name"] != "Aggregated"}


def headless(scenario: Path, host: str, prefix: Path, users: int) -> list[str]:
    return [
        str(scenario),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{RUN_S}s",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--only-summary",
    ]


@pytest.mark.timeout(60)
def test_headless_run_reports_one_row_per_ocpp_action(tmp_path: Path, csms: CsmsProcess) -> None:
    prefix = tmp_path / "run"
    html = tmp_path / "report.html"
    scenario = small_scenario(tmp_path, duration=60)
    result = run_locust(*headless(scenario, csms.url, prefix, 100), "--html", str(html))
    assert result.returncode == 0, result.stderr[-4000:]
    report = html.read_text(encoding="utf-8")
    assert "BootNotification" in report
    assert "OCPP 1.6" in report
    stats = stats_by_action(prefix)
    assert int(stats["BootNotification"]["Request Count"]) == 100
    assert {"StatusNotification", "StartTransaction", "MeterValues"} <= set(stats)
    assert {row["Type"] for row in stats.values()} == {"OCPP 1.6"}
    assert all(int(row["Failure Count"]) == 0 for row in stats.values())
    # The stop phase (every EV leaves) is in the final statistics: each transaction that
    # started was stopped, and Locust's CSV counted the stops.
    starts = int(stats["StartTransaction"]["Request Count"])
    assert int(stats["StopTransaction"]["Request Count"]) == starts


@pytest.mark.timeout(60)
def test_injected_callerrors_are_locust_failures(tmp_path: Path) -> None:
    server = start_csms("--callerror-rate", "0.1")
    try:
        prefix = tmp_path / "run"
        scenario = small_scenario(tmp_path, duration=60)
        result = run_locust(*headless(scenario, server.url, prefix, 50))
    finally:
        stop_process(server.process)
    # Locust exits 1 when requests failed: expected here.
    assert result.returncode in (0, 1), result.stderr[-4000:]
    stats = stats_by_action(prefix)
    assert sum(int(row["Failure Count"]) for row in stats.values()) > 0
    failures = read_csv(Path(f"{prefix}_failures.csv"))
    assert any("InternalError" in row["Error"] for row in failures), failures
    # Every CALLERROR the CSMS injected is one Locust failure (the CSMS prints its totals
    # when it stops); only an answer still on the wire at the very end may be missing.
    injected = re.findall(r"'callerror': (\d+)", server.output())
    assert injected, server.output()[-2000:]
    failed = sum(int(row["Occurrences"]) for row in failures if "InternalError" in row["Error"])
    assert int(injected[-1]) - 2 <= failed <= int(injected[-1])


@pytest.mark.timeout(90)
def test_distributed_master_and_two_workers_share_no_identity(tmp_path: Path) -> None:
    scenario = small_scenario(tmp_path, duration=60)
    port = free_port()
    prefix = tmp_path / "run"
    recorder = start_recording_csms(tmp_path, "embedded")
    processes: list[subprocess.Popen[bytes]] = []
    out = b""
    try:
        master_args = [
            *headless(scenario, recorder.url, prefix, 60),
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            "2",
        ]
        master = subprocess.Popen(  # first: workers retry until the master listens
            [*SIMFLEET, "locust", *master_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        processes.append(master)
        for k in range(2):
            worker_args = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
            with (tmp_path / f"worker{k}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [*SIMFLEET, "locust", str(scenario), *worker_args],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=ROOT,
                    )
                )
        out, _ = master.communicate(timeout=60)
        for worker in processes[1:]:
            worker.wait(timeout=20)
    finally:
        for process in processes:
            stop_process(process)
        recording = recorder.stop()
    assert master.returncode == 0, out.decode(errors="replace")[-4000:]
    stats = stats_by_action(prefix)
    assert int(stats["BootNotification"]["Request Count"]) == 60
    assert len(recording.identities()) == 60
    assert recording.counts()["BootNotification"] == 60


@pytest.mark.timeout(90)
def test_locust_counts_equal_what_the_csms_answered(tmp_path: Path) -> None:
    """Per OCPP action, Locust's request count is the number of CALLs the CSMS answered."""
    prefix = tmp_path / "run"
    recorder = start_recording_csms(tmp_path, "embedded")
    try:
        result = run_locust(
            *headless(small_scenario(tmp_path, duration=60), recorder.url, prefix, 50)
        )
    finally:
        recording = recorder.stop()
    assert result.returncode == 0, result.stderr[-4000:]
    stats = stats_by_action(prefix)
    answered = recording.answered()
    assert set(stats) == set(answered)
    for action, row in stats.items():
        counted = int(row["Request Count"])
        # An answer still on the wire when the run ended is the only allowed difference.
        assert answered[action] - 2 <= counted <= answered[action], (action, counted, answered)


@pytest.mark.timeout(90)
def test_a_dead_engine_child_is_reported_not_lost(tmp_path: Path, csms: CsmsProcess) -> None:
    import psutil

    prefix = tmp_path / "run"
    args = headless(small_scenario(tmp_path, duration=60), csms.url, prefix, 20)
    with (tmp_path / "locust.log").open("wb") as log:
        locust = subprocess.Popen([*SIMFLEET, "locust", *args], stdout=log, stderr=log, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        child = None
        while child is None and time.monotonic() < deadline:
            time.sleep(0.5)
            for proc in psutil.Process(locust.pid).children(recursive=True):
                if "simfleet.engine.child" in " ".join(proc.cmdline()):
                    child = proc
        assert child is not None, "no engine child started"
        time.sleep(3)
        child.kill()  # a descendant of the run this test started: the crash under test
        locust.wait(timeout=60)
    finally:
        stop_process(locust)
    output = (tmp_path / "locust.log").read_text(errors="replace")
    assert re.search(r"engine child local \(pid \d+\) died, exit -9", output), output[-3000:]


@pytest.mark.timeout(90)
def test_master_fleet_tab_sums_its_workers(tmp_path: Path, csms: CsmsProcess) -> None:
    scenario = small_scenario(tmp_path, duration=60)
    master_port, web_port = free_port(), free_port()
    master_args = [
        "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
        "--expect-workers", "2", "--autostart", "--autoquit", "3", "-u", "60", "-r", "60",
        "-t", "15s", "--web-port", str(web_port), "--host", csms.url,
    ]  # fmt: skip
    worker_args = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    processes = [
        subprocess.Popen(
            [*SIMFLEET, "locust", str(scenario), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        for args in (master_args, worker_args, worker_args)
    ]
    rows: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{web_port}/stats/requests", timeout=2
                ) as response:
                    extended = json.load(response).get("extended_stats") or []
            except OSError:
                continue
            rows = extended[0]["data"] if extended else []
            total = next((r for r in rows if r.get("label") == "Total"), {})
            if total.get("connected") == 60:
                break
    finally:
        for process in processes:
            stop_process(process)
    workers = [r for r in rows if str(r.get("label", "")).startswith("worker")]
    assert len(workers) == 2, rows
    total = next(r for r in rows if r.get("label") == "Total")
    for key in ("planned", "connected", "booted", "transactions"):
        assert total[key] == sum(int(str(w[key])) for w in workers), (key, rows)
    assert total["connected"] == 60


@pytest.mark.timeout(90)
def test_the_locust_process_serves_prometheus_metrics(tmp_path: Path, csms: CsmsProcess) -> None:
    """--simfleet-metrics-port: the Locust process serves its engine child's metrics."""
    prefix = tmp_path / "run"
    scenario = small_scenario(tmp_path, duration=60)
    log = tmp_path / "locust.log"
    with log.open("wb") as sink:
        locust = subprocess.Popen(
            [
                *SIMFLEET,
                "locust",
                *headless(scenario, csms.url, prefix, 40),
                "--simfleet-metrics-port",
                "0",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            match = re.search(r"simfleet metrics at (http://\S+)", log.read_text(errors="replace"))
            url = match.group(1) if match else ""
            assert locust.poll() is None or url, log.read_text(errors="replace")
            time.sleep(0.2)
        assert url, log.read_text(errors="replace")
        booted = 0.0
        while booted < 40 and time.monotonic() < deadline + 10:
            with urllib.request.urlopen(url, timeout=10) as response:
                text = response.read().decode()
            match = re.search(r"^simfleet_fleet_booted_chargers\{[^}]*\} (\S+)$", text, re.M)
            booted = float(match.group(1)) if match else 0.0
            time.sleep(0.5)
        assert booted == 40, text
        assert 'simfleet_ocpp_calls_total{action="BootNotification"' in text
        assert 'simfleet_process_cpu_seconds_total{scenario="test-small",worker="0"}' in text
        assert re.search(r'worker="main"\} [0-9.e+]+$', text, re.M)  # the Locust process
        assert locust.wait(timeout=60) == 0, log.read_text(errors="replace")[-4000:]
    finally:
        stop_process(locust)


@pytest.mark.timeout(60)
def test_strict_commands_and_violations_in_locust_rows(tmp_path: Path) -> None:
    """--simfleet-strict: CSMS commands have rows of their own with their handling times, and
    the frames the CSMS garbled are failures of method "OCPP 1.6 schema"."""
    server = start_csms("--command", "TriggerMessage=10", "--garbage-rate", "0.05")
    try:
        prefix = tmp_path / "run"
        scenario = small_scenario(tmp_path, duration=60)
        args = headless(scenario, server.url, prefix, 20)
        result = run_locust(*args, "--simfleet-strict")
    finally:
        stop_process(server.process)
    assert result.returncode in (0, 1), result.stderr[-4000:]  # 1: garbage made failures
    stats = stats_by_action(prefix)
    trigger = stats["TriggerMessage"]
    assert trigger["Type"] == "OCPP 1.6 CSMS"
    assert int(trigger["Request Count"]) > 0
    # Handling times are well under a millisecond, and not rounded away to 0.
    assert 0 < float(trigger["Average Response Time"]) < 1000, trigger
    failures = read_csv(Path(f"{prefix}_failures.csv"))
    schema = [row for row in failures if row["Method"] == "OCPP 1.6 schema"]
    assert schema, failures
    assert {row["Error"] for row in schema} == {"received frame: not JSON"}, schema
    assert {row["Name"] for row in schema} == {"unknown"}
