"""Strict mode and CSMS command handling times on real sockets, bounded and small.

- `simfleet run --strict` against the embedded CSMS (which sends commands): no violation, every
  frame checked, and the commands' handling times in the report.
- `simfleet run --strict` against a deliberately broken CSMS (a tiny websockets server in this
  test): its off-schema BootNotification answers and its off-schema command are counted by
  action, direction and kind; `--fail-on-violations` turns them into exit code 4.
- `simfleet csms --strict`: the embedded CSMS checks what it receives and sends.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import run_simfleet, small_scenario, start_csms, stop_process
from websockets.sync.server import ServerConnection, serve
from websockets.typing import Subprotocol

CHARGERS = 6
NOW = "2024-05-01T10:00:00.000Z"
COMMANDS = """
[[csms.commands]]
action = "TriggerMessage"
rate_per_s = 10

[[csms.commands]]
action = "GetConfiguration"
rate_per_s = 5
"""


def _report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


@pytest.mark.timeout(90)
def test_strict_run_against_the_embedded_csms_is_clean_and_times_commands(
    tmp_path: Path,
) -> None:
    scenario = small_scenario(tmp_path, chargers=CHARGERS, duration=6)
    with scenario.open("a", encoding="utf-8") as file:
        file.write(COMMANDS)
    report_path = tmp_path / "report.json"
    result = run_simfleet("run", str(scenario), "--strict", "--report", str(report_path))
    assert result.returncode == 0, result.stderr
    report = _report(report_path)
    schema = report["schema_validation"]
    assert schema["strict"] is True
    assert schema["violations_total"] == 0, schema["examples"]
    frames = report["frames"]
    assert schema["validated"] == {"sent": frames["sent"], "received": frames["received"]}
    assert frames["sent"] > 50
    assert "0 violations" in result.stdout
    assert "strict (frames checked against the OCPP schemas)" in result.stderr
    # The commands' handling times: a row per command, apart from the charger's own CALLs.
    handling = report["csms_command_handling"]
    assert set(handling) == {"TriggerMessage", "GetConfiguration"}
    assert not set(handling) & set(report["messages"])
    for action, row in handling.items():
        assert row["count"] > 0, action
        assert row["timed"] == row["count"], action
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"], row
        assert row["max_ms"] < 1000, row
    assert handling["GetConfiguration"]["statuses"] == {
        "Answered": handling["GetConfiguration"]["count"]
    }
    assert "CSMS command" in result.stdout


class BrokenCsms:
    """Answers every CALL, but the BootNotification answer breaks the schema (`boot`), and
    once booted each charger gets a Reset whose type is no ResetType."""

    def __init__(self, boot: dict[str, Any]) -> None:
        self.boot = boot
        self.ids = itertools.count(1)

    def answer(self, action: str) -> dict[str, Any]:
        answers: dict[str, dict[str, Any]] = {
            "BootNotification": self.boot,
            "Heartbeat": {"currentTime": NOW},
            "Authorize": {"idTagInfo": {"status": "Accepted"}},
            "StartTransaction": {
                "transactionId": next(self.ids),
                "idTagInfo": {"status": "Accepted"},
            },
        }
        return answers.get(action, {})

    def handle(self, ws: ServerConnection) -> None:
        reset_sent = False
        for data in ws:
            message = orjson.loads(data)
            if message[0] != 2:
                continue  # the charger's answer to our Reset
            ws.send(orjson.dumps([3, message[1], self.answer(message[2])]).decode())
            if not reset_sent and message[2] == "StatusNotification":
                ws.send(orjson.dumps([2, "reset-1", "Reset", {"type": "Sideways"}]).decode())
                reset_sent = True


@contextmanager
def broken_csms(boot: dict[str, Any]) -> Iterator[str]:
    csms = BrokenCsms(boot)
    with serve(csms.handle, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")]) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/ocpp"
        finally:
            server.shutdown()
            thread.join(timeout=10)


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("boot", "message"),
    [
        ({"status": "Accepted", "currentTime": NOW}, "data must contain ['interval']"),
        ({"status": "Accepted", "currentTime": NOW, "interval": "60"}, "must be integer"),
    ],
    ids=["missing-interval", "interval-as-string"],
)
def test_strict_run_counts_a_broken_csms_s_violations_by_action(
    tmp_path: Path, boot: dict[str, Any], message: str
) -> None:
    scenario = small_scenario(tmp_path, chargers=CHARGERS, duration=4)
    report_path = tmp_path / "report.json"
    with broken_csms(boot) as url:
        result = run_simfleet(
            *("run", str(scenario), "--target", url, "--strict"),
            *("--report", str(report_path)),
        )
    assert result.returncode == 0, result.stderr  # --strict alone counts, it does not fail
    schema = _report(report_path)["schema_validation"]
    violations = schema["violations"]
    assert violations.get("BootNotification|received|result", 0) >= CHARGERS, violations
    # Nothing the chargers sent broke a schema, whatever the CSMS did.
    assert not [key for key in violations if "|sent|" in key], violations
    assert any(message in example for example in schema["examples"]), schema["examples"]
    assert "schema violations: BootNotification received result=" in result.stdout


@pytest.mark.timeout(90)
def test_fail_on_violations_exits_4_and_counts_commands_off_schema(tmp_path: Path) -> None:
    scenario = small_scenario(tmp_path, chargers=CHARGERS, duration=4)
    report_path = tmp_path / "report.json"
    # A schema-valid boot, so the chargers get on to StatusNotifications and the Reset.
    boot = {"status": "Accepted", "currentTime": NOW, "interval": 60}
    with broken_csms(boot) as url:
        result = run_simfleet(
            *("run", str(scenario), "--target", url, "--fail-on-violations"),
            *("--report", str(report_path)),
        )
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert "frames broke the OCPP schemas" in result.stderr
    schema = _report(report_path)["schema_validation"]
    assert schema["violations"] == {"Reset|received|call": CHARGERS}, schema
    assert any("data.type must be one of" in e for e in schema["examples"])


@pytest.mark.timeout(90)
def test_embedded_csms_strict_checks_both_directions(tmp_path: Path) -> None:
    csms = start_csms("--strict", "--command", "TriggerMessage=10")
    try:
        scenario = small_scenario(tmp_path, chargers=CHARGERS, duration=4)
        result = run_simfleet("run", str(scenario), "--target", csms.url)
        assert result.returncode == 0, result.stderr
    finally:
        stop_process(csms.process)  # SIGTERM: the CSMS prints its figures once more
    lines = [line for line in csms.output().splitlines() if "strict:" in line]
    assert lines, csms.output()
    assert lines[-1].endswith(" 0 schema violations"), lines[-1]
    checked = int(lines[-1].split("strict: ")[1].split(" frames")[0])
    assert checked > 50
