"""The OCPP 1.6 configuration keys (§9) and the charger's store behind GetConfiguration (§5.8)
and ChangeConfiguration (§5.3).

Pure: values are strings as OCPP carries them (CiString500), checked against each key's
`KeySpec` (type, range, read-only, the members a comma-separated list may hold and how many).
`Configuration.change()` only answers and stores: the caller applies what a change means
(a new heartbeat interval, new measurands...) by reading the typed values back.

Decisions the specification leaves open, taken here once:

* GetConfigurationMaxKeys (§9.1.9) is reported but not enforced: §5.8 says the number of keys
  per request MAY be limited, and a request for more keys than that is answered in full.
* A key asked for twice in one GetConfiguration is reported once, in the order first asked.
* Values are stored in canonical form: booleans lower case, integers without "+" or leading
  zeros, list members without the spaces around them (a CSMS sending "A, B" is understood).
* A list (CSL) may be empty (e.g. MeterValuesSampledData = "" sends no sampled data); empty
  members ("A,,B") and duplicated members are Rejected.
* The write-only AuthorizationKey (security whitepaper) is never reported: it is in neither
  `configurationKey` nor `unknownKey`, even when asked for by name (the key is known, only its
  value is secret; calling it unknown would tell the CSMS that Basic auth is unsupported).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from simfleet.protocol.v16.messages import MEASURAND_UNITS

Kind = Literal["bool", "int", "csl", "string"]
Profile = Literal["Core", "LocalAuthListManagement", "Reservation", "SmartCharging", "Security"]

#: ChangeConfiguration.req (§6.9) and KeyValue (§7.29) values are CiString500 (§7.19).
VALUE_MAX_LENGTH: Final = 500
#: Integers without a range of their own stay within a signed 32-bit integer.
INT_MAX: Final = 2**31 - 1


class ConfigurationStatus(StrEnum):
    """ConfigurationStatus (§7.22): the status of a ChangeConfiguration.conf (§6.10)."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


#: §7.31 Measurand: every value OCPP 1.6 defines.
MEASURANDS: Final = (
    "Energy.Active.Export.Register",
    "Energy.Active.Import.Register",
    "Energy.Reactive.Export.Register",
    "Energy.Reactive.Import.Register",
    "Energy.Active.Export.Interval",
    "Energy.Active.Import.Interval",
    "Energy.Reactive.Export.Interval",
    "Energy.Reactive.Import.Interval",
    "Power.Active.Export",
    "Power.Active.Import",
    "Power.Offered",
    "Power.Reactive.Export",
    "Power.Reactive.Import",
    "Power.Factor",
    "Current.Import",
    "Current.Export",
    "Current.Offered",
    "Voltage",
    "Frequency",
    "Temperature",
    "SoC",
    "RPM",
)

#: The §7.31 measurands the simulated meter can report (`messages.MEASURAND_UNITS`). A charger
#: Rejects a measurand it cannot measure rather than accept it and never send it, so only these
#: are allowed in the four measurand lists (§9.1.15, §9.1.17, §9.1.25, §9.1.27).
SUPPORTED_MEASURANDS: Final = tuple(m for m in MEASURANDS if m in MEASURAND_UNITS)

#: §9.1.7 ConnectorPhaseRotation: R, S, T are L1, L2, L3. NotApplicable is for single-phase or DC
#: connectors, Unknown for not (yet) known.
PHASE_ROTATIONS: Final = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")

#: §3.3 Feature Profiles: the values of SupportedFeatureProfiles (§9.1.29).
FEATURE_PROFILES: Final = (
    "Core",
    "FirmwareManagement",
    "LocalAuthListManagement",
    "Reservation",
    "SmartCharging",
    "RemoteTrigger",
)

#: §7.12 ChargingRateUnitType: the values of ChargingScheduleAllowedChargingRateUnit (§9.4.2).
CHARGING_RATE_UNITS: Final = ("Current", "Power")


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One standard configuration key: its type, who may write it and what it may hold."""

    name: str
    kind: Kind
    readonly: bool
    profile: Profile
    #: int: the smallest and largest value (largest INT_MAX when None); string: the shortest
    #: and longest length in characters.
    minimum: int | None = None
    maximum: int | None = None
    #: csl: the values a member may take (None: anything).
    allowed: tuple[str, ...] | None = None
    #: csl: the name of the (read-only) key whose value bounds the number of members, e.g.
    #: MeterValuesSampledDataMaxLength for MeterValuesSampledData (§9: "<KeyName>MaxLength").
    max_length: str | None = None
    #: csl: each member is "<connector>.<value>", connector 0..NumberOfConnectors, once each
    #: (ConnectorPhaseRotation, §9.1.7; connector 0 is the grid connection's meter).
    indexed: bool = False
    #: ChangeConfiguration answers RebootRequired: the value is stored (and reported by
    #: GetConfiguration) at once but only takes effect at the next `Configuration.reboot()`.
    reboot_required: bool = False
    #: Never reported by GetConfiguration (security whitepaper: AuthorizationKey).
    write_only: bool = False


def _spec(
    name: str,
    kind: Kind,
    readonly: bool,
    profile: Profile,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    allowed: tuple[str, ...] | None = None,
    max_length: str | None = None,
    indexed: bool = False,
    reboot_required: bool = False,
    write_only: bool = False,
) -> tuple[str, KeySpec]:
    spec = KeySpec(
        name,
        kind,
        readonly,
        profile,
        minimum,
        maximum,
        allowed,
        max_length,
        indexed,
        reboot_required,
        write_only,
    )
    return name, spec


_R, _RW = True, False  # the "Accessibility" column of the §9 tables

#: Every standard OCPP 1.6 key (§9.1 to §9.4) and those of the security whitepaper, in the
#: order GetConfiguration reports them.
KEYS: Final[dict[str, KeySpec]] = dict(
    [
        # §9.1 Core profile.
        _spec("AllowOfflineTxForUnknownId", "bool", _RW, "Core"),  # §9.1.1
        _spec("AuthorizationCacheEnabled", "bool", _RW, "Core"),  # §9.1.2
        # §9.1.3: "R or RW, choice is up to Charge Point implementation": writable here, so a
        # CSMS can switch remote starts to pre-authorised.
        _spec("AuthorizeRemoteTxRequests", "bool", _RW, "Core"),
        _spec("BlinkRepeat", "int", _RW, "Core", minimum=0),  # §9.1.4, times
        # §9.1.5: seconds; 0 = no clock-aligned data. The intervals divide a day from midnight,
        # so an interval longer than a day is Rejected.
        _spec("ClockAlignedDataInterval", "int", _RW, "Core", minimum=0, maximum=86_400),
        _spec("ConnectionTimeOut", "int", _RW, "Core", minimum=0),  # §9.1.6, seconds
        _spec(
            "ConnectorPhaseRotation",  # §9.1.7: e.g. "0.RST,1.RST,2.RTS"
            "csl",
            _RW,
            "Core",
            allowed=PHASE_ROTATIONS,
            max_length="ConnectorPhaseRotationMaxLength",
            indexed=True,
        ),
        _spec("ConnectorPhaseRotationMaxLength", "int", _R, "Core", minimum=0),  # §9.1.8
        _spec("GetConfigurationMaxKeys", "int", _R, "Core", minimum=1),  # §9.1.9
        _spec("HeartbeatInterval", "int", _RW, "Core", minimum=0),  # §9.1.10, seconds
        _spec("LightIntensity", "int", _RW, "Core", minimum=0, maximum=100),  # §9.1.11, %
        _spec("LocalAuthorizeOffline", "bool", _RW, "Core"),  # §9.1.12
        _spec("LocalPreAuthorize", "bool", _RW, "Core"),  # §9.1.13
        _spec("MaxEnergyOnInvalidId", "int", _RW, "Core", minimum=0),  # §9.1.14, Wh
        _spec(
            "MeterValuesAlignedData",  # §9.1.15
            "csl",
            _RW,
            "Core",
            allowed=SUPPORTED_MEASURANDS,
            max_length="MeterValuesAlignedDataMaxLength",
        ),
        _spec("MeterValuesAlignedDataMaxLength", "int", _R, "Core", minimum=0),  # §9.1.16
        _spec(
            "MeterValuesSampledData",  # §9.1.17
            "csl",
            _RW,
            "Core",
            allowed=SUPPORTED_MEASURANDS,
            max_length="MeterValuesSampledDataMaxLength",
        ),
        _spec("MeterValuesSampledDataMaxLength", "int", _R, "Core", minimum=0),  # §9.1.18
        # §9.1.19: seconds; 0 = no sampled data.
        _spec("MeterValueSampleInterval", "int", _RW, "Core", minimum=0),
        _spec("MinimumStatusDuration", "int", _RW, "Core", minimum=0),  # §9.1.20, seconds
        _spec("NumberOfConnectors", "int", _R, "Core", minimum=1),  # §9.1.21
        _spec("ResetRetries", "int", _RW, "Core", minimum=0),  # §9.1.22, times
        _spec("StopTransactionOnEVSideDisconnect", "bool", _RW, "Core"),  # §9.1.23
        _spec("StopTransactionOnInvalidId", "bool", _RW, "Core"),  # §9.1.24
        _spec(
            "StopTxnAlignedData",  # §9.1.25
            "csl",
            _RW,
            "Core",
            allowed=SUPPORTED_MEASURANDS,
            max_length="StopTxnAlignedDataMaxLength",
        ),
        _spec("StopTxnAlignedDataMaxLength", "int", _R, "Core", minimum=0),  # §9.1.26
        _spec(
            "StopTxnSampledData",  # §9.1.27
            "csl",
            _RW,
            "Core",
            allowed=SUPPORTED_MEASURANDS,
            max_length="StopTxnSampledDataMaxLength",
        ),
        _spec("StopTxnSampledDataMaxLength", "int", _R, "Core", minimum=0),  # §9.1.28
        _spec(
            "SupportedFeatureProfiles",  # §9.1.29
            "csl",
            _R,
            "Core",
            allowed=FEATURE_PROFILES,
            max_length="SupportedFeatureProfilesMaxLength",
        ),
        _spec("SupportedFeatureProfilesMaxLength", "int", _R, "Core", minimum=0),  # §9.1.30
        # §9.1.31: times. 0 is not excluded by the specification, so it is not Rejected.
        _spec("TransactionMessageAttempts", "int", _RW, "Core", minimum=0),
        _spec("TransactionMessageRetryInterval", "int", _RW, "Core", minimum=0),  # §9.1.32, s
        _spec("UnlockConnectorOnEVSideDisconnect", "bool", _RW, "Core"),  # §9.1.33
        # §9.1.34: seconds, 0 = no client-side pings, negative values Rejected. RebootRequired:
        # the ping interval belongs to the WebSocket connection, which the transport sets up
        # when it opens it; a charger applies it from its next start, not to the live socket.
        _spec("WebSocketPingInterval", "int", _RW, "Core", minimum=0, reboot_required=True),
        # §9.2 Local Auth List Management profile.
        _spec("LocalAuthListEnabled", "bool", _RW, "LocalAuthListManagement"),  # §9.2.1
        _spec("LocalAuthListMaxLength", "int", _R, "LocalAuthListManagement", minimum=0),  # §9.2.2
        _spec("SendLocalListMaxLength", "int", _R, "LocalAuthListManagement", minimum=0),  # §9.2.3
        # §9.3 Reservation profile.
        _spec("ReserveConnectorZeroSupported", "bool", _R, "Reservation"),  # §9.3.1
        # §9.4 Smart Charging profile: all read-only, they describe what the charger can do.
        _spec("ChargeProfileMaxStackLevel", "int", _R, "SmartCharging", minimum=0),  # §9.4.1
        _spec(
            "ChargingScheduleAllowedChargingRateUnit",  # §9.4.2
            "csl",
            _R,
            "SmartCharging",
            allowed=CHARGING_RATE_UNITS,
        ),
        _spec("ChargingScheduleMaxPeriods", "int", _R, "SmartCharging", minimum=1),  # §9.4.3
        _spec("ConnectorSwitch3to1PhaseSupported", "bool", _R, "SmartCharging"),  # §9.4.4
        _spec("MaxChargingProfilesInstalled", "int", _R, "SmartCharging", minimum=0),  # §9.4.5
        # "Improved security for OCPP 1.6-J" whitepaper, configuration keys.
        _spec("AdditionalRootCertificateCheck", "bool", _R, "Security"),
        # Accessibility W: the HTTP Basic auth password, at least 16 bytes; at most 20 bytes as
        # 40 hexadecimal digits. Checked as 16 to 40 characters (hex is advised, not required).
        # Accepted, not RebootRequired: it is used from the next connection on.
        _spec(
            "AuthorizationKey", "string", _RW, "Security", minimum=16, maximum=40, write_only=True
        ),
        # At most 10,000 characters of CertificateSigned.req certificateChain.
        _spec("CertificateSignedMaxChainSize", "int", _R, "Security", minimum=0, maximum=10_000),
        _spec("CertificateStoreMaxLength", "int", _R, "Security", minimum=0),
        _spec("CpoName", "string", _RW, "Security"),  # the O= of the CSR (SignCertificate.req)
        # 0..3, only ever raised (see `Configuration.change`). Accepted, not RebootRequired:
        # the whitepaper has the charger reconnect with the new profile, which the caller does.
        _spec("SecurityProfile", "int", _RW, "Security", minimum=0, maximum=3),
    ]
)

_INTEGER = re.compile(r"[+-]?[0-9]{1,12}")  # ASCII digits only (str.isdigit takes "²")
_CONNECTOR = re.compile(r"[0-9]{1,4}")


class Configuration:
    """One charger's configuration: the current value of every key in `KEYS`, as strings."""

    __slots__ = ("_pending", "_values")

    def __init__(self, values: Mapping[str, str]) -> None:
        """All of `KEYS`, each with a valid value (read-only keys included: this is how the
        charger is built). An empty write-only value means "not set". Raises ValueError."""
        missing = [name for name in KEYS if name not in values]
        unknown = [name for name in values if name not in KEYS]
        if missing or unknown:
            raise ValueError(f"configuration: missing keys {missing}, unknown keys {unknown}")
        checked = dict(values)
        # Scalars first: the lists are checked against them (NumberOfConnectors, *MaxLength).
        for spec in sorted(KEYS.values(), key=lambda spec: spec.kind == "csl"):
            value = checked[spec.name]
            if spec.write_only and value == "":
                continue
            canonical = _canonical(spec, value, checked)
            if canonical is None:
                raise ValueError(f"configuration: {spec.name}={value!r} is not valid")
            checked[spec.name] = canonical
        self._values = {name: checked[name] for name in KEYS}
        #: Values of reboot_required keys accepted since the last `reboot()`.
        self._pending: dict[str, str] = {}

    @classmethod
    def defaults(
        cls,
        connectors: int,
        heartbeat_s: float,
        meter_interval_s: float,
        clock_aligned_s: float,
        measurands: tuple[str, ...],
        authorize_remote: bool = True,
        extra: Mapping[str, str] | None = None,
    ) -> Configuration:
        """A typical commercial AC charger's configuration; `extra` overrides any key (read-only
        ones too). Intervals are rounded to whole seconds. Raises ValueError."""
        every = len(SUPPORTED_MEASURANDS)
        values = {
            "AllowOfflineTxForUnknownId": "false",
            "AuthorizationCacheEnabled": "true",
            "AuthorizeRemoteTxRequests": _bool(authorize_remote),
            "BlinkRepeat": "3",
            "ClockAlignedDataInterval": str(round(clock_aligned_s)),
            "ConnectionTimeOut": "90",
            "ConnectorPhaseRotation": ",".join(f"{i}.RST" for i in range(1, connectors + 1)),
            "ConnectorPhaseRotationMaxLength": str(connectors + 1),
            "GetConfigurationMaxKeys": "60",
            "HeartbeatInterval": str(round(heartbeat_s)),
            "LightIntensity": "100",
            "LocalAuthorizeOffline": "true",
            "LocalPreAuthorize": "false",
            "MaxEnergyOnInvalidId": "0",
            "MeterValuesAlignedData": ",".join(measurands),
            "MeterValuesAlignedDataMaxLength": str(every),
            "MeterValuesSampledData": ",".join(measurands),
            "MeterValuesSampledDataMaxLength": str(every),
            "MeterValueSampleInterval": str(round(meter_interval_s)),
            "MinimumStatusDuration": "0",
            "NumberOfConnectors": str(connectors),
            "ResetRetries": "3",
            "StopTransactionOnEVSideDisconnect": "true",
            "StopTransactionOnInvalidId": "true",
            "StopTxnAlignedData": "",
            "StopTxnAlignedDataMaxLength": str(every),
            "StopTxnSampledData": ",".join(measurands),
            "StopTxnSampledDataMaxLength": str(every),
            "SupportedFeatureProfiles": ",".join(FEATURE_PROFILES),
            "SupportedFeatureProfilesMaxLength": str(len(FEATURE_PROFILES)),
            "TransactionMessageAttempts": "3",
            "TransactionMessageRetryInterval": "60",
            "UnlockConnectorOnEVSideDisconnect": "true",
            "WebSocketPingInterval": "0",  # the transport sends no pings (ping_interval=None)
            "LocalAuthListEnabled": "true",
            "LocalAuthListMaxLength": "10000",
            "SendLocalListMaxLength": "1000",
            "ReserveConnectorZeroSupported": "false",
            "ChargeProfileMaxStackLevel": "8",
            "ChargingScheduleAllowedChargingRateUnit": "Current",
            "ChargingScheduleMaxPeriods": "24",
            "ConnectorSwitch3to1PhaseSupported": "false",
            "MaxChargingProfilesInstalled": "16",
            "AdditionalRootCertificateCheck": "false",
            "AuthorizationKey": "",  # not set
            "CertificateSignedMaxChainSize": "10000",
            "CertificateStoreMaxLength": "10",
            "CpoName": "",
            "SecurityProfile": "0",
        }
        if extra:
            values.update(extra)
        return cls(values)

    # -- GetConfiguration / ChangeConfiguration --------------------------------------------------

    def get(self, keys: Sequence[str] | None = None) -> tuple[list[dict[str, object]], list[str]]:
        """GetConfiguration.conf (§5.8, §6.24): (`configurationKey`, `unknownKey`). Every key when
        `keys` is None or empty, else the ones asked for in that order, unknown names apart.
        Keys are case-sensitive. A pending (RebootRequired) value is reported as configured."""
        if isinstance(keys, str):
            raise TypeError("keys is a sequence of key names, not one name")
        names = list(dict.fromkeys(keys)) if keys else list(KEYS)
        known: list[dict[str, object]] = []
        unknown: list[str] = []
        for name in names:
            spec = KEYS.get(name)
            if spec is None:
                unknown.append(name)
            elif not spec.write_only:
                value = self._pending.get(name, self._values[name])
                known.append({"key": name, "readonly": spec.readonly, "value": value})
        return known, unknown

    def change(self, key: str, value: str) -> ConfigurationStatus:
        """ChangeConfiguration.conf status (§5.3). NotSupported: not a key of `KEYS` (names are
        case-sensitive); Rejected: read-only, or the value is not valid; RebootRequired: stored,
        effective at `reboot()`; Accepted: in effect now. The caller applies the effect."""
        spec = KEYS.get(key)
        if spec is None:
            return ConfigurationStatus.NOT_SUPPORTED
        if spec.readonly:
            return ConfigurationStatus.REJECTED
        canonical = _canonical(spec, value, self._values)
        if canonical is None or not self._allowed(spec, canonical):
            return ConfigurationStatus.REJECTED
        if spec.reboot_required:
            self._pending[key] = canonical
            return ConfigurationStatus.REBOOT_REQUIRED
        self._values[key] = canonical
        return ConfigurationStatus.ACCEPTED

    def _allowed(self, spec: KeySpec, canonical: str) -> bool:
        if spec.name == "SecurityProfile":
            # Whitepaper: the profile can only be raised, never lowered; and its prerequisites
            # must be met: profiles 1 and 2 authenticate with the AuthorizationKey. (Profiles 2
            # and 3 also need certificates, which the caller checks.)
            profile = int(canonical)
            if profile < int(self._values["SecurityProfile"]):
                return False
            if profile in (1, 2) and not self._values["AuthorizationKey"]:
                return False
        return True

    # -- reboot ----------------------------------------------------------------------------------

    @property
    def pending(self) -> dict[str, str]:
        """The values accepted with RebootRequired, not in effect yet (a copy)."""
        return dict(self._pending)

    def reboot(self) -> tuple[str, ...]:
        """The charger restarts: pending values take effect. Returns the keys that changed."""
        changed = tuple(k for k, v in self._pending.items() if self._values[k] != v)
        self._values.update(self._pending)
        self._pending.clear()
        return changed

    # -- typed readers (the values in effect) ----------------------------------------------------

    def text(self, key: str) -> str:
        """The value as OCPP carries it (write-only keys included; "" = not set)."""
        return self._values[key]

    def integer(self, key: str) -> int:
        return int(self._typed(key, "int"))

    def flag(self, key: str) -> bool:
        return self._typed(key, "bool") == "true"

    def members(self, key: str) -> tuple[str, ...]:
        value = self._typed(key, "csl")
        return tuple(value.split(",")) if value else ()

    def _typed(self, key: str, kind: Kind) -> str:
        spec = KEYS[key]
        if spec.kind != kind:
            raise TypeError(f"{key} is a {spec.kind}, not a {kind}")
        return self._values[key]


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _canonical(spec: KeySpec, value: str, values: Mapping[str, str]) -> str | None:
    """`value` in canonical form if it is valid for `spec`, else None. `values` gives the keys
    a list is checked against (NumberOfConnectors, the *MaxLength keys)."""
    if len(value) > VALUE_MAX_LENGTH:
        return None
    if spec.kind == "bool":
        # §9: boolean values are "true" and "false"; read case-insensitively.
        lowered = value.lower()
        return lowered if lowered in ("true", "false") else None
    if spec.kind == "int":
        if not _INTEGER.fullmatch(value):
            return None  # not a decimal integer: "abc", "1.5", "1e3", " 5", "5_000"
        number = int(value)
        low = spec.minimum if spec.minimum is not None else -INT_MAX - 1
        high = spec.maximum if spec.maximum is not None else INT_MAX
        return str(number) if low <= number <= high else None
    if spec.kind == "string":
        shortest = spec.minimum if spec.minimum is not None else 0
        longest = spec.maximum if spec.maximum is not None else VALUE_MAX_LENGTH
        return value if shortest <= len(value) <= longest else None
    return _canonical_list(spec, value, values)


def _canonical_list(spec: KeySpec, value: str, values: Mapping[str, str]) -> str | None:
    items = [item.strip() for item in value.split(",")] if value.strip() else []
    if "" in items or len(set(items)) != len(items):
        return None
    # §9: a list key MAY come with a "<KeyName>MaxLength" key giving its maximum member count.
    if spec.max_length is not None and len(items) > int(values[spec.max_length]):
        return None
    if spec.indexed:
        connectors = int(values["NumberOfConnectors"])
        seen: set[int] = set()
        for item in items:
            connector, dot, member = item.partition(".")
            if not dot or not _CONNECTOR.fullmatch(connector):
                return None
            number = int(connector)
            if number > connectors or number in seen:
                return None
            seen.add(number)
            if spec.allowed is not None and member not in spec.allowed:
                return None
    elif spec.allowed is not None and any(item not in spec.allowed for item in items):
        return None
    return ",".join(items)
