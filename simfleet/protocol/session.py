"""One side of one OCPP-J connection: message ids, the one-outstanding-CALL rule, deadlines.

The session is sans-I/O. The owner hands in the current time as a number and takes frames to send
from `outbox`. It works in either role (charger or CSMS): CALLs we send wait in a queue behind the
one in flight (OCPP-J 1.6 §4.1.1 SHOULD, 2.0.1 §4.1.1 SHALL: one CALL outstanding at a time);
CALLs the peer sends are surfaced as events for the owner to answer.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from simfleet.protocol.dialect import Dialect
from simfleet.protocol.errors import ErrorCode
from simfleet.protocol.frames import (
    Call,
    CallError,
    FrameError,
    Payload,
    decode,
    encode_call,
    encode_error,
    encode_result,
)

NEVER: Final = float("inf")


class OutgoingCall:
    """A CALL of ours, queued or in flight; once answered it carries the outcome.

    `intended_at` is when the owner meant to send it: latency is measured from there, so a call
    that waited behind another counts its wait (coordinated omission).
    """

    __slots__ = (
        "action",
        "context",
        "deadline",
        "error_code",
        "error_description",
        "intended_at",
        "keep_offline",
        "payload",
        "result",
        "unique_id",
    )

    def __init__(
        self, action: str, payload: Payload, intended_at: float, keep_offline: bool, context: int
    ) -> None:
        self.action = action
        self.context = context  # the owner's note, e.g. which connector the call is about
        self.payload = payload
        self.intended_at = intended_at
        self.keep_offline = keep_offline
        self.unique_id = ""
        self.deadline = NEVER
        self.result: Payload | None = None
        self.error_code = ""
        self.error_description = ""

    def __repr__(self) -> str:
        return f"OutgoingCall({self.action!r}, id={self.unique_id!r})"


class Malformed:
    """The peer sent something that is not a valid frame, or an answer to no call of ours."""

    __slots__ = ("code", "description")

    def __init__(self, code: str, description: str) -> None:
        self.code = code
        self.description = description

    def __repr__(self) -> str:
        return f"Malformed({self.code!r}, {self.description!r})"


Event = Call | OutgoingCall | Malformed


class RpcSession:
    """The RPC state of one connection: what we sent, what we owe, what goes out next."""

    __slots__ = (
        "_counter",
        "_in_flight",
        "_queue",
        "call_timeout",
        "dialect",
        "max_queued",
        "online",
        "outbox",
    )

    def __init__(self, dialect: Dialect, call_timeout: float, max_queued: int = 1000) -> None:
        self.dialect = dialect
        self.call_timeout = call_timeout
        self.max_queued = max_queued
        self.outbox: list[bytes] = []
        # Until `connected`, CALLs wait in the queue: nothing is written to a missing socket.
        self.online = False
        # Ids count up for the life of the session, reconnects included: unique per sender per
        # connection (1.6 §4.1.3) and across connections of one identity (2.0.1 §4.2.1).
        self._counter = 0
        self._in_flight: OutgoingCall | None = None
        self._queue: deque[OutgoingCall] = deque()

    # -- our CALLs ---------------------------------------------------------------------------

    def call(
        self,
        action: str,
        payload: Payload,
        intended_at: float,
        now: float,
        *,
        keep_offline: bool = False,
        urgent: bool = False,
        context: int = 0,
    ) -> OutgoingCall | None:
        """Send a CALL now, or queue it behind the one in flight (`urgent` jumps the queue).

        Returns None when the queue is full and the call is dropped (the owner counts it).
        """
        outgoing = OutgoingCall(action, payload, intended_at, keep_offline, context)
        if self.online and self._in_flight is None:
            self._send(outgoing, now)
        elif len(self._queue) >= self.max_queued:
            return None
        elif urgent:
            self._queue.appendleft(outgoing)
        else:
            self._queue.append(outgoing)
        return outgoing

    @property
    def in_flight(self) -> OutgoingCall | None:
        return self._in_flight

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def next_deadline(self) -> float:
        in_flight = self._in_flight
        return NEVER if in_flight is None else in_flight.deadline

    def expire(self, now: float) -> OutgoingCall | None:
        """The call in flight if its deadline has passed (it is then given up on)."""
        in_flight = self._in_flight
        if in_flight is None or in_flight.deadline > now:
            return None
        self._in_flight = None
        self._send_next(now)
        return in_flight

    def disconnected(self) -> list[OutgoingCall]:
        """The connection is gone: returns the calls lost with it, keeps those to deliver later.

        The call in flight goes back to the head of the queue when it must survive (OCPP-J 1.6
        §3.7 transaction messages); the peer may then see it twice, as a real charger's CSMS does.
        """
        self.online = False
        lost: list[OutgoingCall] = []
        kept: deque[OutgoingCall] = deque()
        in_flight, self._in_flight = self._in_flight, None
        candidates = [in_flight, *self._queue] if in_flight is not None else list(self._queue)
        for outgoing in candidates:
            (kept if outgoing.keep_offline else lost).append(outgoing)
        self._queue = kept
        self.outbox.clear()
        return lost

    def connected(self, now: float) -> None:
        """A connection is open: send the head of the queue if nothing is in flight."""
        self.online = True
        if self._in_flight is None:
            self._send_next(now)

    def clear_queue(self, keep_offline: bool = False) -> list[OutgoingCall]:
        """Forget queued calls (a reboot), all or only those not `keep_offline`; returns the
        forgotten ones so the owner can count them."""
        dropped = [c for c in self._queue if not (keep_offline and c.keep_offline)]
        self._queue = deque(c for c in self._queue if keep_offline and c.keep_offline)
        return dropped

    def _send(self, outgoing: OutgoingCall, now: float) -> None:
        self._counter += 1
        outgoing.unique_id = str(self._counter)
        outgoing.deadline = now + self.call_timeout
        self._in_flight = outgoing
        self.outbox.append(encode_call(outgoing.unique_id, outgoing.action, outgoing.payload))

    def _send_next(self, now: float) -> None:
        if self._queue and self.online:
            self._send(self._queue.popleft(), now)

    # -- what the peer sends -----------------------------------------------------------------

    def receive(self, data: bytes | str, now: float) -> Event:
        """Take one message from the peer.

        Returns the peer's `Call` (answer it with `answer`/`answer_error`), our `OutgoingCall` now
        answered (`result` set, or `error_code`), or `Malformed` (already answered if it was a
        broken CALL).
        """
        try:
            frame = decode(data)
        except FrameError as error:
            code = self.dialect.spell(error.code)
            if error.answerable:
                self.outbox.append(encode_error(error.unique_id, code, error.description))
            return Malformed(code, error.description)
        if type(frame) is Call:
            return frame
        in_flight = self._in_flight
        if in_flight is None or frame.unique_id != in_flight.unique_id:
            # A late answer to a call we gave up on, or to none at all: counted, not acted on.
            return Malformed("UnexpectedAnswer", f"answer to unknown id {frame.unique_id!r}")
        if type(frame) is CallError:
            in_flight.error_code = frame.code
            in_flight.error_description = frame.description
        else:
            in_flight.result = frame.payload  # type: ignore[union-attr]
        self._in_flight = None
        self._send_next(now)
        return in_flight

    def answer(self, call: Call, payload: Payload) -> None:
        self.outbox.append(encode_result(call.unique_id, payload))

    def answer_error(self, call: Call, code: ErrorCode, description: str = "") -> None:
        self.outbox.append(encode_error(call.unique_id, self.dialect.spell(code), description))

    def take_outbox(self) -> list[bytes]:
        """Frames to write, in order; the session forgets them."""
        out = self.outbox
        if not out:
            return out
        self.outbox = []
        return out
