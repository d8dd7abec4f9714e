"""Charger episodes: Faulted spells, offline spells and reboots (PROFILES §5.3), in bulk."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simfleet.behaviour.draws import categorical, lognormal_median
from simfleet.behaviour.profiles import DAY_S, FaultRates, SiteProfile

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class EpisodeDraws:
    """Episodes of a group, sorted by (owner, start); owner = a charger row or a slot."""

    owner: IntArray
    start_s: FloatArray
    duration_s: FloatArray
    code: IntArray  # index into FaultRates.error_codes; -1: none


def _poisson_starts(
    rng: np.random.Generator, rate_per_day: float, owners: int, horizon_s: float
) -> tuple[IntArray, FloatArray]:
    counts = rng.poisson(rate_per_day * horizon_s / DAY_S, size=owners)
    owner = np.repeat(np.arange(owners, dtype=np.intp), counts)
    return owner, rng.random(owner.size) * horizon_s


def _sorted_episodes(
    owner: IntArray, start: FloatArray, duration: FloatArray, code: IntArray
) -> EpisodeDraws:
    order = np.lexsort((start, owner))
    return EpisodeDraws(owner[order], start[order], duration[order], code[order])


def sample_faults(
    rates: FaultRates, profile: SiteProfile, rng: np.random.Generator, slots: int, horizon_s: float
) -> EpisodeDraws:
    """Faulted episodes per connector (Poisson over [0, horizon)); remote fix or site visit."""
    dc = profile.current == "DC"
    rate = rates.faulted_per_connector_day_dc if dc else rates.faulted_per_connector_day_ac
    owner, start = _poisson_starts(rng, rate, slots, horizon_s)
    n = owner.size
    remote = rng.random(n) < rates.remote_fix_share
    z = rng.standard_normal(n)
    duration = np.where(
        remote,
        lognormal_median(rates.remote_fix_median_s, rates.remote_fix_sigma, z),
        lognormal_median(rates.site_visit_median_s, rates.site_visit_sigma, z),
    )
    code = categorical(rng, rates.error_code_shares, n)
    return _sorted_episodes(owner, start, duration, code)


def sample_offline(
    rates: FaultRates, rng: np.random.Generator, chargers: int, horizon_s: float
) -> EpisodeDraws:
    """Offline spells per charger: a short (WebSocket drop) / long (router) lognormal mix."""
    owner, start = _poisson_starts(rng, rates.offline_per_charger_day, chargers, horizon_s)
    n = owner.size
    short = rng.random(n) < rates.offline_short_share
    z = rng.standard_normal(n)
    duration = np.where(
        short,
        lognormal_median(rates.offline_short_median_s, rates.offline_short_sigma, z),
        lognormal_median(rates.offline_long_median_s, rates.offline_long_sigma, z),
    )
    return _sorted_episodes(owner, start, duration, np.full(n, -1, dtype=np.intp))


def sample_reboots(
    rates: FaultRates, rng: np.random.Generator, chargers: int, horizon_s: float
) -> EpisodeDraws:
    owner, start = _poisson_starts(rng, rates.reboot_per_charger_day, chargers, horizon_s)
    boot = lognormal_median(rates.boot_median_s, rates.boot_sigma, rng.standard_normal(owner.size))
    return _sorted_episodes(owner, start, boot, np.full(owner.size, -1, dtype=np.intp))
