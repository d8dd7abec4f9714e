"""One side of one OCPP-J connection: message ids, the one-outstanding-CALL rule, deadlines.

The session is sans-I/O. The owner hands in the current time as a number and takes frames to send
from `outbox`. It works in either role (charger or CSMS): CALLs we send wait in a queue behind the
one in flight (OCPP-J 1.6 §4.1.1 SHOULD, 2.0.1 §4.1.1 SHALL: one CALL outstanding at a time);
CALLs the peer sends are surfaced as events for the owner to answer.

Transaction messages (`keep_offline`: StartTransaction, StopTransaction, transaction MeterValues)
have a queue of their own, because OCPP treats them apart (1.6 §4.7, OCPP-J 1.6 §3.7):

* they survive a lost connection (the one in flight too: its delivery is unknown, it goes again);
* they keep their order: none overtakes another, not even one waiting to be retried;
* a CALLERROR or a timeout is retried after `retry_interval` x the failures so far, until
  `retry_attempts` failures (TransactionMessageAttempts / TransactionMessageRetryInterval);
* after a reconnect, those queued while offline go at most one per `replay_interval` seconds
  (an unthrottled replay from thousands of chargers looks like a DDoS to the CSMS);
* when the queue is full the oldest queued MeterValues makes room; Start/StopTransaction are
  never dropped while a MeterValues can go instead.

Other CALLs keep flowing while a transaction message waits (for its retry or its pace). Between
the two queues, the older call goes first: a StatusNotification made after a StopTransaction
follows it, unless the StopTransaction has to wait.
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
#: Transaction messages that may be dropped to make room in a full queue: periodic and
#: clock-aligned readings (1.6 MeterValues; 2.x TransactionEvent Updated for a reading, whose
#: seqNo gap tells the CSMS one is missing, E01). Losing one loses a sample; losing a
#: Start/Stop (Started/Ended) loses a transaction.
EXPENDABLE: Final = frozenset({"MeterValues"})
READING_TRIGGERS: Final = frozenset({"MeterValuePeriodic", "MeterValueClock"})


def expendable(call: OutgoingCall) -> bool:
    if call.action in EXPENDABLE:
        return True
    payload = call.payload
    return (
        call.action == "TransactionEvent"
        and payload.get("eventType") == "Updated"
        and payload.get("triggerReason") in READING_TRIGGERS
    )


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
        "failures",
        "intended_at",
        "keep_offline",
        "payload",
        "result",
        "retrying",
        "seq",
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
        self.seq = 0  # queue order: older calls first (urgent ones below every other)
        self.failures = 0  # CALLERRORs and timeouts of this transaction message so far
        self.retrying = False  # this attempt failed and the message will be sent again

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
        "_displaced",
        "_in_flight",
        "_other",
        "_replay_until",
        "_seq",
        "_tx",
        "_tx_ready_at",
        "call_timeout",
        "dialect",
        "max_queued",
        "online",
        "outbox",
        "replay_interval",
        "retry_attempts",
        "retry_interval",
    )

    def __init__(
        self,
        dialect: Dialect,
        call_timeout: float,
        max_queued: int = 1000,
        *,
        retry_attempts: int = 3,
        retry_interval: float = 60.0,
        replay_interval: float = 0.0,
    ) -> None:
        self.dialect = dialect
        self.call_timeout = call_timeout
        self.max_queued = max_queued  # per queue: transaction messages, and the others
        self.retry_attempts = retry_attempts
        self.retry_interval = retry_interval
        self.replay_interval = replay_interval
        self.outbox: list[bytes] = []
        # Until `connected`, CALLs wait in the queue: nothing is written to a missing socket.
        self.online = False
        # Ids count up for the life of the session, reconnects included: unique per sender per
        # connection (1.6 §4.1.3) and across connections of one identity (2.0.1 §4.2.1).
        self._counter = 0
        self._seq = 0
        self._in_flight: OutgoingCall | None = None
        # Transaction messages, possibly many (an offline backlog): a deque. The others are a
        # few at most, and a list costs a tenth of an empty deque (memory per charger).
        self._tx: deque[OutgoingCall] = deque()
        self._other: list[OutgoingCall] = []
        self._tx_ready_at = 0.0  # the head of `_tx` waits until then (retry or replay pace)
        self._replay_until = 0  # `seq` of the last transaction message queued while offline
        self._displaced: OutgoingCall | None = None

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
        """Send a CALL now, or queue it (`urgent` goes ahead of everything queued).

        `keep_offline` marks a transaction message (see the module's docstring). Returns None
        when the queue is full and this call is dropped; a transaction message may instead
        displace an older MeterValues, which `take_displaced()` then returns (the owner counts
        both).
        """
        outgoing = OutgoingCall(action, payload, intended_at, keep_offline, context)
        self._seq += 1
        outgoing.seq = self._seq
        other = self._other
        if keep_offline:
            if not self._queue_transaction(outgoing):
                return None
        elif self.online and self._in_flight is None and not other and not self._tx:
            self._send(outgoing, now)  # the common case, online and idle: straight out
            return outgoing
        elif len(other) >= self.max_queued:
            return None
        elif urgent:
            outgoing.seq = -self._seq  # below every queued call, earlier urgent ones too
            other.insert(0, outgoing)
        else:
            other.append(outgoing)
        if self._in_flight is None:
            self._send_next(now)
        return outgoing

    def _queue_transaction(self, outgoing: OutgoingCall) -> bool:
        """Queue a transaction message, making room if the queue is full; False: dropped."""
        tx = self._tx
        if len(tx) >= self.max_queued:
            # The oldest expendable message goes (the newcomer itself if nothing older is).
            for index, queued in enumerate(tx):
                if expendable(queued):
                    del tx[index]
                    self._displaced = queued
                    break
            else:
                return False
        tx.append(outgoing)
        return True

    def take_displaced(self) -> OutgoingCall | None:
        """The queued transaction message the last `call` dropped to make room, if any."""
        displaced, self._displaced = self._displaced, None
        return displaced

    @property
    def in_flight(self) -> OutgoingCall | None:
        return self._in_flight

    def transaction_messages(self) -> list[OutgoingCall]:
        """Transaction messages not yet delivered: in flight, then queued (oldest first)."""
        in_flight = self._in_flight
        head = [in_flight] if in_flight is not None and in_flight.keep_offline else []
        return head + list(self._tx)

    @property
    def queued(self) -> int:
        return len(self._tx) + len(self._other)

    @property
    def next_deadline(self) -> float:
        in_flight = self._in_flight
        return NEVER if in_flight is None else in_flight.deadline

    @property
    def next_due(self) -> float:
        """When `poll` has something to do: the deadline of the call in flight, or when the
        transaction message held back (retry, replay pace) may go."""
        in_flight = self._in_flight
        if in_flight is not None:
            return in_flight.deadline
        return self._tx_ready_at if self._tx and self.online else NEVER

    def poll(self, now: float) -> OutgoingCall | None:
        """Whatever is due at `now`: returns the call in flight if it just timed out (given up
        on, or to be retried: see its `retrying`), and sends a held-back message whose time
        came."""
        expired = self.expire(now)
        if self._in_flight is None:
            self._send_next(now)
        return expired

    def expire(self, now: float) -> OutgoingCall | None:
        """The call in flight if its deadline has passed (it is then given up on, or queued for
        a retry if it is a transaction message)."""
        in_flight = self._in_flight
        if in_flight is None or in_flight.deadline > now:
            return None
        self._in_flight = None
        if in_flight.keep_offline:
            self._attempt_failed(in_flight, now)
        self._send_next(now)
        return in_flight

    def _attempt_failed(self, outgoing: OutgoingCall, now: float) -> None:
        """A transaction message got a CALLERROR or no answer (OCPP 1.6 §4.7): it goes again,
        first in line, after `retry_interval` x its failures so far, until `retry_attempts`
        failures; then it is given up (`retrying` stays False) and the next one goes."""
        failures = outgoing.failures + 1
        outgoing.failures = failures
        if failures >= self.retry_attempts:
            return
        outgoing.retrying = True
        retry_at = now + self.retry_interval * failures
        # A fresh call object: the failed attempt keeps its outcome for the owner to read.
        again = OutgoingCall(outgoing.action, outgoing.payload, retry_at, True, outgoing.context)
        again.seq = outgoing.seq
        again.failures = failures
        self._tx.appendleft(again)
        self._tx_ready_at = max(self._tx_ready_at, retry_at)

    def disconnected(self) -> list[OutgoingCall]:
        """The connection is gone: returns the calls lost with it, keeps those to deliver later.

        The call in flight goes back to the head of the queue when it must survive (OCPP-J 1.6
        §3.7 transaction messages); the peer may then see it twice, as a real charger's CSMS does.
        That resend is not a failed attempt: nothing says the peer could not process it.
        """
        self.online = False
        lost, self._other = self._other, []
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            if in_flight.keep_offline:
                self._tx.appendleft(in_flight)
            else:
                lost.insert(0, in_flight)
        self.outbox.clear()
        return lost

    def connected(self, now: float) -> None:
        """A connection is open: send the head of the queue if nothing is in flight. What was
        queued meanwhile is the replay, paced by `replay_interval`."""
        self.online = True
        tx = self._tx
        self._replay_until = tx[-1].seq if tx else 0
        if self._in_flight is None:
            self._send_next(now)

    def clear_queue(self, keep_offline: bool = False) -> list[OutgoingCall]:
        """Forget queued calls (a reboot), all or only those not `keep_offline`; returns the
        forgotten ones so the owner can count them."""
        dropped, self._other = self._other, []
        if not keep_offline:
            dropped.extend(self._tx)
            self._tx.clear()
        return dropped

    def _send(self, outgoing: OutgoingCall, now: float) -> None:
        self._counter += 1
        outgoing.unique_id = str(self._counter)
        outgoing.deadline = now + self.call_timeout
        self._in_flight = outgoing
        self.outbox.append(encode_call(outgoing.unique_id, outgoing.action, outgoing.payload))

    def _send_next(self, now: float) -> None:
        """The older of the two queue heads, unless the transaction message must wait."""
        if not self.online:
            return
        tx, other = self._tx, self._other
        if tx and self._tx_ready_at <= now and (not other or tx[0].seq < other[0].seq):
            outgoing = tx.popleft()
            replay = self._replay_until
            if tx and tx[0].seq <= replay:
                # The replay after a reconnect: the next one waits its turn (PROTOCOL.md).
                self._tx_ready_at = now + self.replay_interval
            self._send(outgoing, now)
        elif other:
            self._send(other.pop(0), now)

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
        self._in_flight = None
        if type(frame) is CallError:
            in_flight.error_code = frame.code
            in_flight.error_description = frame.description
            if in_flight.keep_offline:
                self._attempt_failed(in_flight, now)
        else:
            in_flight.result = frame.payload  # type: ignore[union-attr]
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
