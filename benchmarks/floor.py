"""The floor: the least code that does simfleet's round trips, in a process of its own.

A bare websockets + uvloop + orjson client: N connections opened at the same ramp rate simfleet
uses, each doing the CALLs a simfleet charger does at boot (a BootNotification, then a
StatusNotification for the charger and each connector, one at a time), then one Heartbeat CALL per
`heartbeat_s`, paced from the boot answer as simfleet paces them. Every CALL is
`send(orjson bytes, text=True)`, `await recv()` and an orjson parse of the answer. No state
machine, no statistics, no scheduler: what Python itself costs for this traffic on this machine,
so simfleet's CPU per round trip can be quoted as a ratio to it, measured in the same invocation
against the same sink.

The bench reads this process's CPU time and RSS from outside; the process only runs until the
bench sends "stop" (or goes away), then reports what it did.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

_SPAWN = multiprocessing.get_context("spawn")
BOOT_PAYLOAD = {
    "chargePointVendor": "floor",
    "chargePointModel": "floor",
    "chargePointSerialNumber": "floor",
    "firmwareVersion": "floor",
}
RETRY_S = 1.0
CLOSE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class FloorConfig:
    url: str
    chargers: int
    ramp_per_s: float
    heartbeat_s: float
    start_at: float  # wall clock: the ramp starts then, after this process has imported all
    connectors: int = 2  # StatusNotifications after boot: one per connector, plus connector 0
    connect_timeout_s: float = 30.0


@dataclass
class FloorCounters:
    connected: int = 0
    booted: int = 0
    failures: int = 0
    round_trips: int = 0


class Floor:
    """N paced connections, a task each: the plain way to write this client."""

    def __init__(self, config: FloorConfig) -> None:
        self.config = config
        self.counters = FloorCounters()
        self.sockets: list[ClientConnection] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def ramp(self) -> None:
        """Open connections at `ramp_per_s`, the way simfleet's ramp does (one sleeping task)."""
        loop = asyncio.get_running_loop()
        start = loop.time() + max(0.0, self.config.start_at - time.time())
        rate = self.config.ramp_per_s
        for index in range(self.config.chargers):
            delay = start + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.tasks.append(loop.create_task(self.charger(index + 1)))

    async def charger(self, index: int) -> None:
        ws = await self.open(f"{self.config.url}/FLOOR-{index:06d}")
        self.sockets.append(ws)
        with contextlib.suppress(ConnectionClosed):
            await self.exchange(ws)

    async def open(self, url: str) -> ClientConnection:
        while True:
            try:
                ws = await connect(
                    url,
                    subprotocols=[Subprotocol("ocpp1.6")],
                    compression=None,
                    proxy=None,
                    ping_interval=None,
                    open_timeout=self.config.connect_timeout_s,
                    user_agent_header=None,
                )
            except (OSError, InvalidHandshake, TimeoutError):
                self.counters.failures += 1
                await asyncio.sleep(RETRY_S)
                continue
            self.counters.connected += 1
            return ws

    async def exchange(self, ws: ClientConnection) -> None:
        """Boot and report statuses, then heartbeats every `heartbeat_s` from the boot answer."""
        loop = asyncio.get_running_loop()
        dumps, loads = orjson.dumps, orjson.loads
        await ws.send(dumps([2, "1", "BootNotification", BOOT_PAYLOAD]), text=True)
        loads(await ws.recv(decode=False))
        self.counters.booted += 1
        interval = self.config.heartbeat_s
        due = loop.time() + interval
        message_id = 1
        for connector_id in range(self.config.connectors + 1):
            message_id += 1
            status = status_payload(connector_id)
            await ws.send(dumps([2, str(message_id), "StatusNotification", status]), text=True)
            loads(await ws.recv(decode=False))
        counters = self.counters
        while True:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            message_id += 1
            await ws.send(dumps([2, str(message_id), "Heartbeat", {}]), text=True)
            loads(await ws.recv(decode=False))
            counters.round_trips += 1
            due += interval
            now = loop.time()
            if due <= now:  # fell behind: restart the period from now, as simfleet does
                due = now + interval

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        closing = [ws.close() for ws in self.sockets]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.gather(*closing, return_exceptions=True)


def status_payload(connector_id: int) -> dict[str, Any]:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    return {
        "connectorId": connector_id,
        "errorCode": "NoError",
        "status": "Available",
        "timestamp": stamp,
    }


def floor_main(config: FloorConfig, pipe: Connection) -> None:
    """Entry point of the floor process."""
    import uvloop  # noqa: PLC0415 - the child's loop only

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the bench, which stops us
    uvloop.run(_run(config, pipe))


async def _run(config: FloorConfig, pipe: Connection) -> None:
    floor = Floor(config)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(pipe.fileno(), stop.set)  # "stop", or EOF when the bench is gone
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    ramp = loop.create_task(floor.ramp())
    await stop.wait()
    loop.remove_reader(pipe.fileno())
    ramp.cancel()
    await asyncio.gather(ramp, return_exceptions=True)
    await floor.close()
    with contextlib.suppress(OSError):
        pipe.send(asdict(floor.counters))


class FloorProcess:
    """The bench's handle on the floor process."""

    def __init__(self, config: FloorConfig) -> None:
        self._pipe, child_end = _SPAWN.Pipe(duplex=True)
        self.process = _SPAWN.Process(target=floor_main, args=(config, child_end), name="floor")
        self.process.start()
        child_end.close()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Ask it to close its connections and report; end it by its handle if it hangs."""
        report: dict[str, Any] = {}
        with contextlib.suppress(OSError):
            self._pipe.send("stop")
            if self._pipe.poll(timeout_s):
                report = self._pipe.recv()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self._pipe.close()
        return report
