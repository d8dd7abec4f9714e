"""The OCPP 2.0.1 device model a charger holds (2.0.1 Part 1 §4, Part 2 block B "Provisioning"):
GetVariables (B06), SetVariables (B05) and typed readers for the charger's own use. The reports
(GetBaseReport B07, GetReport B08 and their NotifyReport pages) are in `dm_reports`.

Memory: the components, variables and their initial values are `Definitions` shared by every
charger of a model (`dm_catalogue.definitions_for`); a `DeviceModel` holds a reference to them
and, only once something was set, a small dict of the values that differ. A charger nobody
configured costs one object with two slots.

Pure: requests are the schema-valid payloads a CSMS sent, answers are payloads to send (or a
`RequestError` to answer with a CALLERROR); time comes in as `now` (epoch seconds).
`set_variables` also says which variables changed, so the charger applies what a change means
(a new heartbeat interval, measurands, TxStartPoint...) by reading them back.

Decisions:
* A value SetVariables accepts is readable at once, also when it answers RebootRequired.
* A request entry naming a component that exists but with another instance or EVSE is an
  UnknownComponent (the component identity is name + instance + evse, B06.FR.06).
* Entries of one SetVariables are applied in order: a later entry for the same variable wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from simfleet.protocol.errors import ErrorCode
from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v201.dm_types import (
    REPORTING_VALUE_SIZE,
    Attr,
    Attribute,
    Component,
    ComponentKey,
    Definitions,
    Mutability,
    Variable,
    VariableKey,
    component_key,
    fold,
    variable_key,
)
from simfleet.protocol.v201.dm_values import canonical

Payload = dict[str, Any]


class RequestError(NamedTuple):
    """The whole request is refused with a CALLERROR (OCPP-J 2.0.1 §4.3)."""

    code: ErrorCode
    description: str


class Changed(NamedTuple):
    """A variable SetVariables changed, in canonical spelling."""

    component: str
    variable: str
    instance: str | None = None
    evse: int = 0
    connector: int = 0


class SetResult(NamedTuple):
    answer: Payload | RequestError
    changed: tuple[Changed, ...]


_ChangeKey = tuple[ComponentKey, VariableKey, Attr]


class DeviceModel:
    """One charger's variables: the shared definitions and what was changed."""

    __slots__ = ("_changed", "definitions")

    def __init__(self, definitions: Definitions) -> None:
        self.definitions = definitions
        self._changed: dict[_ChangeKey, str] | None = None

    # -- values ----------------------------------------------------------------------------

    def value(
        self, component: Component, variable: Variable, attribute: Attribute, now: float
    ) -> str:
        """The current value of one attribute."""
        if self._changed is not None:
            stored = self._changed.get((component.key, variable.key, attribute.type))
            if stored is not None:
                return stored
        if variable.clock and attribute.type is Attr.ACTUAL:
            return iso_utc(now)
        return attribute.value

    def _store(self, component: Component, variable: Variable, attr: Attr, value: str) -> None:
        if self._changed is None:
            self._changed = {}
        self._changed[(component.key, variable.key, attr)] = value

    def _lookup(
        self, component: str, variable: str, instance: str | None, evse: int, connector: int
    ) -> tuple[Component, Variable]:
        owner = self.definitions.by_key[(fold(component), "", evse, connector)]
        return owner, owner.by_key[(fold(variable), fold(instance))]

    def text(
        self,
        component: str,
        variable: str,
        instance: str | None = None,
        evse: int = 0,
        connector: int = 0,
        now: float = 0.0,
    ) -> str:
        """The Actual value of a variable the model has (KeyError if it has none such);
        ClockCtrlr.DateTime reads as `now`."""
        owner, found = self._lookup(component, variable, instance, evse, connector)
        actual = found.attribute(Attr.ACTUAL)
        if actual is None:
            raise KeyError(f"{component}.{variable} has no Actual attribute")
        return self.value(owner, found, actual, now)

    def integer(
        self, component: str, variable: str, instance: str | None = None, evse: int = 0
    ) -> int:
        return int(self.text(component, variable, instance, evse))

    def decimal(
        self, component: str, variable: str, instance: str | None = None, evse: int = 0
    ) -> float:
        return float(self.text(component, variable, instance, evse))

    def flag(
        self, component: str, variable: str, instance: str | None = None, evse: int = 0
    ) -> bool:
        return self.text(component, variable, instance, evse) == "true"

    def members(
        self, component: str, variable: str, instance: str | None = None, evse: int = 0
    ) -> tuple[str, ...]:
        """A MemberList / SequenceList as its members, in order."""
        value = self.text(component, variable, instance, evse)
        return tuple(value.split(",")) if value else ()

    def set_actual(
        self,
        component: str,
        variable: str,
        value: str,
        instance: str | None = None,
        evse: int = 0,
        connector: int = 0,
    ) -> None:
        """The charger's own update of a value (AvailabilityState, Entries...), whatever its
        mutability: ReadOnly only means the CSMS cannot set it."""
        owner, found = self._lookup(component, variable, instance, evse, connector)
        self._store(owner, found, Attr.ACTUAL, value)

    def changed_count(self) -> int:
        return 0 if self._changed is None else len(self._changed)

    # -- GetVariables (B06) -----------------------------------------------------------------

    def get_variables(
        self, request: Mapping[str, Any], now: float, size: int = 0
    ) -> Payload | RequestError:
        """GetVariablesResponse, or the CALLERROR to answer (`size`: the request's bytes)."""
        entries: Sequence[Mapping[str, Any]] = request["getVariableData"]
        refused = self.too_many(entries, "GetVariables", size)
        if refused is not None:
            return refused
        return {"getVariableResult": [self._get_one(entry, now) for entry in entries]}

    def too_many(self, entries: Sequence[object], action: str, size: int) -> RequestError | None:
        """B06.FR.16/17, B05.FR.11/12, B08.FR.17/18: more entries than ItemsPerMessage[action]
        -> OccurrenceConstraintViolation, more bytes than BytesPerMessage -> FormatViolation."""
        items = self.integer("DeviceDataCtrlr", "ItemsPerMessage", action)
        if len(entries) > items:
            return RequestError(
                ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
                f"{len(entries)} entries, ItemsPerMessage[{action}] is {items}",
            )
        limit = self.integer("DeviceDataCtrlr", "BytesPerMessage", action)
        if size > limit:
            return RequestError(
                ErrorCode.FORMAT_VIOLATION, f"{size} bytes, BytesPerMessage[{action}] is {limit}"
            )
        return None

    def _resolve(
        self, entry: Mapping[str, Any]
    ) -> tuple[Component | None, Variable | None, str | None]:
        """The entry's component and variable, or the status that says which is unknown."""
        owner = self.definitions.by_key.get(component_key(entry["component"]))
        if owner is None:
            return None, None, "UnknownComponent"  # B06.FR.06 / B05.FR.03
        found = owner.by_key.get(variable_key(entry["variable"]))
        if found is None:
            return owner, None, "UnknownVariable"  # B06.FR.07 / B05.FR.04
        return owner, found, None

    def _get_one(self, entry: Mapping[str, Any], now: float) -> Payload:
        attr = Attr(entry.get("attributeType", Attr.ACTUAL))
        result: Payload = {
            "attributeType": attr.value,
            "component": entry["component"],
            "variable": entry["variable"],
        }
        owner, found, unknown = self._resolve(entry)
        if unknown is not None or owner is None or found is None:
            result["attributeStatus"] = unknown
            return result
        attribute = found.attribute(attr)
        if attribute is None:
            result["attributeStatus"] = "NotSupportedAttributeType"
        elif attribute.mutability is Mutability.WRITE_ONLY:
            result["attributeStatus"] = "Rejected"  # B06.FR.09: a WriteOnly value is secret
        else:
            result["attributeStatus"] = "Accepted"
            result["attributeValue"] = self.value(owner, found, attribute, now)[
                :REPORTING_VALUE_SIZE
            ]
        return result

    # -- SetVariables (B05) -----------------------------------------------------------------

    def set_variables(self, request: Mapping[str, Any], size: int = 0) -> SetResult:
        """SetVariablesResponse (or the CALLERROR) and the variables whose value changed."""
        entries: Sequence[Mapping[str, Any]] = request["setVariableData"]
        refused = self.too_many(entries, "SetVariables", size)
        if refused is not None:
            return SetResult(refused, ())
        results: list[Payload] = []
        changed: list[Changed] = []
        for entry in entries:
            result, change = self._set_one(entry)
            results.append(result)
            if change is not None and change not in changed:
                changed.append(change)
        return SetResult({"setVariableResult": results}, tuple(changed))

    def _set_one(self, entry: Mapping[str, Any]) -> tuple[Payload, Changed | None]:
        attr = Attr(entry.get("attributeType", Attr.ACTUAL))
        result: Payload = {
            "attributeType": attr.value,
            "component": entry["component"],
            "variable": entry["variable"],
        }
        owner, found, unknown = self._resolve(entry)
        if unknown is not None or owner is None or found is None:
            result["attributeStatus"] = unknown
            return result, None
        attribute = found.attribute(attr)
        if attribute is None:
            result["attributeStatus"] = "NotSupportedAttributeType"  # B05.FR.06
            return result, None
        if attribute.mutability is Mutability.READ_ONLY or found.constant:
            result["attributeStatus"] = "Rejected"  # B05.FR.05: ReadOnly
            result["attributeStatusInfo"] = {"reasonCode": "ReadOnly"}
            return result, None
        value = canonical(found, entry["attributeValue"])
        if value is None:
            result["attributeStatus"] = "Rejected"  # B05.FR.07 bad format, B05.FR.08 range
            result["attributeStatusInfo"] = {"reasonCode": "InvalidValue"}
            return result, None
        self._store(owner, found, attr, value)
        result["attributeStatus"] = "RebootRequired" if found.reboot else "Accepted"
        change = Changed(owner.name, found.name, found.instance, owner.evse, owner.connector)
        return result, change
