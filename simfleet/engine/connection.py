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
from simfleet.engine.uploads import http_put
from simfleet.protocol.dialect import DIALECTS
from simfleet.protocol.strict import FrameValidator
from simfleet.protocol.v16.maintenance import UploadRequest
from simfleet.protocol.v201 import provisioning
from simfleet.protocol.v201.charger import Charger201
from simfleet.scenario.model import ChargerModel, Scenario
from simfleet.sim.agent import ChargerAgent
from simfleet.sim.backoff import backoff, ocpp2_backoff
from simfleet.sim.stats import Recorder

#: Sec-WebSocket-Protocol value -> OCPP version.
VERSION_OF = {d.subprotocol: d.version for d in DIALECTS.values()}
#: The connection failure reason when the CSMS agrees to none of the offered versions.
NO_COMMON_SUBPROTOCOL = "no_common_subprotocol"


@dataclass(frozen=True, slots=True)
class Link:
    """How every charger of a worker reaches the CSMS."""

    target: str
    #: What the chargers offer: their model (its version offer or mix) and the seed of the mix.
    model: ChargerModel
    seed: int
    connect_timeout_s: float
    password: str  # Basic auth (security profiles 1/2); empty: no Authorization header
    ssl_context: ssl.SSLContext | None
    #: Strict mode: every frame is checked against the negotiated version's schemas.
    strict: bool = False

    @classmethod
    def for_scenario(cls, scenario: Scenario, target: str, password: str) -> Link:
        security = scenario.security
        wss = target.startswith("wss://")
        return cls(
            target=target,
            model=scenario.charger,
            seed=scenario.seed,
            connect_timeout_s=scenario.timeouts.connect_s,
            password=password if security.profile in (1, 2) else "",
            ssl_context=client_ssl_context(security.ca_file) if wss else None,
            strict=scenario.strict,
        )

    def subprotocols(self, index: int) -> tuple[str, ...]:
        """The subprotocols charger `index` offers, in preference order."""
        return tuple(DIALECTS[v].subprotocol for v in self.model.offer_of(self.seed, index))


class Slot:
    """The engine's handle on one agent: its socket (if connected), its scheduler entry, and
    in strict mode its frame validator (made at the first connection; None when off)."""

    __slots__ = ("agent", "recorder", "scheduler", "task", "validator", "wake_at", "ws")

    def __init__(self, agent: ChargerAgent, recorder: Recorder) -> None:
        self.agent = agent
        self.recorder = recorder
        self.ws: object | None = None
        self.wake_at = NEVER
        self.task: asyncio.Task[None] | None = None
        self.scheduler: Scheduler | None = None  # set by run_connection
        self.validator: FrameValidator | None = None

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
        # A file to upload (GetDiagnostics, GetLog) is rare: the hot path pays one test (~20 ns).
        if self.agent.charger.pending_uploads:
            start_uploads(self)
        frames = self.agent.take_outbox()
        ws = self.ws
        if not frames or ws is None:
            return
        for data in frames:
            send_nowait(ws, data)
        recorder = self.recorder
        recorder.frames_sent += len(frames)
        if self.validator is not None:
            check_frames(self.validator, recorder, frames)

    def check_received(self, data: bytes) -> None:
        """Strict mode: check a frame read from the CSMS (before the charger handles it)."""
        validator = self.validator
        if validator is None:
            return
        self.recorder.validated_received += 1
        violation = validator.received(data)
        if violation is not None:
            self.recorder.schema_violation(validator.version, "received", *violation, data)


def check_frames(validator: FrameValidator, recorder: Recorder, frames: list[bytes]) -> None:
    """Strict mode: check frames just written to the CSMS."""
    recorder.validated_sent += len(frames)
    for data in frames:
        violation = validator.sent(data)
        if violation is not None:
            recorder.schema_violation(validator.version, "sent", *violation, data)


#: Uploads under way, and the slot each belongs to (a task must be referenced while it runs).
_UPLOADS: dict[asyncio.Task[None], Slot] = {}


def start_uploads(slot: Slot) -> None:
    """Run the files the charger asked to upload as tasks; each tells the charger its outcome."""
    loop = asyncio.get_running_loop()
    for request in slot.agent.take_uploads():
        task = loop.create_task(_upload(slot, request))
        _UPLOADS[task] = slot
        task.add_done_callback(_forget_upload)


def _forget_upload(task: asyncio.Task[None]) -> None:
    _UPLOADS.pop(task, None)


async def _upload(slot: Slot, request: UploadRequest) -> None:
    status = await http_put(request.url, request.file_name, request.body, request.timeout_s)
    scheduler = slot.scheduler
    assert scheduler is not None
    slot.agent.upload_finished(request.upload_id, 200 <= status < 300, scheduler.now())
    slot.flush()  # the status notification goes out now
    scheduler.update(slot)  # and a retry, if any, is scheduled


def cancel_uploads(slots: list[Slot]) -> None:
    """The chargers are leaving: their uploads under way are abandoned."""
    leaving = set(map(id, slots))
    for task, slot in list(_UPLOADS.items()):
        if id(slot) in leaving:
            task.cancel()


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
    new_delays: Callable[[ChargerAgent], Iterator[float]],
) -> None:
    """Keep one charger connected until the worker stops; `new_delays(agent)` gives a fresh
    backoff sequence (at the start and after each successful connection)."""
    delays = new_delays(slot.agent)
    agent, recorder = slot.agent, slot.recorder
    slot.scheduler = scheduler
    url = charger_url(link.target, agent.identity)
    headers = [basic_auth_header(agent.identity, link.password)] if link.password else []
    ever_connected = False
    refused = False  # the last attempt got HTTP 401
    offered = link.subprotocols(agent.index)
    while not stopping.set:
        try:
            ws = await open_connection(
                url, offered, link.connect_timeout_s, headers, link.ssl_context
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
            reason = failure_reason(error)
            recorder.connection_failed(reason)
            if reason == "http_401" and not refused:
                agent.authentication_refused(clock())  # one security event per refusal streak
            refused = reason == "http_401"
            await asyncio.sleep(next(delays))
            continue
        refused = False
        version = VERSION_OF.get(ws.subprotocol or "")
        if version is None:
            # OCPP-J §3.1.2: the CSMS answered without a subprotocol, so it agrees to none of
            # ours and closes; this is a failed attempt, not a connection.
            recorder.connection_failed(NO_COMMON_SUBPROTOCOL)
            with contextlib.suppress(Exception):
                await ws.close()
            await asyncio.sleep(next(delays))
            continue
        agent.speak(version)
        recorder.opened += 1
        if ever_connected:
            recorder.reconnects += 1
        ever_connected = True
        delays = new_delays(slot.agent)
        if link.strict:
            if slot.validator is None or slot.validator.version != version:
                slot.validator = FrameValidator(version)
            slot.validator.reset()
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
    strict = slot.validator is not None
    try:
        while True:
            data = await recv(decode=False)
            recorder.frames_received += 1
            if strict:
                slot.check_received(data)
            t0 = clock()
            agent.receive(data, t0)
            slot.flush()
            if recorder.pending_command is not None:
                # The frame was a CSMS command and its answer is written: how long it took.
                recorder.command_answered(clock() - t0)
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


def reconnect_delays(
    scenario: Scenario, rng: np.random.Generator
) -> Callable[[ChargerAgent], Iterator[float]]:
    """A factory of fresh backoff sequences (one per connection streak) from one generator: the
    scenario's `[reconnect]` for 1.6 (which sets no rule), the station's RetryBackOff* variables
    for 2.0.1 and 2.1 (which do)."""
    r = scenario.reconnect

    def delays(agent: ChargerAgent) -> Iterator[float]:
        charger = agent.charger
        if isinstance(charger, Charger201):
            return ocpp2_backoff(rng, *provisioning.retry_back_off(charger))
        return backoff(rng, r.min_s, r.max_s, r.factor)

    return delays


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
    cancel_uploads(slots)
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
