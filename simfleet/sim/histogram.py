"""Latency histograms with HDR-style log buckets: 1 % relative error, mergeable by addition.

Bucket `i` holds values in [G**i, G**(i+1)) microseconds with G = 1.02; a percentile is reported
as the bucket's geometric middle G**(i + 0.5), at most sqrt(1.02) - 1 = 0.995 % from any value in
the bucket. Every process uses the same layout, so merging workers is adding counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final

GROWTH: Final = 1.02
_INV_LOG_GROWTH: Final = 1.0 / math.log(GROWTH)
#: 1.02 ** 1000 µs is about 6.6 minutes: anything slower lands in the last bucket.
BUCKETS: Final = 1000


def bucket_of(seconds: float) -> int:
    micros = seconds * 1e6
    if micros < 1.0:
        return 0
    index = int(math.log(micros) * _INV_LOG_GROWTH)
    return index if index < BUCKETS else BUCKETS - 1


def bucket_value_s(index: int) -> float:
    """The representative latency of a bucket, in seconds."""
    return float(GROWTH ** (index + 0.5) / 1e6)


class Histogram:
    """Counts per bucket plus the exact maximum and sum; a plain list so recording is one
    increment."""

    __slots__ = ("count", "counts", "max_s", "sum_s")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.count = 0
        self.max_s = 0.0
        self.sum_s = 0.0  # Prometheus histograms carry the exact sum

    def record(self, seconds: float) -> None:
        self.counts[bucket_of(seconds)] += 1
        self.count += 1
        self.sum_s += seconds
        if seconds > self.max_s:
            self.max_s = seconds

    def sparse(self) -> list[tuple[int, int]]:
        """Non-empty buckets as (index, count): what crosses process boundaries."""
        return [(i, c) for i, c in enumerate(self.counts) if c]


def merge_sparse(parts: Iterable[Mapping[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for part in parts:
        for index, count in part.items():
            merged[index] = merged.get(index, 0) + count
    return merged


def percentile_s(buckets: Mapping[int, int], fraction: float) -> float:
    """The latency below which `fraction` of the samples fall (0.0 if there are none)."""
    total = sum(buckets.values())
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= rank:
            return bucket_value_s(index)
    return bucket_value_s(max(buckets))
