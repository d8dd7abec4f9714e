"""Scenario keys about OCPP versions: commands per version (and the charger offer, below)."""

from __future__ import annotations

import pytest

from simfleet.protocol.v16.commands import DEFAULT_PAYLOADS as V16
from simfleet.protocol.v201.commands import DEFAULT_PAYLOADS as V201
from simfleet.scenario import ScenarioError, parse
from simfleet.scenario.model import ChargerModel


def test_a_default_command_goes_to_each_version_with_its_own_payload() -> None:
    (reset,) = parse('[[csms.commands]]\naction = "Reset"\n', "s.toml").csms_commands
    assert reset.versions == ("1.6", "2.0.1", "2.1")
    assert reset.payload_for("1.6") == V16["Reset"] == {"type": "Soft"}
    assert reset.payload_for("2.0.1") == reset.payload_for("2.1") == V201["Reset"]
    (only_16,) = parse('[[csms.commands]]\naction = "RemoteStartTransaction"\n').csms_commands
    assert (only_16.versions, only_16.payload_for("2.0.1")) == (("1.6",), None)
    (only_2,) = parse('[[csms.commands]]\naction = "GetBaseReport"\n').csms_commands
    assert only_2.versions == ("2.0.1", "2.1") and only_2.payload_for("1.6") is None


def test_versions_can_be_narrowed_and_payloads_given() -> None:
    text = '[[csms.commands]]\naction = "Reset"\nocpp_versions = ["2.0.1"]\n'
    (reset,) = parse(text).csms_commands
    assert (reset.payload_for("1.6"), reset.payload_for("2.0.1")) == (None, {"type": "OnIdle"})
    text = '[[csms.commands]]\naction = "ClearTariffs"\nocpp_versions = ["2.1"]\npayload = {}\n'
    (tariffs,) = parse(text).csms_commands
    assert (tariffs.payload_for("2.1"), tariffs.payload_for("2.0.1")) == ({}, None)


@pytest.mark.parametrize(
    ("entry", "key", "shown"),
    [
        ('action = "Teleport"', "csms.commands[0].action", "'Teleport'"),
        ('action = "Reset"\nocpp_versions = ["3.0"]', "csms.commands[0].ocpp_versions", "'3.0'"),
        ('action = "Reset"\nocpp_versions = "2.0.1"', "csms.commands[0].ocpp_versions", "'2.0.1'"),
        (
            'action = "GetBaseReport"\nocpp_versions = ["1.6"]',
            "csms.commands[0].ocpp_versions",
            "['1.6']",
        ),
    ],
)
def test_command_errors_name_file_key_and_value(entry: str, key: str, shown: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse(f"[[csms.commands]]\n{entry}\n", "s.toml")
    assert str(caught.value).startswith(f"s.toml: {key} = {shown}: "), str(caught.value)


def test_offer_keys_and_errors() -> None:
    assert parse("").charger.offer == ("1.6",)
    assert parse('[charger]\nocpp_versions = ["1.6"]\n').charger.offer == ("1.6",)
    offer = parse('[charger]\nocpp_versions = ["2.1", "2.0.1", "1.6"]\n').charger.offer
    assert offer == ("2.1", "2.0.1", "1.6")
    for text, key, problem in (
        ('ocpp_versions = ["1.5"]', "charger.ocpp_versions = '1.5'", "not an OCPP version"),
        ('ocpp_mix = { "1.6" = 0.5 }', "charger.ocpp_mix = {'1.6': 0.5}", "sum to 1"),
        ('ocpp_mix = { "1.6,3.0" = 1 }', "charger.ocpp_mix.1.6,3.0 = '3.0'", "not an OCPP version"),
        ('ocpp_mix = { "1.6" = 1 }\nocpp_version = "1.6"', "charger.ocpp_mix", "not both"),
    ):
        with pytest.raises(ScenarioError) as caught:
            parse(f"[charger]\n{text}\n", "s.toml")
        assert str(caught.value).startswith(f"s.toml: {key}"), str(caught.value)
        assert problem in str(caught.value)


def test_a_mix_draws_each_chargers_offer_from_seed_and_index() -> None:
    model = ChargerModel(ocpp_mix=((("1.6",), 0.7), (("2.0.1", "1.6"), 0.3)))
    offers = [model.offer_of(1, i) for i in range(10_000)]
    share = offers.count(("2.0.1", "1.6")) / len(offers)
    assert 0.28 < share < 0.32
    assert offers == [model.offer_of(1, i) for i in range(10_000)]  # deterministic
    assert offers != [model.offer_of(2, i) for i in range(10_000)]  # the seed matters


def test_the_offer_described_for_people() -> None:
    assert parse("").charger.describe_versions() == "OCPP 1.6"
    offer = parse('[charger]\nocpp_versions = ["2.0.1", "1.6"]\n').charger
    assert offer.describe_versions() == "OCPP 2.0.1/1.6"
    mix = ChargerModel(ocpp_mix=((("1.6",), 0.7), (("2.0.1", "1.6"), 0.3)))
    assert mix.describe_versions() == "OCPP 1.6 70%, 2.0.1/1.6 30%"
