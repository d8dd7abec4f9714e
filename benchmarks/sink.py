"""A fast OCPP 1.6J sink: answers every CALL at once, counts what it saw, in its own process(es).

The sink is the benchmark's CSMS. It must not be the bottleneck, so it does the least a CSMS can
(orjson, no validation, no per-message task, a cached timestamp) and runs in processes of its own:
one by default, or several bound to one port with SO_REUSEPORT when one core is not enough. Its CPU
time is measured too and reported next to the clients', so a saturated sink shows in the figures.

Python's cyclic garbage collector is kept out of the way: measured during a 10k boot storm, the
sink spent ~4 s of an ~9 s storm in full (generation 2) collections of 150-400 ms each, because
every new connection survives into the old generation and each 25 % growth of it triggers a full
scan. The sink therefore never runs a full collection on its own: generation 2 is collected only
at a reset, between phases, when no client is connected.

It counts CALLs per action and keeps the time (CLOCK_MONOTONIC, shared by every process of the
machine) of every BootNotification and of the first connection since the last reset: the bench
reads them over a pipe to time the boot storm and to count round trips in a measuring window.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import signal
import socket
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

_SPAWN = multiprocessing.get_context("spawn")
#: Big enough that a boot storm of 10k connections is not dropped at the listen queue (the
#: kernel caps it at net.core.somaxconn, 4096 here).
BACKLOG = 4096
START_TIMEOUT_S = 30.0
REPLY_TIMEOUT_S = 10.0
#: Young generations as usual (cycles that die young are freed), generation 2 practically never:
#: it needs 1,000 generation-1 collections, each after 20 generation-0 ones of 10,000 objects.
GC_THRESHOLDS = (10_000, 20, 1_000)


@dataclass(frozen=True, slots=True)
class SinkConfig:
    host: str
    port: int  # 0: any free port (only for the first of several sinks)
    heartbeat_s: int  # the `interval` of BootNotification answers
    reuse_port: bool


@dataclass
class SinkCounters:
    """What one sink process saw since its last reset."""

    connections: int = 0  # open now (not reset: a gauge)
    connections_total: int = 0
    first_connect_at: float = 0.0  # monotonic; 0.0 = none yet
    calls: dict[str, int] = field(default_factory=dict)
    boot_times: array[float] = field(default_factory=lambda: array("d"))

    def reset(self) -> None:
        self.connections_total = 0
        self.first_connect_at = 0.0
        self.calls = {}
        self.boot_times = array("d")

    def summary(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "connections_total": self.connections_total,
            "first_connect_at": self.first_connect_at,
            "calls": dict(self.calls),
            "boots": len(self.boot_times),
        }


class _Clock:
    """`currentTime` for answers, formatted once per second rather than once per message."""

    def __init__(self) -> None:
        self.text = ""
        self.second = -1

    def now(self) -> str:
        second = int(time.time())
        if second != self.second:
            self.second = second
            self.text = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(second))
        return self.text


class Sink:
    """The answering logic of one sink process."""

    def __init__(self, heartbeat_s: int) -> None:
        self.heartbeat_s = heartbeat_s
        self.counters = SinkCounters()
        self.clock = _Clock()
        self.transaction_id = 0

    def answer(self, action: str, now: float) -> dict[str, Any]:
        """The CALLRESULT payload for `action`; records boots with their time."""
        if action == "Heartbeat":
            return {"currentTime": self.clock.now()}
        if action == "BootNotification":
            self.counters.boot_times.append(now)
            return {
                "status": "Accepted",
                "currentTime": self.clock.now(),
                "interval": self.heartbeat_s,
            }
        if action == "StartTransaction":
            self.transaction_id += 1
            return {"transactionId": self.transaction_id, "idTagInfo": {"status": "Accepted"}}
        if action in ("Authorize", "StopTransaction"):
            return {"idTagInfo": {"status": "Accepted"}}
        return {}

    async def handle(self, ws: ServerConnection) -> None:
        counters = self.counters
        counters.connections += 1
        counters.connections_total += 1
        if not counters.first_connect_at:
            counters.first_connect_at = time.monotonic()
        loads, dumps, monotonic = orjson.loads, orjson.dumps, time.monotonic
        try:
            while True:
                data = await ws.recv(decode=False)
                try:
                    message = loads(data)
                    kind, unique_id, action = message[0], message[1], message[2]
                except (orjson.JSONDecodeError, IndexError, KeyError, TypeError):
                    continue
                if kind != 2:  # only CALLs (OCPP-J type 2) are answered
                    continue
                calls = counters.calls
                calls[action] = calls.get(action, 0) + 1
                reply = dumps([3, unique_id, self.answer(action, monotonic())])
                await ws.send(reply, text=True)
        except ConnectionClosed:
            pass
        finally:
            counters.connections -= 1

    def on_control(self, pipe: Connection, stop: asyncio.Event) -> None:
        """Requests from the bench: ("reset",), ("stats",), ("boot_times",), ("stop",)."""
        try:
            while pipe.poll():
                request = pipe.recv()
                kind = request[0]
                if kind == "reset":
                    self.counters.reset()
                    gc.collect()  # the previous phase's connections, while nothing runs
                    pipe.send("ok")
                elif kind == "stats":
                    pipe.send(self.counters.summary())
                elif kind == "boot_times":
                    pipe.send(self.counters.boot_times.tobytes())
                else:
                    stop.set()
                    return
        except (EOFError, OSError):
            stop.set()  # the bench is gone: never outlive it


def sink_main(config: SinkConfig, pipe: Connection) -> None:
    """Entry point of a sink process: serve until the bench says stop or goes away."""
    import uvloop  # noqa: PLC0415 - the child's loop only

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the bench, which stops us
    gc.collect()
    gc.freeze()  # start-up objects (modules, classes) are never scanned again
    gc.set_threshold(*GC_THRESHOLDS)
    uvloop.run(_serve(config, pipe))


async def _serve(config: SinkConfig, pipe: Connection) -> None:
    sink = Sink(config.heartbeat_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(
        sink.handle,
        config.host,
        config.port,
        subprotocols=[Subprotocol("ocpp1.6")],
        compression=None,
        ping_interval=None,
        server_header=None,
        max_size=1 << 20,
        backlog=BACKLOG,
        reuse_port=config.reuse_port,
    ) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        pipe.send(("ready", bound))
        loop.add_reader(pipe.fileno(), sink.on_control, pipe, stop)
        await stop.wait()
        loop.remove_reader(pipe.fileno())
        server.close(close_connections=False)  # don't spend time closing: the process ends
    with contextlib.suppress(OSError):
        pipe.close()


class SinkProcess:
    """The bench's handle on one sink process."""

    def __init__(self, config: SinkConfig) -> None:
        self._pipe, child_end = _SPAWN.Pipe(duplex=True)
        self.process = _SPAWN.Process(target=sink_main, args=(config, child_end), name="sink")
        self.process.start()
        child_end.close()
        if not self._pipe.poll(START_TIMEOUT_S):
            self.stop()
            raise RuntimeError(f"the sink did not start within {START_TIMEOUT_S:g} s")
        _ready, self.port = self._pipe.recv()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def ask(self, request: tuple[str, ...]) -> Any:
        self._pipe.send(request)
        if not self._pipe.poll(REPLY_TIMEOUT_S):
            raise RuntimeError(f"the sink did not answer {request[0]!r}")
        return self._pipe.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._pipe.send(("stop",))
        self.process.join(timeout=5)
        if self.process.is_alive():  # our own child, by its handle
            self.process.terminate()
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self._pipe.close()


@dataclass(frozen=True, slots=True)
class SinkStats:
    """All sink processes together."""

    connections: int
    connections_total: int
    first_connect_at: float  # monotonic, 0.0 if none
    calls: dict[str, int]
    boots: int

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


class SinkPool:
    """One or more sink processes sharing a port (SO_REUSEPORT spreads connections over them)."""

    def __init__(self, processes: int, heartbeat_s: int, host: str = "127.0.0.1") -> None:
        if processes > 1 and not hasattr(socket, "SO_REUSEPORT"):
            raise RuntimeError("several sink processes need SO_REUSEPORT")
        self.sinks: list[SinkProcess] = []
        reuse = processes > 1
        try:
            first = SinkProcess(SinkConfig(host, 0, heartbeat_s, reuse))
            self.sinks.append(first)
            for _ in range(processes - 1):
                self.sinks.append(SinkProcess(SinkConfig(host, first.port, heartbeat_s, reuse)))
        except BaseException:
            self.stop()
            raise
        self.host = host
        self.port = first.port

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ocpp"

    @property
    def pids(self) -> list[int]:
        return [sink.pid for sink in self.sinks]

    def reset(self) -> None:
        for sink in self.sinks:
            sink.ask(("reset",))

    def stats(self) -> SinkStats:
        parts = [sink.ask(("stats",)) for sink in self.sinks]
        calls: dict[str, int] = {}
        for part in parts:
            for action, count in part["calls"].items():
                calls[action] = calls.get(action, 0) + count
        firsts = [p["first_connect_at"] for p in parts if p["first_connect_at"]]
        return SinkStats(
            connections=sum(p["connections"] for p in parts),
            connections_total=sum(p["connections_total"] for p in parts),
            first_connect_at=min(firsts) if firsts else 0.0,
            calls=calls,
            boots=sum(p["boots"] for p in parts),
        )

    def boot_times(self) -> list[float]:
        """Every BootNotification's arrival time since the reset, sorted (monotonic seconds)."""
        times: list[float] = []
        for sink in self.sinks:
            raw = array("d")
            raw.frombytes(sink.ask(("boot_times",)))
            times.extend(raw)
        return sorted(times)

    def wait_idle(self, timeout_s: float, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Wait until no client is connected any more (between phases)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.stats().connections == 0:
                return True
            sleep(0.2)
        return False

    def stop(self) -> None:
        for sink in self.sinks:
            sink.stop()
