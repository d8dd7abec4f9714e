"""The stats recorder (one per worker process) and the immutable snapshots it hands out.

The recorder is the `Observer` of every charger in a process: plain integer increments, no lock
(one event loop thread), no labels per charger. Every ~100 ms the engine takes a `Snapshot`
(cumulative totals) and sends it to the parent, which merges the latest snapshot of each worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from simfleet.sim.histogram import Histogram, merge_sparse
from simfleet.sim.locust_tally import LocustTally
from simfleet.sim.scan import FleetScan

N = TypeVar("N", int, float)

#: Counters every snapshot carries, in report order.
CONNECTION_COUNTERS = ("opened", "failed", "dropped", "reconnects", "offline")
GAUGES = ("planned", "connected", "booted")
#: Command answers that mean the charger did what the CSMS asked ("Answered": a confirmation
#: without a status, e.g. GetConfiguration, UpdateFirmware; "AcceptedCanceled": a new GetLog or
#: SignedUpdateFirmware replaced the one under way).
ACCEPTING = frozenset(
    {"Accepted", "AcceptedCanceled", "Answered", "Scheduled", "RebootRequired", "Unlocked", "Idle"}
)
#: Strict mode: how many schema violation messages a process (and a merged report) keeps.
VIOLATION_EXAMPLES = 20
#: Of each example, the first characters of the offending frame.
EXAMPLE_FRAME_CHARS = 160


class ActionStats:
    """Outcomes of one CALL action we send."""

    __slots__ = ("errors", "latency", "lost", "ok", "timeouts")

    def __init__(self) -> None:
        self.ok = 0
        self.errors: dict[str, int] = {}
        self.timeouts = 0
        self.lost = 0
        self.latency = Histogram()


class Recorder:
    """Counts everything a worker's chargers and connections do. Implements `ports.Observer`."""

    def __init__(self) -> None:
        self.actions: dict[tuple[str, str], ActionStats] = {}
        self.malformed_by_code: dict[str, int] = {}
        self.tx_dropped: dict[tuple[str, str, str], int] = {}  # (version, action, reason)
        self.commands: dict[tuple[str, str, str], int] = {}
        self.planned = 0
        self.connected = 0
        self.booted_count = 0
        self.opened = 0
        self.failed = 0
        self.dropped = 0
        self.reconnects = 0
        self.offline = 0  # planned offline spells and reboots (not counted as dropped)
        self.frames_sent = 0
        self.frames_received = 0
        self.failure_reasons: dict[str, int] = {}
        self.started: dict[str, int] = {}  # transactions by OCPP version
        self.stopped: dict[str, int] = {}
        #: The latest fleet scan and process health, set by the reporting loop.
        self.scan = FleetScan()
        self.retired_energy_wh = 0.0  # delivered by chargers no longer simulated (Locust)
        self.process: dict[str, float] = {}
        #: Locust-shaped deltas, kept only when a Locust bridge reads them.
        self.tally: LocustTally | None = None
        #: CSMS-initiated calls: handling time (CALL in -> answer written) per (version,
        #: action). `pending_command` is the command the charger just handled, until the
        #: engine has written its answer and calls `command_answered`.
        self.command_times: dict[tuple[str, str], Histogram] = {}
        self.pending_command: tuple[str, str, str] | None = None
        #: Strict mode: frames checked against the OCPP schemas, and what broke them, by
        #: (version, action, direction, kind).
        self.validated_sent = 0
        self.validated_received = 0
        self.schema_violations: dict[tuple[str, str, str, str], int] = {}
        self.violation_examples: list[str] = []

    def _entry(self, version: str, action: str) -> ActionStats:
        key = (version, action)
        entry = self.actions.get(key)
        if entry is None:
            entry = self.actions[key] = ActionStats()
        return entry

    # -- ports.Observer ------------------------------------------------------------------------

    def call_answered(
        self, version: str, action: str, latency_s: float, error_code: str | None
    ) -> None:
        entry = self._entry(version, action)
        if error_code is None:
            entry.ok += 1
        else:
            entry.errors[error_code] = entry.errors.get(error_code, 0) + 1
        entry.latency.record(latency_s)
        if self.tally is not None:
            self.tally.record(version, action, latency_s, error_code)

    def call_timed_out(self, version: str, action: str, waited_s: float = 0.0) -> None:
        self._entry(version, action).timeouts += 1
        if self.tally is not None:
            self.tally.record(version, action, waited_s, "Timeout")

    def call_lost(self, version: str, action: str) -> None:
        self._entry(version, action).lost += 1

    def malformed(self, version: str, code: str) -> None:
        self.malformed_by_code[code] = self.malformed_by_code.get(code, 0) + 1

    def transaction_message_dropped(self, version: str, action: str, reason: str) -> None:
        key = (version, action, reason)
        self.tx_dropped[key] = self.tx_dropped.get(key, 0) + 1

    def command_handled(self, version: str, action: str, status: str) -> None:
        key = (version, action, status)
        self.commands[key] = self.commands.get(key, 0) + 1
        self.pending_command = key  # its handling time comes with `command_answered`

    # -- the engine ----------------------------------------------------------------------------

    def command_answered(self, handling_s: float) -> None:
        """The answer to the command just handled is written, `handling_s` after its CALL was
        read (the engine measures: the protocol layer has no clock)."""
        pending = self.pending_command
        if pending is None:
            return
        self.pending_command = None
        version, action, status = pending
        key = (version, action)
        histogram = self.command_times.get(key)
        if histogram is None:
            histogram = self.command_times[key] = Histogram()
        histogram.record(handling_s)
        if self.tally is not None:
            # CSMS-initiated commands get rows of their own (method "OCPP 1.6 CSMS"), their
            # response time the handling time; an answer that refuses the command is a
            # failure named by its status.
            failure = None if status in ACCEPTING else status
            self.tally.record(f"{version} CSMS", action, handling_s, failure)

    def schema_violation(
        self, version: str, direction: str, action: str, kind: str, message: str, frame: bytes
    ) -> None:
        """Strict mode: a frame sent or received broke the OCPP schema."""
        key = (version, action, direction, kind)
        self.schema_violations[key] = self.schema_violations.get(key, 0) + 1
        if len(self.violation_examples) < VIOLATION_EXAMPLES:
            excerpt = frame[:EXAMPLE_FRAME_CHARS].decode("utf-8", "replace")
            self.violation_examples.append(
                f"{version} {direction} {action} {kind}: {message} in {excerpt}"
            )
        if self.tally is not None:
            self.tally.error(f"{version} schema", action, f"{direction} {kind}: {message}")

    def booted(self) -> None:
        self.booted_count += 1

    def transaction_started(self, version: str) -> None:
        self.started[version] = self.started.get(version, 0) + 1

    def transaction_stopped(self, version: str) -> None:
        self.stopped[version] = self.stopped.get(version, 0) + 1

    # -- connections (called by the engine) ----------------------------------------------------

    def connection_failed(self, reason: str) -> None:
        self.failed += 1
        self.failure_reasons[reason] = self.failure_reasons.get(reason, 0) + 1

    def snapshot(self, worker: int, at: float) -> Snapshot:
        return Snapshot(
            worker=worker,
            at=at,
            gauges={
                "planned": self.planned,
                "connected": self.connected,
                "booted": self.booted_count,
            },
            connections={
                "opened": self.opened,
                "failed": self.failed,
                "dropped": self.dropped,
                "reconnects": self.reconnects,
                "offline": self.offline,
            },
            frames={"sent": self.frames_sent, "received": self.frames_received},
            actions={
                f"{version}|{action}": ActionSnapshot(
                    ok=s.ok,
                    errors=dict(s.errors),
                    timeouts=s.timeouts,
                    lost=s.lost,
                    buckets=dict(s.latency.sparse()),
                    max_s=s.latency.max_s,
                    sum_s=s.latency.sum_s,
                )
                for (version, action), s in self.actions.items()
            },
            malformed=dict(self.malformed_by_code),
            commands={"|".join(key): n for key, n in self.commands.items()},
            failure_reasons=dict(self.failure_reasons),
            transactions=self._transactions(),
            fleet={
                "booted": self.scan.booted,
                "power_w": self.scan.power_w,
                "energy_wh": self.scan.energy_wh + self.retired_energy_wh,
            },
            connectors=dict(self.scan.connectors),
            process=dict(self.process),
            command_times={
                f"{version}|{action}": HistogramSnapshot.of(h)
                for (version, action), h in self.command_times.items()
            },
            validated=self._validated(),
            violations={"|".join(key): n for key, n in self.schema_violations.items()},
            violation_examples=tuple(self.violation_examples),
            tx_dropped={"|".join(key): n for key, n in self.tx_dropped.items()},
        )

    def _validated(self) -> dict[str, int]:
        if not (self.validated_sent or self.validated_received):
            return {}  # strict mode off (or nothing yet): no such figures
        return {"sent": self.validated_sent, "received": self.validated_received}

    def _transactions(self) -> dict[str, int]:
        out = {f"{v}|started": n for v, n in self.started.items()}
        out.update({f"{v}|stopped": n for v, n in self.stopped.items()})
        out.update({f"{v}|active": n for v, n in self.scan.active.items()})
        return out


@dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    """A latency histogram as it crosses process boundaries: sparse buckets, max and sum."""

    buckets: dict[int, int] = field(default_factory=dict)
    max_s: float = 0.0
    sum_s: float = 0.0

    @classmethod
    def of(cls, histogram: Histogram) -> HistogramSnapshot:
        return cls(dict(histogram.sparse()), histogram.max_s, histogram.sum_s)

    @property
    def count(self) -> int:
        return sum(self.buckets.values())

    def merged(self, other: HistogramSnapshot) -> HistogramSnapshot:
        return HistogramSnapshot(
            merge_sparse((self.buckets, other.buckets)),
            max(self.max_s, other.max_s),
            self.sum_s + other.sum_s,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"buckets": list(self.buckets.items()), "max_s": self.max_s, "sum_s": self.sum_s}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> HistogramSnapshot:
        buckets = {int(i): int(c) for i, c in raw["buckets"]}
        return cls(buckets, raw["max_s"], raw["sum_s"])


@dataclass(frozen=True, slots=True)
class ActionSnapshot:
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    timeouts: int = 0
    lost: int = 0
    buckets: dict[int, int] = field(default_factory=dict)
    max_s: float = 0.0
    sum_s: float = 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def sent(self) -> int:
        """Calls that reached an outcome: answered, timed out or lost with their connection."""
        return self.ok + self.error_count + self.timeouts + self.lost

    def merged(self, other: ActionSnapshot) -> ActionSnapshot:
        return ActionSnapshot(
            ok=self.ok + other.ok,
            errors=_add(self.errors, other.errors),
            timeouts=self.timeouts + other.timeouts,
            lost=self.lost + other.lost,
            buckets=merge_sparse((self.buckets, other.buckets)),
            max_s=max(self.max_s, other.max_s),
            sum_s=self.sum_s + other.sum_s,
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Cumulative totals of one worker (or, merged, of the fleet) at time `at`.

    `actions` keys are "VERSION|Action"; `commands` keys "VERSION|Action|status";
    `transactions` keys "VERSION|started|stopped|active"; `connectors` keys "VERSION|Status";
    `fleet` holds the scanned booted count, power_w and energy_wh; `process` the worker's
    cpu_s, rss_bytes and loop_lag_s (not meaningful once merged); `command_times` keys
    "VERSION|Action" (CSMS commands' handling times); strict mode: `validated` holds the frames
    checked ("sent", "received"; empty when off), `violations` keys
    "VERSION|Action|direction|kind", `violation_examples` the first few messages; `tx_dropped`
    keys "VERSION|Action|reason" (transaction messages given up: queue_full, attempts).
    """

    worker: int
    at: float
    gauges: dict[str, int]
    connections: dict[str, int]
    frames: dict[str, int]
    actions: dict[str, ActionSnapshot]
    malformed: dict[str, int]
    commands: dict[str, int]
    failure_reasons: dict[str, int]
    transactions: dict[str, int] = field(default_factory=dict)
    fleet: dict[str, float] = field(default_factory=dict)
    connectors: dict[str, int] = field(default_factory=dict)
    process: dict[str, float] = field(default_factory=dict)
    command_times: dict[str, HistogramSnapshot] = field(default_factory=dict)
    validated: dict[str, int] = field(default_factory=dict)
    violations: dict[str, int] = field(default_factory=dict)
    violation_examples: tuple[str, ...] = ()
    tx_dropped: dict[str, int] = field(default_factory=dict)

    def to_wire(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_wire(cls, data: bytes) -> Snapshot:
        return cls.from_dict(orjson.loads(data))

    def to_dict(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "at": self.at,
            "gauges": self.gauges,
            "connections": self.connections,
            "frames": self.frames,
            "actions": {
                key: {
                    "ok": a.ok,
                    "errors": a.errors,
                    "timeouts": a.timeouts,
                    "lost": a.lost,
                    "buckets": list(a.buckets.items()),
                    "max_s": a.max_s,
                    "sum_s": a.sum_s,
                }
                for key, a in self.actions.items()
            },
            "malformed": self.malformed,
            "commands": self.commands,
            "failure_reasons": self.failure_reasons,
            "transactions": self.transactions,
            "fleet": self.fleet,
            "connectors": self.connectors,
            "process": self.process,
            "command_times": {key: h.to_dict() for key, h in self.command_times.items()},
            "validated": self.validated,
            "violations": self.violations,
            "violation_examples": list(self.violation_examples),
            "tx_dropped": self.tx_dropped,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Snapshot:
        return cls(
            worker=raw["worker"],
            at=raw["at"],
            gauges=raw["gauges"],
            connections=raw["connections"],
            frames=raw["frames"],
            actions={
                key: ActionSnapshot(
                    ok=a["ok"],
                    errors=a["errors"],
                    timeouts=a["timeouts"],
                    lost=a["lost"],
                    buckets={int(i): int(c) for i, c in a["buckets"]},
                    max_s=a["max_s"],
                    sum_s=a["sum_s"],
                )
                for key, a in raw["actions"].items()
            },
            malformed=raw["malformed"],
            commands=raw["commands"],
            failure_reasons=raw["failure_reasons"],
            transactions=raw["transactions"],
            fleet=raw["fleet"],
            connectors=raw["connectors"],
            process=raw["process"],
            command_times={
                key: HistogramSnapshot.from_dict(h)
                for key, h in raw.get("command_times", {}).items()
            },
            validated=raw.get("validated", {}),
            violations=raw.get("violations", {}),
            violation_examples=tuple(raw.get("violation_examples", ())),
            tx_dropped=raw.get("tx_dropped", {}),
        )

    @classmethod
    def empty(cls, worker: int = -1, at: float = 0.0) -> Snapshot:
        return cls(
            worker,
            at,
            dict.fromkeys(GAUGES, 0),
            dict.fromkeys(CONNECTION_COUNTERS, 0),
            {"sent": 0, "received": 0},
            {},
            {},
            {},
            {},
        )


def merge(snapshots: list[Snapshot]) -> Snapshot:
    """The fleet view: counters and histograms added up, `at` the latest."""
    total = Snapshot.empty(at=max((s.at for s in snapshots), default=0.0))
    actions: dict[str, ActionSnapshot] = {}
    command_times: dict[str, HistogramSnapshot] = {}
    for snap in snapshots:
        for key, action in snap.actions.items():
            actions[key] = actions[key].merged(action) if key in actions else action
        for key, times in snap.command_times.items():
            command_times[key] = command_times[key].merged(times) if key in command_times else times
    examples = [example for snap in snapshots for example in snap.violation_examples]
    return Snapshot(
        worker=-1,
        at=total.at,
        gauges=_add_all([s.gauges for s in snapshots], total.gauges),
        connections=_add_all([s.connections for s in snapshots], total.connections),
        frames=_add_all([s.frames for s in snapshots], total.frames),
        actions=actions,
        malformed=_add_all([s.malformed for s in snapshots], {}),
        commands=_add_all([s.commands for s in snapshots], {}),
        failure_reasons=_add_all([s.failure_reasons for s in snapshots], {}),
        transactions=_add_all([s.transactions for s in snapshots], {}),
        fleet=_add_all([s.fleet for s in snapshots], {}),
        connectors=_add_all([s.connectors for s in snapshots], {}),
        command_times=command_times,
        validated=_add_all([s.validated for s in snapshots], {}),
        violations=_add_all([s.violations for s in snapshots], {}),
        violation_examples=tuple(examples[:VIOLATION_EXAMPLES]),
        tx_dropped=_add_all([s.tx_dropped for s in snapshots], {}),
    )


def _add(a: dict[str, N], b: dict[str, N]) -> dict[str, N]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


def _add_all(parts: list[dict[str, N]], start: dict[str, N]) -> dict[str, N]:
    out = dict(start)
    for part in parts:
        out = _add(out, part)
    return out
