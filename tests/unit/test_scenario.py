"""Scenario files: defaults, overrides, and errors naming the file, the key and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from simfleet.scenario import ScenarioError, load, parse, validate
from simfleet.sim.fleet import hardware_of, plans_for, settings_for

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_loads() -> None:
    scenario = load(ROOT / "scenarios" / "quickstart.toml")
    assert scenario.name == "quickstart"
    assert scenario.chargers == 1000
    assert scenario.target == ""
    assert scenario.charger.ocpp_version == "1.6"
    assert scenario.identity_of(12) == "SF-000012"


def test_every_shipped_scenario_loads() -> None:
    for path in (ROOT / "scenarios").glob("*.toml"):
        load(path)


def test_defaults_and_overrides() -> None:
    scenario = parse("", "empty.toml")
    assert scenario.chargers == 100
    changed = validate(scenario.with_overrides(chargers=5, target=None, seed=9))
    assert (changed.chargers, changed.seed, changed.target) == (5, 9, "")


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        ("[fleet]\nchargers = 0", "fleet.chargers", "= 0"),
        ('[fleet]\nchargers = "many"', "fleet.chargers", "= 'many'"),
        ("[fleet]\ncharger = 5", "fleet.charger", "unknown key"),
        ("[fleet]\nramp_per_s = -1", "fleet.ramp_per_s", "= -1"),
        ('[fleet]\nidentity = "CP"', "fleet.identity", "{index}"),
        ('[fleet]\nidentity = "CP:{index}"', "fleet.identity", "no ':'"),
        ('[target]\nurl = "http://x/ocpp"', "target.url", "ws://"),
        (
            '[target]\nurl = "ws://x"\nsecurity_profile = 2\npassword_env = "P"',
            "target.url",
            "wss://",
        ),
        ("[target]\nsecurity_profile = 1", "target.security_profile", "password_env"),
        ("[target]\nsecurity_profile = 3", "target.security_profile", "= 3"),
        ('[charger]\nocpp_version = "9.9"', "charger.ocpp_version", "= '9.9'"),
        ('[charger]\nvendor = "' + "v" * 21 + '"', "charger.vendor", "CiString20"),
        ("[charger]\nconnectors = 0", "charger.connectors", "1..16"),
        ('[behaviour]\nid_tag = "{nope}"', "behaviour.id_tag", "bad pattern"),
        # 10 chargers: charger 10's tag is 21 characters, charger 1's only 20.
        (
            '[fleet]\nchargers = 10\n[behaviour]\nid_tag = "ABCDEFGHIJKLMNOPQRS{index}"',
            "behaviour.id_tag",
            "'ABCDEFGHIJKLMNOPQRS10' is not",
        ),
        (
            '[fleet]\nchargers = 100\nidentity = "' + "x" * 46 + '{index}"',
            "fleet.identity",
            "<= 48",
        ),
        ("[reconnect]\nmin_s = 5\nmax_s = 1", "reconnect.max_s", ">= reconnect.min_s"),
        ("[run]\nduration_s = true", "run.duration_s", "a number"),
        ("fleet = 3", "fleet", "must be a table"),
        ("wat = 1", "wat", "unknown key"),
        ("[metrics]\nport = 70000", "metrics.port", "0 to 65535"),
        ('[metrics]\nport = "9464"', "metrics.port", "an integer"),
        ("[metrics]\nhold_s = -1", "metrics.hold_s", ">= 0"),
        ("[metrics]\nlisten = 1", "metrics.listen", "unknown key"),
        ('[[csms.commands]]\naction = "Fly"', "csms.commands[0].action", "no default payload"),
        ("[[csms.commands]]\nrate_per_s = 1", "csms.commands[0].action", "missing"),
        (
            '[[csms.commands]]\naction = "Reset"\nshare = 1.5',
            "csms.commands[0].share",
            "(0, 1]",
        ),
        (
            '[[csms.commands]]\naction = "Reset"\nrate_per_s = 0',
            "csms.commands[0].rate_per_s",
            "positive",
        ),
        ('[[csms.commands]]\naction = "Reset"\nevery = 1', "csms.commands[0].every", "unknown"),
        ("[csms]\ncommands = 3", "csms.commands", "array"),
        ("[charger]\nreplay_interval_s = -0.5", "charger.replay_interval_s", ">= 0"),
        ("[charger]\nmax_offline_queue = 0", "charger.max_offline_queue", ">= 1"),
        (
            "[charger]\ntransaction_message_attempts = 2.5",
            "charger.transaction_message_attempts",
            "an integer",
        ),
        (
            "[charger]\ntransaction_message_retry_interval_s = -1",
            "charger.transaction_message_retry_interval_s",
            ">= 0",
        ),
    ],
)
def test_errors_name_file_key_and_value(text: str, key: str, shown: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse(text, "my/scenario.toml")
    message = str(caught.value)
    assert message.startswith(f"my/scenario.toml: {key}")
    assert shown in message


def test_invalid_toml_and_missing_file() -> None:
    with pytest.raises(ScenarioError, match=r"^bad\.toml: not valid TOML"):
        parse("[fleet\n", "bad.toml")
    with pytest.raises(ScenarioError, match=r"nope\.toml: cannot read"):
        load("nope.toml")


def test_integers_are_accepted_where_numbers_are_expected() -> None:
    assert parse("[run]\nduration_s = 30").duration_s == 30.0


def test_metrics_and_csms_commands() -> None:
    scenario = parse(
        """
        [metrics]
        port = 9464
        host = "0.0.0.0"
        [[csms.commands]]
        action = "TriggerMessage"
        rate_per_s = 2.5
        share = 0.5
        [[csms.commands]]
        action = "DataTransfer"
        payload = { vendorId = "acme", messageId = "ping" }
        """
    )
    assert scenario.metrics.enabled and scenario.metrics.port == 9464
    assert scenario.metrics.host == "0.0.0.0"
    trigger, transfer = scenario.csms_commands
    assert trigger.payload == {"requestedMessage": "Heartbeat"}  # the default
    assert (trigger.rate_per_s, trigger.share) == (2.5, 0.5)
    assert transfer.payload == {"vendorId": "acme", "messageId": "ping"}
    assert not parse("").metrics.enabled
    assert parse("").with_metrics(port=0, host=None).metrics.port == 0


def test_a_command_share_picks_a_stable_part_of_the_fleet() -> None:
    scenario = parse('[[csms.commands]]\naction = "Reset"\nshare = 0.3')
    (command,) = scenario.csms_commands
    chosen = [i for i in range(10_000) if command.targets(f"SF-{i:06d}")]
    assert 2700 < len(chosen) < 3300
    assert chosen == [i for i in range(10_000) if command.targets(f"SF-{i:06d}")]


def test_strict_mode_settings() -> None:
    assert parse("").strict is False
    scenario = parse("[run]\nstrict = true\nfail_on_violations = true", "s.toml")
    assert (scenario.strict, scenario.fail_on_violations) == (True, True)
    with pytest.raises(ScenarioError) as caught:
        parse('[run]\nstrict = "yes"', "s.toml")
    assert str(caught.value) == "s.toml: run.strict = 'yes': must be true or false"
    with pytest.raises(ScenarioError) as caught:
        parse("[run]\nfail_on_violations = true", "s.toml")
    assert "s.toml: run.fail_on_violations = True: needs run.strict = true" in str(caught.value)
    assert validate(parse("").with_overrides(strict=True, fail_on_violations=True)).strict


def test_offline_keys_reach_the_charger_settings() -> None:
    scenario = parse(
        "[charger]\nreplay_interval_s = 0.2\ntransaction_message_attempts = 5\n"
        "transaction_message_retry_interval_s = 2\nmax_offline_queue = 50\n"
    )
    model = scenario.charger
    assert (model.replay_interval_s, model.transaction_message_attempts) == (0.2, 5)
    settings = settings_for(scenario, 1, hardware_of(scenario, plans_for(scenario, [1])[0]))
    assert settings.replay_interval_s == 0.2
    assert settings.transaction_message_attempts == 5
    assert settings.transaction_message_retry_interval_s == 2
    assert settings.max_offline_queue == 50
    defaults = parse("").charger
    assert (defaults.replay_interval_s, defaults.transaction_message_attempts) == (0.5, 3)
    assert defaults.transaction_message_retry_interval_s == 60
