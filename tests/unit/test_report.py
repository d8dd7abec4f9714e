"""The run report and summary: CSMS commands apart from charger-initiated calls, strict mode."""

from __future__ import annotations

import io
from typing import Any

from simfleet.drivers.progress import Progress
from simfleet.exporters.report import build_report, summary_table
from simfleet.scenario.model import Scenario
from simfleet.sim.stats import Recorder, Snapshot, merge


def _fleet(strict: bool) -> Snapshot:
    workers = []
    for worker, reset_s in enumerate((0.0004, 0.0012)):
        r = Recorder()
        r.planned = 5
        r.call_answered("1.6", "Heartbeat", 0.004, None)
        for status in ("Accepted", "Rejected"):
            r.command_handled("1.6", "Reset", status)
            r.command_answered(reset_s)
        r.command_handled("1.6", "TriggerMessage", "Accepted")
        r.command_answered(0.0002)
        if strict:
            r.validated_sent, r.validated_received = 50, 40
            r.schema_violation(
                "1.6", "received", "BootNotification", "result", "no interval", b"[3,...]"
            )
        workers.append(r.snapshot(worker, 10.0))
    return merge(workers)


def _report(strict: bool) -> dict[str, Any]:
    scenario = Scenario(name="unit", strict=strict)
    return build_report(scenario, "ws://x", _fleet(strict), 10.0, 10, "duration", 2)


def test_commands_have_a_section_of_their_own() -> None:
    report = _report(strict=False)
    assert set(report["messages"]) == {"Heartbeat"}  # charger-initiated only
    reset = report["csms_command_handling"]["Reset"]
    assert reset["count"] == 4
    assert reset["statuses"] == {"Accepted": 2, "Rejected": 2}
    assert reset["timed"] == 4
    assert 0.39 <= reset["p50_ms"] <= 0.41
    assert 1.18 <= reset["p99_ms"] <= 1.2
    assert reset["max_ms"] == 1.2
    assert report["csms_command_handling"]["TriggerMessage"]["count"] == 2
    # The flat counts stay as they were.
    assert report["csms_commands"]["1.6|Reset|Accepted"] == 2


def test_summary_shows_the_command_table() -> None:
    text = summary_table(_report(strict=False))
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("CSMS command"))
    assert "p95 ms" in lines[head]
    assert lines[head + 2].startswith("Reset")
    assert "Accepted=2 Rejected=2" in lines[head + 2]
    assert "1.200" in lines[head + 2]  # max handling time, to the microsecond
    assert "strict" not in text


def test_strict_section_and_summary_line() -> None:
    report = _report(strict=True)
    schema = report["schema_validation"]
    assert schema["strict"] is True
    assert schema["validated"] == {"sent": 100, "received": 80}
    assert schema["violations_total"] == 2
    assert schema["violations"] == {"BootNotification|received|result": 2}
    assert schema["examples"][0].startswith("1.6 received BootNotification result: no interval")
    text = summary_table(report)
    assert (
        "strict: 100 frames sent and 80 received checked against the OCPP schemas, 2 violations"
        in text
    )
    assert "schema violations: BootNotification received result=2" in text


def test_strict_off_reports_it() -> None:
    schema = _report(strict=False)["schema_validation"]
    assert schema == {
        "strict": False,
        "validated": {"sent": 0, "received": 0},
        "violations_total": 0,
        "violations": {},
        "examples": [],
    }


def test_progress_line_mentions_commands_and_violations_when_there_are_any() -> None:
    progress = Progress(10, io.StringIO(), 1.0, quiet=False)
    line = progress.line(_fleet(strict=True), 5.0)
    assert "| commands 6 p95 " in line
    assert line.endswith("| schema violations 2")
    plain = Recorder()
    plain.planned = 10
    line = progress.line(plain.snapshot(0, 1.0), 6.0)
    assert "commands" not in line and "schema" not in line
