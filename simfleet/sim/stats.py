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
#: Command answer statuses that mean the charger did what the CSMS asked.
ACCEPTING = frozenset({"Accepted", "Scheduled", "RebootRequired", "Unlocked", "Idle"})


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
        if self.tally is not None:
            # CSMS-initiated commands get rows of their own (method "OCPP 1.6 CSMS"); an
            # answer that refuses the command is a failure named by its status.
            failure = None if status in ACCEPTING else status
            self.tally.record(f"{version} CSMS", action, 0.0, failure)

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
            tx_dropped={"|".join(key): n for key, n in self.tx_dropped.items()},
        )

    def _transactions(self) -> dict[str, int]:
        out = {f"{v}|started": n for v, n in self.started.items()}
        out.update({f"{v}|stopped": n for v, n in self.stopped.items()})
        out.update({f"{v}|active": n for v, n in self.scan.active.items()})
        return out


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
    cpu_s, rss_bytes and loop_lag_s (not meaningful once merged); `tx_dropped` keys
    "VERSION|Action|reason" (transaction messages given up: queue_full, attempts).
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
    for snap in snapshots:
        for key, action in snap.actions.items():
            actions[key] = actions[key].merged(action) if key in actions else action
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
