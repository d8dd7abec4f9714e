"""The one-timer scheduler, on a real uvloop loop."""

from __future__ import annotations

import asyncio
import time

import uvloop

from simfleet.engine.scheduler import NEVER, Scheduler


class Ticker:
    """Wants to run at each of `times` (absolute clock seconds)."""

    def __init__(self, times: list[float]) -> None:
        self.times = times
        self.ran: list[tuple[float, float]] = []
        self.wake_at = NEVER

    def next_wakeup(self) -> float:
        return self.times[0] if self.times else NEVER

    def step(self, now: float) -> None:
        while self.times and self.times[0] <= now:
            self.ran.append((self.times.pop(0), now))


def test_every_item_runs_at_its_times_in_order() -> None:
    async def main() -> list[Ticker]:
        loop = asyncio.get_running_loop()
        scheduler = Scheduler(loop, time.monotonic)
        start = time.monotonic()
        tickers = [Ticker([start + 0.01 * (i % 20), start + 0.25]) for i in range(3000)]
        for ticker in tickers:
            scheduler.update(ticker)
        # One earlier item arriving later re-arms the single timer.
        late = Ticker([start + 0.005])
        scheduler.update(late)
        tickers.append(late)
        await asyncio.sleep(0.5)
        assert len(scheduler) == 0
        return tickers

    tickers = uvloop.run(main())
    for ticker in tickers:
        assert not ticker.times
        for due, ran in ticker.ran:
            assert ran >= due
            assert ran - due < 0.2  # generous: shared machines are noisy


def test_rescheduling_earlier_and_cancelling() -> None:
    async def main() -> tuple[Ticker, Ticker]:
        loop = asyncio.get_running_loop()
        scheduler = Scheduler(loop, time.monotonic)
        now = time.monotonic()
        moved = Ticker([now + 10.0])
        scheduler.update(moved)
        moved.times = [now + 0.02]
        scheduler.update(moved)
        cancelled = Ticker([now + 0.01])
        scheduler.update(cancelled)
        cancelled.times = []
        scheduler.update(cancelled)
        await asyncio.sleep(0.1)
        scheduler.close()
        return moved, cancelled

    moved, cancelled = uvloop.run(main())
    assert len(moved.ran) == 1
    assert cancelled.ran == []
