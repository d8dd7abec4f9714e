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
MIN_DELAY_S = 0.001


class Steppable(Protocol):
    wake_at: float

    def step(self, now: float) -> None: ...

    def next_wakeup(self) -> float: ...


class Scheduler:
    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Callable[[], float]) -> None:
        """`clock()` returns the simulation's now, the time every `next_wakeup()` is in."""
        self._loop = loop
        self._clock = clock
        self._heap: list[tuple[float, int, Steppable]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = NEVER

    def __len__(self) -> int:
        return len(self._heap)

    def now(self) -> float:
        """The clock every `next_wakeup()` is read against."""
        return self._clock()

    def update(self, item: Steppable, not_before: float = 0.0) -> None:
        """Re-read `item.next_wakeup()` and make sure the scheduler will wake it then.

        `not_before`: an item just stepped that still says it is due is a bug elsewhere; it is
        woken a little later rather than at once, so one charger can never spin a worker.
        """
        when = item.next_wakeup()
        if when < not_before:
            when = not_before
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
        # Delays, not loop.time() deadlines: uvloop's loop.time() ticks in whole milliseconds
        # and is cached per loop pass, so a timer may fire a little before `when` by our
        # clock. A not-yet-due wake-up is therefore re-armed at least 1 ms ahead, so it never
        # spins; an early one only costs a re-arm, a late one at most ~1 ms.
        delay = when - self._clock()
        self._handle = self._loop.call_later(
            delay if delay <= 0 else max(delay, MIN_DELAY_S), self._fire
        )

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
            self.update(item, not_before=now + MIN_DELAY_S)
        if heap:
            self._arm(heap[0][0])
