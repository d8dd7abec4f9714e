"""A charger agent: an OCPP charger state machine driven by a behaviour plan.

The engine only pumps: bytes in through `receive`, bytes out of `take_outbox`, and `step` at
`next_wakeup()`. The agent decides when an EV arrives and leaves (from its `Planner`) and keeps
the energy register that the charger reports (it implements `protocol.ports.Meter`).
"""

from __future__ import annotations

from simfleet.behaviour.plans import Planner, Session
from simfleet.protocol.ports import Observer
from simfleet.protocol.session import NEVER
from simfleet.protocol.v16.charger import Charger16, ChargerSettings


class ConnectorPlan:
    """Where one connector is in its current `Session`, and its energy register."""

    __slots__ = (
        "charging",
        "energy_wh",
        "next_at",
        "plugged",
        "power_w",
        "session",
        "since",
        "start_wh",
    )

    def __init__(self, session: Session) -> None:
        self.session = session
        self.next_at = session.arrive_at
        self.plugged = False
        self.charging = False  # the charger says Charging: energy flows
        self.energy_wh = 0.0
        self.start_wh = 0.0  # the register when the current EV plugged in
        self.power_w = 0.0  # what the EV draws right now
        self.since = 0.0  # when energy_wh was last brought up to date


class ChargerAgent:
    """One simulated charger. Implements `Meter` for its own charger state machine."""

    __slots__ = ("charger", "identity", "index", "max_power_w", "planner", "plans")

    def __init__(
        self,
        index: int,
        identity: str,
        settings: ChargerSettings,
        max_power_w: float,
        planner: Planner,
        observer: Observer,
        now: float,
    ) -> None:
        self.index = index
        self.identity = identity
        self.max_power_w = max_power_w
        self.planner = planner
        self.charger = Charger16(settings, observer, self)
        self.plans = [
            ConnectorPlan(planner.first_session(index, c, now))
            for c in range(1, settings.connectors + 1)
        ]

    # -- the pump interface --------------------------------------------------------------------

    def connected(self, now: float) -> None:
        self.charger.connected(now)

    def disconnected(self, now: float) -> None:
        self.charger.disconnected(now)

    def receive(self, data: bytes | str, now: float) -> None:
        self.charger.receive(data, now)

    def take_outbox(self) -> list[bytes]:
        return self.charger.take_outbox()

    def next_wakeup(self) -> float:
        wake = self.charger.next_wakeup()
        for plan in self.plans:
            if plan.next_at < wake:
                wake = plan.next_at
        return wake

    def step(self, now: float) -> None:
        for connector_id, plan in enumerate(self.plans, start=1):
            if plan.next_at <= now:
                self._advance_plan(connector_id, plan, now)
        self.charger.step(now)

    def stop(self, now: float) -> None:
        """End of the run: every EV leaves, so transactions are stopped and the CSMS told."""
        for connector_id, plan in enumerate(self.plans, start=1):
            if plan.plugged:
                self._integrate(connector_id, now)
                self.charger.unplug(connector_id, now)
                plan.plugged = False
            plan.next_at = NEVER

    # -- protocol.ports.Meter ------------------------------------------------------------------

    def energy_wh(self, connector_id: int, now: float) -> float:
        return self._integrate(connector_id, now).energy_wh

    def power_w(self, connector_id: int, now: float) -> float:
        return self._integrate(connector_id, now).power_w

    # -- the plan ------------------------------------------------------------------------------

    def status_changed(self, connector_id: int, status: str, now: float) -> None:
        plan = self._integrate(connector_id, now)  # the energy so far, at the old power
        plan.charging = status == "Charging"
        plan.power_w = min(plan.session.power_w, self.max_power_w) if plan.charging else 0.0

    def _integrate(self, connector_id: int, now: float) -> ConnectorPlan:
        """Bring the register up to `now`: exact, since power only changes at status changes.

        A placeholder for the physics of the behaviour models (constant power per session).
        """
        plan = self.plans[connector_id - 1]
        if now > plan.since:
            plan.energy_wh += plan.power_w * (now - plan.since) / 3600.0
            plan.since = now
        if plan.charging and plan.energy_wh - plan.start_wh >= plan.session.energy_wh:
            self.charger.ev_suspended(connector_id, now)  # the battery is full
        return plan

    def _advance_plan(self, connector_id: int, plan: ConnectorPlan, now: float) -> None:
        self._integrate(connector_id, now)
        session = plan.session
        if not plan.plugged:
            # Arrival: only into a charger that is up and talking to its CSMS.
            if (
                self.charger.accepted
                and self.charger.online
                and self.charger.plug_in(connector_id, session.id_tag, now)
            ):
                plan.plugged = True
                plan.start_wh = plan.energy_wh
                plan.next_at = session.depart_at
                return
            self._next_session(connector_id, plan, now)
            return
        # Departure.
        self.charger.unplug(connector_id, now)
        plan.plugged = False
        self._integrate(connector_id, now)
        self._next_session(connector_id, plan, now)

    def _next_session(self, connector_id: int, plan: ConnectorPlan, now: float) -> None:
        plan.session = self.planner.next_session(self.index, connector_id, now)
        plan.next_at = plan.session.arrive_at
