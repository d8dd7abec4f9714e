"""CPU time and RSS of the processes under test, read from outside with psutil.

The bench measures every client (the floor client and simfleet's workers) the same way, from the
parent, so neither side pays for its own measurement and both are read at the same instants.
CPU is the time each process itself spent on a CPU (never its children's): per-operation cost is
CPU time divided by operations, never wall time, because the machine is shared and noisy.

CPU time is read from /proc/PID/task/*/schedstat (nanoseconds, every thread of the process) where
the kernel has it: psutil's user + system times tick at 100 Hz, a 10 ms step that is several per
cent of a short window at a low message rate. psutil is the fallback.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class Sample:
    """CPU seconds and RSS bytes of a set of processes at one instant."""

    cpu_s: float
    rss_bytes: int
    processes: int


class Tracked:
    """A fixed or growing set of processes, read together.

    psutil.Process objects are kept by pid so a process is only ever read through the handle
    that saw it first (a recycled pid is detected by psutil and dropped, not misread).
    """

    def __init__(self, pids: Iterable[int] = ()) -> None:
        self._procs: dict[int, psutil.Process] = {}
        self.add(pids)

    def add(self, pids: Iterable[int]) -> None:
        for pid in pids:
            if pid not in self._procs:
                try:
                    self._procs[pid] = psutil.Process(pid)
                except psutil.NoSuchProcess:
                    continue

    @property
    def pids(self) -> list[int]:
        return sorted(self._procs)

    def handles(self) -> list[psutil.Process]:
        return list(self._procs.values())

    def sample(self) -> Sample:
        cpu = 0.0
        rss = 0
        alive = 0
        for proc in list(self._procs.values()):
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    memory = proc.memory_info()
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            precise = schedstat_seconds(proc.pid)
            cpu += times.user + times.system if precise is None else precise
            rss += memory.rss
            alive += 1
        return Sample(cpu_s=cpu, rss_bytes=rss, processes=alive)


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (simfleet's worker processes, for the simfleet CLI)."""
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def schedstat_seconds(pid: int) -> float | None:
    """On-CPU seconds of every thread of `pid`, in ns resolution; None if not available.

    The first field of /proc/PID/task/TID/schedstat is the thread's total run time in ns. A
    kernel without scheduler info shows 0 there: then this returns None and psutil is used.
    """
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as file:
                total += int(file.read().split(maxsplit=1)[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
    return total / 1e9 if total else None


def cpu_seconds(pid: int) -> float:
    """CPU seconds of one process (0.0 if it is gone)."""
    precise = schedstat_seconds(pid)
    if precise is not None:
        return precise
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


#: Kernel TCP counters that explain a slow boot storm: SYNs dropped at a full accept queue cost
#: the client a 1 s (then 3 s...) SYN retransmission.
TCP_COUNTERS = ("ListenOverflows", "ListenDrops", "TCPSynRetrans", "TCPTimeouts")


def tcp_counters() -> dict[str, int]:
    """The TcpExt counters of /proc/net/netstat named in TCP_COUNTERS (empty if unreadable)."""
    try:
        with open("/proc/net/netstat", encoding="ascii") as file:
            lines = file.read().splitlines()
    except OSError:
        return {}
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        keys, numbers = names.split(), values.split()
        if keys and keys[0] == "TcpExt:":
            table = dict(zip(keys[1:], numbers[1:], strict=False))
            return {name: int(table[name]) for name in TCP_COUNTERS if name in table}
    return {}
