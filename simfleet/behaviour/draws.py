"""Distribution samplers: vectorised draws of vehicles, stays, energies and authorization.

Each takes an explicit `numpy.random.Generator` and a count and returns arrays; none loops over
values. Defaults and their sources live in `profiles`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simfleet.behaviour.profiles import GMM_ROW, SiteProfile, VehicleMix

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

HOUR_S = 3600.0
#: AC supply voltage per phase, PROFILES §3.1 [C]
PHASE_VOLTAGE = 230.0
#: AC initial SoC bounds: soc_start = clip(1 - E/C, 0.05, 0.95), §3.2 (EV2GYM) [C]
AC_SOC_MIN, AC_SOC_MAX = 0.05, 0.95
#: DC: a Beta start above its target is lowered to target - this, so every visit charges [A]
DC_MIN_SOC_GAP = 0.05


def categorical(
    rng: np.random.Generator, shares: Sequence[float], size: int | tuple[int, ...]
) -> IntArray:
    """Indices into `shares` (normalised), drawn by inverse CDF from one uniform each."""
    cumulative = np.cumsum(np.asarray(shares, dtype=np.float64))
    cumulative /= cumulative[-1]
    picks = np.searchsorted(cumulative, rng.random(size), side="right")
    return np.minimum(picks, len(cumulative) - 1)


def lognormal_median(median: float | FloatArray, sigma: float, z: FloatArray) -> FloatArray:
    return np.asarray(median * np.exp(sigma * z), dtype=np.float64)


def lognormal_mean_cv(mean: FloatArray, cv: float, z: FloatArray) -> FloatArray:
    """Lognormal variates with the given mean and coefficient of variation, from N(0, 1) `z`:
    sigma^2 = ln(1 + cv^2), mu = ln(mean) - sigma^2 / 2 (PROFILES §2.2)."""
    sigma2 = math.log1p(cv * cv)
    return np.asarray(np.exp(np.log(mean) - sigma2 / 2 + math.sqrt(sigma2) * z), dtype=np.float64)


def cyclic_interp(hour: FloatArray, hours: Sequence[float], values: Sequence[float]) -> FloatArray:
    """A by-arrival-hour table read at `hour`, linear between rows and across midnight."""
    table = np.interp(hour, np.asarray(hours), np.asarray(values), period=24.0)
    return np.asarray(table, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class VehicleDraws:
    model: IntArray  # index into VehicleMix.models
    battery_wh: FloatArray
    ac_max_w: FloatArray
    ac_phases: IntArray
    taper_soc: FloatArray
    dc_curve: IntArray


def sample_vehicles(mix: VehicleMix, rng: np.random.Generator, n: int) -> VehicleDraws:
    model = categorical(rng, mix.weights, n)
    ac = categorical(rng, mix.ac_limit_shares, n)
    return VehicleDraws(
        model=model,
        battery_wh=np.asarray(mix.battery_kwh, dtype=np.float64)[model] * 1000.0,
        ac_max_w=np.asarray(mix.ac_limit_w, dtype=np.float64)[ac],
        ac_phases=np.asarray(mix.ac_phases, dtype=np.intp)[ac],
        taper_soc=rng.uniform(mix.taper_soc_low, mix.taper_soc_high, n),
        dc_curve=categorical(rng, mix.dc_curve_shares, n),
    )


def gmm_ln_stay(gmm: Sequence[float], hour: FloatArray, u: FloatArray, z: FloatArray) -> FloatArray:
    """ln(stay h) from a bivariate normal mixture on (arrival hour, ln stay), conditional on the
    arrival hour (PROFILES §1.3): component j with probability proportional to
    w_j N(hour; ma_j, sa_j), then N(md_j + rho_j sd_j / sa_j (hour - ma_j), sd_j sqrt(1 - rho_j^2)).
    `u` ~ U(0, 1) picks the component, `z` ~ N(0, 1) the value."""
    w, ma, sa, md, sd, rho = np.asarray(gmm, dtype=np.float64).reshape(-1, GMM_ROW).T
    x = hour[:, None]
    log_resp = np.log(w) - np.log(sa) - 0.5 * ((x - ma) / sa) ** 2
    resp = np.exp(log_resp - log_resp.max(axis=1, keepdims=True))
    cumulative = np.cumsum(resp, axis=1)
    j = np.minimum((u[:, None] * cumulative[:, -1:] > cumulative).sum(axis=1), w.size - 1)
    mean = md[j] + rho[j] * sd[j] / sa[j] * (hour - ma[j])
    return np.asarray(mean + sd[j] * np.sqrt(1.0 - rho[j] ** 2) * z, dtype=np.float64)


def sample_stay_s(profile: SiteProfile, hour: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Planned connection time (s) by arrival hour; NaN for "until_full" (DC) sites."""
    n = hour.size
    if profile.stay_model == "gmm":
        u = rng.random(n)
        return np.exp(gmm_ln_stay(profile.stay_gmm, hour, u, rng.standard_normal(n))) * HOUR_S
    if profile.stay_model == "lognormal_by_hour":
        mean_h = cyclic_interp(hour, profile.stay_table_hours, profile.stay_table_mean_h)
        return lognormal_mean_cv(mean_h, profile.stay_cv, rng.standard_normal(n)) * HOUR_S
    return np.full(n, np.nan)


@dataclass(frozen=True, slots=True)
class EnergyDraws:
    energy_wh: FloatArray
    soc_start: FloatArray
    soc_target: FloatArray


def sample_energy(
    profile: SiteProfile, hour: FloatArray, battery_wh: FloatArray, rng: np.random.Generator
) -> EnergyDraws:
    """Wanted energy and SoC window. "soc" (DC, §3.2): Beta start, target by shares, energy =
    window x battery. Otherwise energy is drawn (kWh) and the AC rule of §3.2 gives the SoC:
    soc_start = clip(1 - E/C, 0.05, 0.95), soc_target = min(1, soc_start + E/C)."""
    n = hour.size
    if profile.energy_model == "soc":
        start = rng.beta(profile.soc_beta_a, profile.soc_beta_b, n)
        targets = np.asarray(profile.soc_targets, dtype=np.float64)
        target = targets[categorical(rng, profile.soc_target_shares, n)]
        start = np.minimum(start, target - DC_MIN_SOC_GAP)
        return EnergyDraws((target - start) * battery_wh, start, target)
    z = rng.standard_normal(n)
    if profile.energy_model == "lognormal":
        kwh = np.exp(profile.energy_mu + profile.energy_sigma * z)
    else:
        mean = cyclic_interp(hour, profile.energy_table_hours, profile.energy_table_mean_kwh)
        kwh = lognormal_mean_cv(mean, profile.energy_cv, z)
    energy = kwh * 1000.0
    share = energy / battery_wh
    start = np.clip(1.0 - share, AC_SOC_MIN, AC_SOC_MAX)
    return EnergyDraws(energy, start, np.minimum(1.0, start + share))


@dataclass(frozen=True, slots=True)
class AuthDraws:
    method: IntArray  # AuthMethod values
    delay_s: FloatArray  # plug-in -> first Authorize, and between retries
    attempts: IntArray  # tokens presented, 1..max_auth_attempts
    accepted: BoolArray  # the last token presented is accepted
    failed: IntArray  # (n, max_auth_attempts): AuthOutcome of each failed attempt, in order
    no_plug: BoolArray


def sample_auth(profile: SiteProfile, rng: np.random.Generator, n: int) -> AuthDraws:
    """Method by shares; delay LN(median by method, sigma); the first token fails with
    first_attempt_fail, each retry succeeds with retry_success, up to max_auth_attempts; a
    failed token's status is drawn from the non-Accepted part of auth_outcome_shares."""
    method = categorical(rng, profile.auth_method_shares, n)
    medians = np.asarray(profile.auth_delay_median_s, dtype=np.float64)[method]
    delay = lognormal_median(medians, profile.auth_delay_sigma, rng.standard_normal(n))
    k = profile.max_auth_attempts
    u = rng.random((n, k))
    ok = np.empty((n, k), dtype=np.bool_)
    ok[:, 0] = u[:, 0] >= profile.first_attempt_fail
    ok[:, 1:] = u[:, 1:] < profile.retry_success
    accepted = np.asarray(ok.any(axis=1), dtype=np.bool_)
    attempts = np.where(accepted, ok.argmax(axis=1) + 1, k)
    failed = 1 + categorical(rng, profile.auth_outcome_shares[1:], (n, k))
    no_plug = rng.random(n) < profile.no_plug_share
    return AuthDraws(method, delay, attempts, accepted, failed, no_plug)


def _ac_power_w(
    profile: SiteProfile, vehicle_max_w: FloatArray, vehicle_phases: IntArray
) -> FloatArray:
    """AC power: the lower per-phase current of car and charger, on the phases both have."""
    car_amps = vehicle_max_w / (PHASE_VOLTAGE * vehicle_phases)
    charger_amps = profile.max_power_w / (PHASE_VOLTAGE * profile.phases)
    phases = np.minimum(vehicle_phases, profile.phases)
    return np.asarray(PHASE_VOLTAGE * np.minimum(car_amps, charger_amps) * phases, np.float64)


def charge_estimate_s(
    profile: SiteProfile,
    soc_window_wh: FloatArray,
    battery_wh: FloatArray,
    vehicle_max_w: FloatArray,
    vehicle_phases: IntArray,
    dc_curve: IntArray,
) -> FloatArray:
    """Rough charging time, for planning only (the physics layer does the real curve).

    DC: window / min(charger max, c * battery), c = dc_estimate_c_rate of the curve family
    (CALDERA session-mean p.u. power, see profiles). AC: window / the AC power, no taper."""
    if profile.current == "DC":
        c_rate = np.asarray(profile.dc_estimate_c_rate, dtype=np.float64)[dc_curve]
        power = np.minimum(profile.max_power_w, c_rate * battery_wh)
    else:
        power = _ac_power_w(profile, vehicle_max_w, vehicle_phases)
    return np.asarray(soc_window_wh / power * HOUR_S, dtype=np.float64)
