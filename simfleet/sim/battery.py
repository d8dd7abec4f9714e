"""One connector's electrical state: the EV's battery while it is plugged in, and the meter.

The energy register is the integral of the power the EV draws (advanced exactly by the physics
model at every update), never decreases, and only grows while the charger says Charging.
Power is capped by the connector's maximum and by any active charging limit (`limit_w`, the hook
smart charging uses).
"""

from __future__ import annotations

import math

from simfleet.behaviour.model import Visit
from simfleet.behaviour.physics import AC_VOLTAGE_V, ChargeModel, ac_model, dc_model
from simfleet.protocol.ports import Reading


class ConnectorBattery:
    __slots__ = (
        "ac",
        "drawing",
        "evse_max_w",
        "full",
        "full_at",
        "initial_wh",
        "limit_w",
        "model",
        "noise",
        "phases",
        "power_w",
        "reads",
        "register_wh",
        "since",
        "soc",
        "soc_target",
    )

    def __init__(
        self, evse_max_w: float, ac: bool, phases: int, register_wh: float, noise: list[float]
    ) -> None:
        self.evse_max_w = evse_max_w
        self.ac = ac
        self.phases = phases  # AC supply phases of the connector
        self.noise = noise  # voltage noise (V), drawn in bulk, shared, read in turn
        self.reads = 0
        self.register_wh = register_wh  # lifetime counter (PROFILES.md §3.4)
        self.initial_wh = register_wh
        self.limit_w = math.inf
        self.model: ChargeModel | None = None
        self.soc = 0.0
        self.soc_target = 0.0
        self.drawing = False
        self.power_w = 0.0
        self.since = 0.0  # simulated seconds of the last update
        self.full = False
        self.full_at = math.inf

    @property
    def cap_w(self) -> float:
        return min(self.evse_max_w, self.limit_w)

    def plug_in(self, visit: Visit, t: float) -> None:
        """The visit's EV is connected at simulated time `t`.

        A visit that began before the run (warm start) arrives with the charge it would have
        had by t = 0, so the fleet starts mid-session where the profile says it would be.
        """
        self.model = (
            ac_model(
                visit.vehicle,
                self.evse_max_w,
                self.evse_max_w / (self.phases * AC_VOLTAGE_V),
                self.phases,
            )
            if self.ac
            else dc_model(visit.vehicle, self.evse_max_w)
        )
        self.soc = visit.soc_start
        self.soc_target = visit.soc_target
        if visit.arrive_s < 0:
            self.soc, _energy = self.model.advance(
                self.soc, min(-visit.arrive_s, t - visit.arrive_s), self.cap_w, self.soc_target
            )
        self.full = self._reached(self.model)
        self.drawing = False
        self.power_w = 0.0
        self.since = t
        self.full_at = math.inf

    def _reached(self, model: ChargeModel) -> bool:
        """The charge is over: the target, or where the BMS ends it (AC tapers forever)."""
        return self.soc >= min(self.soc_target, model.full_soc) - 1e-9

    def update(self, t: float) -> ConnectorBattery:
        """Advance to simulated time `t`."""
        model = self.model
        if self.drawing and model is not None and t > self.since:
            self.soc, energy = model.advance(self.soc, t - self.since, self.cap_w, self.soc_target)
            self.register_wh += energy
            self.full = self._reached(model)
            self.power_w = 0.0 if self.full else model.power_w(self.soc, self.cap_w)
        if t > self.since:
            self.since = t
        return self

    def set_drawing(self, drawing: bool, t: float) -> None:
        """The charger lets energy flow (Charging) or not."""
        self.update(t)
        model = self.model
        self.drawing = drawing and model is not None
        if self.drawing and model is not None and not self.full:
            self.power_w = model.power_w(self.soc, self.cap_w)
            self.full_at = t + model.time_to_reach(self.soc, self.soc_target, self.cap_w)
        else:
            self.power_w = 0.0
            self.full_at = math.inf

    def set_limit(self, limit_w: float, t: float) -> None:
        """A charging limit (W) from now on; math.inf removes it."""
        self.update(t)
        self.limit_w = limit_w
        self.set_drawing(self.drawing, t)

    def unplug(self, t: float) -> None:
        self.update(t)
        self.model = None
        self.drawing = False
        self.power_w = 0.0
        self.full = False
        self.full_at = math.inf

    def reading(self) -> Reading:
        """The meter's view now: power and currents only while the EV draws; SoC and
        temperature only on DC (an AC charger cannot know the EV's SoC without ISO 15118)."""
        self.reads += 1
        noise = self.noise[self.reads % len(self.noise)]
        model = self.model
        if model is None:
            volts = AC_VOLTAGE_V + noise if self.ac else 0.0
            return Reading(self.register_wh, 0.0, (0.0,), volts, 0.0)
        r = model.readings(self.soc, self.cap_w, noise, drawing=self.drawing and not self.full)
        return Reading(
            energy_wh=self.register_wh,
            power_w=r.power_w,
            currents_a=r.current_a,
            voltage_v=r.voltage_v,
            offered_a=r.current_offered_a,
            soc_pct=None if self.ac else r.soc_pct,
            temperature_c=None if self.ac else r.temperature_c,
        )
