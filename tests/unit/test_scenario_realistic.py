"""The realistic behaviour's scenario keys: [run] time_scale/start_at/day, [sites] mix and
[sites.<type>] overrides, [faults], [auth], [charger] metering; errors name file, key, value."""

from __future__ import annotations

from pathlib import Path

import pytest

from simfleet.behaviour.model import DayType, SiteType
from simfleet.behaviour.profiles import FaultRates, default_sites
from simfleet.behaviour.tokens import TokenBook
from simfleet.scenario import ScenarioError, load, parse
from simfleet.scenario.model import DEFAULT_SITE_MIX, ChargerModel, Realistic

SOURCE = "my/scenario.toml"


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse(text, SOURCE)
    return str(caught.value)


# -- defaults ---------------------------------------------------------------------------------


def test_an_empty_scenario_is_realistic_with_the_default_tables() -> None:
    scenario = parse("", SOURCE)
    assert scenario.model == "realistic"
    realistic = scenario.realistic
    assert realistic == Realistic()
    assert realistic.time_scale == 1.0
    assert realistic.start_hour == 8.0
    assert realistic.day is DayType.WEEKDAY
    assert realistic.site_mix == DEFAULT_SITE_MIX
    assert sum(share for _, share in realistic.site_mix) == pytest.approx(1.0)
    assert realistic.sites == default_sites()
    assert realistic.faults == FaultRates()
    assert realistic.tokens == TokenBook()
    assert realistic.connection_timeout_s == 90.0
    assert scenario.charger.measurands_ac == ChargerModel().measurands_ac
    assert scenario.charger.clock_aligned_s == 900.0


def test_fixed_keys_imply_the_fixed_model() -> None:
    scenario = parse("[behaviour]\nidle_s = 5\nsession_s = 30", SOURCE)
    assert scenario.model == "fixed"
    assert (scenario.fixed.idle_s, scenario.fixed.session_s) == (5.0, 30.0)
    assert parse('[behaviour]\nmodel = "fixed"', SOURCE).model == "fixed"
    assert parse('[behaviour]\nmodel = "realistic"', SOURCE).model == "realistic"


def test_realistic_with_fixed_keys_names_the_key() -> None:
    message = error_of('[behaviour]\nmodel = "realistic"\nsession_s = 30')
    assert message.startswith(f"{SOURCE}: behaviour.session_s = 30: ")
    assert 'model = "fixed"' in message


def test_an_unknown_model_is_an_error() -> None:
    assert error_of('[behaviour]\nmodel = "random"').startswith(
        f"{SOURCE}: behaviour.model = 'random': "
    )


# -- [run]: the simulated clock ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scale"), [("0.5", 0.5), ("1", 1.0), ("60", 60.0), ("3600", 3600.0)]
)
def test_time_scale(text: str, scale: float) -> None:
    assert parse(f"[run]\ntime_scale = {text}", SOURCE).realistic.time_scale == scale


@pytest.mark.parametrize(
    ("text", "shown", "problem"),
    [
        ("0", "= 0", "positive"),
        ("-2", "= -2", "positive"),
        ("3601", "= 3601.0", "at most 3600"),
        ("1e9", "= 1000000000.0", "at most 3600"),
        ('"fast"', "= 'fast'", "positive number"),
        ("true", "= True", "positive number"),
        ("nan", "= nan", "positive number"),
    ],
)
def test_time_scale_out_of_bounds(text: str, shown: str, problem: str) -> None:
    message = error_of(f"[run]\ntime_scale = {text}")
    assert message.startswith(f"{SOURCE}: run.time_scale {shown}: ")
    assert problem in message


@pytest.mark.parametrize(
    ("text", "hour"), [('"00:00"', 0.0), ('"08:30"', 8.5), ('"23:59"', 23 + 59 / 60)]
)
def test_start_at(text: str, hour: float) -> None:
    assert parse(f"[run]\nstart_at = {text}", SOURCE).realistic.start_hour == pytest.approx(hour)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('"8am"', "'8am'"),
        ('"25:00"', "'25:00'"),
        ('"24:00"', "'24:00'"),
        ('"8:00"', "'8:00'"),
        ('"08:60"', "'08:60'"),
        ('"08:00:00"', "'08:00:00'"),
        ('""', "''"),
        ("8", "8"),
        ("08:00:00", "datetime.time(8, 0)"),  # a TOML local time is not a string
    ],
)
def test_start_at_format_errors(text: str, shown: str) -> None:
    message = error_of(f"[run]\nstart_at = {text}")
    assert message.startswith(f"{SOURCE}: run.start_at = {shown}: ")
    assert "HH:MM" in message


def test_day() -> None:
    assert parse('[run]\nday = "weekend"', SOURCE).realistic.day is DayType.WEEKEND
    assert parse('[run]\nday = "weekday"', SOURCE).realistic.day is DayType.WEEKDAY


@pytest.mark.parametrize(("text", "shown"), [('"monday"', "'monday'"), ("1", "1"), ('""', "''")])
def test_day_errors(text: str, shown: str) -> None:
    message = error_of(f"[run]\nday = {text}")
    assert message.startswith(f"{SOURCE}: run.day = {shown}: ")
    assert "weekday or weekend" in message


def test_unknown_run_key() -> None:
    message = error_of("[run]\ntimescale = 10")
    assert message.startswith(f"{SOURCE}: run.timescale = 10: unknown key")
    assert "time_scale" in message  # the known keys are listed


# -- [sites]: the mix -------------------------------------------------------------------------


def test_a_site_mix() -> None:
    scenario = parse("[sites]\nworkplace_ac = 0.25\ndc_fast = 0.75", SOURCE)
    assert scenario.realistic.site_mix == (
        (SiteType.WORKPLACE_AC, 0.25),
        (SiteType.DC_FAST, 0.75),
    )
    one = parse("[sites]\nresidential = 1", SOURCE).realistic.site_mix
    assert one == ((SiteType.RESIDENTIAL, 1.0),)
    assert type(one[0][1]) is float


def test_a_zero_share_is_allowed() -> None:
    mix = parse("[sites]\npublic_ac = 1.0\ndc_fast = 0", SOURCE).realistic.site_mix
    assert dict(mix) == {SiteType.PUBLIC_AC: 1.0, SiteType.DC_FAST: 0.0}


@pytest.mark.parametrize(
    ("text", "total"),
    [
        ("workplace_ac = 0.5\ndc_fast = 0.4", "0.9"),
        ("workplace_ac = 0.5\ndc_fast = 0.6", "1.1"),
        ("public_ac = 2", "2"),
        ("public_ac = 0", "0"),
    ],
)
def test_shares_must_add_up_to_one(text: str, total: str) -> None:
    message = error_of(f"[sites]\n{text}")
    assert message.startswith(f"{SOURCE}: sites = {{")
    assert f"add up to 1 (they add up to {total})" in message


@pytest.mark.parametrize(
    ("text", "key", "shown", "problem"),
    [
        ("airport = 1.0", "sites.airport", "'airport'", "unknown site type"),
        ("public_ac = -0.5\ndc_fast = 1.5", "sites.public_ac", "-0.5", "share >= 0"),
        ('public_ac = "most"', "sites.public_ac", "'most'", "share >= 0"),
        ("public_ac = true", "sites.public_ac", "True", "share >= 0"),
        ("[sites.airport]\nconnectors = 2", "sites.airport", "'airport'", "unknown site type"),
    ],
)
def test_site_errors(text: str, key: str, shown: str, problem: str) -> None:
    message = error_of(f"[sites]\n{text}")
    assert message.startswith(f"{SOURCE}: {key} = {shown}: ")
    assert problem in message
    if "unknown site type" in problem:
        assert "workplace_ac, public_ac, residential, dc_fast" in message


def test_sites_must_be_a_table() -> None:
    assert error_of("sites = 3").startswith(f"{SOURCE}: sites = 3: must be a table")


# -- [sites.<type>]: profile overrides --------------------------------------------------------


def test_overrides_replace_fields_by_name() -> None:
    scenario = parse(
        "[sites.public_ac]\nsessions_weekday = 3\nfirst_attempt_fail = 0.1\n"
        "[sites.residential]\nmax_power_w = 7400\nphases = 1\n",
        SOURCE,
    )
    sites = scenario.realistic.sites
    defaults = default_sites()
    public = sites[SiteType.PUBLIC_AC]
    assert public.sessions_weekday == 3.0
    assert type(public.sessions_weekday) is float  # int -> float
    assert public.first_attempt_fail == 0.1
    assert sites[SiteType.RESIDENTIAL].phases == 1
    assert sites[SiteType.RESIDENTIAL].max_power_w == 7400.0
    # Everything else keeps its defaults, and overrides alone keep the default mix.
    assert sites[SiteType.DC_FAST] == defaults[SiteType.DC_FAST]
    assert public.sessions_weekend == defaults[SiteType.PUBLIC_AC].sessions_weekend
    assert scenario.realistic.site_mix == DEFAULT_SITE_MIX


def test_list_valued_overrides_become_tuples() -> None:
    scenario = parse(
        "[sites.dc_fast]\nauth_method_shares = [1, 0, 0, 0]\n"
        "soc_targets = [0.8, 0.9, 1]\nsoc_target_shares = [0.5, 0.25, 0.25]\n"
        "auth_delay_median_s = [10, 30, 5, 45]\n",
        SOURCE,
    )
    dc = scenario.realistic.sites[SiteType.DC_FAST]
    assert dc.auth_method_shares == (1.0, 0.0, 0.0, 0.0)
    assert dc.soc_targets == (0.8, 0.9, 1.0)
    assert dc.soc_target_shares == (0.5, 0.25, 0.25)
    assert dc.auth_delay_median_s == (10.0, 30.0, 5.0, 45.0)
    for value in (dc.auth_method_shares, dc.soc_targets, dc.auth_delay_median_s):
        assert type(value) is tuple
        assert all(type(v) is float for v in value)
    hash(scenario.realistic.sites[SiteType.DC_FAST])  # still a frozen, hashable profile


@pytest.mark.parametrize(
    ("text", "key", "shown", "problem"),
    [
        # wrong types
        ('sessions_weekday = "many"', "sessions_weekday", "'many'", "must be a number"),
        ("sessions_weekday = true", "sessions_weekday", "True", "must be a number"),
        ("connectors = 2.5", "connectors", "2.5", "must be an integer"),
        ("current = 1", "current", "1", "must be a string"),
        ("auth_method_shares = 1", "auth_method_shares", "1", "non-empty list"),
        ("auth_method_shares = []", "auth_method_shares", "[]", "non-empty list"),
        ('auth_method_shares = [1, "x", 0, 0]', "auth_method_shares", "'x'", "must be a number"),
        # unknown field
        ("sessions_per_day = 2", "sessions_per_day", "2", "unknown key"),
        # invalid values (the profile's own checks)
        ("no_plug_share = 2", "no_plug_share", "2", "must be in [0, 1]"),
        ("first_attempt_fail = -0.1", "first_attempt_fail", "-0.1", "must be in [0, 1]"),
        ("connectors = 0", "connectors", "0", "must be >= 1"),
        ('current = "XC"', "current", "'XC'", "'AC' or 'DC'"),
        ("phases = 2", "phases", "2", "1 or 3"),
        ('hourly_weekday = "nope"', "hourly_weekday", "'nope'", "must be one of"),
        ('stay_model = "forever"', "stay_model", "'forever'", "must be one of"),
        ("auth_method_shares = [1, 0, 0]", "auth_method_shares", "[1, 0, 0]", "needs 4 values"),
        ("max_power_w = -1", "max_power_w", "-1", "must be > 0"),
    ],
)
def test_override_errors_name_the_field(text: str, key: str, shown: str, problem: str) -> None:
    message = error_of(f"[sites.public_ac]\n{text}")
    assert message.startswith(f"{SOURCE}: sites.public_ac.{key} = {shown}: ")
    assert problem in message


def test_an_unknown_field_lists_the_known_ones() -> None:
    message = error_of("[sites.dc_fast]\nsessions = 2")
    assert "sessions_weekday" in message
    assert "no_plug_share" in message


def test_a_check_across_fields_names_the_table() -> None:
    # Three targets with two shares: the complaint is about a field that was not overridden.
    message = error_of("[sites.dc_fast]\nsoc_targets = [0.8, 0.9, 1.0]")
    assert message.startswith(f"{SOURCE}: sites.dc_fast")
    assert "soc_target_shares needs 3 values" in message


def test_a_site_type_in_an_explicit_mix_cannot_have_a_table_too() -> None:
    """TOML: `[sites] public_ac = 0.5` and `[sites.public_ac]` cannot both exist."""
    message = error_of(
        "[sites]\npublic_ac = 0.5\ndc_fast = 0.5\n[sites.public_ac]\nsessions_weekday = 2.0\n"
    )
    assert message.startswith(f"{SOURCE}: not valid TOML")


def test_a_site_type_in_the_mix_can_be_overridden() -> None:
    scenario = parse(
        "[sites]\ndc_fast = 0.5\n[sites.public_ac]\nshare = 0.5\nsessions_weekday = 2.0\n",
        SOURCE,
    )
    assert dict(scenario.realistic.site_mix) == {SiteType.PUBLIC_AC: 0.5, SiteType.DC_FAST: 0.5}
    assert scenario.realistic.sites[SiteType.PUBLIC_AC].sessions_weekday == 2.0


# -- [faults] ---------------------------------------------------------------------------------


def test_faults_disabled_means_zero_rates() -> None:
    faults = parse("[faults]\nenabled = false", SOURCE).realistic.faults
    assert faults == FaultRates.none()
    assert faults.faulted_per_connector_day_ac == faults.faulted_per_connector_day_dc == 0.0
    assert faults.offline_per_charger_day == faults.reboot_per_charger_day == 0.0


def test_fault_overrides_apply_enabled_or_not() -> None:
    on = parse("[faults]\noffline_per_charger_day = 1\nboot_median_s = 30", SOURCE)
    assert on.realistic.faults.offline_per_charger_day == 1.0
    assert on.realistic.faults.boot_median_s == 30.0
    assert on.realistic.faults.reboot_per_charger_day == FaultRates().reboot_per_charger_day
    off = parse("[faults]\nenabled = false\nreboot_per_charger_day = 2", SOURCE)
    assert off.realistic.faults.reboot_per_charger_day == 2.0
    assert off.realistic.faults.offline_per_charger_day == 0.0
    codes = parse(
        '[faults]\nerror_codes = ["GroundFailure", "WeakSignal"]\nerror_code_shares = [1, 3]',
        SOURCE,
    ).realistic.faults
    assert codes.error_codes == ("GroundFailure", "WeakSignal")
    assert codes.error_code_shares == (1.0, 3.0)


@pytest.mark.parametrize(
    ("text", "key", "shown", "problem"),
    [
        ('enabled = "no"', "faults.enabled", "'no'", "true or false"),
        ("enabled = 0", "faults.enabled", "0", "true or false"),
        ("offline_per_day = 1", "faults.offline_per_day", "1", "unknown key"),
        ("remote_fix_share = 1.5", "faults.remote_fix_share", "1.5", "must be in [0, 1]"),
        ("offline_per_charger_day = -1", "faults.offline_per_charger_day", "-1", ">= 0"),
        ("boot_median_s = 0", "faults.boot_median_s", "0", "> 0"),
        ('boot_median_s = "1m"', "faults.boot_median_s", "'1m'", "must be a number"),
    ],
)
def test_fault_errors(text: str, key: str, shown: str, problem: str) -> None:
    message = error_of(f"[faults]\n{text}")
    assert message.startswith(f"{SOURCE}: {key} = {shown}: ")
    assert problem in message


def test_error_codes_and_shares_must_match() -> None:
    message = error_of('[faults]\nerror_codes = ["GroundFailure"]')
    assert message.startswith(f"{SOURCE}: faults")
    assert "error_code_shares" in message


# -- [auth] -----------------------------------------------------------------------------------


def test_auth_prefixes_and_timeout() -> None:
    scenario = parse(
        '[auth]\nconnection_timeout_s = 30\nprefix_invalid = "BAD"\nprefix_accepted = "GOOD"\n'
        'prefix_concurrent_tx = "BUSY"',
        SOURCE,
    )
    realistic = scenario.realistic
    assert realistic.connection_timeout_s == 30.0
    book = realistic.tokens
    assert (book.accepted, book.invalid, book.blocked, book.concurrent_tx) == (
        "GOOD",
        "BAD",
        "BLK",
        "BUSY",
    )
    assert book.status_of("BADR000000011") == "Invalid"
    assert book.status_of("BUSYA000000011") == "ConcurrentTx"
    assert book.status_of("GOODR000000010") == "Accepted"


@pytest.mark.parametrize(
    ("text", "key", "shown", "problem"),
    [
        ('prefix_unknown = "X"', "auth.prefix_unknown", "'X'", "unknown token kind"),
        ('token_invalid = "X"', "auth.token_invalid", "'X'", "unknown key"),
        ('prefix_invalid = ""', "auth.prefix_invalid", "''", "1-8 characters"),
        ('prefix_invalid = "ABCDEFGHI"', "auth.prefix_invalid", "'ABCDEFGHI'", "1-8 characters"),
        ("prefix_blocked = 5", "auth.prefix_blocked", "5", "1-8 characters"),
        ("connection_timeout_s = 0", "auth.connection_timeout_s", "0", "positive number"),
        ('connection_timeout_s = "90"', "auth.connection_timeout_s", "'90'", "positive number"),
        ("connection_timeout_s = nan", "auth.connection_timeout_s", "nan", "positive number"),
    ],
)
def test_auth_errors(text: str, key: str, shown: str, problem: str) -> None:
    message = error_of(f"[auth]\n{text}")
    assert message.startswith(f"{SOURCE}: {key} = {shown}: ")
    assert problem in message


def test_an_unknown_auth_key_lists_the_known_ones() -> None:
    message = error_of("[auth]\ntimeout = 3")
    for known in ("connection_timeout_s", "prefix_accepted", "prefix_concurrent_tx"):
        assert known in message
    assert "fixed_pattern" not in message


def test_the_fixed_pattern_is_not_an_auth_prefix() -> None:
    error_of('[auth]\nprefix_fixed_pattern = "X"')


@pytest.mark.parametrize(
    "text",
    ['prefix_invalid = "OK"', 'prefix_accepted = "INVX"', 'prefix_blocked = "INV2"'],
)
def test_overlapping_auth_prefixes_are_an_error(text: str) -> None:
    assert error_of(f"[auth]\n{text}").startswith(f"{SOURCE}: auth.prefix_")


# -- [charger] metering -----------------------------------------------------------------------


def test_measurands_and_clock_alignment() -> None:
    charger = parse(
        '[charger]\nmeasurands_ac = ["Energy.Active.Import.Register", "Voltage"]\n'
        'measurands_dc = ["SoC"]\nclock_aligned_s = 0',
        SOURCE,
    ).charger
    assert charger.measurands_ac == ("Energy.Active.Import.Register", "Voltage")
    assert charger.measurands_dc == ("SoC",)
    assert charger.clock_aligned_s == 0.0


@pytest.mark.parametrize(
    ("text", "key", "shown", "problem"),
    [
        ('measurands_ac = ["Energy.Active.Import.Register", "Bogus"]', "measurands_ac",
         "'Bogus'", "not a measurand"),
        ('measurands_dc = ["Power.Reactive.Import"]', "measurands_dc",
         "'Power.Reactive.Import'", "not a measurand"),
        ('measurands_ac = "Voltage"', "measurands_ac", "'Voltage'", "non-empty list"),
        ("measurands_ac = []", "measurands_ac", "[]", "non-empty list"),
        ("measurands_ac = [1]", "measurands_ac", "1", "must be a string"),
        ("clock_aligned_s = -1", "clock_aligned_s", "-1.0", ">= 0"),
        ('clock_aligned_s = "15m"', "clock_aligned_s", "'15m'", "must be a number"),
    ],
)  # fmt: skip
def test_metering_errors(text: str, key: str, shown: str, problem: str) -> None:
    message = error_of(f"[charger]\n{text}")
    assert message.startswith(f"{SOURCE}: charger.{key} = {shown}: ")
    assert problem in message
    if problem == "not a measurand":
        assert "Energy.Active.Import.Register" in message  # the known ones


# -- the file path ----------------------------------------------------------------------------


def test_errors_from_a_file_start_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[sites.public_ac]\nno_plug_share = 2\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: sites.public_ac.no_plug_share = 2: ")
    assert caught.value.key == "sites.public_ac.no_plug_share"
    assert caught.value.value == 2
    assert caught.value.source == str(path)


def test_the_shipped_quickstart_is_realistic() -> None:
    root = Path(__file__).resolve().parents[2]
    scenario = load(root / "scenarios" / "quickstart.toml")
    assert scenario.model == "realistic"
    assert sum(share for _, share in scenario.realistic.site_mix) == pytest.approx(1.0)
