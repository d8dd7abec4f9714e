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
    # The loop's own plain timers at the same instants: how late the machine itself makes
    # any timer (a stall of the shared machine is not the scheduler's lateness).
    control: list[float] = []

    async def main() -> list[Ticker]:
        loop = asyncio.get_running_loop()
        scheduler = Scheduler(loop, time.monotonic)
        start = time.monotonic()
        for due in [start + 0.01 * k for k in range(20)] + [start + 0.25]:
            loop.call_at(
                loop.time() + (due - time.monotonic()),
                lambda due=due: control.append(time.monotonic() - due),
            )
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
            assert ran - due < 0.2 + max(control)  # generous: shared machines are noisy


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
