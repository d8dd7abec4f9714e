"""The simulator's own health, read from the OS: CPU time, resident memory, event-loop lag."""

from __future__ import annotations

import os
import resource
import time

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def cpu_seconds() -> float:
    """User + system CPU time of this process."""
    return time.process_time()


def resident_bytes() -> int:
    """Current resident set size (Linux /proc); the peak where /proc is missing."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class LagMeter:
    """The worst lateness of a periodic timer over the last `window_s` seconds."""

    __slots__ = ("_worst", "_worst_at", "lag_s", "window_s")

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self.lag_s = 0.0  # the value to report
        self._worst = 0.0
        self._worst_at = 0.0

    def woke(self, intended: float, now: float) -> None:
        late = max(0.0, now - intended)
        self._worst = max(self._worst, late)
        if now - self._worst_at >= self.window_s:
            self.lag_s = self._worst
            self._worst = 0.0
            self._worst_at = now
