"""Charging physics: AC taper and limits, DC per-unit curves, exact integration, readings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simfleet.behaviour.model import Vehicle
from simfleet.behaviour.physics import (
    AC_FULL_SOC,
    AMBIENT_C,
    DC_CURVES,
    ChargeModel,
    ac_model,
    advance_many,
    dc_model,
    dc_voltage_v,
    power_many,
    stack,
    time_to_reach_many,
)

CAR_11KW = Vehicle(battery_wh=58_000, ac_max_w=11_000, ac_phases=3, taper_soc=0.8, dc_curve=1)
CAR_7KW_1PH = Vehicle(battery_wh=39_000, ac_max_w=7_400, ac_phases=1, taper_soc=0.75, dc_curve=0)
CAR_22KW = Vehicle(battery_wh=77_000, ac_max_w=22_000, ac_phases=3, taper_soc=0.9, dc_curve=2)
CAR_3KW_1PH = Vehicle(battery_wh=32_000, ac_max_w=3_600, ac_phases=1, taper_soc=0.7, dc_curve=0)
CARS = (CAR_11KW, CAR_7KW_1PH, CAR_22KW, CAR_3KW_1PH)
# (max W, max A per phase, phases) of typical AC connectors: 1-phase 16 A, 3-phase 16 A / 32 A.
EVSES = ((3_680.0, 16.0, 1), (11_000.0, 16.0, 3), (22_000.0, 32.0, 3))


def session_models() -> list[ChargeModel]:
    """AC and DC models with and without the connector clipping the car."""
    return [
        ac_model(CAR_11KW, 22_000.0),
        ac_model(CAR_7KW_1PH, 22_000.0),
        ac_model(CAR_22KW, 11_000.0, 16.0),
        ac_model(CAR_11KW, 3_680.0, 16.0, 1),
        dc_model(CAR_11KW, 50_000.0),  # NMC 2C, 58 kWh: clipped at 50 kW up to ~85 %
        dc_model(CAR_7KW_1PH, 150_000.0),  # NMC 1C, 39 kWh: vehicle-limited
        dc_model(CAR_22KW, 350_000.0),  # NMC 3C, 77 kWh
        dc_model(CAR_22KW, 150_000.0),
    ]


# -- AC --------------------------------------------------------------------------------------


def test_ac_power_is_constant_below_taper_then_linear_to_zero() -> None:
    model = ac_model(CAR_11KW, 22_000.0)
    for soc in (0.0, 0.2, 0.5, 0.79):
        assert model.power_w(soc) == pytest.approx(11_000.0)
    assert model.power_w(0.9) == pytest.approx(5_500.0)
    assert model.power_w(0.95) == pytest.approx(2_750.0)
    assert model.power_w(0.99) == pytest.approx(550.0)
    assert model.power_w(1.0) == 0.0
    slopes = np.diff([model.power_w(s) for s in (0.82, 0.86, 0.90, 0.94, 0.98)])
    assert slopes == pytest.approx([slopes[0]] * 4)


@pytest.mark.parametrize("car", CARS)
@pytest.mark.parametrize(("evse_w", "evse_a", "evse_phases"), EVSES)
@pytest.mark.parametrize("cap_w", [math.inf, 7_000.0, 4_500.0, 1_500.0])
def test_ac_current_never_exceeds_the_car_or_the_connector(
    car: Vehicle, evse_w: float, evse_a: float, evse_phases: int, cap_w: float
) -> None:
    model = ac_model(car, evse_w, evse_a, evse_phases)
    car_a = car.ac_max_w / (car.ac_phases * 230.0)
    for soc in (0.1, 0.5, 0.85, 0.95):
        readings = model.readings(soc, cap_w)
        assert len(readings.current_a) == evse_phases
        assert max(readings.current_a) <= min(car_a, evse_a) + 1e-9
        assert readings.power_w <= min(evse_w, cap_w) + 1e-9
        assert readings.current_offered_a <= evse_a + 1e-9
        loaded = min(car.ac_phases, evse_phases)
        assert readings.current_a[loaded:] == (0.0,) * (evse_phases - loaded)
        assert sum(readings.current_a) * 230.0 == pytest.approx(readings.power_w)


def test_one_phase_car_loads_l1_only() -> None:
    readings = ac_model(CAR_7KW_1PH, 22_000.0).readings(0.3)
    assert readings.current_a == pytest.approx((32.0, 0.0, 0.0))  # the car would take 32.2 A
    assert readings.power_w == pytest.approx(230.0 * 32.0)
    assert readings.current_offered_a == pytest.approx(32.0)
    readings = ac_model(CAR_3KW_1PH, 11_000.0, 16.0).readings(0.3)
    assert readings.current_a == pytest.approx((3_600.0 / 230.0, 0.0, 0.0))


def test_three_phase_car_on_one_phase_socket_draws_its_per_phase_current() -> None:
    model = ac_model(CAR_11KW, 7_400.0, 32.0, 1)
    assert model.power_w(0.3) == pytest.approx(11_000.0 / 3)
    assert model.readings(0.3).current_a == pytest.approx((11_000.0 / 3 / 230.0,))


def test_cap_below_six_amps_per_phase_stops_the_charge() -> None:
    model = ac_model(CAR_11KW, 22_000.0)
    six_amps = model.watts_for_current(6.0)
    assert six_amps == pytest.approx(3 * 230.0 * 6.0)
    assert model.can_charge(six_amps)
    assert model.power_w(0.3, six_amps) == pytest.approx(six_amps)
    below = model.watts_for_current(5.9)
    assert not model.can_charge(below)
    assert model.power_w(0.3, below) == 0.0
    assert model.advance(0.3, 3_600.0, below) == (0.3, 0.0)
    assert model.time_to_reach(0.3, 0.8, below) == math.inf
    readings = model.readings(0.3, below)
    assert readings.current_a == (0.0, 0.0, 0.0)
    assert readings.current_offered_a == 0.0
    assert readings.temperature_c == AMBIENT_C
    assert not model.can_charge(0.0)


def test_ac_cap_in_amps_limits_each_phase() -> None:
    model = ac_model(CAR_22KW, 22_000.0)
    readings = model.readings(0.5, model.watts_for_current(10.0))
    assert readings.current_a == pytest.approx((10.0, 10.0, 10.0))
    assert readings.current_offered_a == pytest.approx(10.0)


def test_ac_times_match_the_closed_form() -> None:
    model = ac_model(CAR_11KW, 22_000.0)
    assert model.time_to_reach(0.2, 0.6) == pytest.approx(0.4 * 58_000 / 11_000 * 3600)
    tau_s = 58_000 * 0.2 / 11_000 * 3600  # taper: 1 - soc decays as exp(-t / tau)
    assert model.time_to_reach(0.8, 0.9) == pytest.approx(tau_s * math.log(2.0))
    assert model.advance(0.8, tau_s)[0] == pytest.approx(1.0 - 0.2 / math.e)


def test_ac_full_charge_ends_at_full_soc() -> None:
    model = ac_model(CAR_11KW, 22_000.0)
    seconds = model.time_to_reach(0.5, 1.0)
    assert math.isfinite(seconds)
    assert seconds == pytest.approx(model.time_to_reach(0.5, AC_FULL_SOC))
    soc, energy_wh = model.advance(0.5, seconds + 3_600.0, soc_target=1.0)
    assert soc == AC_FULL_SOC
    assert energy_wh == pytest.approx((AC_FULL_SOC - 0.5) * 58_000)
    assert model.power_w(AC_FULL_SOC) == 0.0


# -- DC --------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", [0, 1, 2])
def test_dc_power_follows_the_curve_at_its_breakpoints(family: int) -> None:
    car = Vehicle(battery_wh=60_000, ac_max_w=11_000, ac_phases=3, taper_soc=0.8, dc_curve=family)
    unlimited = dc_model(car, 1e9)
    clipped = dc_model(car, 100_000.0)
    curve = DC_CURVES[family]
    for soc_pct, pu in zip(curve.soc_pct[:-1], curve.pu[:-1], strict=True):
        assert unlimited.power_w(soc_pct / 100) == pytest.approx(pu * 60_000)
        assert clipped.power_w(soc_pct / 100) == pytest.approx(min(pu * 60_000, 100_000.0))
        assert clipped.power_w(soc_pct / 100, 40_000.0) == pytest.approx(min(pu * 60_000, 40_000))
    middle = (curve.soc_pct[-2] + 100.0) / 200.0  # halfway down the last segment
    assert unlimited.power_w(middle) == pytest.approx((curve.pu[-2] + 0.06) / 2 * 60_000)
    assert unlimited.power_w(1.0) == 0.0  # full: the BMS ends the charge


def test_dc_curves_are_the_caldera_nmc_families() -> None:
    assert [c.name for c in DC_CURVES] == ["NMC 1C", "NMC 2C", "NMC 3C"]
    assert DC_CURVES[1].soc_pct == (0.0, 3.0, 10.0, 78.5, 93.0, 100.0)
    assert DC_CURVES[1].pu == (1.750, 2.000, 2.143, 2.417, 0.595, 0.060)
    assert DC_CURVES[2].pu[3] == 3.750
    assert DC_CURVES[0].soc_pct[3] == 88.0


def test_dc_reaches_full_in_finite_time_and_reports_pack_current() -> None:
    model = dc_model(CAR_22KW, 350_000.0)
    assert math.isfinite(model.time_to_reach(0.1, 1.0))
    readings = model.readings(0.5, voltage_noise_v=1.5)
    assert readings.voltage_v == pytest.approx(401.5)
    assert readings.current_a == pytest.approx((readings.power_w / dc_voltage_v(0.5),))
    assert readings.soc_pct == pytest.approx(50.0)
    assert readings.power_offered_w == 350_000.0
    assert AMBIENT_C < readings.temperature_c < AMBIENT_C + 20.0


def test_readings_when_not_drawing_and_voltage_noise() -> None:
    model = ac_model(CAR_11KW, 22_000.0)
    readings = model.readings(0.4, voltage_noise_v=-2.0, drawing=False)
    assert readings.power_w == 0.0
    assert readings.current_a == (0.0, 0.0, 0.0)
    assert readings.voltage_v == 228.0
    assert readings.temperature_c == AMBIENT_C
    assert readings.current_offered_a == pytest.approx(22_000.0 / (3 * 230.0))  # 22 kW: 31.9 A
    hot = model.readings(0.4)
    assert hot.temperature_c == pytest.approx(AMBIENT_C + 20.0 * 11_000 / 22_000)


# -- integration -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", session_models())
def test_energy_equals_the_integral_of_reported_power(model: ChargeModel) -> None:
    soc0, target, cap_w = 0.1, 0.97, 40_000.0
    duration = model.time_to_reach(soc0, target, cap_w) * 1.1
    times = np.linspace(0.0, duration, 4001)
    socs = [model.advance(soc0, float(t), cap_w, target)[0] for t in times]
    powers = [model.power_w(s, cap_w) if s < min(target, model.full_soc) else 0.0 for s in socs]
    integral_wh = float(np.sum((np.array(powers[1:]) + powers[:-1]) / 2 * np.diff(times))) / 3600
    energy_wh = model.advance(soc0, duration, cap_w, target)[1]
    assert energy_wh == pytest.approx(integral_wh, rel=0.01)
    assert energy_wh == pytest.approx((min(target, model.full_soc) - soc0) * model.battery_wh)


@pytest.mark.parametrize("model", session_models())
def test_advance_agrees_with_a_fine_runge_kutta_integration(model: ChargeModel) -> None:
    def rate(soc: float) -> float:
        return model.power_w(soc) / (model.battery_wh * 3600)

    soc, dt, steps = 0.05, 2.0, 1500
    for _ in range(steps):
        k1 = rate(soc)
        k2 = rate(soc + dt / 2 * k1)
        k3 = rate(soc + dt / 2 * k2)
        k4 = rate(soc + dt * k3)
        soc += dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    exact = model.advance(0.05, dt * steps)[0]
    assert (exact - 0.05) == pytest.approx(soc - 0.05, rel=1e-3)


@pytest.mark.parametrize("model", session_models())
def test_steps_are_monotone_and_stop_exactly_at_the_target(model: ChargeModel) -> None:
    soc0, target = 0.2, 0.9
    soc, total_wh = soc0, 0.0
    for _ in range(2000):
        new_soc, energy_wh = model.advance(soc, 37.0, soc_target=target)
        assert energy_wh >= 0.0
        assert new_soc >= soc
        soc, total_wh = new_soc, total_wh + energy_wh
        assert total_wh <= (target - soc0) * model.battery_wh + 1e-6
    assert soc == target
    assert model.advance(soc, 600.0, soc_target=target) == (target, 0.0)


@pytest.mark.parametrize("model", session_models())
@pytest.mark.parametrize("cap_w", [math.inf, 9_000.0, 45_000.0])
def test_one_long_step_equals_many_short_ones(model: ChargeModel, cap_w: float) -> None:
    long_soc, long_wh = model.advance(0.03, 5_400.0, cap_w, 0.99)
    soc, total_wh = 0.03, 0.0
    for _ in range(540):
        soc, energy_wh = model.advance(soc, 10.0, cap_w, 0.99)
        total_wh += energy_wh
    assert soc == pytest.approx(long_soc, rel=1e-9, abs=1e-12)
    assert total_wh == pytest.approx(long_wh, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("model", session_models())
@pytest.mark.parametrize(("soc0", "target"), [(0.1, 0.8), (0.5, 0.95), (0.85, 0.9), (0.0, 1.0)])
def test_time_to_reach_agrees_with_advance(model: ChargeModel, soc0: float, target: float) -> None:
    seconds = model.time_to_reach(soc0, target, 30_000.0)
    goal = min(target, model.full_soc)
    assert model.advance(soc0, seconds, 30_000.0, target)[0] == pytest.approx(goal, abs=1e-12)
    assert model.advance(soc0, seconds * 0.999, 30_000.0, target)[0] < goal
    assert model.time_to_reach(target, soc0) == 0.0


# -- vectorised ------------------------------------------------------------------------------


def test_vectorised_functions_agree_with_the_scalar_ones() -> None:
    rng = np.random.default_rng(7)
    models = session_models() * 25
    n = len(models)
    arrays = stack(models)
    soc = rng.uniform(0.0, 1.0, n)
    target = np.minimum(soc + rng.uniform(0.0, 0.8, n), 1.0)
    cap_w = rng.choice([math.inf, 2_000.0, 5_000.0, 30_000.0, 80_000.0], n)
    dt_s = rng.uniform(0.0, 7_200.0, n)

    powers = power_many(arrays, soc, cap_w)
    new_soc, energy_wh = advance_many(arrays, soc, dt_s, cap_w, target)
    seconds = time_to_reach_many(arrays, soc, target, cap_w)
    for i, model in enumerate(models):
        args = (float(soc[i]), float(cap_w[i]))
        assert powers[i] == pytest.approx(model.power_w(*args), rel=1e-12)
        scalar = model.advance(float(soc[i]), float(dt_s[i]), float(cap_w[i]), float(target[i]))
        assert new_soc[i] == pytest.approx(scalar[0], rel=1e-9, abs=1e-12)
        assert energy_wh[i] == pytest.approx(scalar[1], rel=1e-9, abs=1e-6)
        expected = model.time_to_reach(float(soc[i]), float(target[i]), float(cap_w[i]))
        assert seconds[i] == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert np.isinf(seconds).any() and np.isfinite(seconds).any()


def test_vectorised_scalar_arguments_broadcast() -> None:
    arrays = stack(session_models())
    soc, energy_wh = advance_many(arrays, 0.2, 600.0)
    assert soc.shape == energy_wh.shape == (8,)
    assert (energy_wh > 0).all()
    assert power_many(arrays, 0.5).shape == (8,)
    with pytest.raises(ValueError, match="finite"):
        advance_many(arrays, 0.2, math.inf)
