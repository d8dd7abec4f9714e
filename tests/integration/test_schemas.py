"""What simfleet puts on the wire against the official OCPP 1.6 JSON schemas.

The schemas are the ones shipped in the `ocpp` package (ocpp/v16/schemas/<Action>.json and
<Action>Response.json), checked with jsonschema's Draft4Validator and a strict RFC 3339
date-time format check of our own: jsonschema only checks "date-time" when the optional
rfc3339-validator package is installed, and silently passes anything otherwise.

Checked: every CALL simfleet's chargers sent to the independent (ocpp package) CSMS; every CALL
of a few-hundred-charger run against simfleet's embedded CSMS, and every answer that CSMS gave
on the wire; the embedded CSMS's answers to every charger-initiated 1.6 action (pure); and the
payload builders at their edges (pure). OCPP timestamps must also end in Z with at most 3
fractional digits (many CSMSs reject more).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from ocpp_csms import FleetRun, Recording, independent_csms_run, run_fleet
from ocpp_schemas import OCPP_TIMESTAMP, violations

from simfleet.protocol.ports import Reading
from simfleet.protocol.v16 import messages
from simfleet.protocol.v16.charger import Status
from simfleet.protocol.v16.csms import CsmsConnection16, CsmsSettings
from simfleet.scenario import ScenarioError, parse, validate

#: Keys that carry a date-time in the charger-initiated 1.6 messages and their answers.
DATE_TIME_KEYS = frozenset({"timestamp", "currentTime", "expiryDate"})


def date_times(payload: Any) -> Iterator[str]:
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in DATE_TIME_KEYS and isinstance(value, str):
                yield value
            else:
                yield from date_times(value)
    elif isinstance(payload, list):
        for item in payload:
            yield from date_times(item)


def bad_timestamps(payload: Any) -> list[str]:
    return [t for t in date_times(payload) if OCPP_TIMESTAMP.match(t) is None]


def check_calls(calls: Iterable[dict[str, Any]], responses: bool = False) -> Counter[str]:
    """Every recorded CALL (and, if asked, its recorded answer) against its schema."""
    problems: list[str] = []
    checked: Counter[str] = Counter()
    for call in calls:
        action, payload = call["action"], call["payload"]
        found = violations(action, payload)
        found += [f"{action}: timestamp {t!r}" for t in bad_timestamps(payload)]
        if responses:
            answer = call.get("response")
            if answer is None:
                found.append(f"{action}: answered {call.get('error', 'nothing')}")
            else:
                found += violations(action + "Response", answer)
                found += [f"{action}Response: time {t!r}" for t in bad_timestamps(answer)]
        problems += [f"{p} in {call['raw']}" for p in found]
        checked[action] += 1
    assert problems == [], f"{len(problems)} schema problems, e.g.:\n" + "\n".join(problems[:10])
    return checked


# -- the checker itself ----------------------------------------------------------------------


def test_schemas_are_the_ocpp_packages_and_format_checking_bites() -> None:
    good = messages.status_notification(1, "Available", 1_700_000_000.5, "NoError")
    assert violations("StatusNotification", good) == []
    for stamp in ("yesterday", "2023-11-14 22:13:20Z", "2023-11-14T22:13:20", "2023-13-14T00:00Z"):
        assert violations("StatusNotification", {**good, "timestamp": stamp}), stamp
    assert violations("StatusNotification", {**good, "extra": 1}), "additionalProperties"
    assert violations("StatusNotification", {**good, "status": "Sleeping"}), "enum"
    assert violations("Authorize", {"idTag": "T" * 21}), "maxLength"
    assert OCPP_TIMESTAMP.match("2023-11-14T22:13:20.1234Z") is None
    assert OCPP_TIMESTAMP.match("2023-11-14T22:13:20.123+00:00") is None


# -- recorded runs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def independent_run(tmp_path_factory: pytest.TempPathFactory) -> FleetRun:
    return independent_csms_run(tmp_path_factory)


@pytest.mark.timeout(120)
def test_calls_sent_to_the_independent_csms_validate(independent_run: FleetRun) -> None:
    recording = independent_run.recording
    assert recording.calls, independent_run.output()
    assert recording.unexpected == []
    checked = check_calls(recording.calls)
    for action in ("BootNotification", "StatusNotification", "Authorize", "StartTransaction"):
        assert checked[action] > 0, checked
    for action in ("MeterValues", "StopTransaction", "Heartbeat"):
        assert checked[action] > 0, checked


@pytest.mark.timeout(120)
def test_few_hundred_chargers_against_the_embedded_csms_validate(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """300 chargers, 2 workers, 12 s; the embedded CSMS's answers are recorded on the wire."""
    run = run_fleet(
        tmp_path_factory.mktemp("embedded-300"),
        mode="embedded",
        chargers=300,
        duration_s=12,
        workers=2,
        ramp_per_s=200,
        heartbeat_s=2,
    )
    assert run.result.returncode == 0, run.output()
    report = run.report
    assert report["chargers"]["booted"] == 300, run.output()
    assert report["errors"] == {}, run.output()
    assert report["timeouts"] == 0, run.output()
    assert report["malformed"] == {}, run.output()
    recording: Recording = run.recording
    assert len(recording.identities()) == 300
    assert recording.unexpected == [], recording.unexpected[:5]
    checked = check_calls(recording.calls, responses=True)
    for action in ("BootNotification", "StatusNotification", "Authorize", "StartTransaction"):
        assert checked[action] > 0, checked
    for action in ("MeterValues", "StopTransaction", "Heartbeat"):
        assert checked[action] > 0, checked
    assert sum(checked.values()) >= sum(row["ok"] for row in report["messages"].values())


# -- the embedded CSMS's answers, pure -------------------------------------------------------

NOW = 1_700_000_000.25
TS = "2023-11-14T22:13:20.250Z"
ALL_MEASURANDS = tuple(messages.MEASURAND_UNITS)


def sampled(
    energy_wh: float, power_w: float, ac: bool = True, ctx: str = "Sample.Periodic"
) -> list[dict[str, Any]]:
    """Every measurand a simulated meter can report, as the charger builds them."""
    currents = (16.0, 16.0, 0.0) if ac else (375.0,)
    reading = Reading(energy_wh, power_w, currents, 230.4 if ac else 398.7, 32.0, 55.0, 31.5)
    return messages.sampled_values(reading, ALL_MEASURANDS, ctx, ac)


#: A valid request of every action a 1.6 charger initiates (Core, Firmware, Security ext.).
CHARGER_CALLS: dict[str, dict[str, Any]] = {
    "BootNotification": messages.boot_notification("vendor", "model", "serial", "fw"),
    "Heartbeat": messages.heartbeat(),
    "StatusNotification": messages.status_notification(0, "Available", NOW, "NoError"),
    "Authorize": messages.authorize("TAG000001"),
    "StartTransaction": messages.start_transaction(1, "TAG000001", 10.0, NOW),
    "StopTransaction": messages.stop_transaction(1, "TAG000001", 20.0, NOW, "EVDisconnected"),
    "MeterValues": messages.meter_values(1, 1, sampled(15.0, 11_000.0), NOW),
    "DataTransfer": {"vendorId": "com.example", "messageId": "x", "data": "{}"},
    "DiagnosticsStatusNotification": {"status": "Idle"},
    "FirmwareStatusNotification": {"status": "Idle"},
    "SecurityEventNotification": {"type": "StartupOfTheDevice", "timestamp": TS},
    "LogStatusNotification": {"status": "Idle"},
    "SignedFirmwareStatusNotification": {"status": "Idle"},
    "SignCertificate": {"csr": "-----BEGIN CERTIFICATE REQUEST-----"},
}


def answer(conn: CsmsConnection16, action: str, payload: dict[str, Any], n: int) -> list[Any]:
    assert conn.receive(json.dumps([2, str(n), action, payload]).encode(), NOW) == action
    frames = conn.take_outbox()
    assert len(frames) == 1, frames
    return json.loads(frames[0])


@pytest.mark.parametrize("boot_status", ["Accepted", "Pending", "Rejected"])
def test_embedded_csms_answers_every_charger_initiated_action_validly(boot_status: str) -> None:
    conn = CsmsConnection16(
        "SF-000001",
        CsmsSettings(heartbeat_interval_s=2, boot_status=boot_status),
        itertools.count(1),
    )
    for n, (action, payload) in enumerate(CHARGER_CALLS.items(), start=1):
        assert violations(action, payload) == [], "the sample request itself is invalid"
        frame = answer(conn, action, payload, n)
        assert frame[:2] == [3, str(n)], frame
        assert violations(action + "Response", frame[2]) == [], (action, frame)
        assert bad_timestamps(frame[2]) == [], frame
        if action == "BootNotification":
            assert frame[2]["status"] == boot_status


def test_embedded_csms_answers_the_recorded_calls_validly(independent_run: FleetRun) -> None:
    """Each CALL simfleet sent the independent CSMS, fed to CsmsConnection16 as bytes."""
    connections: dict[str, CsmsConnection16] = {}
    ids = itertools.count(1)
    answered: Counter[str] = Counter()
    for call in independent_run.recording.calls:
        conn = connections.get(call["identity"])
        if conn is None:
            conn = connections[call["identity"]] = CsmsConnection16(
                call["identity"], CsmsSettings(heartbeat_interval_s=2), ids
            )
        assert conn.receive(call["raw"].encode(), NOW) == call["action"]
        frames = conn.take_outbox()
        assert len(frames) == 1, frames
        frame = json.loads(frames[0])
        assert frame[:2] == [3, call["unique_id"]], frame
        assert violations(call["action"] + "Response", frame[2]) == [], (call["raw"], frame)
        assert bad_timestamps(frame[2]) == [], frame
        answered[call["action"]] += 1
    assert all(conn.malformed == 0 for conn in connections.values())
    assert answered["StartTransaction"] > 0, answered


# -- the payload builders at their edges, pure -----------------------------------------------


def test_payload_builders_stay_within_the_schemas() -> None:
    long = "x" * 60
    for t in (0.0, 1_700_000_000.0, 1_700_000_000.9999999, 4_102_444_799.999):
        stamp = messages.status_notification(1, "Available", t, "NoError")["timestamp"]
        assert OCPP_TIMESTAMP.match(stamp), stamp
        assert (
            violations(
                "StatusNotification",
                {
                    "connectorId": 1,
                    "errorCode": "NoError",
                    "status": "Available",
                    "timestamp": stamp,
                },
            )
            == []
        )
    cases: list[tuple[str, dict[str, Any]]] = [
        ("BootNotification", messages.boot_notification(long, long, long, long)),
        ("Heartbeat", messages.heartbeat()),
        ("Authorize", messages.authorize("T" * 20)),
        ("StartTransaction", messages.start_transaction(16, "T" * 20, 0.0, NOW)),
        ("StartTransaction", messages.start_transaction(1, "T", 2.5e9, NOW)),
        ("MeterValues", messages.meter_values(16, 2**31 - 1, sampled(1e9 + 0.5, 0.0), NOW)),
        ("MeterValues", messages.meter_values(1, 1, sampled(0.0, 22_000.0), NOW + 0.9996)),
        ("MeterValues", messages.meter_values(1, None, sampled(10.0, 0.0), NOW)),
    ]
    cases += [
        ("MeterValues", messages.meter_values(2, 9, sampled(5e6, 150_000.0, ac=ac, ctx=ctx), NOW))
        for ac in (True, False)
        for ctx in ("Sample.Periodic", "Sample.Clock", "Transaction.Begin", "Transaction.End")
    ]
    cases += [
        (
            "StopTransaction",
            messages.stop_transaction(7, "T", 99.9, NOW, "Other", sampled(99.9, 0.0, ctx=end)),
        )
        for end in ("Transaction.End",)
    ]
    cases += [
        ("StatusNotification", messages.status_notification(c, s.value, NOW, "NoError"))
        for c in (0, 1, 16)
        for s in Status
    ]
    cases += [
        ("StopTransaction", messages.stop_transaction(7, "T", 99.9, NOW, reason))
        for reason in ("EVDisconnected", "DeAuthorized", "Local", "Remote", "Other")
    ]
    problems = [p for action, payload in cases for p in violations(action, payload)]
    problems += [t for _, payload in cases for t in bad_timestamps(payload)]
    assert problems == []


def test_id_tags_of_a_validated_scenario_fit_the_idtoken_type() -> None:
    """A scenario that passes validation must not produce an idTag longer than CiString20."""
    text = """
    name = "long-tags"
    [fleet]
    chargers = 10
    [behaviour]
    id_tag = "ABCDEFGHIJKLMNOPQRS{index}"
    """
    with pytest.raises(ScenarioError, match=r"behaviour\.id_tag"):
        validate(parse(text))
    # ...while every tag of an accepted pattern fits the schema.
    scenario = validate(parse(text.replace("ABCDEFGHIJKLMNOPQRS", "TAG")))
    tags = {scenario.fixed.id_tag.format(index=i) for i in (1, scenario.chargers)}
    problems = [p for tag in sorted(tags) for p in violations("Authorize", messages.authorize(tag))]
    assert problems == []
