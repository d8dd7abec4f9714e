"""A charger agent: an OCPP charger state machine driven by its sampled plan.

The engine only pumps: bytes in through `receive`, bytes out of `take_outbox`, and `step` at
`next_wakeup()`. The agent walks its `ChargerPlan` (visits, faults, offline spells, reboots) on
the simulated clock, tells the charger what happens (plug in, present a token, leave, fail),
and keeps each connector's battery and energy register (it implements `protocol.ports.Meter`).

Two clocks: the wall clock (`now`, epoch seconds, what OCPP timestamps and latencies use) and the
simulated clock (seconds from the start of the run, what plans use), related by `time_scale`.
"""

from __future__ import annotations

import dataclasses
import math

from simfleet.behaviour.model import AuthOutcome, ChargerPlan, Episode, Visit
from simfleet.behaviour.tokens import TokenBook
from simfleet.protocol.ports import Observer, Reading
from simfleet.protocol.v16 import security
from simfleet.protocol.v16.charger import Charger16, ChargerSettings, Status
from simfleet.protocol.v16.maintenance import UploadRequest
from simfleet.sim.battery import ConnectorBattery
from simfleet.sim.chargers import build_charger

#: While the charger is down or not yet booted, an arriving EV waits and tries again this often
#: (wall seconds): chargers of a ramping fleet pick up the sessions the plan has for them.
RETRY_WALL_S = 1.0


class Phase:
    IDLE = 0  # waiting for the next visit
    PLUGGED = 1  # cable in, tokens being presented
    CHARGING = 2  # authorized; the battery fills until full or departure
    LEAVING = 3  # no transaction any more; the EV leaves at departure


class ConnectorPlan:
    """One connector's visits and where it is in the current one."""

    __slots__ = (
        "asked_at",
        "attempt",
        "battery",
        "departs_at",
        "next_at",
        "phase",
        "stop_at",
        "visit",
        "visits",
    )

    def __init__(self, visits: list[Visit], battery: ConnectorBattery) -> None:
        self.visits = visits  # future visits, the next one last (popped from the end)
        self.visit: Visit | None = None
        self.phase = Phase.IDLE
        self.attempt = 0
        self.asked_at = 0.0  # simulated seconds of the last token presented
        self.departs_at = math.inf  # simulated seconds
        self.stop_at = math.inf
        self.battery = battery
        self.next_at = visits[-1].arrive_s if visits else math.inf


class ChargerAgent:
    """One simulated charger. Implements `Meter` for its own charger state machine."""

    __slots__ = (
        "_episodes",
        "charger",
        "connection_timeout_s",
        "identity",
        "index",
        "offline_until",
        "plans",
        "scale",
        "tokens",
        "wall0",
    )

    def __init__(
        self,
        plan: ChargerPlan,
        identity: str,
        settings: ChargerSettings,
        batteries: list[ConnectorBattery],
        tokens: TokenBook,
        observer: Observer,
        wall0: float,
        time_scale: float,
        connection_timeout_s: float,
    ) -> None:
        self.index = plan.index
        self.identity = identity
        self.wall0 = wall0
        self.scale = time_scale
        self.tokens = tokens
        self.connection_timeout_s = connection_timeout_s
        self.offline_until = 0.0  # wall clock; the engine keeps the connection down until then
        self.charger = build_charger(settings, observer, self)
        by_connector: list[list[Visit]] = [[] for _ in range(settings.connectors)]
        for visit in plan.visits:
            if visit.connector_id <= settings.connectors:
                by_connector[visit.connector_id - 1].append(visit)
        self.plans = [
            ConnectorPlan(sorted(visits, key=lambda v: -v.arrive_s), battery)
            for visits, battery in zip(by_connector, batteries, strict=True)
        ]
        self._episodes = _Episodes(plan)

    # -- clocks --------------------------------------------------------------------------------

    def sim(self, now: float) -> float:
        return (now - self.wall0) * self.scale

    def wall(self, sim_s: float) -> float:
        wall = self.wall0 + sim_s / self.scale
        # Rounded up, so that a step at this wall time finds `sim_s` due (sim(wall) >= sim_s).
        while (wall - self.wall0) * self.scale < sim_s:
            wall = math.nextafter(wall, math.inf)
        return wall

    # -- the pump interface --------------------------------------------------------------------

    def speak(self, version: str) -> None:
        """The CSMS picked `version` (OCPP-J §3.1.2): before `connected`, make the charger one
        of that version if it is not (its settings and observer carry over)."""
        charger = self.charger
        if charger.version != version:
            settings = dataclasses.replace(charger.settings, ocpp_version=version)
            self.charger = build_charger(settings, charger.observer, self)

    def connected(self, now: float) -> None:
        self.charger.connected(now)

    def disconnected(self, now: float) -> None:
        self.charger.disconnected(now)

    def receive(self, data: bytes | str, now: float) -> None:
        self.charger.receive(data, now)

    def authentication_refused(self, now: float) -> None:
        """The CSMS refused our Basic auth credentials (HTTP 401 to the upgrade request)."""
        if isinstance(self.charger, Charger16):  # 2.0.1 security events: not yet (A04)
            security.authentication_refused(self.charger, now)

    def take_outbox(self) -> list[bytes]:
        return self.charger.take_outbox()

    def take_uploads(self) -> list[UploadRequest]:
        """Files the charger wants uploaded (GetDiagnostics, GetLog): the engine does it."""
        return self.charger.take_uploads()

    def upload_finished(self, upload_id: int, ok: bool, now: float) -> None:
        self.charger.upload_finished(upload_id, ok, now)

    def next_wakeup(self) -> float:
        due = self._episodes.next_at
        for plan in self.plans:
            if plan.next_at < due:
                due = plan.next_at
        wake = self.charger.next_wakeup()
        return wake if due == math.inf else min(wake, self.wall(due))

    def step(self, now: float) -> None:
        t = self.sim(now)
        charger = self.charger
        # The charger's own due work first: a reading due before `now` (a late wake-up) is
        # stamped at its due time, so it goes out before what the plan does at `now`.
        charger.step(now)
        if self._episodes.next_at <= t:
            self._run_episodes(t, now)
        for connector_id, plan in enumerate(self.plans, start=1):
            if plan.next_at <= t:
                self._advance(connector_id, plan, t, now)
        if charger.ready_to_reboot(now):
            self._reset(t, now)

    def _reset(self, t: float, now: float) -> None:
        """A Reset the CSMS asked for (§5.13), or a firmware installation (§5.19): reboot,
        offline for the charger's reboot duration, boot again."""
        kind, self.charger.reset_pending = self.charger.reset_pending, ""
        self.charger.reset_deadline = math.inf
        self._reboot(t, now, f"{kind}Reset")
        self.offline_until = max(self.offline_until, now + self.charger.reboot_duration())

    def stop(self, now: float) -> None:
        """End of the run: every EV leaves, so transactions are stopped and the CSMS told."""
        t = self.sim(now)
        for connector_id, plan in enumerate(self.plans, start=1):
            if plan.phase != Phase.IDLE:
                self._depart(connector_id, plan, t, now)
            plan.visits.clear()
            plan.next_at = math.inf
        self._episodes.clear()

    # -- protocol.ports.Meter ------------------------------------------------------------------

    def energy_wh(self, connector_id: int, now: float) -> float:
        return self.plans[connector_id - 1].battery.update(self.sim(now)).register_wh

    def read(self, connector_id: int, now: float) -> Reading:
        return self.plans[connector_id - 1].battery.update(self.sim(now)).reading()

    def status_changed(self, connector_id: int, status: str, now: float) -> None:
        plan = self.plans[connector_id - 1]
        battery = plan.battery
        t = self.sim(now)
        battery.set_drawing(status == Status.CHARGING.value, t)
        if plan.phase == Phase.CHARGING and status == Status.CHARGING.value:
            # Full already (a warm-start EV): say SuspendedEV at the next step, not later.
            due = t if battery.full else battery.full_at
            plan.next_at = min(plan.next_at, due)

    def set_limit(self, connector_id: int, limit_w: float, now: float) -> None:
        plan = self.plans[connector_id - 1]
        t = self.sim(now)
        plan.battery.set_limit(limit_w, t)
        if plan.phase == Phase.CHARGING:  # the EV is full later (or sooner) now
            plan.next_at = self._next_event(plan, plan.next_at)

    def remote_start(self, connector_id: int, now: float) -> bool:
        """The next planned driver of this connector is there now, and plugs in (they
        started the session from the app); the charger then authorizes and starts."""
        plan = self.plans[connector_id - 1]
        if plan.phase == Phase.PLUGGED:
            return True
        if plan.phase != Phase.IDLE or not plan.visits:
            return False
        t = self.sim(now)
        visit = plan.visits.pop()
        plan.visit = visit
        plan.attempt = 0  # the CSMS presented the token: the driver presents none
        plan.asked_at = t
        plan.departs_at = t + _stay_s(visit)
        plan.stop_at = math.inf
        plan.battery.plug_in(visit, t)
        self.charger.cable_in(connector_id, now)
        plan.phase = Phase.PLUGGED
        plan.next_at = t
        return True

    # -- the plan ------------------------------------------------------------------------------

    def _advance(self, connector_id: int, plan: ConnectorPlan, t: float, now: float) -> None:
        if plan.phase == Phase.IDLE:
            self._arrive(connector_id, plan, t, now)
        elif plan.phase == Phase.PLUGGED:
            self._authorize_step(connector_id, plan, t, now)
        else:
            self._charging_step(connector_id, plan, t, now)

    def _arrive(self, connector_id: int, plan: ConnectorPlan, t: float, now: float) -> None:
        visit = plan.visits[-1]
        end = visit.depart_s if not math.isnan(visit.depart_s) else visit.arrive_s + 86_400.0
        if end <= t:  # it would already have left
            self._next_visit(plan)
            return
        charger = self.charger
        if not charger.accepted:
            # Not booted yet (a ramping fleet, a reboot): the EV waits for the charger. One
            # that is merely offline takes the driver, and authorizes locally (§3.5.4).
            plan.next_at = t + RETRY_WALL_S * self.scale
            return
        if charger.status_of(connector_id) is not Status.AVAILABLE:
            self._next_visit(plan)  # occupied, faulted or unavailable: the driver goes elsewhere
            return
        plan.visits.pop()
        plan.visit = visit
        plan.attempt = -1  # no token presented yet
        plan.departs_at = visit.depart_s if not math.isnan(visit.depart_s) else math.inf
        stop_at = visit.arrive_s + visit.stop_early_s if visit.stop_early_s > 0 else math.inf
        plan.stop_at = stop_at if stop_at > t else math.inf  # not one from before the run
        plan.battery.plug_in(visit, t)
        if visit.no_plug:
            # A token and no cable: Preparing until ConnectionTimeOut (§9.1.5).
            plan.attempt = 0
            self._present(connector_id, plan, now)
            plan.phase = Phase.LEAVING
            plan.departs_at = t + self.connection_timeout_s
            plan.next_at = plan.departs_at
            return
        charger.cable_in(connector_id, now)
        plan.phase = Phase.PLUGGED
        # A session already under way at the start (warm start) was authorized long ago.
        plan.next_at = t if visit.arrive_s < 0 else t + visit.auth_delay_s

    def _present(self, connector_id: int, plan: ConnectorPlan, now: float) -> None:
        visit = plan.visit
        assert visit is not None
        outcome = visit.auth_attempts[plan.attempt] if visit.arrive_s >= 0 else AuthOutcome.ACCEPTED
        token = self.tokens.token(self.index, visit.auth_method, outcome, plan.attempt)
        fail = "EVCommunicationError" if visit.start_fails else ""
        self.charger.present_token(connector_id, token, now, fail_start=fail)

    def _authorize_step(self, connector_id: int, plan: ConnectorPlan, t: float, now: float) -> None:
        """Present the next token, or look at how the last one was answered."""
        visit = plan.visit
        assert visit is not None
        status = self.charger.auth_status(connector_id)
        if plan.attempt < 0:
            plan.attempt = 0
            plan.asked_at = t
            self._present(connector_id, plan, now)
        elif status == "Accepted":
            plan.phase = Phase.CHARGING
        elif status and plan.attempt + 1 < len(visit.auth_attempts):
            retry_at = plan.asked_at + visit.auth_delay_s
            if t < retry_at:  # refused: the driver tries another card / the app, in a while
                plan.next_at = self._next_event(plan, retry_at)
                return
            plan.attempt += 1
            plan.asked_at = t
            self._present(connector_id, plan, now)
        elif status:
            plan.phase = Phase.LEAVING  # refused for good: the driver gives up and leaves
            plan.departs_at = min(plan.departs_at, t + self.connection_timeout_s)
        # Waiting for the CSMS's answer (wall time) or for the charge: look again soon.
        poll = min(visit.auth_delay_s, RETRY_WALL_S * self.scale) or RETRY_WALL_S * self.scale
        plan.next_at = self._next_event(plan, t + poll)

    def _charging_step(self, connector_id: int, plan: ConnectorPlan, t: float, now: float) -> None:
        battery = plan.battery.update(t)
        if battery.full and self.charger.is_charging(connector_id):
            self.charger.ev_suspended(connector_id, now)  # the EV stops drawing
            visit = plan.visit
            if visit is not None and math.isnan(visit.depart_s):
                plan.departs_at = t + visit.dwell_s  # DC: the driver leaves soon after full
        if plan.stop_at <= t:
            plan.stop_at = math.inf
            self.charger.stop_transaction(connector_id, "Other", now)  # unexpected stop
            plan.phase = Phase.LEAVING
        if plan.departs_at <= t:
            self._depart(connector_id, plan, t, now)
            return
        plan.next_at = self._next_event(plan, math.inf)

    def _next_event(self, plan: ConnectorPlan, candidate: float) -> float:
        if plan.phase != Phase.CHARGING:
            return min(candidate, plan.departs_at)
        battery = plan.battery
        full_at = battery.full_at if not battery.full else math.inf
        return min(candidate, plan.departs_at, plan.stop_at, full_at)

    def _depart(self, connector_id: int, plan: ConnectorPlan, t: float, now: float) -> None:
        plan.battery.update(t)
        if plan.visit is not None and plan.visit.no_plug:
            self.charger.cancel_preparing(connector_id, now)
        else:
            self.charger.unplug(connector_id, now)
        plan.battery.unplug(t)
        plan.visit = None
        plan.phase = Phase.IDLE
        plan.departs_at = plan.stop_at = math.inf
        plan.next_at = plan.visits[-1].arrive_s if plan.visits else math.inf
        if plan.next_at < t:
            plan.next_at = t

    def _next_visit(self, plan: ConnectorPlan) -> None:
        plan.visits.pop()
        plan.next_at = plan.visits[-1].arrive_s if plan.visits else math.inf

    # -- faults, offline spells, reboots -------------------------------------------------------

    def _run_episodes(self, t: float, now: float) -> None:
        for kind, episode, starting in self._episodes.due(t):
            if kind == "fault":
                self._fault(episode, starting, t, now)
            elif starting:  # offline spell or reboot
                if kind == "reboot":
                    self._reboot(t, now)
                self.offline_until = max(self.offline_until, self.wall(t + episode.duration_s))

    def _fault(self, episode: Episode, starting: bool, t: float, now: float) -> None:
        cid = episode.connector_id
        if not starting:
            self.charger.repaired(cid, now)
            return
        targets = range(1, len(self.plans) + 1) if cid == 0 else (cid,)
        for connector_id in targets:
            plan = self.plans[connector_id - 1]
            plan.battery.update(t)
            plan.battery.set_drawing(False, t)
            if plan.phase != Phase.IDLE:
                plan.phase = Phase.LEAVING  # the session is over; the EV leaves as planned
        self.charger.fault(cid, episode.error_code, now)

    def _reboot(self, t: float, now: float, reason: str = "PowerLoss") -> None:
        """Power loss or reset: sessions end (StopTransaction with `reason`, sent once back
        online if it could not be sent before)."""
        self.charger.reboot(reason, now)  # reads the meters while the EVs are still there
        for plan in self.plans:
            if plan.phase != Phase.IDLE:
                plan.battery.unplug(t)
                plan.visit = None
                plan.phase = Phase.IDLE
                plan.departs_at = plan.stop_at = math.inf
                plan.next_at = plan.visits[-1].arrive_s if plan.visits else math.inf


class _Episodes:
    """The charger's faults, offline spells and reboots as one time-ordered list of edges."""

    __slots__ = ("_edges", "next_at")

    def __init__(self, plan: ChargerPlan) -> None:
        edges: list[tuple[float, str, Episode, bool]] = []
        for kind, episodes in (
            ("fault", plan.faults),
            ("offline", plan.offline),
            ("reboot", plan.reboots),
        ):
            for episode in episodes:
                edges.append((episode.start_s, kind, episode, True))
                if kind == "fault":
                    edges.append((episode.start_s + episode.duration_s, kind, episode, False))
        edges.sort(key=lambda edge: -edge[0])  # next edge last
        self._edges = edges
        self.next_at = edges[-1][0] if edges else math.inf

    def due(self, t: float) -> list[tuple[str, Episode, bool]]:
        out = []
        edges = self._edges
        while edges and edges[-1][0] <= t:
            _at, kind, episode, starting = edges.pop()
            out.append((kind, episode, starting))
        self.next_at = edges[-1][0] if edges else math.inf
        return out

    def clear(self) -> None:
        self._edges.clear()
        self.next_at = math.inf


def _stay_s(visit: Visit) -> float:
    """How long a visit lasts once the EV is plugged in (a day if it leaves when full)."""
    if math.isnan(visit.depart_s):
        return 86_400.0
    return max(60.0, visit.depart_s - visit.arrive_s)
