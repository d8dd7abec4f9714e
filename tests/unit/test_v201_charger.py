"""The 2.0.1 / 2.1 charging station, driven with strings and numbers only (no sockets, no clock).

Every CALL the station sends and every answer it gives is checked against the official OCPP
2.0.1 (or 2.1) JSON schemas shipped in the `ocpp` package.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any

import orjson
import pytest
from jsonschema import validators
from ocpp_schemas import RFC3339_FORMATS

from simfleet.protocol.dialect import V21, V201, Dialect
from simfleet.protocol.ports import Reading
from simfleet.protocol.v16.state import BootState, ChargerSettings, Status
from simfleet.protocol.v201.charger import Charger201
from simfleet.sim.stats import Recorder

SETTINGS = ChargerSettings(
    identity="CS-1",
    vendor="simfleet",
    model="SF-AC22",
    serial="CS-1",
    firmware="1.0",
    connectors=2,
    heartbeat_interval_s=300,
    meter_interval_s=60,
    call_timeout_s=30,
    boot_retry_s=20,
)
FOLDERS = {"2.0.1": "v201", "2.1": "v21"}


@functools.cache
def _validator(version: str, name: str) -> Any:
    folder = importlib.resources.files("ocpp") / FOLDERS[version] / "schemas"
    schema = json.loads((folder / f"{name}.json").read_text(encoding="utf-8-sig"))
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=RFC3339_FORMATS)


def check(version: str, name: str, payload: Any) -> None:
    errors = [e.message for e in _validator(version, name).iter_errors(payload)]
    assert errors == [], (name, payload)


class SteadyMeter:
    """1 kW on every EVSE, register = 1000 Wh per hour since t=0."""

    def __init__(self) -> None:
        self.driver_present = True
        self.statuses: list[tuple[int, str]] = []

    def energy_wh(self, connector_id: int, now: float) -> float:
        return now * 1000.0 / 3600.0

    def read(self, connector_id: int, now: float) -> Reading:
        return Reading(self.energy_wh(connector_id, now), 1000.0, (1.45, 1.45, 1.45), 230.0, 16.0)

    def status_changed(self, connector_id: int, status: str, now: float) -> None:
        self.statuses.append((connector_id, status))

    def set_limit(self, connector_id: int, limit_w: float, now: float) -> None:
        pass

    def remote_start(self, connector_id: int, now: float) -> bool:
        return self.driver_present


class Csms:
    """Answers the station's CALLs as a 2.0.1 CSMS would; checks everything against schemas."""

    def __init__(self, charger: Charger201, answers: dict[str, Any] | None = None) -> None:
        self.charger = charger
        self.version = charger.version
        self.answers: dict[str, Any] = {
            "BootNotification": {"status": "Accepted", "currentTime": TIME, "interval": 30},
            "Heartbeat": {"currentTime": TIME},
            "StatusNotification": {},
            "Authorize": {"idTokenInfo": {"status": "Accepted"}},
            "TransactionEvent": {},
            "MeterValues": {},
            "NotifyReport": {},
        }
        self.answers.update(answers or {})
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.results: dict[str, Any] = {}  # our CALLs' ids -> the station's answer
        self.sent: dict[str, str] = {}
        self._ids = 0

    def pending(self) -> list[list[Any]]:
        frames = [orjson.loads(frame) for frame in self.charger.take_outbox()]
        for frame in frames:
            if frame[0] == 2:
                check(self.version, f"{frame[2]}Request", frame[3])
            elif frame[0] == 3:
                action = self.sent[frame[1]]
                check(self.version, f"{action}Response", frame[2])
                self.results[frame[1]] = frame[2]
            else:
                self.results[frame[1]] = frame
        return frames

    def serve(self, now: float, rounds: int = 50) -> None:
        """Answer everything the station sends until it goes quiet."""
        for _ in range(rounds):
            calls = [f for f in self.pending() if f[0] == 2]
            if not calls:
                return
            for _, uid, action, payload in calls:
                self.seen.append((action, payload))
                self.charger.receive(orjson.dumps([3, uid, self.answers[action]]), now)

    def command(self, action: str, payload: dict[str, Any], now: float) -> Any:
        """Send a CALL to the station; returns its answer (payload, or the CALLERROR frame)."""
        check(self.version, f"{action}Request", payload)
        self._ids += 1
        uid = f"c{self._ids}"
        self.sent[uid] = action
        self.charger.receive(orjson.dumps([2, uid, action, payload]), now)
        self.serve(now)
        return self.results[uid]

    def events(self) -> list[dict[str, Any]]:
        return [p for a, p in self.seen if a == "TransactionEvent"]

    def actions(self) -> list[str]:
        return [a for a, _ in self.seen if a != "Heartbeat"]


TIME = "2024-01-01T00:00:00.000Z"


def booted(dialect: Dialect = V201) -> tuple[Charger201, Csms, SteadyMeter]:
    meter = SteadyMeter()
    charger = Charger201(SETTINGS, Recorder(), meter, dialect)
    csms = Csms(charger)
    charger.connected(0.0)
    csms.serve(0.0)
    return charger, csms, meter


def shape(events: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(e["eventType"], e["triggerReason"], e["seqNo"]) for e in events]


def test_boot_reason_station_and_a_status_per_evse() -> None:
    charger, csms, _ = booted()
    assert charger.accepted and charger.version == "2.0.1"
    boot = csms.seen[0]
    assert boot == (
        "BootNotification",
        {
            "reason": "PowerUp",
            "chargingStation": {
                "model": "SF-AC22",
                "vendorName": "simfleet",
                "serialNumber": "CS-1",
                "firmwareVersion": "1.0",
            },
        },
    )
    statuses = [p for a, p in csms.seen if a == "StatusNotification"]
    assert [(s["evseId"], s["connectorId"], s["connectorStatus"]) for s in statuses] == [
        (1, 1, "Available"),
        (2, 1, "Available"),
    ]
    # The boot answer's interval paces the heartbeat.
    charger.step(29.0)
    assert csms.pending() == []
    charger.step(30.0)
    csms.serve(30.0)
    assert csms.seen[-1] == ("Heartbeat", {})


def test_pending_boot_retries_and_sends_nothing_else_until_accepted() -> None:
    meter = SteadyMeter()
    charger = Charger201(SETTINGS, Recorder(), meter)
    csms = Csms(
        charger, {"BootNotification": {"status": "Pending", "currentTime": TIME, "interval": 10}}
    )
    charger.connected(0.0)
    csms.serve(0.0)
    assert charger.boot is BootState.PENDING
    charger.step(9.0)
    assert csms.pending() == []
    csms.answers["BootNotification"] = {"status": "Accepted", "currentTime": TIME, "interval": 30}
    charger.step(10.0)
    csms.serve(10.0)
    assert csms.actions() == [
        "BootNotification",
        "BootNotification",
        "StatusNotification",
        "StatusNotification",
    ]


def test_occupied_once_for_preparing_charging_suspended_finishing() -> None:
    charger, csms, _ = booted()
    csms.seen.clear()
    assert charger.plug_in(1, "OKR000000010", 1.0)
    csms.serve(1.0)
    assert charger.status_of(1) is Status.CHARGING
    charger.ev_suspended(1, 2.0)
    charger.stop_transaction(1, "Local", 3.0)
    csms.serve(3.0)
    statuses = [p["connectorStatus"] for a, p in csms.seen if a == "StatusNotification"]
    assert statuses == ["Occupied"]
    charger.unplug(1, 4.0)
    csms.serve(4.0)
    statuses = [p["connectorStatus"] for a, p in csms.seen if a == "StatusNotification"]
    assert statuses == ["Occupied", "Available"]


def test_full_session_started_updated_ended_with_seq_numbers() -> None:
    charger, csms, _ = booted()
    csms.seen.clear()
    charger.plug_in(1, "OKR000000010", 10.0)
    csms.serve(10.0)
    assert csms.actions()[:3] == ["StatusNotification", "Authorize", "TransactionEvent"]
    assert csms.seen[1][1] == {"idToken": {"idToken": "OKR000000010", "type": "ISO14443"}}
    for t in (70.0, 130.0):  # TxUpdatedInterval = the meter interval
        charger.step(t)
        csms.serve(t)
    charger.ev_suspended(1, 150.0)
    csms.serve(150.0)
    charger.unplug(1, 160.0)
    csms.serve(160.0)
    events = csms.events()
    assert shape(events) == [
        ("Started", "Authorized", 0),
        ("Updated", "MeterValuePeriodic", 1),
        ("Updated", "MeterValuePeriodic", 2),
        ("Updated", "ChargingStateChanged", 3),
        ("Ended", "EVCommunicationLost", 4),
    ]
    started, ended = events[0], events[-1]
    tx = started["transactionInfo"]["transactionId"]
    assert all(e["transactionInfo"]["transactionId"] == tx for e in events)
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert started["idToken"]["idToken"] == "OKR000000010"
    assert started["transactionInfo"]["chargingState"] == "Charging"
    assert started["meterValue"][0]["sampledValue"][0] == {
        "value": 2.0,  # 10 s at 1 kW-hours: int(2.77) Wh
        "context": "Transaction.Begin",
        "measurand": "Energy.Active.Import.Register",
        "location": "Outlet",
        "unitOfMeasure": {"unit": "Wh"},
    }
    periodic = events[1]["meterValue"][0]
    assert periodic["timestamp"] == "1970-01-01T00:01:10.000Z"
    assert periodic["sampledValue"][0]["context"] == "Sample.Periodic"
    assert events[3]["transactionInfo"]["chargingState"] == "SuspendedEV"
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert ended["transactionInfo"]["chargingState"] == "Idle"
    assert ended["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.End"
    assert ended["meterValue"][0]["sampledValue"][0]["value"] == 44.0
    assert not any("offline" in e for e in events)
    # The next transaction has its own id, its seqNo from 0 again.
    charger.plug_in(1, "OKR000000011", 200.0)
    csms.serve(200.0)
    nxt = csms.events()[-1]
    assert nxt["seqNo"] == 0 and nxt["transactionInfo"]["transactionId"] != tx


def test_offline_events_are_flagged_and_replayed_in_order() -> None:
    charger, csms, _ = booted()
    charger.plug_in(1, "OKR000000010", 10.0)
    csms.serve(10.0)
    charger.disconnected(20.0)
    for t in (70.0, 130.0):
        charger.step(t)
    charger.unplug(1, 140.0)
    assert csms.pending() == []  # nothing goes out while offline
    csms.seen.clear()
    charger.connected(150.0)
    for t in (150.0, 151.0, 152.0, 153.0):  # paced replay (replay_interval 0.5 s)
        charger.step(t)
        csms.serve(t)
    events = csms.events()
    assert shape(events) == [
        ("Updated", "MeterValuePeriodic", 1),
        ("Updated", "MeterValuePeriodic", 2),
        ("Ended", "EVCommunicationLost", 3),
    ]
    assert all(e["offline"] is True for e in events)
    # The reconnect reports the status now (not a transaction message: never queued).
    statuses = [
        (p["evseId"], p["connectorStatus"]) for a, p in csms.seen if a == "StatusNotification"
    ]
    assert statuses == [(1, "Available"), (2, "Available")]


def test_refused_token_in_transaction_event_answer_ends_it_deauthorized() -> None:
    charger, csms, _ = booted()
    csms.answers["TransactionEvent"] = {"idTokenInfo": {"status": "Invalid"}}
    charger.plug_in(1, "OKR000000010", 10.0)
    csms.serve(10.0)
    events = csms.events()
    assert shape(events) == [("Started", "Authorized", 0), ("Ended", "Deauthorized", 1)]
    assert events[1]["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    assert charger.status_of(1) is Status.FINISHING


def test_remote_start_carries_remote_start_id() -> None:
    charger, csms, meter = booted()

    # The planned driver plugs in when the app starts the session (the agent's remote_start).
    def driver(connector_id: int, now: float) -> bool:
        charger.cable_in(connector_id, now)
        return True

    meter.remote_start = driver  # type: ignore[method-assign]
    token = {"idToken": "APP-USER-1", "type": "Central"}
    answer = csms.command(
        "RequestStartTransaction", {"evseId": 2, "remoteStartId": 77, "idToken": token}, 5.0
    )
    assert answer == {"status": "Accepted"}
    started = csms.events()[0]
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 77
    assert started["idToken"] == token
    assert started["evse"]["id"] == 2
    assert charger.is_charging(2)
    # Busy EVSE: Rejected.
    again = csms.command(
        "RequestStartTransaction", {"evseId": 2, "remoteStartId": 78, "idToken": token}, 6.0
    )
    assert again == {"status": "Rejected"}


def test_remote_start_without_driver_waits_then_times_out() -> None:
    charger, csms, meter = booted()
    meter.driver_present = False
    token = {"idToken": "APP-USER-1", "type": "Central"}
    assert csms.command("RequestStartTransaction", {"remoteStartId": 1, "idToken": token}, 5.0) == {
        "status": "Accepted"
    }
    assert charger.status_of(1) is Status.PREPARING
    assert charger.cable_in(1, 10.0) is False or charger.status_of(1) is Status.CHARGING
    charger2, csms2, meter2 = booted()
    meter2.driver_present = False
    csms2.command("RequestStartTransaction", {"remoteStartId": 1, "idToken": token}, 5.0)
    charger2.step(65.0)
    csms2.serve(65.0)
    assert charger2.status_of(1) is Status.AVAILABLE
    assert csms2.events() == []


def test_remote_stop() -> None:
    charger, csms, _ = booted()
    charger.plug_in(1, "OKR000000010", 10.0)
    csms.serve(10.0)
    tx = csms.events()[0]["transactionInfo"]["transactionId"]
    assert csms.command("RequestStopTransaction", {"transactionId": "nope"}, 20.0) == {
        "status": "Rejected"
    }
    assert csms.command("RequestStopTransaction", {"transactionId": tx}, 20.0) == {
        "status": "Accepted"
    }
    ended = csms.events()[-1]
    assert (ended["eventType"], ended["triggerReason"]) == ("Ended", "RemoteStop")
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"
    assert charger.status_of(1) is Status.FINISHING


def test_get_transaction_status() -> None:
    charger, csms, _ = booted()
    charger.plug_in(1, "OKR000000010", 10.0)
    csms.serve(10.0)
    tx = csms.events()[0]["transactionInfo"]["transactionId"]
    answer = csms.command("GetTransactionStatus", {"transactionId": tx}, 11.0)
    assert answer == {"messagesInQueue": False, "ongoingIndicator": True}
    charger.disconnected(12.0)
    charger.unplug(1, 13.0)
    charger.connected(14.0)  # the status goes first; the Ended event is still queued
    csms.sent["x"] = "GetTransactionStatus"
    charger.receive(orjson.dumps([2, "x", "GetTransactionStatus", {"transactionId": tx}]), 14.0)
    frames = csms.pending()
    assert [3, "x", {"messagesInQueue": True, "ongoingIndicator": False}] in frames


def test_reset_immediate_ends_transactions_and_boots_as_remote_reset() -> None:
    charger, csms, _ = booted()
    charger.plug_in(1, "OKR000000010", 10.0)
    csms.serve(10.0)
    assert csms.command("Reset", {"type": "Immediate"}, 20.0) == {"status": "Accepted"}
    ended = csms.events()[-1]
    assert ended["triggerReason"] == "ResetCommand"
    assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    assert charger.ready_to_reboot(20.0)
    kind, charger.reset_pending = charger.reset_pending, ""
    charger.reboot(f"{kind}Reset", 20.0)  # what the agent does
    charger.disconnected(20.0)
    csms.seen.clear()
    charger.connected(40.0)
    csms.serve(40.0)
    assert csms.seen[0][1]["reason"] == "RemoteReset"


def test_reset_on_idle_is_scheduled_until_the_transaction_ends() -> None:
    charger, csms, _ = booted()
    charger.plug_in(1, "OKR000000010", 10.0)
    csms.serve(10.0)
    assert csms.command("Reset", {"type": "OnIdle"}, 20.0) == {"status": "Scheduled"}
    assert not charger.reset_pending
    charger.unplug(1, 30.0)
    assert str(charger.reset_pending) == "OnIdle"
    assert csms.command("Reset", {"type": "Immediate", "evseId": 1}, 31.0) == {"status": "Rejected"}


def test_power_loss_holds_ended_until_the_boot_is_accepted() -> None:
    charger, csms, _ = booted()
    charger.plug_in(1, "OKR000000010", 10.0)
    csms.serve(10.0)
    charger.reboot("PowerLoss", 20.0)
    charger.disconnected(20.0)
    csms.seen.clear()
    csms.answers["BootNotification"] = {"status": "Pending", "currentTime": TIME, "interval": 10}
    charger.connected(30.0)
    csms.serve(30.0)
    assert csms.actions() == ["BootNotification"]  # B03: nothing else while Pending
    csms.answers["BootNotification"] = {"status": "Accepted", "currentTime": TIME, "interval": 30}
    charger.step(40.0)
    csms.serve(40.0)
    assert csms.seen[1][1]["reason"] == "PowerUp"
    ended = csms.events()
    assert shape(ended) == [("Ended", "AbnormalCondition", 1)]
    assert ended[0]["transactionInfo"]["stoppedReason"] == "PowerLoss"


def test_trigger_message() -> None:
    charger, csms, _ = booted()
    assert csms.command("TriggerMessage", {"requestedMessage": "Heartbeat"}, 5.0) == {
        "status": "Accepted"
    }
    assert list(csms.seen[-1]) == ["Heartbeat", {}]
    answer = csms.command(
        "TriggerMessage",
        {"requestedMessage": "StatusNotification", "evse": {"id": 2, "connectorId": 1}},
        6.0,
    )
    assert answer == {"status": "Accepted"}
    assert csms.seen[-1][1]["evseId"] == 2
    # F06.FR.17: no BootNotification once accepted; unknown EVSE; messages we cannot send.
    assert csms.command("TriggerMessage", {"requestedMessage": "BootNotification"}, 7.0) == {
        "status": "Rejected"
    }
    assert csms.command(
        "TriggerMessage", {"requestedMessage": "Heartbeat", "evse": {"id": 9}}, 7.0
    ) == {"status": "Rejected"}
    assert csms.command("TriggerMessage", {"requestedMessage": "LogStatusNotification"}, 7.0) == {
        "status": "NotImplemented"
    }
    csms.command("TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 1}}, 8.0)
    assert csms.seen[-1][0] == "MeterValues" and csms.seen[-1][1]["evseId"] == 1
    charger.plug_in(1, "OKR000000010", 10.0)
    csms.serve(10.0)
    csms.command("TriggerMessage", {"requestedMessage": "TransactionEvent"}, 11.0)
    assert shape(csms.events()[-1:]) == [("Updated", "Trigger", 1)]


def test_unlock_connector() -> None:
    charger, csms, _ = booted()
    assert csms.command("UnlockConnector", {"evseId": 1, "connectorId": 1}, 1.0) == {
        "status": "Unlocked"
    }
    assert csms.command("UnlockConnector", {"evseId": 5, "connectorId": 1}, 1.0) == {
        "status": "UnknownConnector"
    }
    charger.plug_in(1, "OKR000000010", 2.0)
    csms.serve(2.0)
    assert csms.command("UnlockConnector", {"evseId": 1, "connectorId": 1}, 3.0) == {
        "status": "OngoingAuthorizedTransaction"
    }


def test_change_availability() -> None:
    charger, csms, _ = booted()
    charger.plug_in(1, "OKR000000010", 2.0)
    csms.serve(2.0)
    csms.seen.clear()
    answer = csms.command("ChangeAvailability", {"operationalStatus": "Inoperative"}, 3.0)
    assert answer == {"status": "Scheduled"}  # EVSE 1 has a transaction
    assert [(p["evseId"], p["connectorStatus"]) for a, p in csms.seen] == [(2, "Unavailable")]
    charger.unplug(1, 4.0)
    csms.serve(4.0)
    assert csms.seen[-1][1]["connectorStatus"] == "Unavailable"
    assert not charger.cable_in(1, 5.0)
    answer = csms.command(
        "ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 1}}, 6.0
    )
    assert answer == {"status": "Accepted"}
    assert charger.status_of(1) is Status.AVAILABLE and charger.status_of(2) is Status.UNAVAILABLE


def test_clear_cache_data_transfer_and_unsupported_actions() -> None:
    _, csms, _ = booted()
    assert csms.command("ClearCache", {}, 1.0) == {"status": "Accepted"}
    assert csms.command("DataTransfer", {"vendorId": "acme"}, 1.0) == {"status": "UnknownVendorId"}
    error = csms.command("ClearDisplayMessage", {"id": 1}, 1.0)  # block O: not yet
    assert error[0] == 4 and error[2] == "NotSupported"
    csms.sent["z"] = "Bogus"
    csms.charger.receive(orjson.dumps([2, "z", "Bogus", {}]), 1.0)
    csms.pending()
    assert csms.results["z"][2] == "NotImplemented"


@pytest.mark.parametrize("dialect", [V201, V21])
def test_a_session_is_valid_in_both_versions(dialect: Dialect) -> None:
    charger, csms, _ = booted(dialect)
    assert charger.version == dialect.version
    charger.plug_in(1, "OKA000000010", 10.0)
    csms.serve(10.0)
    charger.step(70.0)
    csms.serve(70.0)
    charger.stop_transaction(1, "Local", 80.0)
    csms.serve(80.0)
    events = csms.events()
    assert shape(events) == [
        ("Started", "Authorized", 0),
        ("Updated", "MeterValuePeriodic", 1),
        ("Ended", "StopAuthorized", 2),
    ]
    assert events[0]["idToken"]["type"] == "Central"  # the app letter
