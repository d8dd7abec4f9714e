"""CSMS-initiated Core, RemoteTrigger, SmartCharging and LocalAuthList commands, pure."""

from __future__ import annotations

import math
from typing import Any

import orjson
from ocpp_schemas import check
from test_charger16 import Csms, SteadyMeter, booted

from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16.charger import Charger16, Status
from simfleet.sim.stats import Recorder


def command(charger: Charger16, action: str, payload: dict[str, Any], now: float = 5.0) -> Any:
    """Send one CALL; returns the answer's payload (or the CALLERROR frame). Other frames
    (the charger's own CALLs) stay in the outbox for the CSMS fake to serve."""
    charger.receive(orjson.dumps([2, "cmd", action, payload]), now)
    frames = charger.take_outbox()
    answers = [orjson.loads(f) for f in frames if orjson.loads(f)[1] == "cmd"]
    assert len(answers) == 1, frames
    charger.session.outbox[:0] = [f for f in frames if orjson.loads(f)[1] != "cmd"]
    answer = answers[0]
    if answer[0] == 3:  # every answer is valid by the official 1.6 schema of its action
        check(f"{action}Response", answer[2])
    return answer[2] if answer[0] == 3 else answer


class DriverMeter(SteadyMeter):
    """A driver is at the charger when the CSMS starts a session remotely: the EV plugs in."""

    charger: Charger16 | None = None

    def remote_start(self, connector_id: int, now: float) -> bool:
        if self.charger is not None and self.driver_present:
            self.charger.cable_in(connector_id, now)
        return self.driver_present


def booted_with(meter: SteadyMeter) -> tuple[Charger16, Csms, Recorder]:
    recorder = Recorder()
    charger = Charger16(booted()[0].settings, recorder, meter)
    if isinstance(meter, DriverMeter):
        meter.charger = charger
    csms = Csms(charger)
    charger.connected(0.0)
    csms.serve(0.0)
    return charger, csms, recorder


def served(csms: Csms, now: float) -> list[str]:
    """The actions the charger sends (and the CSMS answers) from here on."""
    before = len(csms.seen)
    csms.serve(now)
    return [action for action, _ in csms.seen[before:]]


def test_change_availability_now_and_scheduled() -> None:
    charger, csms, recorder = booted()
    assert command(charger, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}) == {
        "status": "Accepted"
    }
    assert charger.status_of(2) is Status.UNAVAILABLE
    assert served(csms, 5.0) == ["StatusNotification"]
    assert not charger.plug_in(2, "T", 6.0)  # an unavailable connector takes no EV
    charger.plug_in(1, "T", 6.0)
    csms.serve(6.0)
    answer = command(charger, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})
    assert answer == {"status": "Scheduled"}  # connector 1 is charging: after the transaction
    assert charger.status_of(1) is Status.CHARGING
    charger.unplug(1, 7.0)
    csms.serve(7.0)
    assert charger.status_of(1) is Status.UNAVAILABLE
    assert command(charger, "ChangeAvailability", {"connectorId": 0, "type": "Operative"}) == {
        "status": "Accepted"
    }
    assert charger.status_of(1) is charger.status_of(2) is Status.AVAILABLE
    assert command(charger, "ChangeAvailability", {"connectorId": 9, "type": "Operative"}) == {
        "status": "Rejected"
    }
    assert recorder.commands[("1.6", "ChangeAvailability", "Scheduled")] == 1


def test_configuration_changes_the_traffic() -> None:
    charger, csms, _ = booted()
    answer = command(charger, "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
    assert answer["configurationKey"] == [  # the boot answer's interval, not the settings' 300
        {"key": "HeartbeatInterval", "readonly": False, "value": "30"}
    ]
    assert answer["unknownKey"] == ["Nope"]
    assert command(charger, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "7"}) == {
        "status": "Accepted"
    }
    assert charger.next_wakeup() == 5.0 + 7
    assert command(charger, "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "9"}) == {
        "status": "Rejected"
    }
    assert command(charger, "ChangeConfiguration", {"key": "Frobnicate", "value": "1"}) == {
        "status": "NotSupported"
    }
    charger.plug_in(1, "T", 6.0)
    csms.serve(6.0)
    command(charger, "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "5"}, 7.0)
    assert charger.meter_at == 12.0
    change = {"key": "MeterValuesSampledData", "value": "Power.Active.Import"}
    command(charger, "ChangeConfiguration", change, 7.0)
    csms.serve(7.0)
    charger.step(12.0)
    before = len(csms.seen)
    csms.serve(12.0)
    (meter,) = [p for a, p in csms.seen[before:] if a == "MeterValues"]
    sampled = meter["meterValue"][0]["sampledValue"]
    assert [v.get("measurand") for v in sampled] == ["Power.Active.Import"]


def test_heartbeat_interval_key_follows_the_boot_answer() -> None:
    """§4.2 / §9.1.10: the interval a BootNotification answer sets is what HeartbeatInterval
    reports, whether the configuration was made before or after that answer."""
    charger, csms, _ = booted()  # the answer said 30
    key = {"key": ["HeartbeatInterval"]}
    assert command(charger, "GetConfiguration", key)["configurationKey"][0]["value"] == "30"
    csms.answers["BootNotification"] = {"status": "Accepted", "currentTime": "t", "interval": 45}
    command(charger, "TriggerMessage", {"requestedMessage": "BootNotification"}, 8.0)
    csms.serve(8.0)
    assert command(charger, "GetConfiguration", key)["configurationKey"][0]["value"] == "45"
    assert charger.heartbeat_at == 8.0 + 45


def test_remote_start_with_the_driver_there_authorizes_and_charges() -> None:
    charger, csms, recorder = booted_with(DriverMeter())
    assert command(charger, "RemoteStartTransaction", {"idTag": "APP1", "connectorId": 2}) == {
        "status": "Accepted"
    }
    csms.serve(5.0)
    assert csms.actions()[-4:] == [
        "StatusNotification",
        "Authorize",
        "StartTransaction",
        "StatusNotification",
    ]
    assert charger.status_of(2) is Status.CHARGING
    assert recorder.started == {"1.6": 1}
    # Remote stop of that transaction, and of one that does not exist.
    assert command(charger, "RemoteStopTransaction", {"transactionId": 42}, 8.0) == {
        "status": "Accepted"
    }
    csms.serve(8.0)
    assert ("StopTransaction", "Remote") in [
        (a, p.get("reason")) for a, p in csms.seen if a == "StopTransaction"
    ]
    assert command(charger, "RemoteStopTransaction", {"transactionId": 7}, 8.0) == {
        "status": "Rejected"
    }


def test_remote_start_without_a_driver_waits_then_times_out() -> None:
    meter = DriverMeter()
    meter.driver_present = False
    charger, csms, _ = booted_with(meter)
    command(charger, "ChangeConfiguration", {"key": "AuthorizeRemoteTxRequests", "value": "false"})
    assert command(charger, "RemoteStartTransaction", {"idTag": "APP1"}) == {"status": "Accepted"}
    assert charger.status_of(1) is Status.PREPARING
    csms.serve(5.0)
    assert "StartTransaction" not in csms.actions()  # no cable, no transaction
    charger.step(5.0 + 90)  # ConnectionTimeOut
    assert charger.status_of(1) is Status.AVAILABLE


def test_remote_start_on_a_busy_connector_is_rejected() -> None:
    charger, csms, _ = booted()
    charger.plug_in(1, "T", 1.0)
    csms.serve(1.0)
    answer = command(charger, "RemoteStartTransaction", {"idTag": "X", "connectorId": 1})
    assert answer == {"status": "Rejected"}


def test_reset_stops_transactions_then_asks_for_a_reboot() -> None:
    charger, csms, _ = booted()
    charger.plug_in(1, "T", 1.0)
    csms.serve(1.0)
    assert command(charger, "Reset", {"type": "Hard"}, 2.0) == {"status": "Accepted"}
    assert not charger.ready_to_reboot(2.0)  # its StopTransaction is still unanswered
    csms.serve(2.0)
    assert ("StopTransaction", "HardReset") in [(a, p.get("reason")) for a, p in csms.seen]
    assert charger.ready_to_reboot(2.0)
    assert charger.next_wakeup() == 0.0  # the driver reboots it at once


def test_unlock_stops_the_transaction() -> None:
    charger, csms, _ = booted()
    charger.plug_in(1, "T", 1.0)
    csms.serve(1.0)
    assert command(charger, "UnlockConnector", {"connectorId": 1}, 2.0) == {"status": "Unlocked"}
    csms.serve(2.0)
    assert ("StopTransaction", "UnlockCommand") in [(a, p.get("reason")) for a, p in csms.seen]
    assert command(charger, "UnlockConnector", {"connectorId": 0}) == {"status": "NotSupported"}


def test_trigger_message_sends_the_message_after_the_answer() -> None:
    charger, csms, _ = booted()
    for requested, expected in (
        ("Heartbeat", ["Heartbeat"]),
        ("StatusNotification", ["StatusNotification"] * 3),
        ("BootNotification", ["BootNotification"]),
        ("FirmwareStatusNotification", ["FirmwareStatusNotification"]),
        ("DiagnosticsStatusNotification", ["DiagnosticsStatusNotification"]),
    ):
        assert command(charger, "TriggerMessage", {"requestedMessage": requested}) == {
            "status": "Accepted"
        }
        before = len(csms.seen)
        csms.answers.setdefault(expected[0], {})
        csms.serve(5.0)
        assert [a for a, _ in csms.seen[before:]][: len(expected)] == expected, requested
    assert command(charger, "TriggerMessage", {"requestedMessage": "Nope"}) == {
        "status": "NotImplemented"
    }
    answer = command(
        charger, "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 5}
    )
    assert answer == {"status": "Rejected"}


def test_a_tx_profile_caps_the_connector() -> None:
    meter = SteadyMeter()
    charger, csms, _ = booted_with(meter)
    charger.plug_in(1, "T", 1.0)
    csms.serve(1.0)
    profile = {
        "chargingProfileId": 1,
        "transactionId": 42,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}],
        },
    }
    request = {"connectorId": 1, "csChargingProfiles": profile}
    assert command(charger, "SetChargingProfile", request, 2.0) == {"status": "Accepted"}
    assert meter.limits[1] == 6.0 * 230 * 3
    composite = command(charger, "GetCompositeSchedule", {"connectorId": 1, "duration": 600}, 3.0)
    assert composite["status"] == "Accepted"
    assert composite["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 6.0
    charger.unplug(1, 4.0)  # the transaction ends: its TxProfile goes
    csms.serve(4.0)
    assert meter.limits[1] == math.inf
    assert command(charger, "ClearChargingProfile", {"id": 1}, 5.0) == {"status": "Unknown"}


def test_local_list_and_cache_commands() -> None:
    charger, _, _ = booted()
    assert command(charger, "GetLocalListVersion", {}) == {"listVersion": 0}
    payload = {
        "listVersion": 3,
        "updateType": "Full",
        "localAuthorizationList": [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}],
    }
    assert command(charger, "SendLocalList", payload) == {"status": "Accepted"}
    assert command(charger, "GetLocalListVersion", {}) == {"listVersion": 3}
    assert command(charger, "ClearCache", {}) == {"status": "Accepted"}
    assert command(charger, "DataTransfer", {"vendorId": "acme"}) == {"status": "UnknownVendorId"}


class CountingMeter(SteadyMeter):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def set_limit(self, connector_id: int, limit_w: float, now: float) -> None:
        super().set_limit(connector_id, limit_w, now)
        self.calls += 1


def test_profile_changes_arm_one_timer_not_one_per_change() -> None:
    meter = CountingMeter()
    charger, csms, _ = booted_with(meter)
    start = iso_utc(10.0)
    for profile_id, stack in ((1, 0), (2, 1), (3, 2)):  # three changes before the boundary
        default = {
            "chargingProfileId": profile_id,
            "stackLevel": stack,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": start,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0},
                    {"startPeriod": 600, "limit": 8.0},
                ],
            },
        }
        request = {"connectorId": 0, "csChargingProfiles": default}
        assert command(charger, "SetChargingProfile", request, 10.0) == {"status": "Accepted"}
    csms.serve(10.0)
    assert meter.limits[1] == 16.0 * 230 * 3
    meter.calls = 0
    assert charger.next_wakeup() <= 610.0
    charger.step(610.0)
    assert meter.limits[1] == 8.0 * 230 * 3
    assert meter.calls == 2  # once per connector: one timer fired, not three


def test_remote_start_with_an_unusable_profile_is_rejected() -> None:
    charger, csms, _ = booted_with(DriverMeter())
    profile = {
        "chargingProfileId": 9,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",  # §5.11: only a TxProfile may come
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}],
        },
    }
    request = {"idTag": "APP1", "connectorId": 1, "chargingProfile": profile}
    assert command(charger, "RemoteStartTransaction", request) == {"status": "Rejected"}
    assert served(csms, 5.0) == []  # nothing started
    assert charger.status_of(1) is Status.AVAILABLE


def test_the_default_set_charging_profile_is_accepted_and_caps_new_transactions() -> None:
    from simfleet.protocol.v16.commands import DEFAULT_PAYLOADS

    charger, _, _ = booted()
    payload = DEFAULT_PAYLOADS["SetChargingProfile"]
    assert command(charger, "SetChargingProfile", payload) == {"status": "Accepted"}
    composite = command(
        charger, "GetCompositeSchedule", {"connectorId": 1, "duration": 60, "chargingRateUnit": "A"}
    )
    assert composite["status"] == "Accepted"
    assert composite["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 16.0
