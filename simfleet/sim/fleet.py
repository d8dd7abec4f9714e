"""Which chargers a worker runs, when each one connects, and how it is built from its plan."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from simfleet.behaviour.model import ChargerPlan
from simfleet.behaviour.plans import SEED_BLOCK, fixed_plans
from simfleet.behaviour.profiles import SiteProfile
from simfleet.behaviour.sampling import BehaviourConfig, plan_fleet
from simfleet.protocol.ports import Observer
from simfleet.protocol.v16.charger import ChargerSettings
from simfleet.protocol.v16.state import FirmwareSettings
from simfleet.scenario.model import Scenario
from simfleet.sim.agent import ChargerAgent
from simfleet.sim.battery import ConnectorBattery

#: PROFILES.md §3.4: the energy register is a lifetime counter, starting e.g. U(0, 5e7) Wh.
MAX_INITIAL_REGISTER_WH = 5e7
#: Voltage noise (V, standard deviation) on reported AC and DC voltages [A].
VOLTAGE_NOISE_V = 1.0
#: Spawn-key tags: one independent random stream per purpose and block of chargers.
_TAG_REGISTERS = 101
_TAG_NOISE = 102


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


@dataclass(frozen=True, slots=True)
class Hardware:
    connectors: int
    max_power_w: float
    ac: bool
    phases: int


def hardware_of(scenario: Scenario, plan: ChargerPlan) -> Hardware:
    """The fixed model uses [charger]; the realistic one the site type's charger."""
    if scenario.model == "fixed":
        c = scenario.charger
        # Up to 7.4 kW is a 1-phase 32 A supply; above, 3-phase (PROFILES.md §3.1).
        return Hardware(
            c.connectors, c.max_power_w, ac=True, phases=1 if c.max_power_w <= 7400 else 3
        )
    site: SiteProfile = scenario.realistic.sites[plan.site]
    return Hardware(site.connectors, site.max_power_w, site.current == "AC", site.phases)


def settings_for(
    scenario: Scenario,
    index: int,
    hardware: Hardware,
    firmware: FirmwareSettings | None = None,
) -> ChargerSettings:
    """`firmware`: the scenario's [firmware] seeded with its seed (`firmware_settings`); pass
    one object for a whole fleet, or each charger gets a copy of its own."""
    model = scenario.charger
    identity = scenario.identity_of(index)
    return ChargerSettings(
        identity=identity,
        vendor=model.vendor,
        model=model.model,
        serial=identity[-25:],
        firmware=model.firmware,
        connectors=hardware.connectors,
        heartbeat_interval_s=model.heartbeat_interval_s,
        meter_interval_s=model.meter_interval_s,
        call_timeout_s=scenario.timeouts.call_s,
        boot_retry_s=scenario.timeouts.boot_retry_s,
        authorize_before_start=model.authorize_before_start,
        measurands=model.measurands_ac if hardware.ac else model.measurands_dc,
        ac=hardware.ac,
        clock_aligned_s=model.clock_aligned_s,
        phases=hardware.phases,
        index=index,
        firmware_settings=firmware or firmware_settings(scenario),
        security_profile=scenario.security.profile,
        max_offline_queue=model.max_offline_queue,
        transaction_message_attempts=model.transaction_message_attempts,
        transaction_message_retry_interval_s=model.transaction_message_retry_interval_s,
        replay_interval_s=model.replay_interval_s,
        ocpp_version=model.offer_of(scenario.seed, index)[
            0
        ],  # its first choice, until a CSMS picks
    )


def firmware_settings(scenario: Scenario) -> FirmwareSettings:
    """[firmware] with the scenario's seed (the seed may come from the command line)."""
    return replace(scenario.firmware, seed=scenario.seed)


def horizon_s(scenario: Scenario) -> float:
    """Simulated seconds the run covers (plus a margin for the stop)."""
    scale = scenario.realistic.time_scale if scenario.model == "realistic" else 1.0
    return (scenario.duration_s + 60.0) * scale


def plans_for(scenario: Scenario, indices: Sequence[int]) -> list[ChargerPlan]:
    if scenario.model == "fixed":
        return fixed_plans(
            scenario.fixed,
            scenario.seed,
            indices,
            scenario.charger.connectors,
            horizon_s(scenario),
        )
    return plan_fleet(behaviour_config(scenario), scenario.seed, indices)


def build_agents(
    scenario: Scenario, indices: Sequence[int], observer: Observer, wall0: float
) -> list[ChargerAgent]:
    """The agents of one shard; simulated time 0 is wall-clock `wall0` (the ramp's start)."""
    plans = plans_for(scenario, indices)
    registers = _initial_registers(scenario.seed, indices)
    noise = (
        np.random.default_rng(np.random.SeedSequence(scenario.seed, spawn_key=(_TAG_NOISE,)))
        .normal(0.0, VOLTAGE_NOISE_V, 4096)
        .tolist()
    )
    realistic = scenario.realistic
    scale = realistic.time_scale if scenario.model == "realistic" else 1.0
    tokens = (
        replace(realistic.tokens, fixed_pattern=scenario.fixed.id_tag)
        if scenario.model == "fixed"
        else realistic.tokens
    )
    firmware = firmware_settings(scenario)
    agents = []
    for plan, register_row in zip(plans, registers, strict=True):
        hardware = hardware_of(scenario, plan)
        batteries = [
            ConnectorBattery(
                hardware.max_power_w, hardware.ac, hardware.phases, register_row[c], noise
            )
            for c in range(hardware.connectors)
        ]
        agents.append(
            ChargerAgent(
                plan,
                scenario.identity_of(plan.index),
                settings_for(scenario, plan.index, hardware, firmware),
                batteries,
                tokens,
                observer,
                wall0,
                scale,
                realistic.connection_timeout_s,
            )
        )
    return agents


def _initial_registers(seed: int, indices: Sequence[int]) -> list[list[float]]:
    """Each connector's lifetime register, drawn per block so workers do not matter."""
    index_array = np.asarray(indices, dtype=np.int64)
    out = np.empty((len(index_array), 16))
    blocks = index_array // SEED_BLOCK
    for block in np.unique(blocks).tolist():
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_TAG_REGISTERS, block)))
        draws = rng.uniform(0.0, MAX_INITIAL_REGISTER_WH, size=(SEED_BLOCK, 16)).round()
        mine = blocks == block
        out[mine] = draws[index_array[mine] - block * SEED_BLOCK]
    registers: list[list[float]] = out.tolist()
    return registers


def behaviour_config(scenario: Scenario) -> BehaviourConfig:
    realistic = scenario.realistic
    return BehaviourConfig(
        site_mix=realistic.site_mix,
        sites=realistic.sites,
        faults=realistic.faults,
        start_hour=realistic.start_hour,
        day_type=realistic.day,
        horizon_s=horizon_s(scenario),
    )
