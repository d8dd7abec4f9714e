"""An engine child driven over stdin/stdout: the process a Locust worker controls.

`python -m simfleet.engine.child` reads one JSON line (the job), then command lines:
``{"cmd": "spawn", "count": N, "rate": R}`` grows or shrinks the fleet to N chargers at R per
second, ``{"cmd": "stop"}`` ends every transaction, closes the connections and exits. It writes
JSON lines: ``{"type": "locust", ...}`` (Locust StatsEntry deltas, every ~100 ms),
``{"type": "fleet", ...}`` (gauges, every second), ``{"type": "error", ...}``, and finally
``{"type": "stopped"}``. It never imports gevent or Locust: asyncio lives here.

Charger indices are `index_base + k * index_stride` (k = 0, 1, ...): a Locust worker gets its own
base, so two workers never use the same identity.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from simfleet.engine.connection import (
    Link,
    Slot,
    Stopping,
    reconnect_delays,
    retire,
    run_connection,
)
from simfleet.engine.scheduler import Scheduler
from simfleet.engine.worker import (
    STOP_GRACE_S,
    GaugeRefresher,
    precise_clock,
    raise_open_file_limit,
    tune_garbage_collector,
)
from simfleet.protocol.v16.charger import Status
from simfleet.scenario import Scenario, load
from simfleet.sim.fleet import build_agents
from simfleet.sim.locust_tally import LocustTally
from simfleet.sim.scan import scan
from simfleet.sim.stats import Recorder

TALLY_EVERY_S = 0.1
FLEET_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class ChildJob:
    scenario_path: str
    target: str
    password: str
    index_base: int
    index_stride: int
    label: str  # shown in the Fleet tab, e.g. the Locust worker id
    worker: int = 0  # the Locust worker index: the `worker` label of its metrics
    strict: bool = False  # --simfleet-strict: check every frame against the OCPP schemas

    @classmethod
    def from_json(cls, data: bytes) -> ChildJob:
        raw = orjson.loads(data)
        return cls(
            raw["scenario"],
            raw["target"],
            raw.get("password", ""),
            int(raw["index_base"]),
            int(raw.get("index_stride", 1)),
            raw.get("label", ""),
            int(raw.get("worker", 0)),
            bool(raw.get("strict", False)),
        )


class _Out:
    """JSON lines to stdout; the reader is a greenlet in the Locust process."""

    def __init__(self) -> None:
        self._stream = sys.stdout.buffer

    def send(self, message: dict[str, Any]) -> None:
        try:
            self._stream.write(orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS) + b"\n")
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # the parent is gone; the stdin EOF will stop us


class ControlledFleet:
    def __init__(self, job: ChildJob, scenario: Scenario, out: _Out) -> None:
        self.job = job
        self.scenario = scenario
        self.out = out
        self.loop = asyncio.get_running_loop()
        self.clock = precise_clock()
        self.wall0 = self.clock()
        self.recorder = Recorder()
        self.recorder.tally = LocustTally()
        self.scheduler = Scheduler(self.loop, self.clock)
        self.stopping = Stopping()
        self.slots: list[Slot] = []
        self.target_count = 0
        self.rate = 1.0
        self.grow_task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()
        # Reconnect jitter: its own stream of the scenario seed, per Locust worker.
        self.rng = np.random.default_rng(
            np.random.SeedSequence(scenario.seed, spawn_key=(1 << 21, job.index_base))
        )
        self.link = Link.for_scenario(scenario, job.target, job.password)
        self.new_delays = reconnect_delays(scenario, self.rng)

    def index_of(self, k: int) -> int:
        return self.job.index_base + k * self.job.index_stride

    # -- commands ------------------------------------------------------------------------------

    def command(self, raw: dict[str, Any]) -> None:
        cmd = raw.get("cmd")
        if cmd == "spawn":
            self.target_count = max(0, int(raw["count"]))
            self.rate = max(0.1, float(raw.get("rate", 1.0)))
            if self.grow_task is None or self.grow_task.done():
                self.grow_task = self.loop.create_task(self.resize())
        elif cmd == "stop":
            self.done.set()
        else:
            self.out.send({"type": "error", "message": f"unknown command {raw!r}"})

    async def resize(self) -> None:
        """Grow at `rate` chargers per second, or shrink at once, until the target count."""
        while not self.stopping.set and len(self.slots) != self.target_count:
            if len(self.slots) > self.target_count:
                await self.remove(self.slots[self.target_count :])
                del self.slots[self.target_count :]
                continue
            batch = max(1, min(self.target_count - len(self.slots), int(self.rate / 10) or 1))
            self.add(batch)
            await asyncio.sleep(batch / self.rate)

    def add(self, count: int) -> None:
        first = len(self.slots)
        indices = [self.index_of(k) for k in range(first, first + count)]
        agents = build_agents(self.scenario, indices, self.recorder, self.wall0)
        for agent in agents:
            slot = Slot(agent, self.recorder)
            self.slots.append(slot)
            self.recorder.planned += 1
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

    async def remove(self, slots: list[Slot]) -> None:
        """EVs leave (StopTransactions go out), then the connections close."""
        await retire(slots, self.scheduler, self.clock, STOP_GRACE_S)
        self.recorder.planned -= len(slots)
        # Their energy stays delivered: the fleet's energy counter must never go down.
        gone = scan([slot.agent for slot in slots], self.clock())
        self.recorder.retired_energy_wh += gone.energy_wh

    # -- reports -------------------------------------------------------------------------------

    async def report(self) -> None:
        next_fleet = 0.0
        tally = self.recorder.tally
        assert tally is not None
        gauges = GaugeRefresher(self.recorder, self.clock)
        while not self.stopping.set:
            gauges.refresh([slot.agent for slot in self.slots], TALLY_EVERY_S)
            now = self.clock()
            deltas = tally.drain(now)
            if deltas is not None:
                self.out.send({"type": "locust", **deltas})
            if now >= next_fleet:
                self.send_fleet()
                next_fleet = now + FLEET_EVERY_S
            await asyncio.sleep(TALLY_EVERY_S)

    def send_fleet(self) -> None:
        """The Fleet tab's row and the full stats snapshot (for the metrics endpoint)."""
        self.out.send(self.fleet_gauges())
        snapshot = self.recorder.snapshot(self.job.worker, self.clock())
        self.out.send({"type": "snapshot", "snapshot": snapshot.to_dict()})

    def fleet_gauges(self) -> dict[str, Any]:
        """Connector status counts, transactions, power and energy, from the latest scan."""
        statuses = dict.fromkeys((s.value for s in Status), 0)
        fleet_scan = self.recorder.scan
        for key, count in fleet_scan.connectors.items():
            status = key.partition("|")[2]
            statuses[status] = statuses.get(status, 0) + count
        transactions = sum(fleet_scan.active.values())
        power = fleet_scan.power_w
        r = self.recorder
        energy = fleet_scan.energy_wh + r.retired_energy_wh
        return {
            "type": "fleet",
            "label": self.job.label,
            "pid": os.getpid(),
            "planned": len(self.slots),
            "connected": r.connected,
            "booted": r.booted_count,
            "statuses": statuses,
            "transactions": transactions,
            "power_w": round(power, 1),
            "energy_wh": round(energy, 1),
            "reconnects": r.reconnects,
            "dropped": r.dropped,
            "failed": r.failed,
            "offline": r.offline,
        }

    async def stop(self) -> None:
        await self.remove(self.slots)
        self.slots.clear()
        self.stopping.set = True
        self.scheduler.close()


async def _main(job: ChildJob) -> None:
    out = _Out()
    scenario = load(job.scenario_path)
    if job.strict:
        scenario = scenario.with_overrides(strict=True)
    fleet = ControlledFleet(job, scenario, out)
    loop = fleet.loop
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    loop.add_signal_handler(signal.SIGTERM, fleet.done.set)
    tune_garbage_collector()
    reporter = loop.create_task(fleet.report())

    async def read_commands() -> None:
        while not fleet.done.is_set():
            line = await reader.readline()
            if not line:  # the Locust process is gone: stop rather than run unsupervised
                fleet.done.set()
                return
            try:
                fleet.command(orjson.loads(line))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                out.send({"type": "error", "message": f"bad command {line!r}: {error}"})

    commands = loop.create_task(read_commands())
    await fleet.done.wait()
    commands.cancel()
    if fleet.grow_task is not None:
        fleet.grow_task.cancel()
    await fleet.stop()
    tally = fleet.recorder.tally
    assert tally is not None
    deltas = tally.drain(fleet.clock())
    if deltas is not None:
        out.send({"type": "locust", **deltas})
    fleet.recorder.scan = scan([slot.agent for slot in fleet.slots], fleet.clock())
    fleet.send_fleet()
    out.send({"type": "stopped"})
    reporter.cancel()
    await asyncio.gather(reporter, commands, return_exceptions=True)


def _read_line(fd: int) -> bytes:
    """One line from `fd`, unbuffered: what follows it stays for the event loop's reader."""
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        line += chunk
    return bytes(line)


def main() -> None:
    import uvloop  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the Locust process decides
    raise_open_file_limit()
    job = ChildJob.from_json(_read_line(0))
    try:
        uvloop.run(_main(job))
    except Exception as error:
        sys.stdout.buffer.write(
            orjson.dumps({"type": "error", "message": f"{type(error).__name__}: {error}"}) + b"\n"
        )
        sys.stdout.flush()
        raise


if __name__ == "__main__":
    main()
