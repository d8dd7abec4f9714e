"""The 1.6 configuration store: GetConfiguration / ChangeConfiguration with strings and numbers."""

from __future__ import annotations

import json

import pytest
from ocpp_schemas import check

from simfleet.protocol.v16.configuration import (
    KEYS,
    MEASURANDS,
    SUPPORTED_MEASURANDS,
    Configuration,
    ConfigurationStatus,
)

MEASURANDS_DEFAULT = ("Energy.Active.Import.Register", "Power.Active.Import")
PASSWORD = "0123456789abcdef0123"


def config(**extra: str) -> Configuration:
    return Configuration.defaults(
        connectors=2,
        heartbeat_s=300,
        meter_interval_s=60,
        clock_aligned_s=900,
        measurands=MEASURANDS_DEFAULT,
        extra=extra,
    )


def conf_payload(known: list[dict[str, object]], unknown: list[str]) -> dict[str, object]:
    payload: dict[str, object] = {"configurationKey": known}
    if unknown:
        payload["unknownKey"] = unknown
    return payload


def reported(cfg: Configuration) -> dict[str, object]:
    known, _ = cfg.get(None)
    return {str(entry["key"]): entry["value"] for entry in known}


# -- the key table --------------------------------------------------------------------------------


def test_the_table_covers_the_standard_keys() -> None:
    assert len(KEYS) == 34 + 3 + 1 + 5 + 6
    assert all(name == spec.name for name, spec in KEYS.items())
    for name in ("NumberOfConnectors", "GetConfigurationMaxKeys", "SupportedFeatureProfiles"):
        assert KEYS[name].readonly
    assert all(KEYS[name].readonly for name in KEYS if name.endswith("MaxLength"))
    assert all(spec.readonly for spec in KEYS.values() if spec.profile == "SmartCharging")
    assert [name for name, spec in KEYS.items() if spec.write_only] == ["AuthorizationKey"]
    # Every "<KeyName>MaxLength" bounds its list, and every bound is a read-only int key.
    for spec in KEYS.values():
        if spec.max_length is not None:
            assert spec.kind == "csl"
            assert spec.max_length == spec.name + "MaxLength"
            assert KEYS[spec.max_length].readonly and KEYS[spec.max_length].kind == "int"
    assert set(SUPPORTED_MEASURANDS) <= set(MEASURANDS)


def test_every_key_has_a_valid_default() -> None:
    cfg = config()
    values = reported(cfg)
    assert set(values) | {"AuthorizationKey"} == set(KEYS)
    assert cfg.text("AuthorizationKey") == ""  # not set
    assert cfg.integer("NumberOfConnectors") == 2
    assert cfg.integer("HeartbeatInterval") == 300
    assert cfg.integer("MeterValueSampleInterval") == 60
    assert cfg.integer("ClockAlignedDataInterval") == 900
    assert cfg.members("MeterValuesSampledData") == MEASURANDS_DEFAULT
    assert cfg.members("StopTxnAlignedData") == ()
    assert cfg.members("ConnectorPhaseRotation") == ("1.RST", "2.RST")
    assert cfg.flag("AuthorizeRemoteTxRequests")
    assert cfg.flag("LocalAuthListEnabled") and cfg.flag("AuthorizationCacheEnabled")
    assert cfg.flag("LocalAuthorizeOffline")
    assert not cfg.flag("LocalPreAuthorize") and not cfg.flag("AllowOfflineTxForUnknownId")
    assert cfg.integer("ConnectionTimeOut") == 90
    assert cfg.integer("TransactionMessageAttempts") == 3
    assert cfg.integer("TransactionMessageRetryInterval") == 60
    assert cfg.integer("ChargeProfileMaxStackLevel") == 8
    assert cfg.integer("ChargingScheduleMaxPeriods") == 24
    assert cfg.integer("MaxChargingProfilesInstalled") == 16
    assert cfg.members("SupportedFeatureProfiles") == (
        "Core",
        "FirmwareManagement",
        "LocalAuthListManagement",
        "Reservation",
        "SmartCharging",
        "RemoteTrigger",
    )
    # A full GetConfiguration fits in one request's worth of keys.
    assert len(values) <= cfg.integer("GetConfigurationMaxKeys")


def test_defaults_take_overrides_and_check_them() -> None:
    assert not config(AuthorizeRemoteTxRequests="false").flag("AuthorizeRemoteTxRequests")
    assert config(GetConfigurationMaxKeys="20").integer("GetConfigurationMaxKeys") == 20
    assert config(AuthorizationKey=PASSWORD).text("AuthorizationKey") == PASSWORD
    assert config(LocalPreAuthorize="TRUE").text("LocalPreAuthorize") == "true"
    remote = Configuration.defaults(1, 300, 60, 0, MEASURANDS_DEFAULT, authorize_remote=False)
    assert not remote.flag("AuthorizeRemoteTxRequests")
    with pytest.raises(ValueError, match="NoSuchKey"):
        config(NoSuchKey="1")
    with pytest.raises(ValueError, match="HeartbeatInterval"):
        config(HeartbeatInterval="soon")
    with pytest.raises(ValueError, match="Bogus"):
        Configuration.defaults(2, 300, 60, 0, ("Energy.Active.Import.Register", "Bogus"))
    with pytest.raises(ValueError, match="NumberOfConnectors"):
        Configuration.defaults(0, 300, 60, 0, MEASURANDS_DEFAULT)
    with pytest.raises(ValueError, match="missing"):
        Configuration({"HeartbeatInterval": "300"})


# -- GetConfiguration ----------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [None, []])
def test_get_all_keys_validates_against_the_official_schema(keys: list[str] | None) -> None:
    cfg = config(AuthorizationKey=PASSWORD, CpoName="Example CPO")
    known, unknown = cfg.get(keys)
    assert unknown == []
    assert [entry["key"] for entry in known] == [n for n in KEYS if n != "AuthorizationKey"]
    check("GetConfigurationResponse", conf_payload(known, unknown))
    for entry in known:
        assert entry["readonly"] is KEYS[str(entry["key"])].readonly
        assert isinstance(entry["value"], str)


def test_get_specific_keys_in_the_order_asked() -> None:
    cfg = config()
    known, unknown = cfg.get(
        ["MeterValueSampleInterval", "NumberOfConnectors", "HeartbeatInterval"]
    )
    assert known == [
        {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
    ]
    assert unknown == []


def test_get_unknown_keys() -> None:
    cfg = config()
    request = {"key": ["HeartbeatInterval", "NoSuchKey", "heartbeatinterval", "NoSuchKey"]}
    check("GetConfiguration", request)
    known, unknown = cfg.get(request["key"])
    assert [entry["key"] for entry in known] == ["HeartbeatInterval"]
    assert unknown == ["NoSuchKey", "heartbeatinterval"]  # case-sensitive, each once
    check("GetConfigurationResponse", conf_payload(known, unknown))
    assert cfg.get(["Nope"]) == ([], ["Nope"])


def test_get_rejects_a_single_string() -> None:
    with pytest.raises(TypeError):
        config().get("HeartbeatInterval")


# -- ChangeConfiguration -------------------------------------------------------------------------


def test_change_accepted_and_read_back() -> None:
    cfg = config()
    assert cfg.change("HeartbeatInterval", "600") == "Accepted"
    assert cfg.integer("HeartbeatInterval") == 600
    assert cfg.get(["HeartbeatInterval"])[0] == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "600"}
    ]
    assert cfg.change("HeartbeatInterval", "0") == "Accepted"
    assert cfg.change("MeterValueSampleInterval", "0") == "Accepted"
    assert cfg.change("ConnectionTimeOut", "0") == "Accepted"
    assert cfg.change("LocalPreAuthorize", "True") == "Accepted"
    assert cfg.text("LocalPreAuthorize") == "true"
    assert cfg.flag("LocalPreAuthorize")
    assert cfg.change("StopTransactionOnInvalidId", "FALSE") == "Accepted"
    assert not cfg.flag("StopTransactionOnInvalidId")
    assert cfg.change("LightIntensity", "100") == "Accepted"
    assert cfg.change("ClockAlignedDataInterval", "86400") == "Accepted"
    assert cfg.change("CpoName", "Example CPO") == "Accepted"
    assert cfg.change("HeartbeatInterval", "+30") == "Accepted"
    assert cfg.text("HeartbeatInterval") == "30"  # canonical form
    assert isinstance(cfg.change("BlinkRepeat", "1"), ConfigurationStatus)


def test_change_status_is_in_the_official_enum() -> None:
    cfg = config()
    for key, value in [("HeartbeatInterval", "1"), ("X", "1"), ("NumberOfConnectors", "3")]:
        check("ChangeConfiguration", {"key": key, "value": value})
        check("ChangeConfigurationResponse", {"status": cfg.change(key, value)})
    check("ChangeConfigurationResponse", {"status": cfg.change("WebSocketPingInterval", "30")})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("NumberOfConnectors", "3"),
        ("GetConfigurationMaxKeys", "100"),
        ("MeterValuesSampledDataMaxLength", "20"),
        ("SupportedFeatureProfiles", "Core"),
        ("ChargeProfileMaxStackLevel", "3"),
        ("ChargingScheduleAllowedChargingRateUnit", "Current"),
        ("ReserveConnectorZeroSupported", "true"),
        ("CertificateStoreMaxLength", "5"),
        ("AdditionalRootCertificateCheck", "true"),
    ],
)
def test_read_only_keys_are_rejected(key: str, value: str) -> None:
    cfg = config()
    before = cfg.text(key)
    assert cfg.change(key, value) == "Rejected"
    assert cfg.text(key) == before


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("HeartbeatInterval", "abc"),
        ("HeartbeatInterval", "-5"),
        ("HeartbeatInterval", "1.5"),
        ("HeartbeatInterval", ""),
        ("HeartbeatInterval", " 300"),
        ("HeartbeatInterval", "3_00"),
        ("HeartbeatInterval", "1e3"),
        ("HeartbeatInterval", "\u00b2"),
        ("HeartbeatInterval", "99999999999999"),
        ("MeterValueSampleInterval", "-1"),
        ("ConnectionTimeOut", "-1"),
        ("ClockAlignedDataInterval", "86401"),
        ("LightIntensity", "101"),
        ("WebSocketPingInterval", "-10"),
        ("TransactionMessageAttempts", "many"),
        ("LocalPreAuthorize", "yes"),
        ("LocalPreAuthorize", "1"),
        ("LocalPreAuthorize", ""),
        ("AuthorizeRemoteTxRequests", "true "),
        ("AuthorizationKey", "short"),
        ("AuthorizationKey", "x" * 41),
        ("CpoName", "x" * 501),
        ("SecurityProfile", "4"),
    ],
)
def test_type_and_range_errors_are_rejected(key: str, value: str) -> None:
    cfg = config()
    before = cfg.text(key)
    assert cfg.change(key, value) == "Rejected"
    assert cfg.text(key) == before


def test_values_over_500_characters_are_rejected() -> None:
    cfg = config()
    assert cfg.change("CpoName", "x" * 500) == "Accepted"
    assert cfg.change("CpoName", "y" * 501) == "Rejected"
    assert cfg.change("MeterValuesSampledData", ",".join(["Voltage"] * 100)) == "Rejected"


def test_unknown_keys_are_not_supported() -> None:
    cfg = config()
    assert cfg.change("NoSuchKey", "1") == "NotSupported"
    assert cfg.change("heartbeatinterval", "60") == "NotSupported"  # keys are case-sensitive
    assert cfg.change("", "") == "NotSupported"


def test_measurand_lists() -> None:
    cfg = config()
    assert cfg.change("MeterValuesSampledData", "Energy.Active.Import.Register,Voltage") == (
        "Accepted"
    )
    assert cfg.members("MeterValuesSampledData") == ("Energy.Active.Import.Register", "Voltage")
    assert cfg.change("MeterValuesSampledData", "Voltage, SoC") == "Accepted"  # spaces trimmed
    assert cfg.text("MeterValuesSampledData") == "Voltage,SoC"
    assert cfg.change("MeterValuesSampledData", "") == "Accepted"  # nothing sampled
    assert cfg.members("MeterValuesSampledData") == ()
    assert cfg.change("StopTxnAlignedData", "Energy.Active.Import.Register") == "Accepted"
    assert cfg.change("MeterValuesAlignedData", ",".join(SUPPORTED_MEASURANDS)) == "Accepted"
    for bad in (
        "Energy.Active.Import.Register,Bogus",  # not a §7.31 measurand
        "energy.active.import.register",  # enumeration values are case-sensitive
        "Frequency",  # a §7.31 measurand the simulated meter cannot measure
        "Voltage,Voltage",
        "Voltage,,SoC",
        ",",
    ):
        assert cfg.change("MeterValuesSampledData", bad) == "Rejected", bad
        assert cfg.change("StopTxnSampledData", bad) == "Rejected", bad
    assert cfg.members("MeterValuesSampledData") == ()


def test_too_many_members_are_rejected() -> None:
    cfg = config(
        MeterValuesSampledDataMaxLength="2",
        StopTxnSampledDataMaxLength="1",
        StopTxnSampledData="Energy.Active.Import.Register",
    )
    assert cfg.change("MeterValuesSampledData", "Voltage,SoC") == "Accepted"
    assert cfg.change("MeterValuesSampledData", "Voltage,SoC,Current.Import") == "Rejected"
    assert cfg.members("MeterValuesSampledData") == ("Voltage", "SoC")
    assert cfg.change("StopTxnSampledData", "Voltage,SoC") == "Rejected"
    assert cfg.change("StopTxnSampledData", "Voltage") == "Accepted"
    with pytest.raises(ValueError, match="MeterValuesSampledData"):
        config(MeterValuesSampledDataMaxLength="1")  # the two default measurands do not fit


def test_connector_phase_rotation() -> None:
    cfg = config()
    assert cfg.integer("ConnectorPhaseRotationMaxLength") == 3
    assert cfg.change("ConnectorPhaseRotation", "0.RST,1.RTS,2.NotApplicable") == "Accepted"
    assert cfg.members("ConnectorPhaseRotation") == ("0.RST", "1.RTS", "2.NotApplicable")
    assert cfg.change("ConnectorPhaseRotation", "1.Unknown") == "Accepted"
    for good in ("SRT", "STR", "TRS", "TSR"):
        assert cfg.change("ConnectorPhaseRotation", f"2.{good}") == "Accepted"
    for bad in (
        "RST",  # no connector
        "1.RTX",  # not a rotation
        "1.rst",
        "3.RST",  # only 2 connectors
        "-1.RST",
        "1.RST,1.RTS",  # connector twice
        "a.RST",
        "1:RST",
        "0.RST,1.RST,2.RST,1.TSR",  # more than ConnectorPhaseRotationMaxLength, and twice
    ):
        assert cfg.change("ConnectorPhaseRotation", bad) == "Rejected", bad
    assert cfg.text("ConnectorPhaseRotation") == "2.TSR"


def test_authorization_key_is_writable_but_never_reported() -> None:
    cfg = config()
    assert cfg.change("AuthorizationKey", PASSWORD) == "Accepted"
    assert cfg.text("AuthorizationKey") == PASSWORD
    known, _ = cfg.get(None)
    assert "AuthorizationKey" not in {entry["key"] for entry in known}
    assert PASSWORD not in json.dumps(known)
    # Asked for by name: not reported, and not unknown either.
    assert cfg.get(["AuthorizationKey", "HeartbeatInterval"]) == (
        [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        [],
    )
    assert cfg.get(["AuthorizationKey"]) == ([], [])
    assert cfg.change("AuthorizationKey", "x" * 16) == "Accepted"
    assert cfg.change("AuthorizationKey", "x" * 40) == "Accepted"


def test_security_profile_is_only_raised_and_needs_a_password_for_basic_auth() -> None:
    cfg = config()
    assert cfg.integer("SecurityProfile") == 0
    assert cfg.change("SecurityProfile", "1") == "Rejected"  # no AuthorizationKey yet
    assert cfg.change("AuthorizationKey", PASSWORD) == "Accepted"
    assert cfg.change("SecurityProfile", "1") == "Accepted"
    assert cfg.change("SecurityProfile", "1") == "Accepted"  # unchanged
    assert cfg.change("SecurityProfile", "2") == "Accepted"
    assert cfg.change("SecurityProfile", "0") == "Rejected"  # never lowered
    assert cfg.change("SecurityProfile", "3") == "Accepted"
    assert cfg.integer("SecurityProfile") == 3


def test_reboot_required_keys_take_effect_at_reboot() -> None:
    reboot_keys = [name for name, spec in KEYS.items() if spec.reboot_required]
    assert reboot_keys == ["WebSocketPingInterval"]
    cfg = config()
    assert cfg.change("WebSocketPingInterval", "30") == "RebootRequired"
    assert cfg.integer("WebSocketPingInterval") == 0  # in effect: not yet
    assert cfg.get(["WebSocketPingInterval"])[0][0]["value"] == "30"  # configured
    assert cfg.pending == {"WebSocketPingInterval": "30"}
    assert cfg.change("WebSocketPingInterval", "-1") == "Rejected"
    assert cfg.reboot() == ("WebSocketPingInterval",)
    assert cfg.integer("WebSocketPingInterval") == 30
    assert cfg.pending == {}
    assert cfg.reboot() == ()


def test_typed_readers_check_the_kind() -> None:
    cfg = config()
    with pytest.raises(TypeError):
        cfg.integer("LocalPreAuthorize")
    with pytest.raises(TypeError):
        cfg.flag("HeartbeatInterval")
    with pytest.raises(TypeError):
        cfg.members("CpoName")
    with pytest.raises(KeyError):
        cfg.text("NoSuchKey")
    assert cfg.text("HeartbeatInterval") == "300"


def test_each_charger_has_its_own_values() -> None:
    one, two = config(), config()
    assert one.change("HeartbeatInterval", "5") == "Accepted"
    assert two.integer("HeartbeatInterval") == 300
