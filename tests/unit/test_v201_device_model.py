"""The OCPP 2.0.1 device model: GetVariables (B06), SetVariables (B05), GetBaseReport (B07),
GetReport (B08) and their NotifyReport pages, every request and answer checked against the
official 2.0.1 JSON schemas (and the report once against 2.1)."""

from __future__ import annotations

import functools
import importlib.resources
import json
import tracemalloc
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft6Validator
from ocpp_schemas import RFC3339_FORMATS

from simfleet.protocol.errors import ErrorCode
from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v201.device_model import Changed, DeviceModel, RequestError
from simfleet.protocol.v201.dm_catalogue import StationModel, definitions_for
from simfleet.protocol.v201.dm_reports import get_base_report, get_report
from simfleet.protocol.v201.dm_types import Mutability

NOW = 1_700_000_000.25


@functools.cache
def _validator(version: str, name: str) -> Draft6Validator:
    folder = importlib.resources.files("ocpp") / version / "schemas"
    text = (folder / f"{name}.json").read_text(encoding="utf-8-sig")
    return Draft6Validator(json.loads(text, parse_float=Decimal), format_checker=RFC3339_FORMATS)


def valid(name: str, payload: Any, version: str = "v201") -> Any:
    """Fails the test with every schema error of `payload`; returns it for chaining."""
    normalised = json.loads(json.dumps(payload), parse_float=Decimal)
    errors = [e.message for e in _validator(version, name).iter_errors(normalised)]
    assert errors == [], f"{name}: {errors}"
    return payload


def model(**kw: Any) -> DeviceModel:
    return DeviceModel(definitions_for(StationModel(**kw)))


def get(dm: DeviceModel, *entries: dict[str, Any]) -> list[dict[str, Any]]:
    request = valid("GetVariablesRequest", {"getVariableData": list(entries)})
    answer = dm.get_variables(request, NOW)
    assert not isinstance(answer, RequestError)
    return list(valid("GetVariablesResponse", answer)["getVariableResult"])


def set_(
    dm: DeviceModel, *entries: dict[str, Any]
) -> tuple[list[dict[str, Any]], tuple[Changed, ...]]:
    request = valid("SetVariablesRequest", {"setVariableData": list(entries)})
    result = dm.set_variables(request)
    assert not isinstance(result.answer, RequestError)
    return list(valid("SetVariablesResponse", result.answer)["setVariableResult"]), result.changed


def cv(component: str, variable: str, **extra: Any) -> dict[str, Any]:
    comp: dict[str, Any] = {"name": component}
    if "evse" in extra:
        comp["evse"] = extra.pop("evse")
    var: dict[str, Any] = {"name": variable}
    if "instance" in extra:
        var["instance"] = extra.pop("instance")
    return {"component": comp, "variable": var, **extra}


# -- building ----------------------------------------------------------------------------------


def test_definitions_are_built_once_per_model_and_shared() -> None:
    one, two = model(evses=2), model(evses=2)
    assert one.definitions is two.definitions
    assert model(evses=3).definitions is not one.definitions
    assert one.changed_count() == 0


def test_ac_and_dc_models() -> None:
    ac = model(evses=2, ac=True, max_power_w=11_000)
    dc = model(evses=1, ac=False, max_power_w=150_000)
    assert ac.text("Connector", "ConnectorType", evse=2, connector=1) == "cType2"
    assert dc.text("Connector", "ConnectorType", evse=1, connector=1) == "cCCS2"
    assert ac.integer("ChargingStation", "SupplyPhases") == 3
    assert dc.integer("EVSE", "SupplyPhases", evse=1) == 0
    chademo = model(ac=False, connector_type="cG105")
    assert chademo.text("Connector", "ConnectorType", evse=1, connector=1) == "cG105"
    results = get(dc, cv("EVSE", "Power", evse={"id": 1}, attributeType="MaxSet"))
    assert results[0]["attributeValue"] == "150000"


@pytest.mark.parametrize("bad", ["cGBT", "Type2", ""])
def test_a_connector_type_2_0_1_does_not_list_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad)):
        definitions_for(StationModel(connector_type=bad))


# -- GetVariables (B06) ------------------------------------------------------------------------


def test_get_variables_answers_every_entry_with_its_status() -> None:
    dm = model(evses=2, max_power_w=22_000, heartbeat_interval_s=240)
    results = get(
        dm,
        cv("OCPPCommCtrlr", "HeartbeatInterval"),
        cv("ocppcommctrlr", "heartbeatinterval"),  # names are case-insensitive
        cv("NoSuchCtrlr", "Enabled"),
        cv("AuthCtrlr", "NoSuchVariable"),
        cv("SecurityCtrlr", "BasicAuthPassword"),
        cv("EVSE", "Power", evse={"id": 2}, attributeType="Target"),
        cv("EVSE", "Power", evse={"id": 3}),
        cv("DeviceDataCtrlr", "ItemsPerMessage", instance="GetVariables"),
        cv("ClockCtrlr", "DateTime"),
    )
    statuses = [r["attributeStatus"] for r in results]
    assert statuses == [
        "Accepted",
        "Accepted",
        "UnknownComponent",
        "UnknownVariable",
        "Rejected",
        "NotSupportedAttributeType",
        "UnknownComponent",
        "Accepted",
        "Accepted",
    ]
    assert results[0]["attributeValue"] == results[1]["attributeValue"] == "240"
    assert all("attributeValue" not in r for r in results[2:7])
    assert results[7]["attributeValue"] == "20"
    assert results[8]["attributeValue"] == iso_utc(NOW)
    assert results[2]["component"] == {"name": "NoSuchCtrlr"}  # echoed as asked


def test_get_variables_over_items_per_message_is_a_call_error() -> None:
    dm = model(items_per_message=3)
    entries = [cv("AuthCtrlr", "Enabled")] * 4
    answer = dm.get_variables(valid("GetVariablesRequest", {"getVariableData": entries}), NOW)
    assert isinstance(answer, RequestError)
    assert answer.code is ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
    assert len(get(dm, *entries[:3])) == 3
    too_big = dm.get_variables({"getVariableData": entries[:1]}, NOW, size=65_001)
    assert isinstance(too_big, RequestError) and too_big.code is ErrorCode.FORMAT_VIOLATION


# -- SetVariables (B05) ------------------------------------------------------------------------


def test_set_variables_applies_checks_and_reports_changes() -> None:
    dm = model()
    results, changed = set_(
        dm,
        cv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="60"),
        cv("AuthCtrlr", "LocalPreAuthorize", attributeValue="TRUE"),
        cv("TxCtrlr", "TxStartPoint", attributeValue="EVConnected, Authorized"),
        cv("SampledDataCtrlr", "TxUpdatedMeasurands", attributeValue=""),
        cv("SmartChargingCtrlr", "LimitChangeSignificance", attributeValue="2.5"),
        cv("OCPPCommCtrlr", "MessageAttempts", instance="TransactionEvent", attributeValue="5"),
        cv("OCPPCommCtrlr", "NetworkConfigurationPriority", attributeValue="1,0"),
    )
    assert [r["attributeStatus"] for r in results] == ["Accepted"] * 6 + ["RebootRequired"]
    assert dm.integer("OCPPCommCtrlr", "HeartbeatInterval") == 60
    assert dm.flag("AuthCtrlr", "LocalPreAuthorize") is True
    assert dm.members("TxCtrlr", "TxStartPoint") == ("EVConnected", "Authorized")
    assert dm.members("SampledDataCtrlr", "TxUpdatedMeasurands") == ()
    assert dm.decimal("SmartChargingCtrlr", "LimitChangeSignificance") == 2.5
    assert dm.integer("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent") == 5
    assert dm.members("OCPPCommCtrlr", "NetworkConfigurationPriority") == ("1", "0")
    assert Changed("OCPPCommCtrlr", "HeartbeatInterval") in changed
    assert Changed("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent") in changed
    assert len(changed) == 7
    # readable at once through GetVariables, and other chargers of the model are untouched
    assert get(dm, cv("OCPPCommCtrlr", "HeartbeatInterval"))[0]["attributeValue"] == "60"
    assert model().integer("OCPPCommCtrlr", "HeartbeatInterval") == 300


@pytest.mark.parametrize(
    ("entry", "status"),
    [
        (cv("ChargingStation", "Model", attributeValue="x"), "Rejected"),  # ReadOnly
        (cv("SecurityCtrlr", "SecurityProfile", attributeValue="2"), "Rejected"),
        (cv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="abc"), "Rejected"),
        (cv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="1.5"), "Rejected"),
        (cv("OCPPCommCtrlr", "WebSocketPingInterval", attributeValue="-1"), "Rejected"),
        (cv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="99999999999"), "Rejected"),
        (cv("AuthCtrlr", "Enabled", attributeValue="yes"), "Rejected"),
        (cv("TxCtrlr", "TxStopPoint", attributeValue="EVConnected,Sometimes"), "Rejected"),
        (cv("TxCtrlr", "TxStopPoint", attributeValue="EVConnected,EVConnected"), "Rejected"),
        (cv("SampledDataCtrlr", "TxEndedMeasurands", attributeValue="Temperature"), "Rejected"),
        (cv("AuthCacheCtrlr", "Policy", attributeValue="MRU"), "Rejected"),
        (cv("SecurityCtrlr", "BasicAuthPassword", attributeValue="short"), "Rejected"),
        (cv("SecurityCtrlr", "Identity", attributeValue="x" * 49), "Rejected"),
        (cv("SmartChargingCtrlr", "LimitChangeSignificance", attributeValue="nan"), "Rejected"),
        (cv("SmartChargingCtrlr", "LimitChangeSignificance", attributeValue="101"), "Rejected"),
        (
            cv("AuthCtrlr", "Enabled", attributeType="MaxSet", attributeValue="true"),
            "NotSupportedAttributeType",
        ),
        (cv("NoSuchCtrlr", "Enabled", attributeValue="true"), "UnknownComponent"),
        (cv("AuthCtrlr", "Nope", attributeValue="true"), "UnknownVariable"),
        (
            cv("EVSE", "Power", evse={"id": 1}, attributeType="MaxSet", attributeValue="1"),
            "Rejected",
        ),
    ],
)
def test_set_variables_rejections_leave_the_value(entry: dict[str, Any], status: str) -> None:
    dm = model()
    results, changed = set_(dm, entry)
    assert results[0]["attributeStatus"] == status
    assert changed == ()
    assert dm.changed_count() == 0


def test_write_only_is_settable_but_never_read() -> None:
    dm = model()
    results, changed = set_(
        dm, cv("SecurityCtrlr", "BasicAuthPassword", attributeValue="s3cret-s3cret-s3cret")
    )
    assert results[0]["attributeStatus"] == "Accepted"
    assert changed == (Changed("SecurityCtrlr", "BasicAuthPassword"),)
    assert get(dm, cv("SecurityCtrlr", "BasicAuthPassword"))[0]["attributeStatus"] == "Rejected"
    result = get_base_report(dm, {"requestId": 1, "reportBase": "FullInventory"}, NOW)
    text = json.dumps(result.pages)
    assert "s3cret" not in text and "BasicAuthPassword" in text


def test_set_variables_over_items_per_message_is_a_call_error() -> None:
    dm = model(items_per_message=2)
    request = {"setVariableData": [cv("AuthCtrlr", "Enabled", attributeValue="false")] * 3}
    result = dm.set_variables(valid("SetVariablesRequest", request))
    assert isinstance(result.answer, RequestError)
    assert result.answer.code is ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
    assert result.changed == () and dm.flag("AuthCtrlr", "Enabled") is True


def test_the_charger_updates_read_only_values_itself() -> None:
    dm = model(evses=2)
    dm.set_actual("EVSE", "AvailabilityState", "Occupied", evse=2)
    results = get(
        dm,
        cv("EVSE", "AvailabilityState", evse={"id": 2}),
        cv("EVSE", "AvailabilityState", evse={"id": 1}),
    )
    assert [r["attributeValue"] for r in results] == ["Occupied", "Available"]
    assert dm.text("ClockCtrlr", "DateTime", now=NOW) == iso_utc(NOW)


# -- reports (B07, B08) ------------------------------------------------------------------------


def pages_of(
    result: Any, request_id: int, per_page: int, version: str = "v201"
) -> list[dict[str, Any]]:
    """Checks the paging rules and the schema of every page; returns the pages."""
    pages = list(result.pages)
    for seq, page in enumerate(pages):
        valid("NotifyReportRequest", page, version)
        assert page["seqNo"] == seq
        assert page["tbc"] is (seq < len(pages) - 1)
        assert page["requestId"] == request_id
        assert page["generatedAt"] == iso_utc(NOW)
        assert 1 <= len(page["reportData"]) <= per_page
    assert all(len(p["reportData"]) == per_page for p in pages[:-1])
    return pages


def items(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for page in pages for item in page["reportData"]]


def test_full_inventory_pages_hold_every_variable() -> None:
    dm = model(evses=2, items_per_message=7)
    request = valid("GetBaseReportRequest", {"requestId": 42, "reportBase": "FullInventory"})
    result = get_base_report(dm, request, NOW)
    assert valid("GetBaseReportResponse", result.answer) == {"status": "Accepted"}
    pages = pages_of(result, 42, 7)
    inventory = sum(len(c.variables) for c in dm.definitions.components)
    assert len(items(pages)) == inventory and len(pages) == -(-inventory // 7)
    for item in items(pages):
        for attribute in item["variableAttribute"]:
            assert ("value" in attribute) is (attribute["mutability"] != "WriteOnly")
    power = [i for i in items(pages) if i["variable"]["name"] == "Power"]
    assert [p["component"] for p in power] == [
        {"name": "EVSE", "evse": {"id": 1}},
        {"name": "EVSE", "evse": {"id": 2}},
    ]
    assert power[0]["variableCharacteristics"]["maxLimit"] == 22_000
    assert {a["type"] for a in power[0]["variableAttribute"]} == {"Actual", "MaxSet"}
    for page in pages:  # and once against the 2.1 schemas
        valid("NotifyReportRequest", page, "v21")


def test_configuration_and_summary_inventories() -> None:
    dm = model(evses=2)
    set_(dm, cv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="77"))
    config = get_base_report(dm, {"requestId": 1, "reportBase": "ConfigurationInventory"}, NOW)
    reported = items(pages_of(config, 1, 20))
    settable = [
        v
        for c in dm.definitions.components
        for v in c.variables
        if any(a.mutability is not Mutability.READ_ONLY for a in v.attributes)
    ]
    assert len(reported) == len(settable) > 0
    assert all(any(a["mutability"] != "ReadOnly" for a in i["variableAttribute"]) for i in reported)
    beat = [i for i in reported if i["variable"]["name"] == "HeartbeatInterval"]
    assert beat[0]["variableAttribute"][0]["value"] == "77"
    summary = get_base_report(dm, {"requestId": 2, "reportBase": "SummaryInventory"}, NOW)
    names = {i["variable"]["name"] for i in items(pages_of(summary, 2, 20))}
    assert names == {"Available", "AvailabilityState", "Problem"}


def test_get_report_filters() -> None:
    dm = model(evses=2, items_per_message=5)

    def report(**request: Any) -> tuple[str, list[dict[str, Any]]]:
        request = valid("GetReportRequest", {"requestId": 9, **request})
        result = get_report(dm, request, NOW)
        assert not isinstance(result.answer, RequestError)
        return valid("GetReportResponse", result.answer)["status"], pages_of(result, 9, 5)

    status, pages = report(componentVariable=[{"component": {"name": "evse"}}])
    evse_vars = len(dm.definitions.by_key[("evse", "", 1, 0)].variables)
    assert status == "Accepted" and len(items(pages)) == 2 * evse_vars
    status, pages = report(componentVariable=[cv("EVSE", "Power", evse={"id": 2})])
    assert [i["component"]["evse"] for i in items(pages)] == [{"id": 2}]
    status, pages = report(
        componentVariable=[cv("DeviceDataCtrlr", "ItemsPerMessage", instance="GetReport")]
    )
    assert [i["variable"] for i in items(pages)] == [
        {"name": "ItemsPerMessage", "instance": "GetReport"}
    ]
    assert report(componentVariable=[{"component": {"name": "Nothing"}}]) == ("EmptyResultSet", [])
    assert report(componentCriteria=["Active"]) == ("EmptyResultSet", [])


def test_get_report_criteria_follow_the_values() -> None:
    dm = model()

    def enabled_components() -> set[str]:
        result = get_report(
            dm, valid("GetReportRequest", {"requestId": 1, "componentCriteria": ["Enabled"]}), NOW
        )
        return {i["component"]["name"] for i in items(pages_of(result, 1, 20))}

    before = enabled_components()
    assert {"AuthCtrlr", "SampledDataCtrlr", "ReservationCtrlr"} <= before
    set_(dm, cv("ReservationCtrlr", "Enabled", attributeValue="false"))
    assert enabled_components() == before - {"ReservationCtrlr"}
    both = get_report(
        dm,
        {
            "requestId": 3,
            "componentCriteria": ["Enabled"],
            "componentVariable": [
                {"component": {"name": "ReservationCtrlr"}},
                {"component": {"name": "AuthCtrlr"}},
            ],
        },
        NOW,
    )
    assert {i["component"]["name"] for i in items(pages_of(both, 3, 20))} == {"AuthCtrlr"}


def test_get_report_over_items_per_message_is_a_call_error() -> None:
    dm = model(items_per_message=2)
    request = {"requestId": 1, "componentVariable": [{"component": {"name": "AuthCtrlr"}}] * 3}
    result = get_report(dm, valid("GetReportRequest", request), NOW)
    assert isinstance(result.answer, RequestError) and result.pages == ()
    assert result.answer.code is ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION


def test_get_variables_answers_are_valid_2_1_too() -> None:
    dm = model()
    request = {"getVariableData": [cv("AuthCtrlr", "Enabled"), cv("Nope", "Enabled")]}
    answer = dm.get_variables(valid("GetVariablesRequest", request, "v21"), NOW)
    valid("GetVariablesResponse", answer, "v21")


# -- memory ------------------------------------------------------------------------------------


def test_memory_per_unchanged_charger() -> None:
    """A figure, not a timed assert: bytes per charger holding an unchanged device model."""
    definitions = definitions_for(StationModel(evses=2))
    count = 10_000
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    fleet = [DeviceModel(definitions) for _ in range(count)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    per_charger = grown / count
    print(f"device model per unchanged charger: {per_charger:.0f} B")
    assert all(dm.changed_count() == 0 for dm in fleet)
    assert per_charger < 200  # two slots: definitions reference, no dict of changes
