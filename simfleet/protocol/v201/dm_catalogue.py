"""The components and variables a simulated OCPP 2.0.1 charger has (2.0.1 Part 2, Appendices:
"Components and Variables"), built from its model: EVSEs, AC/DC, maximum power, connector type.

`definitions_for(model)` builds them once per distinct `StationModel` and caches them: tens of
thousands of chargers of one model share one frozen `Definitions`.

Decisions the appendix leaves open, taken here once:
* An EVSE has one connector (connectorId 1) unless `connectors_per_evse` says otherwise: the
  1.6 scenario's "connectors" become EVSEs 1..n.
* SupplyPhases is 0 on a DC charger (the appendix: "0 for DC"), `phases` on an AC one.
* Only the measurands the simulated meter reads and 2.0.1 defines (MeasurandEnumType) may be
  put in the measurand lists: a charger must not accept what it would never send.
* NetworkConfigurationPriority and SecurityCtrlr.Identity answer RebootRequired (B05): the new
  connection is only made on the next boot.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

from simfleet.protocol.v201.dm_types import (
    Attr,
    Attribute,
    Component,
    DataType,
    Definitions,
    Mutability,
    Variable,
)

RO = Mutability.READ_ONLY
RW = Mutability.READ_WRITE
WO = Mutability.WRITE_ONLY

#: ConnectorEnumType of the 2.0.1 schemas (ReserveNowRequest.json): the values a simulated
#: connector may report (cGBT and cChaoJi are not in 2.0.1's list).
CONNECTOR_TYPES: Final = (
    "cCCS1",
    "cCCS2",
    "cG105",
    "cTesla",
    "cType1",
    "cType2",
    "s309-1P-16A",
    "s309-1P-32A",
    "s309-3P-16A",
    "s309-3P-32A",
    "sBS1361",
    "sCEE-7-7",
    "sType2",
    "sType3",
    "Other1PhMax16A",
    "Other1PhOver16A",
    "Other3Ph",
    "Pan",
    "wInductive",
    "wResonant",
    "Undetermined",
    "Unknown",
)
#: What the meter reads (v16.messages.MEASURAND_UNITS) that 2.0.1's MeasurandEnumType has
#: (it dropped Temperature).
MEASURANDS: Final = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Current.Offered",
    "Voltage",
    "SoC",
)
#: TxStartPoint / TxStopPoint values (E01, E06: "TxStartStopPoint values").
TX_POINTS: Final = (
    "ParkingBayOccupancy",
    "EVConnected",
    "Authorized",
    "DataSigned",
    "PowerPathClosed",
    "EnergyTransfer",
)
AVAILABILITY_STATES: Final = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
TIME_SOURCES: Final = (
    "Heartbeat",
    "NTP",
    "GPS",
    "RealTimeClock",
    "MobileNetwork",
    "RadioTimeTransmitter",
)
INT32_MAX: Final = 2**31 - 1


@dataclass(frozen=True, slots=True)
class StationModel:
    """What the device model is built from (the scenario's charger model)."""

    vendor: str = "simfleet"
    model: str = "sim"
    evses: int = 1
    connectors_per_evse: int = 1
    ac: bool = True
    max_power_w: float = 22_000.0
    #: None: cType2 on AC, cCCS2 on DC.
    connector_type: str | None = None
    phases: int = 3
    security_profile: int = 1
    heartbeat_interval_s: int = 300
    #: DeviceDataCtrlr ItemsPerMessage / BytesPerMessage [GetReport, GetVariables, SetVariables].
    items_per_message: int = 20
    bytes_per_message: int = 65_000

    def check(self) -> None:
        """ValueError naming the first setting that cannot make a device model."""
        if self.evses < 1 or self.connectors_per_evse < 1:
            raise ValueError(f"evses and connectors_per_evse must be >= 1: {self}")
        if self.max_power_w <= 0:
            raise ValueError(f"max_power_w must be > 0, not {self.max_power_w}")
        if self.connector_type is not None and self.connector_type not in CONNECTOR_TYPES:
            raise ValueError(
                f"connector_type {self.connector_type!r} is not an OCPP 2.0.1 ConnectorEnumType"
                f" (one of {', '.join(CONNECTOR_TYPES)})"
            )
        if self.items_per_message < 1 or self.bytes_per_message < 1:
            raise ValueError("items_per_message and bytes_per_message must be >= 1")


def _v(
    name: str,
    data_type: DataType,
    value: str,
    mutability: Mutability = RW,
    *,
    instance: str | None = None,
    unit: str | None = None,
    min_limit: float | None = None,
    max_limit: float | None = None,
    values: tuple[str, ...] = (),
    min_length: int = 0,
    constant: bool = False,
    reboot: bool = False,
    clock: bool = False,
) -> Variable:
    """A variable with one Actual attribute."""
    return Variable(
        name,
        data_type,
        (Attribute(Attr.ACTUAL, value, mutability),),
        instance=instance,
        unit=unit,
        min_limit=min_limit,
        max_limit=max_limit,
        values=values,
        min_length=min_length,
        constant=constant,
        reboot=reboot,
        clock=clock,
    )


def _flag(name: str, value: bool, mutability: Mutability = RW) -> Variable:
    return _v(name, DataType.BOOLEAN, "true" if value else "false", mutability)


def _int(
    name: str,
    value: int,
    mutability: Mutability = RW,
    *,
    unit: str | None = None,
    lo: int = 0,
    hi: int = INT32_MAX,
    instance: str | None = None,
) -> Variable:
    return _v(
        name,
        DataType.INTEGER,
        str(value),
        mutability,
        unit=unit,
        min_limit=lo,
        max_limit=hi,
        instance=instance,
    )


def _members(name: str, value: str, values: tuple[str, ...], kind: DataType) -> Variable:
    return _v(name, kind, value, RW, values=values, max_limit=CSV_LIMIT)


CSV_LIMIT: Final = 1000
SECONDS: Final = "s"


def _station(m: StationModel, phases: int) -> Component:
    return Component(
        "ChargingStation",
        (
            _flag("Available", True, RO),
            _v(
                "AvailabilityState",
                DataType.OPTION_LIST,
                "Available",
                RO,
                values=AVAILABILITY_STATES,
            ),
            _v("Model", DataType.STRING, m.model, RO, constant=True, max_limit=20),
            _v("VendorName", DataType.STRING, m.vendor, RO, constant=True, max_limit=50),
            _flag("Problem", False, RO),
            _int("SupplyPhases", phases, RO, lo=0, hi=3),
        ),
    )


def _evse(m: StationModel, evse: int, phases: int) -> list[Component]:
    power = Variable(
        "Power",
        DataType.DECIMAL,
        (Attribute(Attr.ACTUAL, "0", RO), Attribute(Attr.MAX_SET, f"{m.max_power_w:g}", RO)),
        unit="W",
        min_limit=0,
        max_limit=m.max_power_w,
        supports_monitoring=True,
    )
    out = [
        Component(
            "EVSE",
            (
                _flag("Available", True, RO),
                _v(
                    "AvailabilityState",
                    DataType.OPTION_LIST,
                    "Available",
                    RO,
                    values=AVAILABILITY_STATES,
                ),
                power,
                _int("SupplyPhases", phases, RO, lo=0, hi=3),
            ),
            evse=evse,
        )
    ]
    kind = m.connector_type or ("cType2" if m.ac else "cCCS2")
    for connector in range(1, m.connectors_per_evse + 1):
        out.append(
            Component(
                "Connector",
                (
                    _flag("Available", True, RO),
                    _v(
                        "AvailabilityState",
                        DataType.OPTION_LIST,
                        "Available",
                        RO,
                        values=AVAILABILITY_STATES,
                    ),
                    _v("ConnectorType", DataType.STRING, kind, RO, constant=True, max_limit=20),
                    _int("SupplyPhases", phases, RO, lo=0, hi=3),
                ),
                evse=evse,
                connector=connector,
            )
        )
    return out


def _comm(m: StationModel) -> Component:
    tx = "TransactionEvent"
    return Component(
        "OCPPCommCtrlr",
        (
            _v(
                "FileTransferProtocols",
                DataType.MEMBER_LIST,
                "HTTP,HTTPS",
                RO,
                values=("HTTP", "HTTPS"),
            ),
            _int("HeartbeatInterval", m.heartbeat_interval_s, unit=SECONDS),
            _int("MessageTimeout", 30, unit=SECONDS, lo=1, instance="Default"),
            _int("MessageAttempts", 3, instance=tx),
            _int("MessageAttemptInterval", 60, unit=SECONDS, instance=tx),
            Variable(
                "NetworkConfigurationPriority",
                DataType.SEQUENCE_LIST,
                (Attribute(Attr.ACTUAL, "0", RW),),
                values=("0", "1"),
                max_limit=CSV_LIMIT,
                reboot=True,
            ),
            _int("NetworkProfileConnectionAttempts", 3, lo=1),
            _int("OfflineThreshold", 60, unit=SECONDS),
            _int("ResetRetries", 2),
            _int("RetryBackOffRandomRange", 10, unit=SECONDS),
            _int("RetryBackOffRepeatTimes", 5),
            _int("RetryBackOffWaitMinimum", 10, unit=SECONDS),
            _int("WebSocketPingInterval", 0, unit=SECONDS),
        ),
    )


def _auth() -> list[Component]:
    return [
        Component(
            "AuthCtrlr",
            (
                _flag("Enabled", True),
                _flag("AuthorizeRemoteStart", True),
                _flag("LocalAuthorizeOffline", True),
                _flag("LocalPreAuthorize", False),
                _flag("OfflineTxForUnknownIdEnabled", False),
            ),
        ),
        Component(
            "AuthCacheCtrlr",
            (
                _flag("Available", True, RO),
                _flag("Enabled", True),
                _int("LifeTime", 86_400, unit=SECONDS),
                _v("Policy", DataType.OPTION_LIST, "LRU", values=("LRU", "LFU", "FIFO", "CUSTOM")),
                _int("Storage", 100_000, RO, unit="B"),
            ),
        ),
        Component(
            "LocalAuthListCtrlr",
            (
                _flag("Available", True, RO),
                _flag("Enabled", True),
                _int("Entries", 0, RO),
                _int("ItemsPerMessage", 100, RO, lo=1),
                _int("BytesPerMessage", 65_000, RO, lo=1),
                _int("Storage", 100_000, RO, unit="B"),
            ),
        ),
    ]


def _tx() -> Component:
    return Component(
        "TxCtrlr",
        (
            _int("EVConnectionTimeOut", 60, unit=SECONDS),
            _int("MaxEnergyOnInvalidId", 0, unit="Wh"),
            _flag("StopTxOnEVSideDisconnect", True),
            _flag("StopTxOnInvalidId", True),
            _members("TxStartPoint", "PowerPathClosed", TX_POINTS, DataType.MEMBER_LIST),
            _members("TxStopPoint", "EVConnected,Authorized", TX_POINTS, DataType.MEMBER_LIST),
        ),
    )


def _metering() -> list[Component]:
    default = "Energy.Active.Import.Register"
    seq = DataType.SEQUENCE_LIST
    return [
        Component(
            "SampledDataCtrlr",
            (
                _flag("Enabled", True),
                _members("TxEndedMeasurands", default, MEASURANDS, seq),
                _int("TxEndedInterval", 0, unit=SECONDS),
                _members("TxStartedMeasurands", default, MEASURANDS, seq),
                _members("TxUpdatedMeasurands", f"{default},Power.Active.Import", MEASURANDS, seq),
                _int("TxUpdatedInterval", 60, unit=SECONDS),
            ),
        ),
        Component(
            "AlignedDataCtrlr",
            (
                _flag("Enabled", True),
                _int("Interval", 0, unit=SECONDS),
                _members("Measurands", default, MEASURANDS, seq),
                _members("TxEndedMeasurands", default, MEASURANDS, seq),
                _int("TxEndedInterval", 0, unit=SECONDS),
            ),
        ),
    ]


def _security(m: StationModel) -> Component:
    return Component(
        "SecurityCtrlr",
        (
            _v("BasicAuthPassword", DataType.STRING, "", WO, max_limit=40, min_length=16),
            _int("CertificateEntries", 0, RO),
            _v("Identity", DataType.STRING, "", RW, max_limit=48, reboot=True),
            _v("OrganizationName", DataType.STRING, m.vendor, RW, max_limit=CSV_LIMIT),
            _int("SecurityProfile", m.security_profile, RO, lo=0, hi=3),
        ),
    )


def _device_data(m: StationModel) -> Component:
    variables: list[Variable] = []
    for what in ("GetReport", "GetVariables", "SetVariables"):
        variables.append(_int("ItemsPerMessage", m.items_per_message, RO, lo=1, instance=what))
        variables.append(_int("BytesPerMessage", m.bytes_per_message, RO, lo=1, instance=what))
    variables.append(_int("ConfigurationValueSize", CSV_LIMIT, RO, lo=1))
    variables.append(_int("ReportingValueSize", 2500, RO, lo=1))
    return Component("DeviceDataCtrlr", tuple(variables))


def _others() -> list[Component]:
    return [
        Component(
            "ClockCtrlr",
            (
                _v("DateTime", DataType.DATE_TIME, "", RO, clock=True),
                _members("TimeSource", "Heartbeat", TIME_SOURCES, DataType.SEQUENCE_LIST),
            ),
        ),
        Component(
            "SmartChargingCtrlr",
            (
                _flag("Available", True, RO),
                _flag("Enabled", True),
                _int("Entries", 0, RO, instance="ChargingProfiles"),
                _v(
                    "LimitChangeSignificance",
                    DataType.DECIMAL,
                    "1.0",
                    RW,
                    unit="Percent",
                    min_limit=0,
                    max_limit=100,
                ),
                _int("PeriodsPerSchedule", 24, RO, lo=1),
                _int("ProfileStackLevel", 8, RO),
                _v("RateUnit", DataType.MEMBER_LIST, "A,W", RO, values=("A", "W")),
            ),
        ),
        Component(
            "ReservationCtrlr",
            (
                _flag("Available", True, RO),
                _flag("Enabled", True),
                _flag("NonEvseSpecific", False, RO),
            ),
        ),
    ]


@functools.cache
def definitions_for(model: StationModel) -> Definitions:
    """The device model of `model`, built once per distinct model and shared."""
    model.check()
    phases = model.phases if model.ac else 0
    components = [_station(model, phases)]
    for evse in range(1, model.evses + 1):
        components.extend(_evse(model, evse, phases))
    components.append(_comm(model))
    components.extend(_auth())
    components.append(_tx())
    components.extend(_metering())
    components.append(_security(model))
    components.append(_device_data(model))
    components.extend(_others())
    return Definitions(tuple(components))
