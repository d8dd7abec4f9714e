"""Which chargers a worker runs, when each one connects, and how it is built."""

from __future__ import annotations

import os
from collections.abc import Sequence

from simfleet.behaviour.plans import FixedRatePlanner
from simfleet.protocol.ports import Observer
from simfleet.protocol.v16.charger import ChargerSettings
from simfleet.scenario.model import Scenario
from simfleet.sim.agent import ChargerAgent


def worker_count(requested: int, chargers: int) -> int:
    """`0` means one per core; never more workers than chargers."""
    workers = requested or os.cpu_count() or 1
    return max(1, min(workers, chargers))


def shard(chargers: int, workers: int, worker: int) -> range:
    """Charger indices (1-based) of one worker: interleaved, so every worker ramps together
    and a charger's index (hence its identity and its random draws) does not depend on
    how many workers there are."""
    return range(worker + 1, chargers + 1, workers)


def connect_at(index: int, start: float, ramp_per_s: float) -> float:
    """When charger `index` opens its connection: the fleet ramps at `ramp_per_s` overall."""
    return start + (index - 1) / ramp_per_s


def settings_for(scenario: Scenario, index: int) -> ChargerSettings:
    model = scenario.charger
    identity = scenario.identity_of(index)
    return ChargerSettings(
        identity=identity,
        vendor=model.vendor,
        model=model.model,
        serial=identity[-25:],
        firmware=model.firmware,
        connectors=model.connectors,
        heartbeat_interval_s=model.heartbeat_interval_s,
        meter_interval_s=model.meter_interval_s,
        call_timeout_s=scenario.timeouts.call_s,
        boot_retry_s=scenario.timeouts.boot_retry_s,
        authorize_before_start=model.authorize_before_start,
    )


def build_agents(
    scenario: Scenario, indices: Sequence[int], observer: Observer, now: float
) -> list[ChargerAgent]:
    """The agents of one shard, their first sessions planned from `now`."""
    planner = FixedRatePlanner(
        scenario.behaviour, scenario.seed, indices, scenario.charger.connectors
    )
    return [
        ChargerAgent(
            index,
            scenario.identity_of(index),
            settings_for(scenario, index),
            scenario.charger.max_power_w,
            planner,
            observer,
            now,
        )
        for index in indices
    ]
