"""Charging physics of the simulated EVs: power vs state of charge, exact integration, readings.

Pure functions of their arguments: no clock, no randomness (noise is passed in).

Units: power W, energy Wh, time s, SoC a fraction in [0, 1] (percent only in `Readings.soc_pct`
and the DC curve tables), current A, voltage V, temperature °C.

The charging power is a piecewise-linear function of SoC: the vehicle's curve (AC: ACNSIM
`Linear2StageBattery`; DC: the CALDERA per-unit CC-CV curves), capped by a constant limit (the
connector's rating, its current limit, an active charging limit). So dSoC/dt = P(SoC) / capacity
is linear in SoC on each segment and has a closed form there: constant power gives a linear
ramp, P = p + k*(s - s0) gives P(t) = p*exp(k*t / E) (E = capacity in J per unit SoC). `advance`
and `time_to_reach` chain these closed forms segment by segment: exact up to float rounding, so
one long step equals many short ones and a session stops exactly at its target SoC.

Simplification: the meter is taken to measure what goes into the battery: on-board charger and
DC converter losses are ignored (PROFILES.md §3.1 notes Power.Active.Import ≈ battery power /
OBC efficiency), so energy_wh = ΔSoC * battery_wh exactly.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simfleet.behaviour.model import Vehicle

Array = NDArray[np.float64]
#: A piecewise-linear power curve cut into segments: (soc_lo, soc_hi, power_lo_w, power_hi_w).
Segment = tuple[float, float, float, float]

#: PROFILES.md §3.1: EU phase voltage; AC power = phases * 230 V * current. [C]
AC_VOLTAGE_V: Final = 230.0
#: IEC 61851 PWM: an EVSE cannot offer less than 6 A per phase (PROFILES.md §3.1). [C]
MIN_CURRENT_A: Final = 6.0
#: [A] The linear AC taper (ACNSIM) only approaches 100 % asymptotically (the time to 100 % is
#: infinite); the BMS is taken to end the charge here, when the draw is 2.5 % of its maximum.
AC_FULL_SOC: Final = 0.995
#: [A] Nominal DC pack voltage V = 350 V + 100 V * SoC (a 400 V-class pack; 800 V cars not
#: modelled). Used only to turn DC power into the reported current.
DC_VOLTAGE_EMPTY_V: Final = 350.0
DC_VOLTAGE_SPAN_V: Final = 100.0
#: [A] Steady-state temperature (AC: connector/cable, DC: battery): ambient plus a rise
#: proportional to the share of the connector's rated power in use; no thermal time constant.
AMBIENT_C: Final = 25.0
TEMPERATURE_RISE_C: Final = 20.0
_J_PER_WH: Final = 3600.0


@dataclass(frozen=True, slots=True)
class PuCurve:
    """A per-unit DC curve: P[kW] = p.u. * battery kWh (so P[W] = p.u. * battery Wh)."""

    name: str
    soc_pct: tuple[float, ...]  # ascending, 0 to 100
    pu: tuple[float, ...]


#: CALDERA `factory_SOC_vs_P2.cpp`, NMC families, as in PROFILES.md §3.3; index = Vehicle.dc_curve.
DC_CURVES: Final = (
    PuCurve("NMC 1C", (0.0, 4.0, 10.0, 88.0, 100.0), (0.917, 1.048, 1.095, 1.250, 0.060)),
    PuCurve(
        "NMC 2C", (0.0, 3.0, 10.0, 78.5, 93.0, 100.0), (1.750, 2.000, 2.143, 2.417, 0.595, 0.060)
    ),
    PuCurve(
        "NMC 3C", (0.0, 3.0, 10.0, 67.0, 93.0, 100.0), (2.798, 3.167, 3.393, 3.750, 0.595, 0.060)
    ),
)


@dataclass(frozen=True, slots=True)
class Readings:
    """What the meter reports at one instant (PROFILES.md §3.4)."""

    power_w: float  # Power.Active.Import
    #: Current.Import: AC one value per EVSE phase (L1, L2, L3; 0 on phases the car does not
    #: load); DC a single value (no phase).
    current_a: tuple[float, ...]
    voltage_v: float  # Voltage: AC L-N (every phase), DC pack voltage
    current_offered_a: float  # Current.Offered: AC per phase, DC amps at the pack voltage
    power_offered_w: float  # Power.Offered
    soc_pct: float  # SoC
    temperature_c: float  # Temperature


@dataclass(frozen=True, slots=True)
class ChargeModel:
    """One EV on one connector. Build with `ac_model` or `dc_model`.

    `soc_pts`/`power_pts` are the vehicle's own curve (already limited by the phases it can use),
    `limit_w` the connector's constant limit, `min_w` the least the connector can offer.
    Every `cap_w` argument is an active charging limit in W (smart charging; convert amps with
    `watts_for_current`): `math.inf` when there is none (not NaN).
    """

    dc: bool
    battery_wh: float
    soc_pts: tuple[float, ...]  # ascending, from 0.0 to 1.0
    power_pts: tuple[float, ...]  # W at soc_pts
    limit_w: float  # connector rating (AC: also phases * 230 V * max current)
    min_w: float  # AC: 6 A per loaded phase (IEC 61851); DC: 0
    full_soc: float  # the BMS ends the charge here
    phases: int  # AC: phases loaded (L1..Ln); DC: 0
    evse_phases: int  # AC: phases the connector reports; DC: 0

    def watts_for_current(self, current_a: float) -> float:
        """AC: the power of `current_a` per loaded phase (for limits given in amps)."""
        return current_a * self.phases * AC_VOLTAGE_V

    def offered_w(self, cap_w: float = math.inf) -> float:
        """What the connector offers under `cap_w` (W): 0 below the IEC 61851 minimum."""
        limit = min(self.limit_w, cap_w)
        return limit if limit > 0.0 and limit >= self.min_w else 0.0

    def can_charge(self, cap_w: float = math.inf) -> bool:
        """False if `cap_w` leaves under 6 A per phase (AC): the EV cannot draw (SuspendedEVSE)."""
        return self.offered_w(cap_w) > 0.0

    def power_w(self, soc: float, cap_w: float = math.inf) -> float:
        """Power into the car at `soc` under `cap_w` (an active limit in W; inf: none)."""
        limit = self.offered_w(cap_w)
        if limit <= 0.0 or soc >= self.full_soc:
            return 0.0
        return min(_interp(_clip01(soc), self.soc_pts, self.power_pts), limit)

    def advance(
        self, soc: float, dt_s: float, cap_w: float = math.inf, soc_target: float = 1.0
    ) -> tuple[float, float]:
        """Charge for `dt_s` seconds from `soc`: (new SoC, energy Wh into the battery).

        Exact (closed form per segment). Stops exactly at min(soc_target, full_soc), so the
        energy never exceeds (soc_target - soc) * battery_wh.
        """
        if not math.isfinite(dt_s):
            raise ValueError(f"dt_s must be finite, not {dt_s}")
        start = _clip01(soc)
        target = min(soc_target, self.full_soc)
        if dt_s <= 0.0 or start >= target or not self.can_charge(cap_w):
            return start, 0.0
        s, remaining = start, dt_s
        e_j = self.battery_wh * _J_PER_WH
        for lo, hi, p_lo, p_hi in _segments(self, cap_w):
            end = min(hi, target)
            if s >= end:
                continue
            k = (p_hi - p_lo) / (hi - lo)
            p = p_lo + k * (s - lo)
            t = _segment_time(p, k, end - s, e_j)
            if t > remaining:
                s = min(max(s + _segment_ds(p, k, remaining, e_j), s), end)
                break
            s, remaining = end, remaining - t
            if s >= target:
                break
        return s, (s - start) * self.battery_wh

    def time_to_reach(self, soc: float, soc_target: float, cap_w: float = math.inf) -> float:
        """Seconds until the charge ends at min(soc_target, full_soc); inf if it never does."""
        s = _clip01(soc)
        target = min(soc_target, self.full_soc)
        if s >= target:
            return 0.0
        if not self.can_charge(cap_w):
            return math.inf
        e_j = self.battery_wh * _J_PER_WH
        total = 0.0
        for lo, hi, p_lo, p_hi in _segments(self, cap_w):
            end = min(hi, target)
            if s >= end:
                continue
            k = (p_hi - p_lo) / (hi - lo)
            total += _segment_time(p_lo + k * (s - lo), k, end - s, e_j)
            s = end
        return total

    def readings(
        self,
        soc: float,
        cap_w: float = math.inf,
        voltage_noise_v: float = 0.0,
        drawing: bool = True,
    ) -> Readings:
        """Meter readings at `soc`; `drawing=False` when the EV is not taking power (suspended).

        `voltage_noise_v` is added to the reported voltage only (the caller draws it); currents
        use the nominal voltage, as the power model does.
        """
        power = self.power_w(soc, cap_w) if drawing else 0.0
        offered = self.offered_w(cap_w)
        load = power / self.limit_w if self.limit_w > 0.0 else 0.0
        temperature = AMBIENT_C + TEMPERATURE_RISE_C * load
        if self.dc:
            volts = dc_voltage_v(soc)
            return Readings(
                power_w=power,
                current_a=(power / volts,),
                voltage_v=volts + voltage_noise_v,
                current_offered_a=offered / volts,
                power_offered_w=offered,
                soc_pct=100.0 * _clip01(soc),
                temperature_c=temperature,
            )
        per_phase = power / (AC_VOLTAGE_V * self.phases)
        currents = tuple(per_phase if i < self.phases else 0.0 for i in range(self.evse_phases))
        return Readings(
            power_w=power,
            current_a=currents,
            voltage_v=AC_VOLTAGE_V + voltage_noise_v,
            current_offered_a=offered / (AC_VOLTAGE_V * self.phases),
            power_offered_w=offered,
            soc_pct=100.0 * _clip01(soc),
            temperature_c=temperature,
        )


# -- building models -------------------------------------------------------------------------


def ac_model(
    vehicle: Vehicle, evse_max_w: float, evse_max_a: float = 32.0, evse_phases: int = 3
) -> ChargeModel:
    """AC charging (PROFILES.md §3.1; ACNSIM Linear2StageBattery).

    The car loads n = min(vehicle.ac_phases, evse_phases) phases at most at its own per-phase
    current (ac_max_w / (ac_phases * 230 V)): a 3-phase 11 kW car on a 1-phase socket draws
    16 A on L1. Its power is constant below taper_soc, then falls linearly to 0 at 100 %.
    """
    phases = max(1, min(vehicle.ac_phases, evse_phases))
    vehicle_w = vehicle.ac_max_w * phases / vehicle.ac_phases
    taper = min(max(vehicle.taper_soc, 0.0), 1.0)
    soc_pts: tuple[float, ...]
    power_pts: tuple[float, ...]
    if taper >= 1.0:
        soc_pts, power_pts = (0.0, 1.0), (vehicle_w, vehicle_w)
    elif taper <= 0.0:
        soc_pts, power_pts = (0.0, 1.0), (vehicle_w, 0.0)
    else:
        soc_pts, power_pts = (0.0, taper, 1.0), (vehicle_w, vehicle_w, 0.0)
    return ChargeModel(
        dc=False,
        battery_wh=vehicle.battery_wh,
        soc_pts=soc_pts,
        power_pts=power_pts,
        limit_w=min(evse_max_w, phases * AC_VOLTAGE_V * evse_max_a),
        min_w=phases * AC_VOLTAGE_V * MIN_CURRENT_A,
        full_soc=AC_FULL_SOC,
        phases=phases,
        evse_phases=evse_phases,
    )


def dc_model(vehicle: Vehicle, evse_max_w: float) -> ChargeModel:
    """DC charging (PROFILES.md §3.3): P = min(curve(100*SoC) * battery kWh, evse_max_w, cap).

    The curve is CALDERA's per-unit NMC family `vehicle.dc_curve`; at 100 % it is still 0.06 p.u.,
    so a DC session reaches 100 % in finite time. No DC current limit is modelled.
    """
    curve = DC_CURVES[vehicle.dc_curve]
    return ChargeModel(
        dc=True,
        battery_wh=vehicle.battery_wh,
        soc_pts=tuple(s / 100.0 for s in curve.soc_pct),
        power_pts=tuple(pu * vehicle.battery_wh for pu in curve.pu),
        limit_w=evse_max_w,
        min_w=0.0,
        full_soc=1.0,
        phases=0,
        evse_phases=0,
    )


def dc_voltage_v(soc: float) -> float:
    """[A] Nominal DC pack voltage at `soc`."""
    return DC_VOLTAGE_EMPTY_V + DC_VOLTAGE_SPAN_V * _clip01(soc)


# -- scalar helpers --------------------------------------------------------------------------


def _clip01(soc: float) -> float:
    return min(max(soc, 0.0), 1.0)


def _interp(x: float, xs: tuple[float, ...], ys: tuple[float, ...]) -> float:
    i = min(max(bisect_right(xs, x) - 1, 0), len(xs) - 2)
    return ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i])


def _segments(model: ChargeModel, cap_w: float) -> list[Segment]:
    """The capped curve min(vehicle curve, limit) as linear segments, split where they cross."""
    limit = model.offered_w(cap_w)
    pts, pws = model.soc_pts, model.power_pts
    out: list[Segment] = []
    for i in range(len(pts) - 1):
        lo, hi, p_lo, p_hi = pts[i], pts[i + 1], pws[i], pws[i + 1]
        if (p_lo - limit) * (p_hi - limit) < 0.0:
            cross = lo + (limit - p_lo) * (hi - lo) / (p_hi - p_lo)
            out.append((lo, cross, min(p_lo, limit), limit))
            out.append((cross, hi, limit, min(p_hi, limit)))
        else:
            out.append((lo, hi, min(p_lo, limit), min(p_hi, limit)))
    return out


def _segment_time(p: float, k: float, ds: float, e_j: float) -> float:
    """Seconds to gain `ds` SoC from `p` W rising `k` W per unit SoC: t = E/k*ln(1 + k*ds/p)."""
    if p <= 0.0:
        return math.inf
    x = k * ds / p
    if x <= -1.0:
        return math.inf  # the power reaches 0 first
    ratio = math.log1p(x) / x if x != 0.0 else 1.0
    return e_j * ds / p * ratio


def _segment_ds(p: float, k: float, t: float, e_j: float) -> float:
    """SoC gained in `t` s: ds = p/k*(exp(k*t/E) - 1) (= p*t/E when k = 0)."""
    y = k * t / e_j
    ratio = math.expm1(y) / y if y != 0.0 else 1.0
    return p * t / e_j * ratio


# -- vectorised ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelArrays:
    """Many `ChargeModel`s as arrays (one row each) for planning in bulk; build with `stack`.

    Curves are padded to a common length with points beyond SoC 1 (never reached).
    """

    battery_wh: Array  # (n,)
    soc_pts: Array  # (n, k)
    power_pts: Array  # (n, k)
    limit_w: Array  # (n,)
    min_w: Array  # (n,)
    full_soc: Array  # (n,)


def stack(models: Sequence[ChargeModel]) -> ModelArrays:
    width = max(len(m.soc_pts) for m in models)
    soc_pts = np.empty((len(models), width))
    power_pts = np.empty((len(models), width))
    for row, m in enumerate(models):
        pad = width - len(m.soc_pts)
        soc_pts[row] = m.soc_pts + tuple(2.0 + j for j in range(pad))
        power_pts[row] = m.power_pts + (m.power_pts[-1],) * pad
    return ModelArrays(
        battery_wh=np.array([m.battery_wh for m in models], dtype=np.float64),
        soc_pts=soc_pts,
        power_pts=power_pts,
        limit_w=np.array([m.limit_w for m in models], dtype=np.float64),
        min_w=np.array([m.min_w for m in models], dtype=np.float64),
        full_soc=np.array([m.full_soc for m in models], dtype=np.float64),
    )


def offered_many(models: ModelArrays, cap_w: ArrayLike = math.inf) -> Array:
    """`ChargeModel.offered_w` per row."""
    limit = np.minimum(models.limit_w, np.asarray(cap_w, dtype=np.float64))
    return np.where((limit > 0.0) & (limit >= models.min_w), limit, 0.0)


def power_many(models: ModelArrays, soc: ArrayLike, cap_w: ArrayLike = math.inf) -> Array:
    """`ChargeModel.power_w` per row."""
    s = np.clip(np.broadcast_to(np.asarray(soc, dtype=np.float64), models.battery_wh.shape), 0, 1)
    pts, pws = models.soc_pts, models.power_pts
    i = np.clip((pts[:, 1:-1] <= s[:, None]).sum(axis=1), 0, pts.shape[1] - 2)[:, None]
    lo, hi = np.take_along_axis(pts, i, 1)[:, 0], np.take_along_axis(pts, i + 1, 1)[:, 0]
    p_lo, p_hi = np.take_along_axis(pws, i, 1)[:, 0], np.take_along_axis(pws, i + 1, 1)[:, 0]
    curve = p_lo + (p_hi - p_lo) * (s - lo) / (hi - lo)
    limit = offered_many(models, cap_w)
    return np.where((limit > 0.0) & (s < models.full_soc), np.minimum(curve, limit), 0.0)


def advance_many(
    models: ModelArrays,
    soc: ArrayLike,
    dt_s: ArrayLike,
    cap_w: ArrayLike = math.inf,
    soc_target: ArrayLike = 1.0,
) -> tuple[Array, Array]:
    """`ChargeModel.advance` per row: (new SoC, energy Wh)."""
    shape = models.battery_wh.shape
    start = np.clip(np.broadcast_to(np.asarray(soc, dtype=np.float64), shape), 0.0, 1.0)
    remaining = np.broadcast_to(np.asarray(dt_s, dtype=np.float64), shape).copy()
    if not np.isfinite(remaining).all():
        raise ValueError("dt_s must be finite")
    target = np.minimum(np.asarray(soc_target, dtype=np.float64), models.full_soc)
    pts, pws = _capped_many(models, offered_many(models, cap_w))
    e_j = models.battery_wh * _J_PER_WH
    s = start.copy()
    for j in range(pts.shape[1] - 1):
        lo, hi, p_lo, p_hi = pts[:, j], pts[:, j + 1], pws[:, j], pws[:, j + 1]
        end = np.minimum(hi, target)
        active = (s < end) & (remaining > 0.0)
        k = (p_hi - p_lo) / (hi - lo)
        p = p_lo + k * (s - lo)
        t = _segment_time_many(p, k, end - s, e_j)
        reach = active & (t <= remaining)
        partial = active & ~reach
        gained = _segment_ds_many(p, k, np.where(partial, remaining, 0.0), e_j)
        stepped = np.minimum(np.maximum(s + gained, s), end)
        s = np.where(reach, end, np.where(partial, stepped, s))
        remaining = np.where(reach, remaining - t, np.where(partial, 0.0, remaining))
    return s, (s - start) * models.battery_wh


def time_to_reach_many(
    models: ModelArrays, soc: ArrayLike, soc_target: ArrayLike, cap_w: ArrayLike = math.inf
) -> Array:
    """`ChargeModel.time_to_reach` per row."""
    shape = models.battery_wh.shape
    s = np.clip(np.broadcast_to(np.asarray(soc, dtype=np.float64), shape), 0.0, 1.0)
    target = np.minimum(np.asarray(soc_target, dtype=np.float64), models.full_soc)
    pts, pws = _capped_many(models, offered_many(models, cap_w))
    e_j = models.battery_wh * _J_PER_WH
    total = np.zeros(shape)
    for j in range(pts.shape[1] - 1):
        lo, hi, p_lo, p_hi = pts[:, j], pts[:, j + 1], pws[:, j], pws[:, j + 1]
        end = np.minimum(hi, target)
        active = s < end
        k = (p_hi - p_lo) / (hi - lo)
        t = _segment_time_many(p_lo + k * (s - lo), k, end - s, e_j)
        total = np.where(active, total + t, total)
        s = np.where(active, end, s)
    return total  # a row that cannot charge has p = 0 on every segment: inf if s < target


def _capped_many(models: ModelArrays, limit: Array) -> tuple[Array, Array]:
    """Rows of min(curve, limit), each segment split in two: at the crossing, else the middle."""
    pts, pws, cap = models.soc_pts, models.power_pts, limit[:, None]
    lo, hi, p_lo, p_hi = pts[:, :-1], pts[:, 1:], pws[:, :-1], pws[:, 1:]
    crosses = (p_lo - cap) * (p_hi - cap) < 0.0
    slope = np.where(crosses, p_hi - p_lo, 1.0)
    mid_s = np.where(crosses, lo + (cap - p_lo) * (hi - lo) / slope, 0.5 * (lo + hi))
    mid_p = np.where(crosses, cap, np.minimum(0.5 * (p_lo + p_hi), cap))
    out_s = np.empty((pts.shape[0], 2 * pts.shape[1] - 1))
    out_p = np.empty_like(out_s)
    out_s[:, 0::2], out_s[:, 1::2] = pts, mid_s
    out_p[:, 0::2], out_p[:, 1::2] = np.minimum(pws, cap), mid_p
    return out_s, out_p


def _segment_time_many(p: Array, k: Array, ds: Array, e_j: Array) -> Array:
    """`_segment_time` per element."""
    positive = p > 0.0
    x = k * ds / np.where(positive, p, 1.0)
    ok = positive & (x > -1.0)
    x_safe = np.where(ok & (x != 0.0), x, 1.0)
    ratio = np.where(x == 0.0, 1.0, np.log1p(x_safe) / x_safe)
    return np.where(ok, e_j * ds / np.where(positive, p, 1.0) * ratio, np.inf)


def _segment_ds_many(p: Array, k: Array, t: Array, e_j: Array) -> Array:
    """`_segment_ds` per element."""
    y = k * t / e_j
    y_safe = np.where(y != 0.0, y, 1.0)
    ratio = np.where(y == 0.0, 1.0, np.expm1(y_safe) / y_safe)
    return p * t / e_j * ratio
