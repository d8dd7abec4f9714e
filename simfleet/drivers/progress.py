"""Live progress: one self-rewriting line on a terminal, one line per interval otherwise."""

from __future__ import annotations

from typing import TextIO

from simfleet.sim.histogram import merge_sparse, percentile_s
from simfleet.sim.stats import Snapshot


class Progress:
    def __init__(self, planned: int, out: TextIO, every_s: float, quiet: bool) -> None:
        self.planned = planned
        self.out = out
        self.every_s = every_s
        self.quiet = quiet
        self.tty = out.isatty()
        self._last_at = -1e9
        self._last: Snapshot | None = None
        self._last_elapsed = 0.0
        self._drawn = False

    def update(self, totals: Snapshot, elapsed_s: float) -> None:
        if self.quiet or elapsed_s < 0 or elapsed_s - self._last_at < self.every_s:
            return
        line = self.line(totals, elapsed_s)
        self._last_at = elapsed_s
        if self.tty:
            self.out.write("\r\x1b[2K" + line)
            self._drawn = True
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def line(self, totals: Snapshot, elapsed_s: float) -> str:
        """The progress figures over the last interval (rates and latency) and in total."""
        previous = self._last
        span = max(elapsed_s - self._last_elapsed, 1e-9)
        frames = totals.frames["sent"] + totals.frames["received"]
        before = 0 if previous is None else previous.frames["sent"] + previous.frames["received"]
        buckets: dict[int, int] = {}
        errors = timeouts = 0
        for key, action in totals.actions.items():
            old = previous.actions.get(key) if previous is not None else None
            for index, count in action.buckets.items():
                delta = count - (old.buckets.get(index, 0) if old else 0)
                if delta:
                    buckets[index] = buckets.get(index, 0) + delta
            errors += action.error_count
            timeouts += action.timeouts
        self._last = totals
        self._last_elapsed = elapsed_s
        k = totals.connections
        return (
            f"[{elapsed_s:6.0f}s] connected {totals.gauges['connected']}/{self.planned} "
            f"booted {totals.gauges['booted']} | {(frames - before) / span:7.0f} msg/s | "
            f"p50 {percentile_s(buckets, 0.5) * 1000:6.1f} ms "
            f"p99 {percentile_s(buckets, 0.99) * 1000:6.1f} ms | "
            f"errors {errors} timeouts {timeouts} | "
            f"failed {k['failed']} dropped {k['dropped']} reconnects {k['reconnects']}"
            f"{commands_part(totals)}{strict_part(totals)}"
        )

    def finish(self) -> None:
        if self._drawn:
            self.out.write("\n")
            self.out.flush()


def commands_part(totals: Snapshot) -> str:
    """CSMS commands handled so far and their p95 handling time (only once there are any)."""
    if not totals.commands:
        return ""
    buckets = merge_sparse(h.buckets for h in totals.command_times.values())
    return (
        f" | commands {sum(totals.commands.values())} "
        f"p95 {percentile_s(buckets, 0.95) * 1000:.2f} ms"
    )


def strict_part(totals: Snapshot) -> str:
    """Strict mode: schema violations so far (the figure is there from the first frame)."""
    if not totals.validated:
        return ""
    return f" | schema violations {sum(totals.violations.values())}"
