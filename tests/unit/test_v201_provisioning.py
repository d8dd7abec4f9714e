"""Block B on the 2.0.1 station: Get/SetVariables with their effects, GetBaseReport and
GetReport with their NotifyReport pages; every frame checked against the official schemas
(the test CSMS of test_v201_charger validates what the station sends and answers)."""

from __future__ import annotations

from typing import Any

from test_v201_charger import booted

from simfleet.protocol.dialect import V21


def variable(component: str, name: str, value: str | None = None, **more: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"component": {"name": component}, "variable": {"name": name}}
    if value is not None:
        entry["attributeValue"] = value
    return entry | more


def test_get_variables_reads_what_the_station_runs_with() -> None:
    charger, csms, _ = booted()
    answer = csms.command(
        "GetVariables",
        {
            "getVariableData": [
                variable("OCPPCommCtrlr", "HeartbeatInterval"),
                variable("ChargingStation", "Model"),
                variable("NoSuchCtrlr", "X"),
            ]
        },
        5.0,
    )
    results = answer["getVariableResult"]
    assert results[0]["attributeStatus"] == "Accepted"
    assert results[0]["attributeValue"] == "30"  # the boot answer's interval, not the model's
    assert results[1]["attributeValue"] == "SF-AC22"
    assert results[2]["attributeStatus"] == "UnknownComponent"
    assert charger.observer.commands[("2.0.1", "GetVariables", "Answered")] == 1  # type: ignore[attr-defined]


def test_set_variables_changes_the_traffic() -> None:
    charger, csms, _ = booted()
    answer = csms.command(
        "SetVariables",
        {
            "setVariableData": [
                variable("OCPPCommCtrlr", "HeartbeatInterval", "7"),
                variable("ChargingStation", "Model", "X"),  # ReadOnly
            ]
        },
        5.0,
    )
    assert [r["attributeStatus"] for r in answer["setVariableResult"]] == [
        "Accepted",
        "Rejected",
    ]
    assert charger.heartbeat_interval == 7.0
    assert charger.heartbeat_at == 12.0
    # A session under way: TxUpdatedInterval paces its Updated events from now on.
    charger.plug_in(1, "TOKEN", 20.0)
    csms.serve(20.0)
    answer = csms.command(
        "SetVariables",
        {"setVariableData": [variable("SampledDataCtrlr", "TxUpdatedInterval", "4")]},
        21.0,
    )
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert charger.meter_interval == 4.0 and charger.meter_at == 25.0
    # Transaction message retries follow MessageAttempts[TransactionEvent].
    attempts = variable("OCPPCommCtrlr", "MessageAttempts", "5")
    attempts["variable"]["instance"] = "TransactionEvent"
    csms.command("SetVariables", {"setVariableData": [attempts]}, 22.0)
    assert charger.session.retry_attempts == 5


def test_a_base_report_comes_in_pages_after_the_answer() -> None:
    _, csms, _ = booted()
    before = len(csms.seen)
    answer = csms.command("GetBaseReport", {"requestId": 9, "reportBase": "FullInventory"}, 5.0)
    assert answer == {"status": "Accepted"}
    pages = [p for a, p in csms.seen[before:] if a == "NotifyReport"]
    assert len(pages) > 1
    assert [p["seqNo"] for p in pages] == list(range(len(pages)))
    assert all(p["tbc"] for p in pages[:-1]) and not pages[-1].get("tbc", False)
    assert {p["requestId"] for p in pages} == {9}
    names = {d["component"]["name"] for p in pages for d in p["reportData"]}
    assert {"ChargingStation", "EVSE", "Connector", "OCPPCommCtrlr", "TxCtrlr"} <= names
    evses = {
        d["component"]["evse"]["id"]
        for p in pages
        for d in p["reportData"]
        if d["component"]["name"] == "EVSE"
    }
    assert evses == {1, 2}  # one per connector of the charger model
    report = {"requestId": 10, "componentVariable": [{"component": {"name": "NoSuchCtrlr"}}]}
    assert csms.command("GetReport", report, 6.0) == {"status": "EmptyResultSet"}


def test_too_many_variables_in_one_request_is_a_callerror() -> None:
    _, csms, _ = booted()
    many = {"getVariableData": [variable("ChargingStation", "Model")] * 500}
    answer = csms.command("GetVariables", many, 5.0)
    assert answer[0] == 4 and answer[2] == "OccurrenceConstraintViolation"


def test_block_b_on_2_1() -> None:
    _, csms, _ = booted(V21)
    answer = csms.command("GetBaseReport", {"requestId": 1, "reportBase": "SummaryInventory"}, 5.0)
    assert answer["status"] in ("Accepted", "EmptyResultSet")


def test_a_new_boot_answer_updates_the_heartbeat_interval_variable() -> None:
    charger, csms, _ = booted()
    read = {"getVariableData": [variable("OCPPCommCtrlr", "HeartbeatInterval")]}
    assert csms.command("GetVariables", read, 5.0)["getVariableResult"][0]["attributeValue"] == "30"
    # A power cut; the CSMS answers the next boot with another interval.
    csms.answers["BootNotification"] = {**csms.answers["BootNotification"], "interval": 45}
    charger.disconnected(7.0)
    charger.reboot("PowerLoss", 7.0)
    charger.connected(8.0)
    csms.serve(8.0)
    assert charger.heartbeat_interval == 45.0
    assert csms.command("GetVariables", read, 9.0)["getVariableResult"][0]["attributeValue"] == "45"
