"""The embedded CSMS: a websockets server on the protocol core's CSMS role.

Fast enough not to be the bottleneck of a local run (answers are built and written without a
task per message), and able to misbehave on purpose (`Faults`) so the simulator's handling of a
broken CSMS can be tested on real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import signal
import ssl
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import unquote

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, basic_auth, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from simfleet.engine.transport import MAX_MESSAGE, send_nowait
from simfleet.engine.worker import raise_open_file_limit
from simfleet.protocol.dialect import DIALECTS, V16
from simfleet.protocol.frames import Payload, decode
from simfleet.protocol.strict import FrameValidator, Violation
from simfleet.protocol.v16.csms import CsmsConnection16, CsmsSettings
from simfleet.protocol.v201.csms import CsmsConnection201
from simfleet.scenario.model import CsmsCommand
from simfleet.sim.stats import EXAMPLE_FRAME_CHARS, VIOLATION_EXAMPLES

#: The OCPP versions the embedded CSMS speaks unless told otherwise (`--ocpp-versions`).
ALL_VERSIONS: tuple[str, ...] = ("1.6", "2.0.1", "2.1")
#: Sec-WebSocket-Protocol value -> OCPP version.
_VERSION_OF = {d.subprotocol: d.version for d in DIALECTS.values()}
#: WebSocket close code when no subprotocol was agreed (RFC 6455 §7.4.1: protocol error).
NO_SUBPROTOCOL_CLOSE = 1002

CsmsConnection = CsmsConnection16 | CsmsConnection201


def choose_subprotocol(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """OCPP-J 1.6 §3.1.2 / 2.0.1 Part 4 §3.1.2: the charger lists its versions in preference
    order; the CSMS takes the first it supports. None: no common version (the CSMS then answers
    without a Sec-WebSocket-Protocol header and closes)."""
    names = {DIALECTS[v].subprotocol for v in supported}
    return next((s for s in offered if s in names), None)


def csms_connection(
    version: str,
    identity: str,
    settings: CsmsSettings,
    ids: Iterator[int],
    commands: dict[tuple[str, str], int],
) -> CsmsConnection:
    """The CSMS side of one charger's connection, for the version it negotiated."""
    if version == V16.version:
        return CsmsConnection16(identity, settings, ids, commands)
    return CsmsConnection201(identity, settings, ids, commands, DIALECTS[version])


@dataclass(frozen=True, slots=True)
class Faults:
    """Per-message probabilities of misbehaving (0 = a well-behaved CSMS)."""

    callerror_rate: float = 0.0  # answer a CALL with a CALLERROR InternalError
    garbage_rate: float = 0.0  # answer with bytes that are not an OCPP-J frame
    close_rate: float = 0.0  # close the connection instead of answering
    delay_s: float = 0.0  # service time added before every answer

    @property
    def any(self) -> bool:
        return bool(self.callerror_rate or self.garbage_rate or self.close_rate)


@dataclass
class CsmsStats:
    connections: int = 0
    connections_total: int = 0
    calls: int = 0
    #: Connections by the OCPP version they negotiated ("none": no common one, closed).
    versions: dict[str, int] = field(default_factory=dict)
    injected: dict[str, int] = field(default_factory=dict)
    #: (action, answer status) -> commands the CSMS sent and how the chargers answered.
    commands: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Strict mode: frames checked, and violations by (action, direction, kind) with the
    #: first few messages.
    validated: int = 0
    violations: dict[tuple[str, str, str], int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def violation(self, direction: str, found: Violation, frame: bytes) -> None:
        key = (found.action, direction, found.kind)
        self.violations[key] = self.violations.get(key, 0) + 1
        if len(self.examples) < VIOLATION_EXAMPLES:
            excerpt = frame[:EXAMPLE_FRAME_CHARS].decode("utf-8", "replace")
            self.examples.append(
                f"{direction} {found.action} {found.kind}: {found.message} in {excerpt}"
            )


class _Pool:
    """Live connections to pick from at random, with O(1) add and remove; each with the
    payload its version is sent."""

    def __init__(self) -> None:
        self.items: list[tuple[ServerConnection, CsmsConnection, Payload]] = []
        self.index: dict[CsmsConnection, int] = {}

    def add(self, ws: ServerConnection, conn: CsmsConnection, payload: Payload) -> None:
        self.index[conn] = len(self.items)
        self.items.append((ws, conn, payload))

    def remove(self, conn: CsmsConnection) -> None:
        i = self.index.pop(conn, None)
        if i is None:
            return
        last = self.items.pop()
        if i < len(self.items):  # move the last one into the hole
            self.items[i] = last
            self.index[last[1]] = i


class _Dice:
    """Uniform draws in bulk from a seeded generator: one numpy call per 4096 messages."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._draws: list[float] = []

    def roll(self) -> float:
        if not self._draws:
            self._draws = self._rng.random(4096).tolist()
        return self._draws.pop()


@dataclass(frozen=True, slots=True)
class Security:
    """What the embedded CSMS demands of chargers (OCPP security profiles 1 and 2)."""

    password: str = ""  # if set: Basic auth required, any user (the identity), this password
    tls_cert: str = ""  # if set (with tls_key): serve wss:// only
    tls_key: str = ""


class EmbeddedCsms:
    def __init__(
        self,
        settings: CsmsSettings,
        faults: Faults = Faults(),
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        security: Security = Security(),
        commands: tuple[CsmsCommand, ...] = (),
        strict: bool = False,
        versions: tuple[str, ...] = ALL_VERSIONS,
    ) -> None:
        self.settings = settings
        self.versions = versions
        #: Strict mode: each connection's frame validator (its version's schemas).
        self._validators: dict[CsmsConnection, FrameValidator] | None = {} if strict else None
        self.commands = commands
        self._pools = [_Pool() for _ in commands]
        self.security = security
        self.faults = faults
        self.stats = CsmsStats()
        self._dice = _Dice(seed)
        self._clock = clock
        self._transaction_ids = itertools.count(1)

    async def handle(self, ws: ServerConnection) -> None:
        identity = unquote(ws.request.path.rstrip("/").rsplit("/", 1)[-1]) if ws.request else "?"
        stats = self.stats
        version = _VERSION_OF.get(ws.subprotocol or "")
        if version is None:
            # No common version: the handshake went without a subprotocol; now close.
            stats.versions["none"] = stats.versions.get("none", 0) + 1
            await ws.close(NO_SUBPROTOCOL_CLOSE, "no common OCPP version")
            return
        stats.versions[version] = stats.versions.get(version, 0) + 1
        conn = csms_connection(
            version, identity, self.settings, self._transaction_ids, stats.commands
        )
        stats.connections += 1
        stats.connections_total += 1
        for rate, pool in zip(self.commands, self._pools, strict=True):
            payload = rate.payload_for(version)
            if payload is not None and rate.targets(identity):
                pool.add(ws, conn, payload)
        faults = self.faults
        clock = self._clock
        validators = self._validators
        validator = None
        if validators is not None:
            validator = validators[conn] = FrameValidator(version)
        try:
            while True:
                data = await ws.recv(decode=False)
                stats.calls += 1
                if validator is not None:
                    self._check(validator, "received", data)
                if faults.delay_s:
                    await asyncio.sleep(faults.delay_s)
                if faults.any and await self._misbehave(ws, data):
                    continue
                conn.receive(data, clock())
                self._write(ws, conn, validator)
        except ConnectionClosed:
            pass
        finally:
            stats.connections -= 1
            for pool in self._pools:
                pool.remove(conn)
            if validators is not None:
                del validators[conn]

    def _write(
        self, ws: ServerConnection, conn: CsmsConnection, validator: FrameValidator | None
    ) -> None:
        for frame in conn.take_outbox():
            send_nowait(ws, frame)
            if validator is not None:
                self._check(validator, "sent", frame)

    def _check(self, validator: FrameValidator, direction: str, frame: bytes) -> None:
        self.stats.validated += 1
        found = validator.sent(frame) if direction == "sent" else validator.received(frame)
        if found is not None:
            self.stats.violation(direction, found, frame)

    def command_senders(self) -> list[Coroutine[Any, Any, None]]:
        """One sender per configured command (run them as tasks while serving)."""
        return [
            self._send_commands(rate, pool)
            for rate, pool in zip(self.commands, self._pools, strict=True)
        ]

    async def _send_commands(self, rate: CsmsCommand, pool: _Pool) -> None:
        """One command to a random targeted charger, at Poisson-distributed times."""
        clock = self._clock
        while True:
            await asyncio.sleep(-math.log(1.0 - self._dice.roll()) / rate.rate_per_s)
            if not pool.items:
                continue
            ws, conn, payload = pool.items[int(self._dice.roll() * len(pool.items))]
            if not conn.accepted:
                continue  # OCPP 1.6 §4.2, 2.0.1 B02: no commands before the boot is accepted
            now = clock()
            conn.expire(now)
            conn.command(rate.action, payload, now)
            validators = self._validators
            self._write(ws, conn, None if validators is None else validators.get(conn))

    async def _misbehave(self, ws: ServerConnection, data: bytes) -> bool:
        """Maybe answer badly instead of well; True if the message was dealt with."""
        faults = self.faults
        roll = self._dice.roll()
        if roll < faults.close_rate:
            self._count("close")
            await ws.close(code=1011, reason="simfleet fault injection")
            return True
        roll -= faults.close_rate
        if roll < faults.garbage_rate:
            self._count("garbage")
            send_nowait(ws, b"this is not OCPP-J")
            return True
        roll -= faults.garbage_rate
        if roll < faults.callerror_rate:
            try:
                frame = decode(data)
            except Exception:
                return False
            if frame.__class__.__name__ != "Call":
                return False
            self._count("callerror")
            send_nowait(
                ws, b'[4,"' + frame.unique_id.encode() + b'","InternalError","injected",{}]'
            )
            return True
        return False

    def _count(self, kind: str) -> None:
        self.stats.injected[kind] = self.stats.injected.get(kind, 0) + 1

    def _select_subprotocol(
        self, _ws: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        chosen = choose_subprotocol(offered, self.versions)
        return None if chosen is None else Subprotocol(chosen)

    def serve(self, host: str, port: int) -> Any:
        security = self.security
        ssl_context = None
        if security.tls_cert:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(security.tls_cert, security.tls_key or None)
        password = security.password
        check = (
            basic_auth(realm="simfleet", check_credentials=lambda _user, given: given == password)
            if password
            else None
        )
        return serve(
            self.handle,
            host,
            port,
            subprotocols=[Subprotocol(DIALECTS[v].subprotocol) for v in self.versions],
            select_subprotocol=self._select_subprotocol,
            compression=None,
            ping_interval=None,
            max_size=MAX_MESSAGE,
            backlog=4096,
            server_header=None,
            ssl=ssl_context,
            process_request=check,
        )


async def run_csms(
    host: str,
    port: int,
    settings: CsmsSettings,
    faults: Faults,
    seed: int,
    on_ready: Callable[[int], None],
    on_tick: Callable[[CsmsStats], None] | None = None,
    stop: asyncio.Event | None = None,
    signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT),
    security: Security = Security(),
    commands: tuple[CsmsCommand, ...] = (),
    strict: bool = False,
    versions: tuple[str, ...] = ALL_VERSIONS,
) -> None:
    """Serve until `stop` is set (or SIGTERM/SIGINT); `on_ready` gets the bound port."""
    csms = EmbeddedCsms(
        settings,
        faults,
        seed,
        security=security,
        commands=commands,
        strict=strict,
        versions=versions,
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals:
        with contextlib.suppress(RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    server: Server
    async with csms.serve(host, port) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        senders = [loop.create_task(sender) for sender in csms.command_senders()]
        on_ready(bound)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=10)
            if on_tick is not None:
                on_tick(csms.stats)
        for sender in senders:
            sender.cancel()
        server.close()


def csms_process_main(
    host: str,
    port: int,
    settings: CsmsSettings,
    faults: Faults,
    seed: int,
    pipe: Connection,
    commands: tuple[CsmsCommand, ...] = (),
) -> None:
    """Entry point of the embedded CSMS when `simfleet run` starts it as a child process."""
    import uvloop  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us with SIGTERM
    raise_open_file_limit()

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_reader(pipe.fileno(), stop.set)  # parent closed or wrote
        await run_csms(
            host,
            port,
            settings,
            faults,
            seed,
            pipe.send,
            stop=stop,
            signals=(signal.SIGTERM,),
            commands=commands,
        )

    uvloop.run(main())
