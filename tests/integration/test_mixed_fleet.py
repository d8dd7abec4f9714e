"""A mixed-version fleet (1.6, 2.0.1, 2.1) against the embedded CSMS on real sockets, every
frame checked against its version's official schemas (--strict)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_simfleet, start_csms, stop_process, write_scenario

MIXED = """
name = "test-mixed"
seed = 5

[run]
duration_s = 12
workers = 2

[fleet]
chargers = 30
ramp_per_s = 100

[charger]
connectors = 2
heartbeat_interval_s = 2
meter_interval_s = 1
ocpp_mix = {{ "1.6" = 0.4, "2.0.1,1.6" = 0.3, "2.1,2.0.1,1.6" = 0.3 }}

[behaviour]
idle_s = 1
session_s = 3

[timeouts]
call_s = 5
connect_s = 5
unreachable_s = 5
{target}
"""


def test_a_mixed_fleet_against_the_embedded_csms_is_clean(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, MIXED.format(target=""))
    report_path = tmp_path / "report.json"
    done = run_simfleet("run", str(scenario), "--strict", "--report", str(report_path))
    assert done.returncode == 0, done.stderr
    assert "OCPP 1.6 40%, 2.0.1/1.6 30%, 2.1/2.0.1/1.6 30%" in done.stderr
    report = json.loads(report_path.read_text())
    versions = report["ocpp_versions"]
    assert set(versions) == {"1.6", "2.0.1", "2.1"}  # each charger spoke its first choice
    for version, row in versions.items():
        assert row["transactions_started"] > 0, (version, row)
        assert row["transactions_stopped"] == row["transactions_started"], (version, row)
    assert "OCPP versions: 1.6 " in done.stdout
    strict = report["schema_validation"]
    assert strict["violations_total"] == 0, strict["examples"]
    assert strict["validated"]["sent"] > 1000
    assert report["messages"]["TransactionEvent"]["ok"] > 0
    assert report["messages"]["StartTransaction"]["ok"] > 0
    assert report["errors"] == {} and report["timeouts"] == 0
    assert report["chargers"]["booted"] == 30


def test_chargers_fall_back_to_the_version_the_csms_speaks(tmp_path: Path) -> None:
    """A CSMS that speaks only 1.6: the chargers offering 2.x first fall back to 1.6."""
    csms = start_csms("--ocpp-versions", "1.6")
    try:
        target = f'[target]\nurl = "{csms.url}"\n'
        scenario = write_scenario(tmp_path, MIXED.format(target=target))
        report_path = tmp_path / "report.json"
        done = run_simfleet("run", str(scenario), "--strict", "--report", str(report_path))
    finally:
        stop_process(csms.process)
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    assert set(report["ocpp_versions"]) == {"1.6"}
    assert report["chargers"]["booted"] == 30
    assert report["schema_validation"]["violations_total"] == 0
