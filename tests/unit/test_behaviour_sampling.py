"""Fleet planning: arrivals by the hour, occupancy, determinism, warm start, SoC rules, config."""

from __future__ import annotations

import dataclasses
import itertools
import math
from functools import lru_cache

import numpy as np
import pytest
from scipy import stats

from simfleet.behaviour.model import ChargerPlan, DayType, SiteType
from simfleet.behaviour.profiles import (
    HOURLY_SHARES,
    FaultRates,
    SiteProfile,
    dc_fast,
    default_sites,
    public_ac,
    residential,
)
from simfleet.behaviour.sampling import (
    DEFAULT_SITE_MIX,
    SITE_TYPES,
    BehaviourConfig,
    hour_bins,
    occupied_until,
    plan_fleet,
    site_of,
)

DAY = 86_400.0
TINY_STAYS = tuple(0.01 for _ in range(11))  # 36 s mean: occupancy never blocks an arrival


def one_site(
    site: SiteType, profile: SiteProfile | None = None, **config: object
) -> BehaviourConfig:
    sites = default_sites()
    if profile is not None:
        sites[site] = profile
    return BehaviourConfig(site_mix=((site, 1.0),), sites=sites, **config)  # type: ignore[arg-type]


@lru_cache(maxsize=4)
def mixed_fleet() -> tuple[BehaviourConfig, tuple[ChargerPlan, ...]]:
    config = BehaviourConfig(start_hour=7.0, horizon_s=2 * DAY, faults=FaultRates())
    return config, tuple(plan_fleet(config, 11, range(1, 3001)))


def occupied_at(plans: list[ChargerPlan], config: BehaviourConfig, t: float) -> float:
    """Share of connectors with a visit in progress at t."""
    busy = connectors = 0
    for plan in plans:
        profile = config.sites[plan.site]
        connectors += profile.connectors
        busy += sum(v.arrive_s <= t < occupied_until(v, profile) for v in plan.visits)
    return busy / connectors


# --- sites and calendar ------------------------------------------------------------------------


def test_site_mix_follows_shares_and_does_not_depend_on_the_split() -> None:
    config = BehaviourConfig()
    sites = site_of(config, 5, range(1, 20_001))
    observed = np.bincount(sites, minlength=len(SITE_TYPES))
    shares = dict(DEFAULT_SITE_MIX)
    expected = np.array([shares[s] for s in SITE_TYPES]) * sites.size
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    odd = site_of(config, 5, range(1, 20_001, 2))
    assert np.array_equal(odd, sites[::2])
    assert not np.array_equal(site_of(config, 6, range(1, 20_001)), sites)


def test_calendar_starts_monday_or_saturday_and_follows_the_week() -> None:
    weekday = hour_bins(BehaviourConfig(start_hour=10.0, horizon_s=7 * DAY, warm_start_s=DAY))
    # t = 0 is Monday 10:00, so the first bin (Sunday 10:00) is a weekend hour
    assert weekday.start_s[0] == -DAY and weekday.hour[0] == 10 and weekday.weekend[0]
    days = np.floor((weekday.start_s + 10 * 3600) / DAY).astype(int)
    for day in range(-1, 7):
        assert (weekday.weekend[days == day] == (day in (-1, 5, 6))).all()
    weekend = hour_bins(BehaviourConfig(day_type=DayType.WEEKEND, warm_start_s=0.0))
    assert weekend.weekend.all() and weekend.start_s.size == 24


# --- arrivals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day_type", "table"),
    [(DayType.WEEKDAY, "elaad_public_wd"), (DayType.WEEKEND, "elaad_public_we")],
)
def test_hourly_arrivals_follow_the_shares(day_type: DayType, table: str) -> None:
    profile = dataclasses.replace(public_ac(), stay_table_mean_h=TINY_STAYS)
    config = one_site(SiteType.PUBLIC_AC, profile, day_type=day_type, warm_start_s=0.0)
    plans = plan_fleet(config, 3, range(1, 4001))
    arrive = np.array([v.arrive_s for p in plans for v in p.visits])
    observed = np.bincount((arrive // 3600).astype(int), minlength=24)
    share = np.array(HOURLY_SHARES[table]) / sum(HOURLY_SHARES[table])
    assert stats.chisquare(observed, share * arrive.size).pvalue > 1e-3
    rate = profile.sessions_weekday if day_type is DayType.WEEKDAY else profile.sessions_weekend
    mean = rate * 4000 * profile.connectors
    assert abs(arrive.size - mean) < 4 * math.sqrt(mean)  # Poisson total, no balking


def test_weekends_are_quiet_at_workplaces() -> None:
    config = one_site(SiteType.WORKPLACE_AC, horizon_s=7 * DAY, warm_start_s=0.0)
    plans = plan_fleet(config, 4, range(1, 301))
    days = np.bincount([int(v.arrive_s // DAY) for p in plans for v in p.visits], minlength=7)
    # arrivals 1.0 per connector per weekday, 0.1 per weekend day (600 connectors); about 30 %
    # of weekday arrivals balk at a connector still taken by a commuter
    assert days[:5].min() > 350 and days[5:].max() < 90


# --- occupancy ---------------------------------------------------------------------------------


def test_no_two_visits_overlap_on_a_connector() -> None:
    config, plans = mixed_fleet()
    checked = 0
    for plan in plans:
        profile = config.sites[plan.site]
        for connector in range(1, profile.connectors + 1):
            visits = [v for v in plan.visits if v.connector_id == connector]
            for before, after in itertools.pairwise(visits):
                assert after.arrive_s >= occupied_until(before, profile)
                checked += 1
            for fault in plan.faults:
                if fault.connector_id == connector:
                    end = fault.start_s + fault.duration_s
                    assert not any(fault.start_s <= v.arrive_s < end for v in visits)
    assert checked > 10_000


def test_plans_are_sorted_and_inside_the_run() -> None:
    config, plans = mixed_fleet()
    for plan in plans:
        arrive = [v.arrive_s for v in plan.visits]
        assert arrive == sorted(arrive)
        assert all(-config.warm_start_s <= a < config.horizon_s for a in arrive)
        assert all(occupied_until(v, config.sites[plan.site]) > 0 for v in plan.visits)
        for episodes in (plan.faults, plan.offline, plan.reboots):
            starts = [e.start_s for e in episodes]
            assert starts == sorted(starts)
            assert all(0 <= s < config.horizon_s for s in starts)


def test_dc_visits_leave_when_full_unless_they_never_charge() -> None:
    _, plans = mixed_fleet()
    for plan in plans:
        for v in plan.visits:
            charges = not v.no_plug and v.auth_attempts[-1] == 0 and not v.start_fails
            if plan.site is SiteType.DC_FAST:
                assert math.isnan(v.depart_s) == (charges and math.isnan(v.stop_early_s))
            else:
                assert math.isfinite(v.depart_s)


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_same_plan_whatever_the_split() -> None:
    config = BehaviourConfig(horizon_s=DAY / 2, faults=FaultRates())
    everything = plan_fleet(config, 21, range(1, 2501))
    shards = [plan_fleet(config, 21, range(1 + w, 2501, 2)) for w in range(2)]
    for index in (1, 2, 1023, 1024, 1025, 2047, 2500):
        shard = shards[(index - 1) % 2]
        assert repr(shard[(index - 1) // 2]) == repr(everything[index - 1])
    assert repr(plan_fleet(config, 21, [1500])[0]) == repr(everything[1499])
    assert repr(plan_fleet(config, 21, range(1, 2501))) == repr(everything)
    other = plan_fleet(config, 22, range(1, 101))
    assert repr(other) != repr(everything[:100])


def test_plans_come_back_in_the_order_asked() -> None:
    config = BehaviourConfig(horizon_s=3600.0)
    plans = plan_fleet(config, 1, [2000, 5, 1024])
    assert [p.index for p in plans] == [2000, 5, 1024]
    with pytest.raises(ValueError, match="start at 1"):
        plan_fleet(config, 1, [0, 1])


# --- warm start --------------------------------------------------------------------------------


def test_warm_start_has_no_cold_start_artefact() -> None:
    # every day alike, so the occupancy at noon is the same on every day of the run
    profile = dataclasses.replace(
        public_ac(), sessions_weekend=1.5, hourly_weekend="elaad_public_wd"
    )
    config = one_site(SiteType.PUBLIC_AC, profile, start_hour=12.0, horizon_s=2 * DAY + 1)
    plans = plan_fleet(config, 8, range(1, 3001))
    at = [occupied_at(plans, config, t) for t in (0.0, DAY, 2 * DAY)]
    sd = math.sqrt(at[1] * (1 - at[1]) / 6000)
    assert at[1] > 0.15  # a busy noon: the comparison means something
    assert abs(at[0] - (at[1] + at[2]) / 2) < 4 * sd
    assert any(v.arrive_s < 0 for p in plans for v in p.visits)
    cold = dataclasses.replace(config, warm_start_s=0.0)
    assert occupied_at(plan_fleet(cold, 8, range(1, 301)), cold, 0.0) == 0.0


# --- SoC rules ---------------------------------------------------------------------------------


def test_ac_soc_rules() -> None:
    _, plans = mixed_fleet()
    ac = [v for p in plans if p.site is not SiteType.DC_FAST for v in p.visits]
    assert len(ac) > 5000
    start = np.array([v.soc_start for v in ac])
    target = np.array([v.soc_target for v in ac])
    share = np.array([v.energy_wh / v.vehicle.battery_wh for v in ac])
    assert start.min() >= 0.05 and start.max() <= 0.95
    assert target.max() <= 1.0 and (target >= start).all()
    assert np.allclose(start, np.clip(1 - share, 0.05, 0.95))
    assert np.allclose(target, np.minimum(1.0, start + share))


def test_dc_soc_rules() -> None:
    _, plans = mixed_fleet()
    dc = [v for p in plans if p.site is SiteType.DC_FAST for v in p.visits]
    assert len(dc) > 1000
    for v in dc:
        assert v.soc_target in (0.8, 0.95)
        assert 0.0 <= v.soc_start <= v.soc_target - 0.05 + 1e-12
        assert v.energy_wh == pytest.approx((v.soc_target - v.soc_start) * v.vehicle.battery_wh)


# --- profiles and config -----------------------------------------------------------------------


def test_profiles_take_overrides_by_name_and_check_them() -> None:
    home = dataclasses.replace(residential(), max_power_w=7400.0, phases=1)
    assert (home.max_power_w, home.phases, home.connectors) == (7400.0, 1, 1)
    for bad, field in (
        ({"stay_cv": -1.0}, "stay_cv"),
        ({"hourly_weekday": "nope"}, "hourly_weekday"),
        ({"auth_method_shares": (1.0, 0.0)}, "auth_method_shares"),
        ({"no_plug_share": 1.5}, "no_plug_share"),
        ({"current": "ac"}, "current"),
        ({"stay_gmm": (1.0, 2.0)}, "stay_gmm"),
    ):
        with pytest.raises(ValueError, match=field):
            dataclasses.replace(dc_fast(), **bad)
    with pytest.raises(ValueError, match="start_hour"):
        BehaviourConfig(start_hour=24.0)
    with pytest.raises(ValueError, match="site_mix"):
        BehaviourConfig(sites={})


def test_faults_are_off_unless_asked() -> None:
    assert BehaviourConfig().faults == FaultRates.none()
    plans = plan_fleet(BehaviourConfig(horizon_s=7 * DAY), 2, range(1, 201))
    assert not any(p.faults or p.offline or p.reboots for p in plans)
