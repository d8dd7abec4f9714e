"""ONE timer for all the chargers of a process.

Each charger says when it next needs to act (`next_wakeup()`, an absolute time); the scheduler
keeps those times in a heap and arms a single loop timer for the earliest. No task sleeps per
charger per timer: 20,000 chargers cost one timer handle and a heap of floats.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Protocol

NEVER = float("inf")
#: Chargers stepped per timer callback before yielding to the loop, so a burst of due timers
#: cannot starve the sockets.
BATCH = 2000


class Steppable(Protocol):
    wake_at: float

    def step(self, now: float) -> None: ...

    def next_wakeup(self) -> float: ...


class Scheduler:
    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Callable[[], float]) -> None:
        """`clock()` returns the simulation's now; `loop.time()` is that minus `offset`."""
        self._loop = loop
        self._clock = clock
        self._offset = clock() - loop.time()
        self._heap: list[tuple[float, int, Steppable]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = NEVER

    def __len__(self) -> int:
        return len(self._heap)

    def update(self, item: Steppable) -> None:
        """Re-read `item.next_wakeup()` and make sure the scheduler will wake it then."""
        when = item.next_wakeup()
        if when == item.wake_at:
            return
        item.wake_at = when
        if when == NEVER:
            return  # any older heap entry is now stale and will be skipped
        heapq.heappush(self._heap, (when, next(self._seq), item))
        if when < self._armed_at:
            self._arm(when)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._heap.clear()

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = when
        self._handle = self._loop.call_at(when - self._offset, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = NEVER
        now = self._clock()
        heap = self._heap
        for _ in range(BATCH):
            if not heap or heap[0][0] > now:
                break
            when, _seq, item = heapq.heappop(heap)
            if item.wake_at != when:
                continue  # superseded by a later update
            item.wake_at = NEVER
            item.step(now)
            self.update(item)
        if heap:
            self._arm(heap[0][0])
