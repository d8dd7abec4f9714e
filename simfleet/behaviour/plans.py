"""The seam between behaviour and the simulated chargers: a planner hands out charging sessions.

This first planner uses fixed rates (the realistic, distribution-driven planners replace it
behind the same `Planner` protocol). Its only randomness is the offset of each connector's first
arrival, sampled in bulk so a fleet does not plug in all in the same second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: Chargers are seeded in blocks of this many, so a charger's draws do not depend on how the
#: fleet is split over worker processes.
SEED_BLOCK = 1024


@dataclass(frozen=True, slots=True)
class Session:
    """One EV visit to a connector, in absolute seconds."""

    arrive_at: float
    depart_at: float
    power_w: float
    energy_wh: float  # the EV stops drawing (SuspendedEV) once it has this much
    id_tag: str


class Planner(Protocol):
    def first_session(self, charger_index: int, connector_id: int, now: float) -> Session: ...

    def next_session(self, charger_index: int, connector_id: int, now: float) -> Session: ...


@dataclass(frozen=True, slots=True)
class FixedRates:
    """Parameters of the placeholder planner."""

    idle_s: float
    session_s: float
    power_w: float
    energy_wh: float
    id_tag: str  # a str.format pattern with {index}


class FixedRatePlanner:
    """Every connector: idle `idle_s`, then a `session_s` visit at `power_w`, forever."""

    def __init__(self, rates: FixedRates, seed: int, indices: Sequence[int], connectors: int):
        self.rates = rates
        offsets = _first_offsets(seed, indices, connectors, rates.idle_s)
        self._offsets = {index: row for index, row in zip(indices, offsets.tolist(), strict=True)}

    def _session(self, charger_index: int, arrive_at: float) -> Session:
        rates = self.rates
        return Session(
            arrive_at=arrive_at,
            depart_at=arrive_at + rates.session_s,
            power_w=rates.power_w,
            energy_wh=rates.energy_wh,
            id_tag=rates.id_tag.format(index=charger_index),
        )

    def first_session(self, charger_index: int, connector_id: int, now: float) -> Session:
        offset = self._offsets[charger_index][connector_id - 1]
        return self._session(charger_index, now + offset)

    def next_session(self, charger_index: int, connector_id: int, now: float) -> Session:
        return self._session(charger_index, now + self.rates.idle_s)


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
