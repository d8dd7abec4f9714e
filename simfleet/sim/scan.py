"""A look over a process's chargers: what they show now (statuses, transactions, power).

Run by whoever reports (worker, Locust engine child), a slice of the chargers per report tick,
never per message: the hot path only counts events, and these gauges are states, cheaper to
read than to track. Slices keep the event loop free: a whole 20,000-charger scan at once would
hold it for ~70 ms, which the chargers due meanwhile would report as CSMS latency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from simfleet.sim.agent import ChargerAgent

#: Chargers scanned per report tick (~1.7 ms of CPU): 5,000 per second at 10 ticks a second.
SCAN_SLICE = 500


@dataclass(slots=True)
class FleetScan:
    """Gauges of one process's chargers. `connectors` keys are "VERSION|Status", `active`
    keys the OCPP version."""

    booted: int = 0
    connectors: dict[str, int] = field(default_factory=dict)
    active: dict[str, int] = field(default_factory=dict)
    power_w: float = 0.0
    energy_wh: float = 0.0  # delivered since each charger's plan began (registers' growth)


def scan(agents: Iterable[ChargerAgent], now: float) -> FleetScan:
    out = FleetScan()
    connectors = out.connectors
    active = out.active
    power = energy = 0.0
    for agent in agents:
        charger = agent.charger
        version = charger.version
        if version not in active:
            # Every status and version present from the first scan, at 0 if unused: a
            # series that vanishes at 0 would leave stale values on a dashboard.
            active[version] = 0
            kind = type(charger.connectors[0].status)
            connectors.update(dict.fromkeys((f"{version}|{s.value}" for s in kind), 0))
        if charger.accepted:
            out.booted += 1
        for connector in charger.connectors:
            key = f"{version}|{connector.status.value}"
            connectors[key] = connectors.get(key, 0) + 1
            if connector.transaction_id is not None:
                active[version] = active.get(version, 0) + 1
        t = agent.sim(now)
        for plan in agent.plans:
            battery = plan.battery.update(t)
            power += battery.power_w
            energy += battery.register_wh - battery.initial_wh
    out.power_w = power
    out.energy_wh = energy
    return out


def combine(parts: Iterable[FleetScan]) -> FleetScan:
    """The scans of several slices as one."""
    out = FleetScan()
    for part in parts:
        out.booted += part.booted
        out.power_w += part.power_w
        out.energy_wh += part.energy_wh
        for key, n in part.connectors.items():
            out.connectors[key] = out.connectors.get(key, 0) + n
        for key, n in part.active.items():
            out.active[key] = out.active.get(key, 0) + n
    return out
