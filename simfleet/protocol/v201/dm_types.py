"""The shapes of the OCPP 2.0.1 device model (Part 1 §4 "Device Model"; Part 2 §2 datatypes
VariableAttributeType, VariableCharacteristicsType): components, variables, attributes.

Everything here is frozen and built once per charger model (`dm_catalogue.definitions_for`),
then shared by every charger of that model: a charger holds only the values it changed.
Names are case-insensitive on the wire (ComponentType.name, VariableType.name: "Case
Insensitive"), so lookups go through `fold()`d keys; reports use the canonical spelling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final


class DataType(StrEnum):
    """DataEnumType."""

    STRING = "string"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATE_TIME = "dateTime"
    BOOLEAN = "boolean"
    OPTION_LIST = "OptionList"
    SEQUENCE_LIST = "SequenceList"
    MEMBER_LIST = "MemberList"


class Mutability(StrEnum):
    """MutabilityEnumType."""

    READ_ONLY = "ReadOnly"
    READ_WRITE = "ReadWrite"
    WRITE_ONLY = "WriteOnly"


class Attr(StrEnum):
    """AttributeEnumType: Actual is the default when a request leaves it out."""

    ACTUAL = "Actual"
    TARGET = "Target"
    MIN_SET = "MinSet"
    MAX_SET = "MaxSet"


#: Types whose value is a comma-separated list (valuesList holds the allowed members).
LIST_TYPES: Final = frozenset({DataType.SEQUENCE_LIST, DataType.MEMBER_LIST})
#: VariableAttributeType.value / GetVariableResult.attributeValue are at most 2500 characters,
#: SetVariableData.attributeValue and valuesList at most 1000 (2.0.1 JSON schemas).
REPORTING_VALUE_SIZE: Final = 2500
CONFIGURATION_VALUE_SIZE: Final = 1000

#: A component's identity: (name, instance, evse id, connector id), folded; 0 = none.
ComponentKey = tuple[str, str, int, int]
#: A variable's identity within its component: (name, instance), folded.
VariableKey = tuple[str, str]


def fold(text: str | None) -> str:
    return (text or "").casefold()


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of a variable: its type, initial value and mutability."""

    type: Attr
    value: str
    mutability: Mutability = Mutability.READ_WRITE


@dataclass(frozen=True, slots=True)
class Variable:
    """A variable's definition: attributes and characteristics (VariableCharacteristicsType)."""

    name: str
    data_type: DataType
    attributes: tuple[Attribute, ...]
    instance: str | None = None
    unit: str | None = None
    #: Value range of numbers; for strings and lists `max_limit` is the maximum length.
    min_limit: float | None = None
    max_limit: float | None = None
    #: Allowed values of OptionList / MemberList / SequenceList.
    values: tuple[str, ...] = ()
    #: The shortest string accepted (not a reported characteristic: e.g. BasicAuthPassword).
    min_length: int = 0
    persistent: bool = True
    constant: bool = False
    #: A change takes effect after a reboot only: SetVariables answers RebootRequired (B05).
    reboot: bool = False
    supports_monitoring: bool = False
    #: The Actual value is the current time (ClockCtrlr.DateTime), not a stored string.
    clock: bool = False

    @property
    def key(self) -> VariableKey:
        return (fold(self.name), fold(self.instance))

    def attribute(self, attr: Attr) -> Attribute | None:
        for candidate in self.attributes:
            if candidate.type is attr:
                return candidate
        return None


@dataclass(frozen=True, slots=True)
class Component:
    """A component (ComponentType) and its variables, in report order."""

    name: str
    variables: tuple[Variable, ...]
    instance: str | None = None
    evse: int = 0
    connector: int = 0
    by_key: Mapping[VariableKey, Variable] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_key", {v.key: v for v in self.variables})

    @property
    def key(self) -> ComponentKey:
        return (fold(self.name), fold(self.instance), self.evse, self.connector)

    def wire(self) -> dict[str, object]:
        """ComponentType as reported."""
        out: dict[str, object] = {"name": self.name}
        if self.instance is not None:
            out["instance"] = self.instance
        if self.evse:
            evse: dict[str, int] = {"id": self.evse}
            if self.connector:
                evse["connectorId"] = self.connector
            out["evse"] = evse
        return out


@dataclass(frozen=True, slots=True)
class Definitions:
    """Every component of one charger model; shared, never changed."""

    components: tuple[Component, ...]
    by_key: Mapping[ComponentKey, Component] = field(init=False, repr=False, compare=False)
    names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_key", {c.key: c for c in self.components})
        object.__setattr__(self, "names", frozenset(c.key[0] for c in self.components))

    def find(self, component: ComponentKey, variable: VariableKey) -> Variable:
        """The variable (KeyError if this model has none such): for the charger's readers."""
        return self.by_key[component].by_key[variable]


def component_key(wire: Mapping[str, object]) -> ComponentKey:
    """The key of a ComponentType as a CSMS sent it (schema-valid)."""
    evse = wire.get("evse")
    evse_id = connector = 0
    if isinstance(evse, Mapping):
        evse_id = int(evse.get("id", 0))
        connector = int(evse.get("connectorId", 0))
    name = wire.get("name")
    instance = wire.get("instance")
    return (
        fold(name if isinstance(name, str) else ""),
        fold(instance if isinstance(instance, str) else None),
        evse_id,
        connector,
    )


def variable_key(wire: Mapping[str, object]) -> VariableKey:
    """The key of a VariableType as a CSMS sent it (schema-valid)."""
    name = wire.get("name")
    instance = wire.get("instance")
    return (
        fold(name if isinstance(name, str) else ""),
        fold(instance if isinstance(instance, str) else None),
    )
