"""Bulk numpy sampling of charger plans: arrivals, stays, energy, vehicles, auth and faults.

`plan_fleet(config, seed, indices)` returns one `ChargerPlan` per charger. Every random number is
drawn in bulk from a generator keyed by (purpose tag, block of SEED_BLOCK charger indices, site
type), always for the whole block, so a charger's plan depends only on the seed, the config and
its index: not on which other chargers are planned with it (one worker or an interleaved shard).

Calendar: t = 0 is `start_hour` (local time) on a Monday when `day_type` is WEEKDAY, on a Saturday
when it is WEEKEND; days then follow the week (Saturday and Sunday are weekend days). Arrivals
are sampled over [-warm_start_s, horizon_s) so connectors are already busy at t = 0: visits that
end before 0 are dropped, visits in progress at 0 are kept (negative `arrive_s`).

Arrivals are a non-homogeneous Poisson process per connector (PROFILES §1.1): a Poisson count per
local hour with mean `sessions_per_day * share(hour)` and uniform times inside the hour. An
arrival that finds its connector occupied (or faulted) balks, so the sessions served per
connector are fewer than the profile's (arrival) rate at busy sites.

Visit semantics: AC visits carry a planned `depart_s`; a DC visit that charges normally has
`depart_s` NaN (it leaves `dwell_s` after full). A visit that never charges leaves early and has
a finite `depart_s` at any site: `no_plug` -> auth time + `no_plug_hold_s`; every token
rejected -> auth time + `dwell_s`; at DC also a start failure (auth time + dwell) and a
mid-session stop (`stop_early_s` + dwell). For occupancy the planner needs a DC departure
estimate: auth time + `charge_estimate_s` + dwell (`occupied_until` gives it per visit).
Faults, offline spells and reboots are Poisson over [0, horizon_s); an episode that starts while
an earlier one of the same connector (faults) or charger still lasts is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from simfleet.behaviour.draws import (
    AuthDraws,
    EnergyDraws,
    VehicleDraws,
    categorical,
    charge_estimate_s,
    lognormal_median,
    sample_auth,
    sample_energy,
    sample_stay_s,
    sample_vehicles,
)
from simfleet.behaviour.episodes import (
    EpisodeDraws,
    sample_faults,
    sample_offline,
    sample_reboots,
)
from simfleet.behaviour.model import (
    AuthMethod,
    AuthOutcome,
    ChargerPlan,
    DayType,
    Episode,
    SiteType,
    Vehicle,
    Visit,
)
from simfleet.behaviour.plans import SEED_BLOCK
from simfleet.behaviour.profiles import (
    DAY_S,
    HOURLY_SHARES,
    FaultRates,
    SiteProfile,
    VehicleMix,
    default_sites,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

HOUR_S = 3600.0
#: `site_of` answers indices into this tuple.
SITE_TYPES: tuple[SiteType, ...] = tuple(SiteType)
#: Day of week of t = 0 (Monday = 0); days 5 and 6 (Saturday, Sunday) are weekend days.
START_WEEKDAY = {DayType.WEEKDAY: 0, DayType.WEEKEND: 5}

#: Share of each site type in the fleet [A]: no published fleet mix; a scenario sets its own.
DEFAULT_SITE_MIX: tuple[tuple[SiteType, float], ...] = (
    (SiteType.WORKPLACE_AC, 0.3),
    (SiteType.PUBLIC_AC, 0.4),
    (SiteType.RESIDENTIAL, 0.2),
    (SiteType.DC_FAST, 0.1),
)


class _Tag(IntEnum):
    """One random stream per purpose: changing one model leaves the others' draws alone."""

    SITE = 1
    ARRIVAL = 2
    VEHICLE = 3
    ENERGY = 4
    STAY = 5
    AUTH = 6
    OUTCOME = 7
    FAULT = 8
    OFFLINE = 9
    REBOOT = 10


@dataclass(frozen=True, slots=True)
class BehaviourConfig:
    """What to sample. `site_mix` is a tuple of (site type, share) pairs; shares need not sum
    to 1 (they are normalised) and every listed site type needs a profile in `sites`."""

    site_mix: tuple[tuple[SiteType, float], ...] = DEFAULT_SITE_MIX
    sites: Mapping[SiteType, SiteProfile] = field(default_factory=default_sites)
    vehicles: VehicleMix = field(default_factory=VehicleMix)
    faults: FaultRates = field(default_factory=FaultRates.none)
    start_hour: float = 0.0  # local time of day at t = 0, in [0, 24)
    day_type: DayType = DayType.WEEKDAY  # the day at t = 0: Monday (weekday) or Saturday
    horizon_s: float = DAY_S  # simulated seconds the run covers
    warm_start_s: float = 2 * DAY_S  # arrivals are sampled from -warm_start_s

    def __post_init__(self) -> None:
        if not 0.0 <= self.start_hour < 24.0:
            raise ValueError(f"start_hour must be in [0, 24), got {self.start_hour}")
        if not self.horizon_s > 0:
            raise ValueError(f"horizon_s must be > 0, got {self.horizon_s}")
        if not self.warm_start_s >= 0:
            raise ValueError(f"warm_start_s must be >= 0, got {self.warm_start_s}")
        shares = [share for _, share in self.site_mix]
        if not shares or min(shares) < 0 or sum(shares) <= 0:
            raise ValueError(f"site_mix needs non-negative shares with a positive sum: {shares}")
        missing = {site for site, _ in self.site_mix} - set(self.sites)
        if missing:
            raise ValueError(f"site_mix names site types without a profile: {sorted(missing)}")


# ---------------------------------------------------------------------------------------------
# generators and small helpers
# ---------------------------------------------------------------------------------------------


def _rng(seed: int, tag: _Tag, block: int, site: int | None = None) -> np.random.Generator:
    key = (int(tag), block) if site is None else (int(tag), block, site)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def local_hour(config: BehaviourConfig, t_s: FloatArray) -> FloatArray:
    """Local time of day (hours, [0, 24)) of simulated times."""
    return np.asarray(np.mod(config.start_hour + t_s / HOUR_S, 24.0), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# sites
# ---------------------------------------------------------------------------------------------


def _block_sites(config: BehaviourConfig, seed: int, block: int) -> IntArray:
    """Site (index into SITE_TYPES) of every charger index of one block."""
    picks = categorical(_rng(seed, _Tag.SITE, block), [s for _, s in config.site_mix], SEED_BLOCK)
    lookup = np.array([SITE_TYPES.index(site) for site, _ in config.site_mix], dtype=np.intp)
    return lookup[picks]


def site_of(config: BehaviourConfig, seed: int, indices: Sequence[int]) -> IntArray:
    """Each charger's site type as an index into `SITE_TYPES`, drawn per SEED_BLOCK block."""
    index_array = np.asarray(indices, dtype=np.intp)
    out = np.empty(index_array.size, dtype=np.intp)
    blocks = index_array // SEED_BLOCK
    for block in np.unique(blocks).tolist():
        rows = blocks == block
        out[rows] = _block_sites(config, seed, block)[index_array[rows] - block * SEED_BLOCK]
    return out


# ---------------------------------------------------------------------------------------------
# arrivals
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HourBins:
    """The local hours covering [-warm_start_s, horizon_s)."""

    start_s: FloatArray  # simulated time at the start of each hour
    hour: IntArray  # local hour of day, 0..23
    weekend: BoolArray


def hour_bins(config: BehaviourConfig) -> HourBins:
    first = math.floor(config.start_hour - config.warm_start_s / HOUR_S)
    end = math.ceil(config.start_hour + config.horizon_s / HOUR_S)
    k = np.arange(first, end, dtype=np.intp)  # hours since midnight of day 0
    weekday = (START_WEEKDAY[config.day_type] + k // 24) % 7
    start_s = np.asarray((k - config.start_hour) * HOUR_S, dtype=np.float64)
    return HourBins(start_s=start_s, hour=k % 24, weekend=weekday >= 5)


def hourly_rate(profile: SiteProfile, bins: HourBins) -> FloatArray:
    """Expected arrivals per connector in each hour bin (shares normalised to sum 1)."""
    weekday = np.asarray(HOURLY_SHARES[profile.hourly_weekday], dtype=np.float64)
    weekend = np.asarray(HOURLY_SHARES[profile.hourly_weekend], dtype=np.float64)
    weekday *= profile.sessions_weekday / weekday.sum()
    weekend *= profile.sessions_weekend / weekend.sum()
    return np.where(bins.weekend, weekend[bins.hour], weekday[bins.hour])


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Candidate arrivals of a group of chargers, sorted by (slot, time).

    slot = charger row * connectors + (connector_id - 1)."""

    slot: IntArray
    arrive_s: FloatArray


def sample_arrivals(
    rng: np.random.Generator, rate: FloatArray, bins: HourBins, slots: int, lo: float, hi: float
) -> Arrivals:
    """NHPP per slot: Poisson count per hour bin, uniform time in the bin; kept in [lo, hi)."""
    counts = rng.poisson(rate, size=(slots, rate.size))
    flat = np.repeat(np.arange(counts.size, dtype=np.intp), counts.ravel())
    slot, hour_bin = np.divmod(flat, rate.size)
    arrive = bins.start_s[hour_bin] + rng.random(flat.size) * HOUR_S
    keep = (arrive >= lo) & (arrive < hi)
    slot, arrive = slot[keep], arrive[keep]
    order = np.lexsort((arrive, slot))
    return Arrivals(slot=slot[order], arrive_s=arrive[order])


# ---------------------------------------------------------------------------------------------
# per-visit draws
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VisitDraws:
    """Everything about each candidate visit of a group, as arrays of one length."""

    arrive_s: FloatArray
    vehicles: VehicleDraws
    energy: EnergyDraws
    stay_s: FloatArray
    dwell_s: FloatArray
    auth: AuthDraws
    start_fails: BoolArray
    stop_early_s: FloatArray
    depart_s: FloatArray  # NaN: leaves dwell_s after full
    end_s: FloatArray  # when the connector is free again (DC: an estimate)


def _session_ends(
    profile: SiteProfile,
    arrive: FloatArray,
    auth: AuthDraws,
    charge_s: FloatArray,
    dwell: FloatArray,
    stay: FloatArray,
    start_fails: BoolArray,
    stop_early: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """(depart_s, end_s). A visit that never charges leaves early: no plug -> after the
    ConnectionTimeOut hold; every token rejected -> dwell after the last attempt. At an AC site
    the driver has walked away, so a start failure or a stop keeps the planned departure; at a
    DC site (until_full) the driver waits and leaves dwell_s after it."""
    auth_end = arrive + auth.delay_s * auth.attempts
    early = np.where(auth.no_plug, auth_end + profile.no_plug_hold_s, auth_end + dwell)
    gives_up = auth.no_plug | ~auth.accepted
    if profile.stay_model != "until_full":
        depart = np.where(gives_up, early, arrive + stay)
        return depart, depart
    stopped = ~np.isnan(stop_early)
    depart = np.where(gives_up | start_fails, early, np.nan)
    depart = np.where(stopped, arrive + stop_early + dwell, depart)
    return depart, np.where(np.isnan(depart), auth_end + charge_s + dwell, depart)


def sample_visits(
    profile: SiteProfile,
    config: BehaviourConfig,
    arrive: FloatArray,
    rngs: Mapping[_Tag, np.random.Generator],
) -> VisitDraws:
    n = arrive.size
    hour = local_hour(config, arrive)
    vehicles = sample_vehicles(config.vehicles, rngs[_Tag.VEHICLE], n)
    energy = sample_energy(profile, hour, vehicles.battery_wh, rngs[_Tag.ENERGY])
    stay = sample_stay_s(profile, hour, rngs[_Tag.STAY])
    dwell = lognormal_median(
        profile.dwell_median_s, profile.dwell_sigma, rngs[_Tag.STAY].standard_normal(n)
    )
    auth = sample_auth(profile, rngs[_Tag.AUTH], n)
    outcome = rngs[_Tag.OUTCOME].random((n, 3))
    start_fails = auth.accepted & ~auth.no_plug & (outcome[:, 0] < profile.start_failure)
    window_wh = (energy.soc_target - energy.soc_start) * vehicles.battery_wh
    charge_s = charge_estimate_s(
        profile,
        window_wh,
        vehicles.battery_wh,
        vehicles.ac_max_w,
        vehicles.ac_phases,
        vehicles.dc_curve,
    )
    # mid-session stop: uniform over the estimated charging time (AC: within the stay)
    auth_time = auth.delay_s * auth.attempts
    window_s = (
        charge_s if profile.stay_model == "until_full" else np.fmin(charge_s, stay - auth_time)
    )
    stops = (
        auth.accepted & ~auth.no_plug & ~start_fails & (outcome[:, 1] < profile.mid_session_stop)
    )
    stops &= window_s > 0
    stop_early = np.where(stops, auth_time + outcome[:, 2] * window_s, np.nan)
    depart, end = _session_ends(
        profile, arrive, auth, charge_s, dwell, stay, start_fails, stop_early
    )
    return VisitDraws(
        arrive, vehicles, energy, stay, dwell, auth, start_fails, stop_early, depart, end
    )


def occupied_until(visit: Visit, profile: SiteProfile) -> float:
    """When the planner expected `visit`'s connector to be free again (its departure, or for a
    DC visit that leaves when full: the charging-time estimate plus dwell)."""
    if not math.isnan(visit.depart_s):
        return visit.depart_s
    vehicle = visit.vehicle
    charge = charge_estimate_s(
        profile,
        np.array([(visit.soc_target - visit.soc_start) * vehicle.battery_wh]),
        np.array([vehicle.battery_wh]),
        np.array([vehicle.ac_max_w]),
        np.array([vehicle.ac_phases], dtype=np.intp),
        np.array([vehicle.dc_curve], dtype=np.intp),
    )
    auth_end = visit.arrive_s + visit.auth_delay_s * len(visit.auth_attempts)
    return float(auth_end + charge[0] + visit.dwell_s)


# ---------------------------------------------------------------------------------------------
# faults, offline spells, reboots
# ---------------------------------------------------------------------------------------------


class _EpisodeColumns:
    """Episode draws as Python lists with each owner's bounds, to build Episodes quickly."""

    def __init__(self, draws: EpisodeDraws, owners: int, codes: tuple[str, ...]) -> None:
        self.bounds = np.searchsorted(draws.owner, np.arange(owners + 1)).tolist()
        self.start = draws.start_s.tolist()
        self.duration = draws.duration_s.tolist()
        self.code = [codes[c] if c >= 0 else "" for c in draws.code.tolist()]

    def of(self, owner: int, connector_id: int = 0) -> tuple[Episode, ...]:
        """One owner's episodes, dropping any that starts while an earlier one still lasts."""
        lo, hi = self.bounds[owner], self.bounds[owner + 1]
        if lo == hi:
            return ()
        episodes: list[Episode] = []
        free_at = -math.inf
        for k in range(lo, hi):
            start, duration = self.start[k], self.duration[k]
            if start >= free_at:
                free_at = start + duration
                episodes.append(Episode(start, duration, connector_id, self.code[k]))
        return tuple(episodes)


# ---------------------------------------------------------------------------------------------
# assembling plans
# ---------------------------------------------------------------------------------------------


_METHODS = tuple(AuthMethod)
_OUTCOMES = tuple(AuthOutcome)
_ACCEPTED_FIRST = (AuthOutcome.ACCEPTED,)


class _Columns:
    """The draws of the visits kept (`take`, indices into `draws`) as Python lists."""

    def __init__(self, draws: VisitDraws, take: IntArray) -> None:
        v, e, a = draws.vehicles, draws.energy, draws.auth
        self.arrive = draws.arrive_s[take].tolist()
        self.depart = draws.depart_s[take].tolist()
        self.dwell = draws.dwell_s[take].tolist()
        self.energy = e.energy_wh[take].tolist()
        self.soc_start = e.soc_start[take].tolist()
        self.soc_target = e.soc_target[take].tolist()
        self.vehicle = list(
            zip(
                v.battery_wh[take].tolist(),
                v.ac_max_w[take].tolist(),
                v.ac_phases[take].tolist(),
                v.taper_soc[take].tolist(),
                v.dc_curve[take].tolist(),
                strict=True,
            )
        )
        self.method = a.method[take].tolist()
        self.delay = a.delay_s[take].tolist()
        self.attempts = a.attempts[take].tolist()
        self.accepted = a.accepted[take].tolist()
        self.failed = a.failed[take].tolist()
        self.no_plug = a.no_plug[take].tolist()
        self.start_fails = draws.start_fails[take].tolist()
        self.stop_early = draws.stop_early_s[take].tolist()

    def auth_attempts(self, k: int) -> tuple[AuthOutcome, ...]:
        attempts: int = self.attempts[k]
        if self.accepted[k]:
            if attempts == 1:
                return _ACCEPTED_FIRST
            failed = [_OUTCOMES[s] for s in self.failed[k][: attempts - 1]]
            return (*failed, AuthOutcome.ACCEPTED)
        return tuple(_OUTCOMES[s] for s in self.failed[k][:attempts])

    def visit(self, k: int, connector_id: int) -> Visit:
        return Visit(
            connector_id=connector_id,
            arrive_s=self.arrive[k],
            depart_s=self.depart[k],
            dwell_s=self.dwell[k],
            energy_wh=self.energy[k],
            soc_start=self.soc_start[k],
            soc_target=self.soc_target[k],
            vehicle=Vehicle(*self.vehicle[k]),
            auth_method=_METHODS[self.method[k]],
            auth_attempts=self.auth_attempts(k),
            auth_delay_s=self.delay[k],
            no_plug=self.no_plug[k],
            start_fails=self.start_fails[k],
            stop_early_s=self.stop_early[k],
        )


def _in_any(t: float, episodes: tuple[Episode, ...]) -> bool:
    return any(e.start_s <= t < e.start_s + e.duration_s for e in episodes)


def _occupancy(
    arrive: list[float], end: list[float], lo: int, hi: int, faults: tuple[Episode, ...]
) -> list[int]:
    """The candidates lo..hi-1 of one connector that find it free (not busy, not faulted) and
    are still there at t = 0; the others balk, or were over before the run."""
    kept: list[int] = []
    busy_until = -math.inf
    for k in range(lo, hi):
        if arrive[k] < busy_until or (faults and _in_any(arrive[k], faults)):
            continue
        busy_until = end[k]
        if busy_until > 0.0:
            kept.append(k)
    return kept


@dataclass(frozen=True, slots=True)
class _Group:
    """The chargers of one block that share a site type, and their draws."""

    block: int
    site: int  # index into SITE_TYPES
    rows: IntArray  # rows within the block (charger index - block * SEED_BLOCK)


@dataclass(frozen=True, slots=True)
class _GroupDraws:
    bounds: list[int]  # candidates of slot s: bounds[s]..bounds[s+1]-1
    visits: VisitDraws
    faults: _EpisodeColumns
    offline: _EpisodeColumns
    reboots: _EpisodeColumns


def _sample_group(config: BehaviourConfig, bins: HourBins, seed: int, group: _Group) -> _GroupDraws:
    """All draws of every charger of the group, whichever of them are wanted."""
    profile = config.sites[SITE_TYPES[group.site]]
    rngs: dict[_Tag, np.random.Generator] = {
        tag: _rng(seed, tag, group.block, group.site) for tag in _Tag if tag != _Tag.SITE
    }
    chargers = group.rows.size
    slots = chargers * profile.connectors
    arrivals = sample_arrivals(
        rngs[_Tag.ARRIVAL],
        hourly_rate(profile, bins),
        bins,
        slots,
        -config.warm_start_s,
        config.horizon_s,
    )
    rates, horizon, codes = config.faults, config.horizon_s, config.faults.error_codes
    return _GroupDraws(
        bounds=np.searchsorted(arrivals.slot, np.arange(slots + 1)).tolist(),
        visits=sample_visits(profile, config, arrivals.arrive_s, rngs),
        faults=_EpisodeColumns(
            sample_faults(rates, profile, rngs[_Tag.FAULT], slots, horizon), slots, codes
        ),
        offline=_EpisodeColumns(
            sample_offline(rates, rngs[_Tag.OFFLINE], chargers, horizon), chargers, codes
        ),
        reboots=_EpisodeColumns(
            sample_reboots(rates, rngs[_Tag.REBOOT], chargers, horizon), chargers, codes
        ),
    )


def _plan_group(
    config: BehaviourConfig, bins: HourBins, seed: int, group: _Group, wanted: IntArray
) -> dict[int, ChargerPlan]:
    site = SITE_TYPES[group.site]
    connectors = config.sites[site].connectors
    draws = _sample_group(config, bins, seed, group)
    arrive, end = draws.visits.arrive_s.tolist(), draws.visits.end_s.tolist()
    positions = np.flatnonzero(np.isin(group.rows, wanted)).tolist()
    # occupancy first, on two plain lists; then Visit objects for the kept candidates only
    kept: list[int] = []
    kept_connector: list[int] = []
    spans: list[tuple[int, int, tuple[Episode, ...]]] = []
    for position in positions:
        first = len(kept)
        faults: list[Episode] = []
        for c in range(connectors):
            slot = position * connectors + c
            connector_faults = draws.faults.of(slot, c + 1)
            faults.extend(connector_faults)
            ids = _occupancy(
                arrive, end, draws.bounds[slot], draws.bounds[slot + 1], connector_faults
            )
            kept += ids
            kept_connector += [c + 1] * len(ids)
        spans.append((first, len(kept), tuple(sorted(faults, key=lambda e: e.start_s))))
    columns = _Columns(draws.visits, np.asarray(kept, dtype=np.intp))
    plans: dict[int, ChargerPlan] = {}
    for position, (first, last, faults_of_charger) in zip(positions, spans, strict=True):
        visits = [columns.visit(k, kept_connector[k]) for k in range(first, last)]
        index = group.block * SEED_BLOCK + int(group.rows[position])
        plans[index] = ChargerPlan(
            index=index,
            site=site,
            visits=tuple(sorted(visits, key=lambda v: v.arrive_s)),
            faults=faults_of_charger,
            offline=draws.offline.of(position),
            reboots=draws.reboots.of(position),
        )
    return plans


def plan_fleet(config: BehaviourConfig, seed: int, indices: Sequence[int]) -> list[ChargerPlan]:
    """The plan of each charger (1-based `indices`), in the order given."""
    index_array = np.asarray(indices, dtype=np.intp)
    if index_array.size and index_array.min() < 1:
        raise ValueError(f"charger indices start at 1, got {int(index_array.min())}")
    bins = hour_bins(config)
    plans: dict[int, ChargerPlan] = {}
    blocks = index_array // SEED_BLOCK
    for block in np.unique(blocks).tolist():
        wanted = index_array[blocks == block] - block * SEED_BLOCK
        sites = _block_sites(config, seed, block)
        for site in np.unique(sites[wanted]).tolist():
            group = _Group(block, site, np.flatnonzero(sites == site))
            plans.update(_plan_group(config, bins, seed, group, wanted))
    return [plans[int(index)] for index in indices]
