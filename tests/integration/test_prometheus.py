"""A real Prometheus server scrapes a live simfleet run: the catalogue and the dashboard hold.

One run for the whole module (about 40 s): a CSMS that misbehaves a little (CALLERRORs, garbage,
closed connections) and sends commands, 60 chargers on 2 workers with `--metrics-port 0` and
`--strict` (the garbage frames are schema violations), and
Debian's `prometheus` scraping every second. Then every catalogue metric must be in Prometheus,
every dashboard query must parse and return a series, and `promtool check metrics` must be clean.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, require_program, small_scenario, start_csms, stop_process
from dashboard_queries import concrete, load_dashboard, panel_queries, variable_queries

from simfleet.exporters.catalogue import CATALOGUE, series_names

CHARGERS = 60
RUN_S = 120  # ended by the fixture once the tests are done

#: Quick reconnects, so dropped connections come back within the run.
RECONNECT = "\n[reconnect]\nmin_s = 0.2\nmax_s = 1\n"


@dataclass
class Live:
    prometheus: str  # http://127.0.0.1:PORT
    metrics_url: str  # simfleet's /metrics

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{expr!r}: {error.code} {error.read().decode()}") from None
        assert body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(pattern: str, log: Path, process: subprocess.Popen[bytes], limit_s: float) -> str:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text(errors="replace"))
        if match:
            return match.group(1)
        assert process.poll() is None, log.read_text(errors="replace")
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not in {log.read_text(errors='replace')!r}")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: bytes = response.read()
        return data


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    prometheus = require_program("prometheus")
    tmp = tmp_path_factory.mktemp("prom")
    csms = start_csms(
        "--callerror-rate",
        "0.02",
        "--garbage-rate",
        "0.01",
        "--close-rate",
        "0.002",
        "--command",
        "TriggerMessage=20",
        "--command",
        "GetConfiguration=10",
    )
    processes: list[subprocess.Popen[bytes]] = [csms.process]
    try:
        scenario = small_scenario(tmp, chargers=CHARGERS, duration=RUN_S, workers=2)
        with scenario.open("a", encoding="utf-8") as file:
            file.write(RECONNECT)
        run_log = tmp / "run.log"
        with run_log.open("wb") as sink:
            run = subprocess.Popen(
                [
                    *(sys.executable, "-m", "simfleet", "run", str(scenario)),
                    *("--target", csms.url, "--metrics-port", "0", "--metrics-hold", "30"),
                    *("--progress-every", "5", "--strict"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=sink,
                cwd=ROOT,
            )
        processes.append(run)
        metrics_url = _wait_for(r"metrics at (http://\S+)", run_log, run, 30)
        host_port = urllib.parse.urlparse(metrics_url).netloc
        config = tmp / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: simfleet\n"
            f"    static_configs:\n      - targets: ['{host_port}']\n",
            encoding="utf-8",
        )
        prom_port = _free_port()
        prom_log = tmp / "prometheus.log"
        with prom_log.open("wb") as sink:
            server = subprocess.Popen(
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp / 'data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--storage.tsdb.retention.time=1h",
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        processes.append(server)
        live = Live(f"http://127.0.0.1:{prom_port}", metrics_url)
        _wait_ready(live, server, prom_log)
        # Enough scrapes for rate() over the dashboard's windows, and for the fleet to have
        # booted, charged, failed and been commanded.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            samples = live.query("count_over_time(simfleet_fleet_planned_chargers[1m])")
            if samples and float(samples[0]["value"][1]) >= 15:
                break
            assert run.poll() is None, run_log.read_text(errors="replace")
            time.sleep(1)
        yield live
    finally:
        for process in reversed(processes):
            stop_process(process)


def _wait_ready(live: Live, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text(errors="replace")
        try:
            if _get(f"{live.prometheus}/-/ready"):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"prometheus not ready: {log.read_text(errors='replace')}")


def test_prometheus_scrapes_the_endpoint(live: Live) -> None:
    [up] = live.query('up{job="simfleet"}')
    assert up["value"][1] == "1"
    [planned] = live.query('simfleet_fleet_planned_chargers{scenario="test-small"}')
    assert planned["value"][1] == str(CHARGERS)


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda spec: spec.name)
def test_every_catalogue_metric_is_in_prometheus(live: Live, spec: Any) -> None:
    for name in series_names(spec):
        series = live.query(name)
        assert series, f"{name}: no series"
        for one in series:
            labels = set(one["metric"]) - {"__name__", "instance", "job"}
            expected = {"scenario", *spec.labels} | ({"le"} if name.endswith("_bucket") else set())
            assert labels == expected, (name, one["metric"])


def test_the_run_did_what_the_numbers_say(live: Live) -> None:
    def total(expr: str) -> float:
        return sum(float(s["value"][1]) for s in live.query(expr))

    assert total("simfleet_fleet_booted_chargers") > 0
    assert total("simfleet_transaction_started_total") > 0
    assert total("simfleet_energy_delivered_watthours_total") > 0
    assert total('simfleet_ocpp_call_errors_total{error_code="InternalError"}') > 0
    assert total("simfleet_ocpp_malformed_total") > 0
    assert total("simfleet_connection_dropped_total") > 0
    # The charger answers these commands NotSupported until it implements them (issue 6).
    assert total('simfleet_csms_commands_total{action="TriggerMessage"}') > 0
    assert total('simfleet_csms_commands_total{action="GetConfiguration"}') > 0
    # Commands are timed: a count per command, and sub-second handling times.
    handled = total('simfleet_csms_command_handling_seconds_count{action="TriggerMessage"}')
    assert handled > 0
    assert total('simfleet_csms_command_handling_seconds_sum{action="TriggerMessage"}') < handled
    # Strict mode: the injected garbage is counted as frames that are not OCPP-J, and nothing
    # the chargers sent broke a schema.
    assert total('simfleet_schema_violations_total{direction="received", kind="frame"}') > 0
    assert total('simfleet_schema_violations_total{direction="sent"}') == 0
    assert total('simfleet_schema_validated_frames_total{direction="sent"}') > 0
    workers = {s["metric"]["worker"] for s in live.query("simfleet_process_cpu_seconds_total")}
    assert workers == {"main", "0", "1"}
    # Latency percentiles as the dashboard computes them: real numbers, within the buckets.
    p99 = live.query(
        "histogram_quantile(0.99, sum by (le) "
        "(rate(simfleet_ocpp_call_latency_seconds_bucket[15s])))"
    )
    assert 0 < float(p99[0]["value"][1]) <= 60


def _dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = load_dashboard()
    found = list(panel_queries(dashboard))
    for name, query in variable_queries(dashboard):
        # label_values(SELECTOR, label) is Grafana's, not PromQL: check the selector.
        match = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", query)
        found.append((f"variable {name}", match.group(1) if match else query))
    return found


@pytest.mark.parametrize(("title", "expr"), _dashboard_expressions())
def test_every_dashboard_query_returns_a_series(live: Live, title: str, expr: str) -> None:
    assert live.query(concrete(expr)), f"{title}: {expr} returned nothing"


def test_promtool_finds_the_exposition_clean(live: Live) -> None:
    promtool = require_program("promtool")
    exposition = _get(live.metrics_url)
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == b"", checked.stdout
