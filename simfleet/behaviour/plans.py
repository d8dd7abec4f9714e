"""Seeding per block of chargers, and the fixed-rate model (a metronome of identical visits).

The realistic, distribution-driven plans come from `sampling.plan_fleet`; both produce
`ChargerPlan`s, so the simulated chargers do not care which model planned them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simfleet.behaviour.model import (
    AuthMethod,
    AuthOutcome,
    ChargerPlan,
    SiteType,
    Vehicle,
    Visit,
)

#: Chargers are seeded in blocks of this many, so a charger's draws do not depend on how the
#: fleet is split over worker processes.
SEED_BLOCK = 1024


@dataclass(frozen=True, slots=True)
class FixedRates:
    """Parameters of the fixed-rate model (benchmarks, tests, metronome load)."""

    idle_s: float
    session_s: float
    power_w: float
    energy_wh: float
    id_tag: str  # a str.format pattern with {index}


#: A vehicle that draws a constant power until it has the energy it wants.
_FIXED_BATTERY_WH = 1e9


def fixed_plans(
    rates: FixedRates, seed: int, indices: Sequence[int], connectors: int, horizon_s: float
) -> list[ChargerPlan]:
    """Every connector: idle `idle_s`, then a `session_s` visit at `power_w`, until the horizon.

    The only randomness is each connector's first arrival, uniform over the first `idle_s`, so a
    fleet does not plug in all in the same second.
    """
    offsets = _first_offsets(seed, indices, connectors, rates.idle_s)
    vehicle = Vehicle(
        battery_wh=_FIXED_BATTERY_WH,
        ac_max_w=rates.power_w,
        ac_phases=1 if rates.power_w <= 7400 else 3,  # as the fixed model's charger
        taper_soc=1.0,  # no taper: constant power
        dc_curve=0,
    )
    soc_target = min(1.0, rates.energy_wh / _FIXED_BATTERY_WH)
    period = rates.idle_s + rates.session_s
    plans = []
    for row, index in enumerate(indices):
        visits = []
        for connector_id in range(1, connectors + 1):
            arrive = float(offsets[row, connector_id - 1])
            while arrive < horizon_s:
                visits.append(
                    Visit(
                        connector_id=connector_id,
                        arrive_s=arrive,
                        depart_s=arrive + rates.session_s,
                        dwell_s=0.0,
                        energy_wh=rates.energy_wh,
                        soc_start=0.0,
                        soc_target=soc_target,
                        vehicle=vehicle,
                        auth_method=AuthMethod.RFID,
                        auth_attempts=(AuthOutcome.ACCEPTED,),
                        auth_delay_s=0.0,
                        no_plug=False,
                        start_fails=False,
                        stop_early_s=math.nan,
                    )
                )
                arrive += period
        visits.sort(key=lambda v: v.arrive_s)
        plans.append(ChargerPlan(index, SiteType.PUBLIC_AC, tuple(visits), (), (), ()))
    return plans


def block_generator(seed: int, block: int) -> np.random.Generator:
    """The generator of one block of `SEED_BLOCK` chargers: same seed and block, same draws."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))


def _first_offsets(
    seed: int, indices: Sequence[int], connectors: int, spread_s: float
) -> np.ndarray:
    """Uniform first-arrival offsets in [0, spread_s) per (charger, connector), sampled in bulk."""
    index_array = np.asarray(indices, dtype=np.int64)
    out = np.empty((len(index_array), connectors))
    blocks = index_array // SEED_BLOCK
    for block in np.unique(blocks).tolist():
        draws = block_generator(seed, block).uniform(0.0, spread_s, size=(SEED_BLOCK, connectors))
        rows = blocks == block
        out[rows] = draws[index_array[rows] - block * SEED_BLOCK]
    return out
