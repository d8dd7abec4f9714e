"""The parent side of the worker processes: start them, merge their snapshots, stop them."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from simfleet.engine.worker import TAG_ERROR, TAG_FINAL, TAG_SNAPSHOT, WorkerJob, worker_main
from simfleet.scenario.model import Scenario
from simfleet.sim.stats import Snapshot, merge

#: Workers are spawned, not forked: a clean interpreter with no inherited loop or locks.
_CONTEXT = multiprocessing.get_context("spawn")


@dataclass
class _Child:
    process: BaseProcess
    pipe: Connection
    latest: Snapshot
    final: bool = False
    error: str = ""


@dataclass
class Fleet:
    """Worker processes running one scenario; `totals()` is the fleet-wide snapshot."""

    scenario: Scenario
    target: str
    password: str
    workers: int
    start_at: float = 0.0
    children: list[_Child] = field(default_factory=list)

    def start(self, lead_s: float = 1.0) -> None:
        """Spawn the workers; the ramp starts `lead_s` from now so all start together."""
        self.start_at = time.time() + lead_s
        for index in range(self.workers):
            parent_end, child_end = _CONTEXT.Pipe(duplex=True)
            job = WorkerJob(
                self.scenario, self.target, self.password, index, self.workers, self.start_at
            )
            process = _CONTEXT.Process(
                target=worker_main, args=(job, child_end), name=f"simfleet-worker-{index}"
            )
            process.start()
            child_end.close()
            self.children.append(_Child(process, parent_end, Snapshot.empty(index)))

    def poll(self, timeout_s: float) -> None:
        """Take every message the workers sent, waiting at most `timeout_s` for the first."""
        pipes = [c.pipe for c in self.children if not c.final and not c.pipe.closed]
        if not pipes:
            time.sleep(timeout_s)
            return
        for ready in wait(pipes, timeout_s):
            child = next(c for c in self.children if c.pipe is ready)
            self._drain(child)

    def _drain(self, child: _Child) -> None:
        pipe = child.pipe
        while not child.final and pipe.poll():
            try:
                message = pipe.recv_bytes()
            except (EOFError, OSError):
                child.final = True
                if not child.error:
                    child.error = f"worker {self.children.index(child)} exited unexpectedly"
                return
            tag, body = message[:1], message[1:]
            if tag == TAG_ERROR:
                child.error = body.decode(errors="replace")
            elif tag in (TAG_SNAPSHOT, TAG_FINAL):
                child.latest = Snapshot.from_wire(body)
                child.final = tag == TAG_FINAL

    def latest(self) -> list[Snapshot]:
        """Each worker's latest snapshot (safe to call from another thread: each one is
        immutable and replaced whole)."""
        return [c.latest for c in list(self.children)]

    def totals(self) -> Snapshot:
        return merge([c.latest for c in self.children])

    def errors(self) -> list[str]:
        return [c.error for c in self.children if c.error]

    def alive(self) -> bool:
        return any(not c.final for c in self.children)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Ask every worker to stop, collect final snapshots, and reap the processes."""
        for child in self.children:
            if not child.final:
                try:
                    child.pipe.send_bytes(b"stop")
                except OSError:
                    child.final = True
        deadline = time.monotonic() + timeout_s
        while self.alive() and time.monotonic() < deadline:
            self.poll(0.1)
            for child in self.children:
                if not child.final and not child.process.is_alive():
                    self._drain(child)
                    if not child.final:
                        child.final = True
                        child.error = child.error or "worker exited without a final report"
        for child in self.children:
            child.process.join(timeout=5)
            if child.process.is_alive():  # our own child, by its handle: stuck, so end it
                child.process.kill()
                child.process.join(timeout=5)
            child.pipe.close()
