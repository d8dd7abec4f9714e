"""Reports of the OCPP 2.0.1 device model: GetBaseReport (B07) and GetReport (B08), answered
with a status and, when Accepted, the NotifyReport payloads to send, in order.

Paging (B07.FR.04 ...: "tbc" and "seqNo"): each NotifyReport carries at most
DeviceDataCtrlr.ItemsPerMessage[GetReport] reportData entries; seqNo counts from 0, tbc is true
on every page but the last, and every page has the request's requestId and the `now` it was
generated at. (The spec has the charger choose its page size; ItemsPerMessage[GetReport] is
the number of entries this charger handles in one message, so it is the size used.)

Decisions:
* ConfigurationInventory lists the variables with an attribute a CSMS can set (ReadWrite or
  WriteOnly); FullInventory lists all; SummaryInventory lists the availability and problem
  variables (Available, AvailabilityState, Problem) of every component that has them.
* A WriteOnly attribute is reported without its value (VariableAttributeType.value: "May only
  be omitted when mutability is set to WriteOnly"): BasicAuthPassword never leaves the charger.
* GetReport componentCriteria (ComponentCriterionEnumType: Active, Available, Enabled, Problem)
  select the components whose variable of that name is "true"; several criteria are OR-ed; with
  componentVariable too, an entry is reported if it matches both. A componentVariable without
  evse matches the component on every EVSE (and without a variable, all its variables).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v201.device_model import DeviceModel, Payload, RequestError
from simfleet.protocol.v201.dm_types import (
    CONFIGURATION_VALUE_SIZE,
    Component,
    Mutability,
    Variable,
    component_key,
    fold,
    variable_key,
)

#: B07: the variables of a SummaryInventory.
SUMMARY_VARIABLES = frozenset({"available", "availabilitystate", "problem"})

Entry = tuple[Component, Variable]


class ReportResult(NamedTuple):
    """The answer (or CALLERROR) and the NotifyReport payloads to send after it."""

    answer: Payload | RequestError
    pages: tuple[Payload, ...]


def get_base_report(dm: DeviceModel, request: Mapping[str, Any], now: float) -> ReportResult:
    """GetBaseReport (B07)."""
    base = request["reportBase"]
    if base == "FullInventory":
        selected = list(_all(dm))
    elif base == "ConfigurationInventory":
        selected = [(c, v) for c, v in _all(dm) if _settable(v)]
    elif base == "SummaryInventory":
        selected = [(c, v) for c, v in _all(dm) if v.key[0] in SUMMARY_VARIABLES]
    else:
        return ReportResult({"status": "NotSupported"}, ())
    return _report(dm, selected, request["requestId"], now)


def get_report(
    dm: DeviceModel, request: Mapping[str, Any], now: float, size: int = 0
) -> ReportResult:
    """GetReport (B08); `size` is the request's bytes (B08.FR.18)."""
    wanted: Sequence[Mapping[str, Any]] = request.get("componentVariable", ())
    refused = dm.too_many(wanted, "GetReport", size)  # B08.FR.17/18
    if refused is not None:
        return ReportResult(refused, ())
    criteria: Sequence[str] = request.get("componentCriteria", ())
    selected = [
        (c, v)
        for c, v in _all(dm)
        if (not wanted or any(_matches(c, v, entry) for entry in wanted))
        and (not criteria or any(_meets(dm, c, criterion) for criterion in criteria))
    ]
    return _report(dm, selected, request["requestId"], now)


def _all(dm: DeviceModel) -> Iterator[Entry]:
    for component in dm.definitions.components:
        for variable in component.variables:
            yield component, variable


def _settable(variable: Variable) -> bool:
    return any(a.mutability is not Mutability.READ_ONLY for a in variable.attributes)


def _matches(component: Component, variable: Variable, entry: Mapping[str, Any]) -> bool:
    wire = entry["component"]
    name, instance, evse, connector = component_key(wire)
    if name != component.key[0] or ("instance" in wire and instance != component.key[1]):
        return False
    if "evse" in wire and (
        evse != component.evse
        or ("connectorId" in wire["evse"] and connector != component.connector)
    ):
        return False
    asked = entry.get("variable")
    if asked is None:
        return True
    var_name, var_instance = variable_key(asked)
    return var_name == variable.key[0] and (
        "instance" not in asked or var_instance == variable.key[1]
    )


def _meets(dm: DeviceModel, component: Component, criterion: str) -> bool:
    variable = component.by_key.get((fold(criterion), ""))
    if variable is None or not variable.attributes:
        return False
    return dm.value(component, variable, variable.attributes[0], 0.0) == "true"


def _report(dm: DeviceModel, selected: list[Entry], request_id: int, now: float) -> ReportResult:
    if not selected:
        return ReportResult({"status": "EmptyResultSet"}, ())
    per_page = dm.integer("DeviceDataCtrlr", "ItemsPerMessage", "GetReport")
    generated = iso_utc(now)
    chunks = [selected[i : i + per_page] for i in range(0, len(selected), per_page)]
    pages = tuple(
        {
            "requestId": request_id,
            "generatedAt": generated,
            "seqNo": seq,
            "tbc": seq < len(chunks) - 1,
            "reportData": [report_data(dm, c, v, now) for c, v in chunk],
        }
        for seq, chunk in enumerate(chunks)
    )
    return ReportResult({"status": "Accepted"}, pages)


def report_data(dm: DeviceModel, component: Component, variable: Variable, now: float) -> Payload:
    """ReportDataType of one variable: its attributes and characteristics."""
    attributes: list[Payload] = []
    for attribute in variable.attributes:
        item: Payload = {
            "type": attribute.type.value,
            "mutability": attribute.mutability.value,
            "persistent": variable.persistent,
            "constant": variable.constant,
        }
        if attribute.mutability is not Mutability.WRITE_ONLY:
            item["value"] = dm.value(component, variable, attribute, now)
        attributes.append(item)
    wire_variable: Payload = {"name": variable.name}
    if variable.instance is not None:
        wire_variable["instance"] = variable.instance
    return {
        "component": component.wire(),
        "variable": wire_variable,
        "variableAttribute": attributes,
        "variableCharacteristics": characteristics(variable),
    }


def characteristics(variable: Variable) -> Payload:
    """VariableCharacteristicsType."""
    out: Payload = {"dataType": variable.data_type.value}
    if variable.unit is not None:
        out["unit"] = variable.unit
    if variable.min_limit is not None:
        out["minLimit"] = variable.min_limit
    if variable.max_limit is not None:
        out["maxLimit"] = variable.max_limit
    if variable.values:
        out["valuesList"] = ",".join(variable.values)[:CONFIGURATION_VALUE_SIZE]
    out["supportsMonitoring"] = variable.supports_monitoring
    return out
