"""What a scenario's plan implies, hour by hour, before anything runs (`simfleet plan`).

The same sampled plans the chargers would follow are stepped through the same physics in bulk
(numpy, every visit at once, 5-minute steps), giving per simulated hour: arrivals, sessions in
progress, sessions drawing power, fleet power, energy, and the messages per wall-clock second
each OCPP action would cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from simfleet.behaviour.model import AuthOutcome, ChargerPlan, Vehicle, Visit
from simfleet.behaviour.physics import AC_VOLTAGE_V, ChargeModel, ac_model, advance_many, dc_model
from simfleet.behaviour.physics import stack as stack_models
from simfleet.scenario.model import Scenario
from simfleet.sim.fleet import hardware_of

STEP_S = 300.0
HOUR_S = 3600.0
ACTIONS = (
    "Heartbeat",
    "StatusNotification",
    "Authorize",
    "StartTransaction",
    "MeterValues",
    "StopTransaction",
)


@dataclass(frozen=True, slots=True)
class HourRow:
    hour: int  # simulated hours since the start
    clock: str  # local time of day "HH:00"
    day: str
    arrivals: int
    in_progress: float  # mean visits at a connector
    charging: float  # mean visits drawing power
    power_kw: float  # mean fleet power
    energy_kwh: float
    messages_per_s: dict[str, float]  # wall-clock rate by action

    @property
    def total_per_s(self) -> float:
        return sum(self.messages_per_s.values())


def forecast(scenario: Scenario, plans: Sequence[ChargerPlan], hours: int) -> list[HourRow]:
    visits, models, caps = _visits_with_models(scenario, plans)
    horizon = hours * HOUR_S
    arrive = np.array([v.arrive_s for v in visits]) if visits else np.zeros(0)
    energy_by_hour, drawing_by_hour, present_by_hour = _simulate(visits, models, caps, hours)
    rows = []
    scale = scenario.realistic.time_scale if scenario.model == "realistic" else 1.0
    start_hour = scenario.realistic.start_hour if scenario.model == "realistic" else 0.0
    for hour in range(hours):
        lo, hi = hour * HOUR_S, (hour + 1) * HOUR_S
        mask = (arrive >= lo) & (arrive < hi) & (arrive < horizon)
        arrived = [visits[i] for i in np.flatnonzero(mask).tolist()]
        rows.append(
            HourRow(
                hour=hour,
                clock=f"{int(start_hour + hour) % 24:02d}:{round(start_hour % 1 * 60):02d}",
                day=_day_name(scenario, hour),
                arrivals=len(arrived),
                in_progress=float(present_by_hour[hour]),
                charging=float(drawing_by_hour[hour]),
                power_kw=float(energy_by_hour[hour]) / 1000.0,  # Wh in one hour -> mean kW
                energy_kwh=float(energy_by_hour[hour]) / 1000.0,
                messages_per_s=_messages(scenario, plans, arrived, present_by_hour[hour], scale),
            )
        )
    return rows


def _charges(visit: Visit) -> bool:
    return (
        not visit.no_plug and not visit.start_fails and AuthOutcome.ACCEPTED in visit.auth_attempts
    )


def _day_name(scenario: Scenario, hour: int) -> str:
    realistic = scenario.realistic
    day_index = int((realistic.start_hour + hour) // 24)
    first = 0 if realistic.day.value == "weekday" else 5  # Monday or Saturday
    return ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[(first + day_index) % 7]


def _visits_with_models(
    scenario: Scenario, plans: Sequence[ChargerPlan]
) -> tuple[list[Visit], list[ChargeModel], list[float]]:
    visits: list[Visit] = []
    models: list[ChargeModel] = []
    caps: list[float] = []
    never = _null_model()
    timeout = scenario.realistic.connection_timeout_s
    for plan in plans:
        hardware = hardware_of(scenario, plan)
        for planned in plan.visits:
            visit = planned
            if not _charges(visit):
                model = None
            elif hardware.ac:
                amps = hardware.max_power_w / (hardware.phases * AC_VOLTAGE_V)
                model = ac_model(visit.vehicle, hardware.max_power_w, amps, hardware.phases)
            else:
                model = dc_model(visit.vehicle, hardware.max_power_w)
            if visit.no_plug:  # gone after ConnectionTimeOut
                visit = replace(visit, depart_s=visit.arrive_s + timeout)
            visits.append(visit)
            models.append(model if model is not None else never)
            caps.append(hardware.max_power_w if model is not None else 0.0)
    return visits, models, caps


def _simulate(
    visits: list[Visit], models: list[ChargeModel], caps: list[float], hours: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step every visit's battery; per hour: energy (Wh), mean drawing and present counts."""
    energy = np.zeros(hours)
    drawing = np.zeros(hours)
    present = np.zeros(hours)
    n = len(visits)
    if n == 0:
        return energy, drawing, present
    arrive = np.array([v.arrive_s for v in visits])
    depart = np.array([v.depart_s for v in visits])
    dwell = np.array([v.dwell_s for v in visits])
    soc = np.array([v.soc_start for v in visits])
    target = np.array([v.soc_target for v in visits])
    cap = np.array(caps)
    arrays = stack_models(models)
    steps_per_hour = int(HOUR_S / STEP_S)
    t0 = float(min(arrive.min(), 0.0))
    t = t0
    full_at = np.full(n, np.inf)
    while t < hours * HOUR_S:
        # AC drivers leave when they planned to; DC drivers a dwell after the EV is full.
        leave = np.where(np.isnan(depart), full_at + dwell, depart)
        here = (arrive <= t) & (t < leave)
        new_soc, delivered = advance_many(arrays, soc, STEP_S, cap, target)
        delivered = np.where(here, delivered, 0.0)
        soc = np.where(here, new_soc, soc)
        reached = here & (delivered <= 0.0) & np.isinf(full_at)
        full_at = np.where(reached, t, full_at)
        if t >= 0:
            hour = int(t // HOUR_S)
            energy[hour] += float(delivered.sum())
            drawing[hour] += float((delivered > 0).sum()) / steps_per_hour
            present[hour] += float(here.sum()) / steps_per_hour
        t += STEP_S
    return energy, drawing, present


def _messages(
    scenario: Scenario,
    plans: Sequence[ChargerPlan],
    arrived: list[Visit],
    in_progress: float,
    scale: float,
) -> dict[str, float]:
    """Messages per wall-clock second; session messages counted in their arrival hour."""
    wall_hour = HOUR_S / scale
    charger = scenario.charger
    authorizes = sum(len(v.auth_attempts) for v in arrived)
    starts = sum(
        1
        for v in arrived
        if not v.no_plug and not v.start_fails and AuthOutcome.ACCEPTED in v.auth_attempts
    )
    statuses = sum(2 if v.no_plug or v.start_fails else 4 for v in arrived)
    meter_rate = 1.0 / charger.meter_interval_s + (
        1.0 / charger.clock_aligned_s if charger.clock_aligned_s > 0 else 0.0
    )
    return {
        "Heartbeat": len(plans) / charger.heartbeat_interval_s,
        "StatusNotification": statuses / wall_hour,
        "Authorize": authorizes / wall_hour,
        "StartTransaction": starts / wall_hour,
        "MeterValues": in_progress * meter_rate + starts / wall_hour,
        "StopTransaction": starts / wall_hour,
    }


def _null_model() -> ChargeModel:
    """A battery that never takes power, for visits that never charge."""
    vehicle = Vehicle(battery_wh=1.0, ac_max_w=0.0, ac_phases=1, taper_soc=1.0, dc_curve=0)
    return ac_model(vehicle, 1.0, 1.0, 1)
