"""Strict mode's frame validator: the official OCPP schemas (1.6, 2.0.1, 2.1) via fastjsonschema,
answers matched to their CALL by unique id, CALLERROR shape, and bounded memory."""

from __future__ import annotations

import importlib.resources
from typing import Any

import orjson
import pytest
from ocpp_schemas import violations as jsonschema_violations

from simfleet.protocol.strict import (
    MAX_PENDING,
    SCHEMA_DIRS,
    UNKNOWN_ACTION,
    FrameValidator,
    Violation,
    compiled,
    schema_name,
    schema_names,
)
from simfleet.protocol.v16 import messages

NOW = 1_700_000_000.0
BOOT_16 = {"chargePointVendor": "simfleet", "chargePointModel": "virtual"}
BOOT_2X = {"reason": "PowerUp", "chargingStation": {"model": "virtual", "vendorName": "simfleet"}}
ACCEPTED_16 = {"status": "Accepted", "currentTime": "2024-05-01T10:00:00.000Z", "interval": 60}


def frame(*parts: Any) -> bytes:
    return orjson.dumps(list(parts))


def test_every_schema_file_of_every_version_compiles() -> None:
    for version, folder in SCHEMA_DIRS.items():
        names = schema_names(version)
        files = importlib.resources.files("ocpp") / folder / "schemas"
        assert len(names) == len([f for f in files.iterdir() if f.name.endswith(".json")])
        for name in names:
            assert compiled(version, name) is not None, (version, name)
    assert len(schema_names("1.6")) == 78  # 28 core messages * 2 + 11 security ones * 2


def test_schema_file_names_per_version() -> None:
    assert schema_name("1.6", "Heartbeat", response=False) == "Heartbeat"
    assert schema_name("2.0.1", "Heartbeat", response=False) == "HeartbeatRequest"
    assert schema_name("2.1", "Heartbeat", response=True) == "HeartbeatResponse"
    assert schema_name("1.6", "HeartbeatResponse", response=False) == ""


def test_valid_exchange_both_ways_in_1_6() -> None:
    v = FrameValidator("1.6")
    assert v.sent(frame(2, "b1", "BootNotification", BOOT_16)) is None
    assert v.received(frame(3, "b1", ACCEPTED_16)) is None
    # A CSMS command and the charger's answer.
    assert v.received(frame(2, "c1", "Reset", {"type": "Soft"})) is None
    assert v.sent(frame(3, "c1", {"status": "Accepted"})) is None


def test_the_charger_s_own_messages_pass() -> None:
    """What the 1.6 charger builds passes here as it passes the jsonschema reference check."""
    v = FrameValidator("1.6")
    payloads = {
        "StatusNotification": messages.status_notification(1, "Charging", NOW, "NoError"),
        "StartTransaction": messages.start_transaction(1, "TAG000001", 1234.5, NOW),
        "Heartbeat": {},
    }
    for action, payload in payloads.items():
        assert jsonschema_violations(action, payload) == []
        assert v.sent(frame(2, f"id-{action}", action, payload)) is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"status": "Accepted", "currentTime": "2024-05-01T10:00:00Z"}, "interval"),
        ({**ACCEPTED_16, "interval": "60"}, "must be integer"),
        ({**ACCEPTED_16, "status": "Maybe"}, "must be one of"),
        ({**ACCEPTED_16, "currentTime": "yesterday"}, "must be date-time"),
        ({**ACCEPTED_16, "extra": 1}, "must not contain"),
    ],
)
def test_a_broken_result_is_checked_with_its_call_s_response_schema(
    payload: dict[str, Any], expected: str
) -> None:
    v = FrameValidator("1.6")
    v.sent(frame(2, "b1", "BootNotification", BOOT_16))
    found = v.received(frame(3, "b1", payload))
    assert found is not None
    assert (found.action, found.kind) == ("BootNotification", "result")
    assert expected in found.message
    # The jsonschema reference validator agrees that it is invalid.
    assert jsonschema_violations("BootNotificationResponse", payload) != []


def test_results_are_matched_by_unique_id_and_direction() -> None:
    v = FrameValidator("1.6")
    v.sent(frame(2, "same", "Heartbeat", {}))
    v.received(frame(2, "same", "Reset", {"type": "Hard"}))
    # Our answer to their Reset is checked as a ResetResponse, not a HeartbeatResponse...
    found = v.sent(frame(3, "same", {"currentTime": "2024-05-01T10:00:00Z"}))
    assert found is not None and found.action == "Reset"
    # ...and their answer to our Heartbeat as a HeartbeatResponse.
    assert v.received(frame(3, "same", {"currentTime": "2024-05-01T10:00:00Z"})) is None
    # Each CALL is answered once: a second result for the id has nothing to be checked with.
    assert v.received(frame(3, "same", {"anything": True})) is None


def test_a_result_for_no_known_call_is_not_guessed_at() -> None:
    v = FrameValidator("1.6")
    assert v.received(frame(3, "never-sent", {"status": 5})) is None


def test_reset_forgets_calls_of_the_previous_connection() -> None:
    v = FrameValidator("1.6")
    v.sent(frame(2, "b1", "BootNotification", BOOT_16))
    v.reset()
    assert v.received(frame(3, "b1", {"status": "Accepted"})) is None


def test_outstanding_calls_are_bounded() -> None:
    """A CSMS that never answers must not make the table grow."""
    v = FrameValidator("1.6")
    for n in range(MAX_PENDING * 10):
        v.sent(frame(2, f"hb{n}", "Heartbeat", {}))
    assert len(v._ours) == MAX_PENDING
    # The newest are kept: a late answer to the latest CALL is still checked.
    found = v.received(frame(3, f"hb{MAX_PENDING * 10 - 1}", {}))
    assert found is not None and found.action == "Heartbeat"


def test_invalid_calls_in_both_directions() -> None:
    v = FrameValidator("1.6")
    found = v.sent(frame(2, "s1", "StatusNotification", {"connectorId": 1, "status": "Charging"}))
    assert found == Violation(
        "StatusNotification", "call", "data must contain ['errorCode'] properties"
    )
    found = v.received(frame(2, "r1", "ChangeAvailability", {"connectorId": 0, "type": "Off"}))
    assert found is not None and (found.action, found.kind) == ("ChangeAvailability", "call")


def test_multiple_of_a_tenth_accepts_decimal_values_as_written() -> None:
    """1.6 SetChargingProfile limits are "multipleOf": 0.1; 15.9 is, as a float too."""
    v = FrameValidator("1.6")
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 15.9}],
        },
    }
    call = {"connectorId": 1, "csChargingProfiles": profile}
    assert v.received(frame(2, "p1", "SetChargingProfile", call)) is None
    profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 15.95  # type: ignore[index]
    found = v.received(frame(2, "p2", "SetChargingProfile", call))
    assert found is not None and "multiple of 0.1" in found.message


def test_unknown_actions_and_responses_are_violations() -> None:
    v = FrameValidator("1.6")
    assert v.received(frame(2, "x", "MakeCoffee", {})) == Violation(
        "MakeCoffee", "call", "MakeCoffee is not an OCPP 1.6 action"
    )
    found = v.sent(frame(2, "y", "BootNotificationResponse", {}))
    assert found is not None and found.kind == "call"
    # 2.0.1 actions do not exist in 1.6.
    found = v.sent(frame(2, "z", "TransactionEvent", {}))
    assert found is not None and "not an OCPP 1.6 action" in found.message
    # A made-up name is never cached (a peer could otherwise grow the cache).
    assert compiled("1.6", "MakeCoffee") is None


@pytest.mark.parametrize(
    "data",
    [
        b"this is not OCPP-J",
        b'{"not": "an array"}',
        b"[]",
        b'[7, "id", "Heartbeat", {}]',
        b'[2, 17, "Heartbeat", {}]',
        b'[2, "' + b"x" * 37 + b'", "Heartbeat", {}]',
    ],
)
def test_frames_that_are_not_ocpp_j(data: bytes) -> None:
    found = FrameValidator("1.6").received(data)
    assert found is not None
    assert (found.action, found.kind) == (UNKNOWN_ACTION, "frame")


def test_a_call_of_the_wrong_shape() -> None:
    found = FrameValidator("1.6").received(b'[2, "id", "Heartbeat"]')
    assert found is not None and found.kind == "call"


def test_callerror_is_checked_for_shape_and_names_its_call() -> None:
    v = FrameValidator("1.6")
    v.sent(frame(2, "a1", "Authorize", {"idTag": "TAG1"}))
    assert v.received(frame(4, "a1", "InternalError", "boom", {})) is None
    v.sent(frame(2, "a2", "Authorize", {"idTag": "TAG1"}))
    found = v.received(frame(4, "a2", "InternalError", {}))
    assert found is not None and (found.action, found.kind) == ("Authorize", "error")
    found = v.sent(frame(4, "unknown-id", "NotImplemented", "", []))
    assert found is not None and (found.action, found.kind) == (UNKNOWN_ACTION, "error")


def test_ocpp_2_0_1_resolves_definitions() -> None:
    v = FrameValidator("2.0.1")
    assert v.sent(frame(2, "b", "BootNotification", BOOT_2X)) is None
    broken = {"reason": "PowerUp", "chargingStation": {"model": "virtual"}}
    found = v.sent(frame(2, "c", "BootNotification", broken))
    assert found is not None
    assert "vendorName" in found.message and "chargingStation" in found.message
    answer = {"currentTime": "2024-05-01T10:00:00Z", "interval": 60, "status": "Accepted"}
    assert v.received(frame(3, "b", answer)) is None
    found = v.received(frame(3, "c", {**answer, "status": "Sure"}))
    assert found is not None and (found.action, found.kind) == ("BootNotification", "result")


def test_ocpp_2_1_with_its_urn_ids() -> None:
    v = FrameValidator("2.1")
    assert v.sent(frame(2, "b", "BootNotification", BOOT_2X)) is None
    wrong = {"reason": "PowerUp", "chargingStation": {"model": "v", "vendorName": 5}}
    found = v.sent(frame(2, "c", "BootNotification", wrong))
    assert found is not None and "must be string" in found.message


def test_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match=r"2\.0"):
        FrameValidator("2.0")
