"""WebSocket plumbing: connection options, Basic auth, TLS, and sending without a task per frame."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import Coroutine, Generator
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

#: 1 MiB: far above any OCPP message, small enough that a broken peer cannot exhaust memory.
MAX_MESSAGE = 1 << 20


def charger_url(target: str, identity: str) -> str:
    """OCPP-J §3.1.1: the endpoint URL, a '/', and the percent-encoded identity."""
    return f"{target.rstrip('/')}/{quote(identity, safe='')}"


def basic_auth_header(identity: str, password: str) -> tuple[str, str]:
    """OCPP security profiles 1 and 2: Basic auth, user = identity, password = AuthorizationKey."""
    token = base64.b64encode(f"{identity}:{password}".encode()).decode("ascii")
    return ("Authorization", f"Basic {token}")


def client_ssl_context(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file or None)


async def open_connection(
    url: str,
    subprotocols: tuple[str, ...],
    timeout_s: float,
    headers: list[tuple[str, str]],
    ssl_context: ssl.SSLContext | None,
) -> ClientConnection:
    """Connect one charger: compression off (13 KB instead of 46 KB per connection, and OCPP-J
    1.6 does not recommend it), no proxy, no library pings (the scenario drives liveness)."""
    return await connect(
        url,
        subprotocols=[Subprotocol(s) for s in subprotocols],  # preference order (OCPP-J §3.1.2)
        additional_headers=headers,
        compression=None,
        proxy=None,
        open_timeout=timeout_s,
        ping_interval=None,
        close_timeout=2,
        max_size=MAX_MESSAGE,
        max_queue=64,
        ssl=ssl_context,
        user_agent_header=None,
    )


def send_nowait(ws: Any, data: bytes) -> None:
    """Write one text frame now, without creating a task, unless the socket pushes back.

    `send()` only suspends when the write buffer is full or the connection is closing; in the
    common case driving the coroutine once completes it. Otherwise the rest of it runs in a task.
    """
    coro = ws.send(data, text=True)
    try:
        pending = coro.send(None)
    except StopIteration:
        return
    except ConnectionClosed:
        return  # the receive loop sees the close and handles it
    task = asyncio.ensure_future(_finish(coro, pending))
    _BACKPRESSURED.add(task)  # the loop keeps only weak references to tasks
    task.add_done_callback(_BACKPRESSURED.discard)


#: Sends waiting for a full write buffer to drain.
_BACKPRESSURED: set[asyncio.Future[None]] = set()


async def _finish(coro: Coroutine[Any, Any, None], pending: Any) -> None:
    with contextlib.suppress(ConnectionClosed):
        await _Resumed(coro, pending)


class _Resumed:
    """Awaitable that continues a coroutine which already yielded `pending` once."""

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Coroutine[Any, Any, None], pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, None]:
        pending = self.pending
        while True:
            try:
                value = yield pending
            except BaseException as error:  # cancellation and friends go to the coroutine
                try:
                    pending = self.coro.throw(error)
                except StopIteration:
                    return
                continue
            try:
                pending = self.coro.send(value)
            except StopIteration:
                return
