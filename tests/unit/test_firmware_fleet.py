"""Firmware updates through the layers above the charger: the [firmware] scenario table, the
agent's reboot after an installation, per-seed determinism, and the embedded CSMS's answers."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from ocpp_schemas import check

from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16.csms import CsmsConnection16, CsmsSettings
from simfleet.scenario import parse
from simfleet.scenario.load import ScenarioError
from simfleet.sim.agent import ChargerAgent
from simfleet.sim.fleet import build_agents
from simfleet.sim.locust_tally import LocustTally
from simfleet.sim.stats import Recorder

#: One charger, no EV for a long while: only the firmware update happens.
QUIET = """
seed = {seed}
[charger]
connectors = 1
heartbeat_interval_s = 3600
[behaviour]
idle_s = 1e6
session_s = 10
[firmware]
download_s = {download}
install_s = 40
reboot_s = 25
download_failure_rate = 0
install_failure_rate = 0
"""


class Engine:
    """What the engine does for one agent, with numbers for time: answers its CALLs at once,
    and keeps its connection down while `offline_until` says so (a reboot)."""

    def __init__(self, agent: ChargerAgent) -> None:
        self.agent = agent
        self.online = False
        self.log: list[tuple[float, str, dict[str, Any]]] = []

    def serve(self, now: float) -> None:
        for _ in range(50):
            frames = [orjson.loads(f) for f in self.agent.take_outbox()]
            calls = [f for f in frames if f[0] == 2]
            if not calls:
                return
            for _, uid, action, payload in calls:
                check(action, payload)
                self.log.append((now, action, payload))
                answer: dict[str, Any] = {}
                if action == "BootNotification":
                    answer = {"status": "Accepted", "currentTime": iso_utc(now), "interval": 3600}
                self.agent.receive(orjson.dumps([3, uid, answer]), now)

    def run(self, now: float, until: float) -> None:
        agent = self.agent
        while now <= until:
            if not self.online and now >= agent.offline_until:
                self.online = True
                agent.connected(now)
            elif self.online and agent.offline_until > now:
                self.online = False
                agent.disconnected(now)
            self.serve(now)
            due = agent.next_wakeup()
            if not self.online:
                due = min(due, agent.offline_until)
            now = max(now, due)
            if now > until:
                return
            agent.step(now)
            self.serve(now)

    def command(self, action: str, payload: dict[str, Any], now: float) -> Any:
        self.agent.receive(orjson.dumps([2, "cmd", action, payload]), now)
        frames = [orjson.loads(f) for f in self.agent.take_outbox()]
        (answer,) = [f for f in frames if f[1] == "cmd"]
        self.agent.charger.session.outbox[:0] = [orjson.dumps(f) for f in frames if f[1] != "cmd"]
        self.serve(now)
        return answer[2]


def firmware_run(seed: int = 3, download: str = "20") -> Engine:
    scenario = parse(QUIET.format(seed=seed, download=download))
    (agent,) = build_agents(scenario, [1], Recorder(), 0.0)
    engine = Engine(agent)
    engine.run(0.0, 10.0)
    payload = {"location": "http://127.0.0.1/fw/sf-0.9.bin", "retrieveDate": iso_utc(0.0)}
    assert engine.command("UpdateFirmware", payload, 10.0) == {}
    engine.run(10.0, 400.0)
    return engine


def test_the_agent_reboots_for_reboot_s_and_boots_on_the_new_firmware() -> None:
    engine = firmware_run()
    firmware = [(t, p["status"]) for t, a, p in engine.log if a == "FirmwareStatusNotification"]
    assert firmware == [
        (10.0, "Downloading"),
        (30.0, "Downloaded"),
        (30.0, "Installing"),
        (95.0, "Installed"),  # installed at 70, offline 25 s, booted at 95
    ]
    boots = [(t, p["firmwareVersion"]) for t, a, p in engine.log if a == "BootNotification"]
    assert boots == [(0.0, "simfleet-0.1"), (95.0, "sf-0.9")]
    assert engine.agent.charger.firmware_status == "Idle"


def test_the_same_seed_gives_the_same_update() -> None:
    def timeline(seed: int) -> list[tuple[float, str]]:
        engine = firmware_run(seed, download="[30, 120]")
        return [(t, a) for t, a, _ in engine.log if a.startswith("Firmware")]

    assert timeline(5) == timeline(5)
    assert timeline(5) != timeline(6)
    downloaded = timeline(5)[1][0] - 10.0
    assert 30.0 <= downloaded <= 120.0


def test_the_firmware_table_is_read_and_checked() -> None:
    scenario = parse(
        "seed = 9\n[firmware]\ndownload_s = [5, 8]\ninstall_s = 30\nreboot_s = [1, 2]\n"
        "download_failure_rate = 0.5\ninstall_failure_rate = 0\nupload_timeout_s = 4\n"
    )
    f = scenario.firmware
    assert (f.download_s, f.install_s, f.reboot_s) == ((5.0, 8.0), (30.0, 30.0), (1.0, 2.0))
    assert (f.download_failure_rate, f.install_failure_rate, f.upload_timeout_s) == (0.5, 0, 4.0)
    agents = build_agents(scenario, [1, 2], Recorder(), 0.0)
    settings = [a.charger.settings for a in agents]
    assert [s.index for s in settings] == [1, 2]
    assert settings[0].firmware_settings is settings[1].firmware_settings  # one per fleet
    assert settings[0].firmware_settings.seed == 9
    defaults = parse("").firmware
    assert defaults.download_s == (30.0, 120.0) and defaults.install_s == (60.0, 180.0)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("install_s = [9, 3]", "firmware.install_s = [9, 3]: the range must be [low, high]"),
        ("reboot_s = -1", "firmware.reboot_s = -1: must be seconds"),
        ("download_failure_rate = 1.5", "firmware.download_failure_rate = 1.5: must be a prob"),
        ("upload_timeout_s = 0", "firmware.upload_timeout_s = 0.0: must be positive"),
        ("download = 3", "firmware.download = 3: unknown key"),
    ],
)
def test_firmware_table_errors_name_file_key_and_value(line: str, message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        parse(f"[firmware]\n{line}\n", "mine.toml")
    assert str(error.value).startswith(f"mine.toml: {message}")


def test_the_embedded_csms_answers_the_status_notifications() -> None:
    conn = CsmsConnection16("CP", CsmsSettings(), itertools.count(1))
    for uid, (action, payload) in enumerate(
        (
            ("FirmwareStatusNotification", {"status": "Installed"}),
            ("DiagnosticsStatusNotification", {"status": "Uploaded"}),
            ("LogStatusNotification", {"status": "Uploaded", "requestId": 1}),
            ("SignedFirmwareStatusNotification", {"status": "Installed", "requestId": 1}),
        )
    ):
        assert conn.receive(orjson.dumps([2, str(uid), action, payload]), 0.0) == action
        (frame,) = [orjson.loads(f) for f in conn.take_outbox()]
        assert frame == [3, str(uid), {}]
        check(f"{action}Response", frame[2])


def test_answers_without_a_status_and_cancelling_ones_are_not_locust_failures() -> None:
    recorder = Recorder()
    recorder.tally = LocustTally()
    for action, status in (
        ("UpdateFirmware", "Answered"),
        ("GetLog", "AcceptedCanceled"),
        ("SignedUpdateFirmware", "InvalidCertificate"),
    ):
        recorder.command_handled("1.6", action, status)
        recorder.command_answered(0.001)  # the engine: the answer is written
    deltas = recorder.tally.drain(0.0)
    assert deltas is not None
    failures = {e["name"]: e["num_failures"] for e in deltas["entries"]}
    assert failures == {"UpdateFirmware": 0, "GetLog": 0, "SignedUpdateFirmware": 1}
