"""A worker process: one uvloop loop running a shard of the fleet.

The parent talks to it over a pipe: the worker sends a stats snapshot every ~100 ms (tag b"S"),
a final one when it has stopped (b"F"), or an error (b"E"); the parent sends b"stop".
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import resource
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from simfleet.engine.connection import (
    Link,
    Slot,
    Stopping,
    reconnect_delays,
    retire,
    run_connection,
)
from simfleet.engine.probe import LagMeter, cpu_seconds, resident_bytes
from simfleet.engine.scheduler import Scheduler
from simfleet.scenario.model import Scenario
from simfleet.sim.agent import ChargerAgent
from simfleet.sim.fleet import build_agents, connect_at, shard
from simfleet.sim.scan import SCAN_SLICE, FleetScan, combine, scan
from simfleet.sim.stats import Recorder

SNAPSHOT_EVERY_S = 0.1
#: After the run ends, how long chargers get to deliver their StopTransactions.
STOP_GRACE_S = 3.0

TAG_SNAPSHOT = b"S"
TAG_FINAL = b"F"
TAG_ERROR = b"E"


@dataclass(frozen=True, slots=True)
class WorkerJob:
    scenario: Scenario
    target: str
    password: str
    worker: int
    workers: int
    start_at: float  # wall-clock time at which the ramp starts, shared by all workers


def worker_main(job: WorkerJob, pipe: Connection) -> None:
    """Entry point of a worker process."""
    import uvloop  # noqa: PLC0415 - imported in the child only: nothing happens at import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    raise_open_file_limit()
    try:
        uvloop.run(_run(job, pipe))
    except Exception as error:  # report, don't vanish: the parent shows it and exits non-zero
        with contextlib.suppress(OSError):
            pipe.send_bytes(TAG_ERROR + f"{type(error).__name__}: {error}".encode())
        raise


def tune_garbage_collector() -> None:
    """Keep full collections out of the hot path.

    Tens of thousands of long-lived chargers and connections make every full collection scan
    them all (measured: 15 full collections, 4.3 s of a 9.3 s boot storm of 10,000 chargers).
    Objects alive now are frozen out of collection; the thresholds make full collections rare;
    reference cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 1_000)


def raise_open_file_limit() -> int:
    """One socket per charger: lift the soft limit on open files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class _Worker:
    def __init__(self, job: WorkerJob, pipe: Connection) -> None:
        self.job = job
        self.pipe = pipe
        self.loop = asyncio.get_running_loop()
        self.recorder = Recorder()
        self.stopping = Stopping()
        self.stop_requested = asyncio.Event()
        # uvloop's loop.time() ticks in whole milliseconds: latencies need a finer clock.
        self.clock = precise_clock()
        self.scheduler = Scheduler(self.loop, self.clock)
        scenario = job.scenario
        indices = shard(scenario.chargers, job.workers, job.worker)
        self.agents = build_agents(scenario, indices, self.recorder, job.start_at)
        agents = self.agents
        self.slots = [Slot(agent, self.recorder) for agent in agents]
        self.recorder.planned = len(self.slots)
        self.rng = np.random.default_rng(
            np.random.SeedSequence(scenario.seed, spawn_key=(1 << 20, job.worker))
        )
        self.link = Link.for_scenario(scenario, job.target, job.password)
        self.new_delays = reconnect_delays(scenario, self.rng)

    async def ramp(self) -> None:
        """Start connections at the scenario's rate: one task here, not a sleeping task each."""
        rate = self.job.scenario.ramp_per_s
        for slot in self.slots:
            if self.stopping.set:
                return
            delay = connect_at(slot.agent.index, self.job.start_at, rate) - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            slot.task = self.loop.create_task(
                run_connection(
                    slot,
                    self.link,
                    self.scheduler,
                    self.clock,
                    self.stopping,
                    self.new_delays,
                )
            )

    async def report(self) -> None:
        gauges = GaugeRefresher(self.recorder, self.clock)
        while not self.stopping.set:
            gauges.refresh(self.agents)
            self.send(TAG_SNAPSHOT)
            await asyncio.sleep(SNAPSHOT_EVERY_S)

    def send(self, tag: bytes) -> None:
        snapshot = self.recorder.snapshot(self.job.worker, self.clock())
        self.pipe.send_bytes(tag + snapshot.to_wire())

    def on_pipe(self) -> None:
        try:
            message = self.pipe.recv_bytes()
        except (EOFError, OSError):
            message = b"stop"  # the parent is gone: stop rather than run unsupervised
        if message == b"stop":
            self.stop_requested.set()

    async def stop(self) -> None:
        """End the run gracefully: EVs leave, StopTransactions go out, connections close."""
        await retire(self.slots, self.scheduler, self.clock, STOP_GRACE_S)
        self.stopping.set = True
        self.scheduler.close()


class GaugeRefresher:
    """Keeps a recorder's scanned gauges and process health fresh, from a periodic loop: the
    loop's lateness is the lag, and each call scans the next slice of the fleet (all of it
    every `len(agents) / SCAN_SLICE` calls)."""

    def __init__(self, recorder: Recorder, clock: Callable[[], float]) -> None:
        self.recorder = recorder
        self.clock = clock
        self.lag = LagMeter()
        self.expected = 0.0
        self.next_slice = 0
        self.slices: dict[int, FleetScan] = {}  # slice start -> its latest scan

    def refresh(self, agents: list[ChargerAgent], period_s: float = SNAPSHOT_EVERY_S) -> None:
        now = self.clock()
        if self.expected:
            self.lag.woke(self.expected, now)
        start = self.next_slice if self.next_slice < len(agents) else 0
        self.slices[start] = scan(agents[start : start + SCAN_SLICE], now)
        self.next_slice = start + SCAN_SLICE
        if self.next_slice >= len(agents):  # a full round: forget slices of a shrunk fleet
            self.slices = {k: v for k, v in self.slices.items() if k < len(agents) or k == 0}
        self.recorder.scan = combine(self.slices.values())
        self.recorder.process = {
            "cpu_s": cpu_seconds(),
            "rss_bytes": float(resident_bytes()),
            "loop_lag_s": self.lag.lag_s,
        }
        # Lateness is measured from here: the scan's own time is not the loop's lag.
        self.expected = self.clock() + period_s


def precise_clock() -> Callable[[], float]:
    """Wall-clock seconds (for OCPP timestamps) that never jump (for latencies)."""
    monotonic = time.monotonic
    offset = time.time() - monotonic()
    return lambda: monotonic() + offset


async def _run(job: WorkerJob, pipe: Connection) -> None:
    worker = _Worker(job, pipe)
    loop = worker.loop
    loop.add_reader(pipe.fileno(), worker.on_pipe)
    loop.add_signal_handler(signal.SIGTERM, worker.stop_requested.set)
    tune_garbage_collector()  # the fleet is built: its objects never need scanning again
    ramp = loop.create_task(worker.ramp())
    reporter = loop.create_task(worker.report())
    await worker.stop_requested.wait()
    ramp.cancel()
    await asyncio.gather(ramp, return_exceptions=True)
    await worker.stop()
    reporter.cancel()
    await asyncio.gather(reporter, return_exceptions=True)
    loop.remove_reader(pipe.fileno())
    worker.send(TAG_FINAL)
