"""A test CSMS for OCPP 1.6J conformance tests: real WebSockets on 127.0.0.1, a synchronous API.

`CsmsHarness` accepts chargers (subprotocol ``ocpp1.6``, identity = the last URL path segment),
answers their CALLs plausibly (BootNotification Accepted with a short interval, Authorize
Accepted, StartTransaction with increasing transactionIds, ...), lets a test send any CALL and
wait for what follows, and records every frame both ways with its receive (or send) time.

Every CALL a charger sends and every CALLRESULT it gives is validated against the official OCPP
1.6 JSON schemas shipped in the `ocpp` package (`tests/ocpp_schemas.py`, with the strict
timestamp rule CSMSs apply: UTC "Z", at most milliseconds); so is every CALLERROR's shape and
code (OCPP-J 1.6 §4.2.3). What is wrong is recorded in `violations`, not raised, so the flow goes
on and a test sees everything at the end. The harness's own answers are checked the same way
(`own_violations`: a bug of the harness or of an override, not of the charger).

How it runs: a daemon thread of the test process with its own asyncio event loop. Tests call
plain functions (`send`, `wait_for`, `messages`) that hand coroutines to that loop and wait on a
`threading.Condition`; the recording is live memory, so a test asserts on it while the chargers
run. (A subprocess would need an RPC channel for `send` and a file for the recording.)

Why not build on `ocpp_csms.py` (the `ocpp` package's ChargePoint used by the interop tests):
that CSMS answers a schema violation with a CALLERROR (here it must be recorded and answered
plausibly, so the charger's flow can be followed), it can only send the library's typed requests
(no unknown action, no deliberately bad payload to see the charger's error), and it hands its
recording over in a file once its process has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from ocpp_schemas import SCHEMAS, violations
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

SUBPROTOCOL = "ocpp1.6"
CALL, CALLRESULT, CALLERROR = 2, 3, 4
#: OCPP-J 1.6 §4.2.3: the error codes a CALLERROR may carry (1.6 spells two of them oddly).
ERROR_CODES_16 = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
)
#: Charger-initiated messages answered with an empty payload.
_EMPTY_ANSWERS = frozenset(
    {
        "StatusNotification",
        "MeterValues",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "LogStatusNotification",
        "SignedFirmwareStatusNotification",
        "SecurityEventNotification",
    }
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One recorded event on a charger's connection.

    `direction` is "in" (charger -> CSMS) or "out" (CSMS -> charger). `kind` is "CALL",
    "CALLRESULT", "CALLERROR", or "OPEN" / "CLOSE" for the connection itself, or "BAD" for a
    frame that is not OCPP-J. For a CALLRESULT or CALLERROR, `action` is the answered CALL's;
    a CALLERROR's payload is {"errorCode", "errorDescription", "errorDetails"}.
    """

    seq: int
    identity: str
    connection: int
    direction: str
    kind: str
    unique_id: str
    action: str
    payload: Any
    at: float


@dataclass(frozen=True, slots=True)
class CallError:
    """A CALLERROR, as a charger gave it or as an override makes the harness answer."""

    code: str
    description: str = ""
    details: Any = None


#: An override: (identity, request payload) -> the answer payload, a CallError, or None to give
#: the default answer.
Answerer = Callable[[str, dict[str, Any]], "dict[str, Any] | CallError | None"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _select_subprotocol(
    _ws: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """OCPP-J 1.6 §3.1.2: without ocpp1.6 offered, the handshake completes with no subprotocol
    and the CSMS closes at once (`_handle` does, and records it); websockets would answer 400."""
    return Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None


def has_schema(name: str) -> bool:
    return bool((SCHEMAS / f"{name}.json").is_file())


class CsmsHarness:
    """The test CSMS. Use as a context manager, or `start()` and `stop()`."""

    def __init__(self, heartbeat_s: int = 10) -> None:
        self.heartbeat_s = heartbeat_s
        self.port = 0
        #: What the chargers did wrong (schema, CALLERROR shape, framing), one line each.
        self.violations: list[str] = []
        #: What the harness's own answers did wrong against the schemas.
        self.own_violations: list[str] = []
        self._frames: list[Frame] = []
        self._changed = threading.Condition()
        self._overrides: dict[str, Answerer] = {}
        self._tx_ids = itertools.count(1001)
        self._conn_ids = itertools.count(1)
        self._ids = itertools.count(1)
        self._live: dict[str, tuple[ServerConnection, int]] = {}
        self._pending: dict[tuple[str, str], tuple[str, asyncio.Future[Frame]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="csms-harness", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def start(self, timeout: float = 15) -> CsmsHarness:
        self._thread.start()
        if not self._ready.wait(timeout) or self._failure is not None:
            raise AssertionError(f"CSMS harness did not start: {self._failure!r}")
        return self

    def stop(self, timeout: float = 15) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("CSMS harness thread did not end")

    def __enter__(self) -> CsmsHarness:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:  # reported by start(), or by the tests' waits
            self._failure = error
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server: Server
        async with serve(
            self._handle,
            "127.0.0.1",
            0,
            select_subprotocol=_select_subprotocol,
            compression=None,
            ping_interval=None,
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()
            server.close()
            await server.wait_closed()

    # -- the synchronous test API ------------------------------------------------------------

    def mark(self) -> int:
        """A position in the recording: `wait_for(..., since=mark)` sees only what follows."""
        with self._changed:
            return len(self._frames)

    def messages(self, identity: str | None = None, since: int = 0) -> list[Frame]:
        """Every frame recorded (of one charger, or of all), oldest first."""
        with self._changed:
            frames = self._frames[since:]
        return [f for f in frames if identity is None or f.identity == identity]

    def calls(self, identity: str | None = None, action: str = "", since: int = 0) -> list[Frame]:
        """The CALLs chargers sent (of one action, or all), oldest first."""
        return [
            f
            for f in self.messages(identity, since)
            if f.direction == "in" and f.kind == "CALL" and (not action or f.action == action)
        ]

    def wait_for(
        self,
        identity: str | None,
        action: str,
        predicate: Callable[[Any], bool] | None = None,
        timeout: float = 15,
        since: int = 0,
        kind: str = "CALL",
        direction: str = "in",
    ) -> Frame:
        """The first frame from `since` on matching charger, action, kind and direction whose
        payload satisfies `predicate`, waiting up to `timeout` seconds for it."""

        def matches(frame: Frame) -> bool:
            return (
                (identity is None or frame.identity == identity)
                and frame.action == action
                and frame.kind == kind
                and frame.direction == direction
                and (predicate is None or predicate(frame.payload))
            )

        found = self._wait(matches, since, timeout)
        if found is None:
            recent = [
                (f.kind, f.action, f.payload)
                for f in self.messages(identity, since)
                if f.kind != "CALLRESULT"
            ]
            raise AssertionError(
                f"{identity}: no {kind} {action!r} ({direction}) matching within {timeout} s; "
                f"the last since then: {recent[-12:]}"
            )
        return found

    def wait_closed(self, identity: str, since: int, timeout: float = 15) -> Frame:
        """The end of a connection of `identity` after `since`."""
        return self.wait_for(identity, "", timeout=timeout, since=since, kind="CLOSE")

    def answer_to(self, call: Frame, timeout: float = 15) -> Frame:
        """The answer (CALLRESULT or CALLERROR) given to a recorded CALL, waiting for it."""
        answered = "out" if call.direction == "in" else "in"

        def matches(frame: Frame) -> bool:
            return (
                frame.identity == call.identity
                and frame.direction == answered
                and frame.unique_id == call.unique_id
                and frame.kind in ("CALLRESULT", "CALLERROR")
            )

        found = self._wait(matches, call.seq + 1, timeout)
        if found is None:
            raise AssertionError(f"no answer to {call} within {timeout} s")
        return found

    def _wait(self, matches: Callable[[Frame], bool], since: int, timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        seen = since
        with self._changed:
            while True:
                for frame in self._frames[seen:]:
                    if matches(frame):
                        return frame
                seen = len(self._frames)
                left = deadline - time.monotonic()
                if left <= 0 or self._failure is not None:
                    return None
                self._changed.wait(left)

    def send(
        self, identity: str, action: str, payload: dict[str, Any], timeout: float = 15
    ) -> dict[str, Any] | CallError:
        """Send a CALL to a connected charger; its CALLRESULT payload, or its CallError."""
        frame = self.send_frame(identity, action, payload, timeout)
        if frame.kind == "CALLERROR":
            p = frame.payload
            return CallError(p["errorCode"], p["errorDescription"], p["errorDetails"])
        result: dict[str, Any] = frame.payload
        return result

    def call(
        self, identity: str, action: str, payload: dict[str, Any], timeout: float = 15
    ) -> dict[str, Any]:
        """`send`, for a CALL that must get a CALLRESULT."""
        answer = self.send(identity, action, payload, timeout)
        assert not isinstance(answer, CallError), f"{identity} {action}: {answer}"
        return answer

    def send_frame(
        self, identity: str, action: str, payload: dict[str, Any], timeout: float = 15
    ) -> Frame:
        """`send`, returning the recorded answer frame (its time, its sequence number)."""
        loop = self._loop
        assert loop is not None, "harness not started"
        future = asyncio.run_coroutine_threadsafe(
            self._send(identity, action, payload, timeout), loop
        )
        try:
            return future.result(timeout + 5)
        except TimeoutError:
            future.cancel()
            raise AssertionError(f"{identity}: no answer to {action} within {timeout} s") from None

    @contextlib.contextmanager
    def override(self, action: str, answerer: Answerer) -> Iterator[None]:
        """Answer the chargers' `action` CALLs with `answerer` while the block runs."""
        self._overrides[action] = answerer
        try:
            yield
        finally:
            self._overrides.pop(action, None)

    # -- the event loop side -----------------------------------------------------------------

    def _record(
        self,
        identity: str,
        connection: int,
        direction: str,
        kind: str,
        unique_id: str = "",
        action: str = "",
        payload: Any = None,
    ) -> Frame:
        with self._changed:
            frame = Frame(
                len(self._frames),
                identity,
                connection,
                direction,
                kind,
                unique_id,
                action,
                payload,
                time.time(),
            )
            self._frames.append(frame)
            self._changed.notify_all()
        return frame

    def _violation(self, identity: str, what: str) -> None:
        with self._changed:
            self.violations.append(f"{identity}: {what}")

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else "/"
        identity = unquote(path.rstrip("/").rsplit("/", 1)[-1])
        conn = next(self._conn_ids)
        self._record(identity, conn, "in", "OPEN", payload={"path": path})
        if ws.subprotocol != SUBPROTOCOL:
            self._violation(identity, f"connected without subprotocol {SUBPROTOCOL}")
            await ws.close(1002, "subprotocol ocpp1.6 required")
            self._record(identity, conn, "in", "CLOSE")
            return
        self._live[identity] = (ws, conn)
        try:
            async for raw in ws:
                await self._receive(identity, conn, ws, raw)
        except ConnectionClosed:
            pass
        finally:
            if self._live.get(identity, (None, 0))[0] is ws:
                del self._live[identity]
            for key, (_action, future) in list(self._pending.items()):
                if key[0] == identity and not future.done():
                    future.set_exception(ConnectionError(f"{identity} disconnected"))
            self._record(identity, conn, "in", "CLOSE")

    async def _receive(
        self, identity: str, conn: int, ws: ServerConnection, raw: str | bytes
    ) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if (
            type(message) is list
            and len(message) == 4
            and message[0] == CALL
            and type(message[1]) is str
            and type(message[2]) is str
            and type(message[3]) is dict
        ):
            await self._on_call(identity, conn, ws, message[1], message[2], message[3])
        elif (
            type(message) is list
            and len(message) in (3, 5)
            and message[0] in (CALLRESULT, CALLERROR)
            and type(message[1]) is str
        ):
            self._on_answer(identity, conn, message)
        else:
            self._record(identity, conn, "in", "BAD", payload=raw)
            self._violation(identity, f"not an OCPP-J message: {raw!r:.200}")

    async def _on_call(
        self,
        identity: str,
        conn: int,
        ws: ServerConnection,
        unique_id: str,
        action: str,
        payload: dict[str, Any],
    ) -> None:
        self._record(identity, conn, "in", "CALL", unique_id, action, payload)
        if has_schema(action):
            for problem in violations(action, payload, ocpp_timestamps=True):
                self._violation(identity, problem)
        else:
            self._violation(identity, f"CALL of an action OCPP 1.6 does not have: {action}")
        answer = self._answer(identity, action, payload)
        if isinstance(answer, CallError):
            details = answer.details if answer.details is not None else {}
            error = {
                "errorCode": answer.code,
                "errorDescription": answer.description,
                "errorDetails": details,
            }
            self._record(identity, conn, "out", "CALLERROR", unique_id, action, error)
            text = json.dumps([CALLERROR, unique_id, answer.code, answer.description, details])
        else:
            if has_schema(action + "Response"):
                for problem in violations(action + "Response", answer):
                    self.own_violations.append(f"{identity}: {problem}")
            self._record(identity, conn, "out", "CALLRESULT", unique_id, action, answer)
            text = json.dumps([CALLRESULT, unique_id, answer])
        with contextlib.suppress(ConnectionClosed):
            await ws.send(text)

    def _answer(
        self, identity: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any] | CallError:
        override = self._overrides.get(action)
        if override is not None:
            answer = override(identity, payload)
            if answer is not None:
                return answer
        return self._default_answer(action)

    def _default_answer(self, action: str) -> dict[str, Any] | CallError:
        accepted = {"status": "Accepted"}
        if action == "BootNotification":
            return {**accepted, "currentTime": now_iso(), "interval": self.heartbeat_s}
        if action == "Heartbeat":
            return {"currentTime": now_iso()}
        if action in ("Authorize", "StopTransaction"):
            return {"idTagInfo": accepted}
        if action == "StartTransaction":
            return {"transactionId": next(self._tx_ids), "idTagInfo": accepted}
        if action == "DataTransfer":
            return {"status": "UnknownVendorId"}
        if action == "SignCertificate":
            return accepted
        if action in _EMPTY_ANSWERS:
            return {}
        return CallError("NotImplemented", f"the test CSMS does not handle {action}")

    def _on_answer(self, identity: str, conn: int, message: list[Any]) -> None:
        unique_id = message[1]
        pending = self._pending.pop((identity, unique_id), None)
        if pending is None:
            self._record(identity, conn, "in", "BAD", unique_id, payload=message)
            self._violation(identity, f"an answer to no CALL of ours: {message!r:.200}")
            return
        action, future = pending
        if message[0] == CALLRESULT:
            frame = self._record(identity, conn, "in", "CALLRESULT", unique_id, action, message[2])
            self._check_result(identity, action, message[2])
        else:
            error = self._check_error(identity, message)
            frame = self._record(identity, conn, "in", "CALLERROR", unique_id, action, error)
        if not future.done():
            future.set_result(frame)

    def _check_result(self, identity: str, action: str, payload: Any) -> None:
        if not has_schema(action + "Response"):
            self._violation(identity, f"a CALLRESULT to {action}, which OCPP 1.6 does not have")
            return
        for problem in violations(action + "Response", payload, ocpp_timestamps=True):
            self._violation(identity, problem)

    def _check_error(self, identity: str, message: list[Any]) -> dict[str, Any]:
        """OCPP-J §4.2.3: [4, id, errorCode, errorDescription, errorDetails]."""
        if len(message) != 5:
            self._violation(identity, f"a CALLERROR of {len(message)} elements: {message!r:.200}")
            message = [*message, "", {}][:5]
        _type, _id, code, description, details = message
        if code not in ERROR_CODES_16:
            self._violation(identity, f"CALLERROR code {code!r} is not an OCPP 1.6 code")
        if type(description) is not str or len(description) > 255:
            self._violation(identity, f"CALLERROR errorDescription {description!r:.80}")
        if type(details) is not dict:
            self._violation(identity, f"CALLERROR errorDetails is not an object: {details!r:.80}")
        return {"errorCode": code, "errorDescription": description, "errorDetails": details}

    async def _send(
        self, identity: str, action: str, payload: dict[str, Any], timeout: float
    ) -> Frame:
        # OCPP-J 1.6 §4.1.1: one CALL of ours outstanding per charger at a time.
        lock = self._locks.setdefault(identity, asyncio.Lock())
        async with lock:
            live = self._live.get(identity)
            if live is None:
                raise ConnectionError(f"{identity} is not connected")
            ws, conn = live
            unique_id = f"h{next(self._ids)}"
            future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
            self._pending[(identity, unique_id)] = (action, future)
            self._record(identity, conn, "out", "CALL", unique_id, action, payload)
            try:
                await ws.send(json.dumps([CALL, unique_id, action, payload]))
                return await asyncio.wait_for(future, timeout)
            finally:
                self._pending.pop((identity, unique_id), None)
