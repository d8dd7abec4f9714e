"""Reconnect delays as a pure generator: exponential with full jitter, capped.

"Full jitter" (a uniform draw in [0, capped exponential]) spreads a reconnect storm over the
whole window instead of re-synchronising chargers that dropped together. The floor `min_s` keeps
a charger from hammering a CSMS that refuses it at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def backoff(
    rng: np.random.Generator, min_s: float, max_s: float, factor: float, batch: int = 16
) -> Iterator[float]:
    """Delays before attempt 1, 2, ...: min_s + U(0, min(max_s, min_s * factor**n) - min_s)."""
    ceiling = min_s
    while True:
        draws = rng.random(batch).tolist()  # drawn in small batches: one call per 16 delays
        for draw in draws:
            yield min_s + draw * (ceiling - min_s)
            ceiling = min(max_s, ceiling * factor)


def ocpp2_backoff(
    rng: np.random.Generator, wait_minimum: float, random_range: float, repeat_times: int
) -> Iterator[float]:
    """OCPP 2.0.1 reconnects (Part 4 §5.3, OCPPCommCtrlr RetryBackOff*): the first attempt after
    RetryBackOffWaitMinimum plus a random value of at most RetryBackOffRandomRange; after each
    failed attempt the wait doubles, at most RetryBackOffRepeatTimes times, with a new random
    value each time."""
    doublings = 0
    while True:
        yield wait_minimum * 2**doublings + float(rng.random()) * random_range
        doublings = min(doublings + 1, max(repeat_times, 0))
