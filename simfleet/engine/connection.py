"""One charger's connection: connect, pump frames both ways, reconnect with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from simfleet.engine.scheduler import NEVER, Scheduler
from simfleet.engine.transport import (
    basic_auth_header,
    charger_url,
    client_ssl_context,
    open_connection,
    send_nowait,
)
from simfleet.protocol.dialect import DIALECTS
from simfleet.scenario.model import Scenario
from simfleet.sim.agent import ChargerAgent
from simfleet.sim.backoff import backoff
from simfleet.sim.stats import Recorder


@dataclass(frozen=True, slots=True)
class Link:
    """How every charger of a worker reaches the CSMS."""

    target: str
    subprotocol: str
    connect_timeout_s: float
    password: str  # Basic auth (security profiles 1/2); empty: no Authorization header
    ssl_context: ssl.SSLContext | None

    @classmethod
    def for_scenario(cls, scenario: Scenario, target: str, password: str) -> Link:
        security = scenario.security
        wss = target.startswith("wss://")
        return cls(
            target=target,
            subprotocol=DIALECTS[scenario.charger.ocpp_version].subprotocol,
            connect_timeout_s=scenario.timeouts.connect_s,
            password=password if security.profile in (1, 2) else "",
            ssl_context=client_ssl_context(security.ca_file) if wss else None,
        )


class Slot:
    """The engine's handle on one agent: its socket (if connected) and its scheduler entry."""

    __slots__ = ("agent", "recorder", "task", "wake_at", "ws")

    def __init__(self, agent: ChargerAgent, recorder: Recorder) -> None:
        self.agent = agent
        self.recorder = recorder
        self.ws: object | None = None
        self.wake_at = NEVER
        self.task: asyncio.Task[None] | None = None

    def next_wakeup(self) -> float:
        return self.agent.next_wakeup()

    def step(self, now: float) -> None:
        agent = self.agent
        agent.step(now)
        self.flush()
        ws = self.ws
        if ws is not None and agent.offline_until > now:
            # The network goes away without a closing handshake, as it does for real chargers.
            ws.transport.abort()  # type: ignore[attr-defined]

    def flush(self) -> None:
        frames = self.agent.take_outbox()
        ws = self.ws
        if not frames or ws is None:
            return
        for data in frames:
            send_nowait(ws, data)
        self.recorder.frames_sent += len(frames)


class Stopping:
    """A flag shared by every connection of a worker."""

    def __init__(self) -> None:
        self.set = False


async def run_connection(
    slot: Slot,
    link: Link,
    scheduler: Scheduler,
    clock: Callable[[], float],
    stopping: Stopping,
    new_delays: Callable[[], Iterator[float]],
) -> None:
    """Keep one charger connected until the worker stops; `new_delays()` gives a fresh
    backoff sequence (at the start and after each successful connection)."""
    delays = new_delays()
    agent, recorder = slot.agent, slot.recorder
    url = charger_url(link.target, agent.identity)
    headers = [basic_auth_header(agent.identity, link.password)] if link.password else []
    ever_connected = False
    while not stopping.set:
        try:
            ws = await open_connection(
                url, link.subprotocol, link.connect_timeout_s, headers, link.ssl_context
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
            recorder.connection_failed(failure_reason(error))
            await asyncio.sleep(next(delays))
            continue
        recorder.opened += 1
        if ever_connected:
            recorder.reconnects += 1
        ever_connected = True
        delays = new_delays()
        await _pump(slot, ws, scheduler, clock)
        if stopping.set:
            break
        offline_for = agent.offline_until - clock()
        if offline_for > 0:
            # A planned offline spell or a reboot: the charger itself cut the connection.
            recorder.offline += 1
            await asyncio.sleep(offline_for)
            continue
        recorder.dropped += 1
        await asyncio.sleep(next(delays))


async def _pump(slot: Slot, ws: object, scheduler: Scheduler, clock: Callable[[], float]) -> None:
    agent, recorder = slot.agent, slot.recorder
    recv = ws.recv  # type: ignore[attr-defined]
    recorder.connected += 1
    slot.ws = ws
    agent.connected(clock())
    slot.flush()
    scheduler.update(slot)
    try:
        while True:
            data = await recv(decode=False)
            recorder.frames_received += 1
            agent.receive(data, clock())
            slot.flush()
            scheduler.update(slot)
    except ConnectionClosed:
        pass
    finally:
        recorder.connected -= 1
        slot.ws = None
        agent.disconnected(clock())
        scheduler.update(slot)


def failure_reason(error: BaseException) -> str:
    """A short, low-cardinality name for why a connection attempt failed."""
    if isinstance(error, InvalidStatus):
        return f"http_{error.response.status_code}"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, ssl.SSLError):
        return "tls"
    if isinstance(error, OSError):
        return "network"
    return type(error).__name__


def reconnect_delays(scenario: Scenario, rng: np.random.Generator) -> Callable[[], Iterator[float]]:
    """A factory of fresh backoff sequences (one per connection streak) from one generator."""
    r = scenario.reconnect
    return lambda: backoff(rng, r.min_s, r.max_s, r.factor)


async def retire(
    slots: list[Slot], scheduler: Scheduler, clock: Callable[[], float], grace_s: float
) -> None:
    """Take chargers out gracefully: their EVs leave (StopTransactions go out), answers still
    on the wire get `grace_s`, then the connection tasks end and the sockets close."""
    now = clock()
    for slot in slots:
        slot.agent.stop(now)
        slot.flush()
        scheduler.update(slot)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    # Busy: a call in flight, or queued (a paced replay or a retry holds transaction messages).
    while loop.time() < deadline and any(s.ws is not None and s.agent.charger.busy for s in slots):
        await asyncio.sleep(0.05)
    tasks = [s.task for s in slots if s.task is not None]
    for task in tasks:
        task.cancel()  # no reconnect: the charger is leaving
    closing = [s.ws.close() for s in slots if s.ws is not None]  # type: ignore[attr-defined]
    if closing:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.gather(*closing, return_exceptions=True)
    await asyncio.gather(*tasks, return_exceptions=True)
