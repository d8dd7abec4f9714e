"""The /metrics endpoint: a custom collector over the workers' latest snapshots.

Nothing here runs per message. The engine counts in plain integers and histogram buckets; a
scrape merges the workers' latest snapshots (immutable, swapped in whole by the thread that
receives them, so no lock) and turns them into metric families named in `catalogue`.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from simfleet import __version__
from simfleet.engine.probe import cpu_seconds, resident_bytes
from simfleet.exporters.catalogue import (
    BY_NAME,
    HANDLING_BUCKETS_S,
    LATENCY_BUCKETS_S,
    family_name,
)
from simfleet.scenario.model import Scenario
from simfleet.sim.histogram import BUCKETS, GROWTH
from simfleet.sim.stats import ActionSnapshot, Snapshot, merge

#: Connection failure reasons (engine.connection.failure_reason) exposed before they happen.
COMMON_FAILURES: Final = ("network", "refused", "timeout", "tls")
#: Transaction messages and why one is dropped, exposed at 0 before it happens (OCPP 1.6 §4.7).
TRANSACTION_MESSAGES: Final = ("MeterValues", "StartTransaction", "StopTransaction")
DROP_REASONS: Final = ("attempts", "queue_full")


class PromBuckets:
    """Maps our log buckets onto a family's Prometheus bucket bounds."""

    def __init__(self, bounds: Sequence[float]) -> None:
        # For each of our log buckets, the first Prometheus bucket whose bound is at or above
        # the bucket's upper edge: every value in it is then `le` that bound (at most 2 % early).
        edges = [GROWTH ** (i + 1) / 1e6 for i in range(BUCKETS)]
        self.index_of = [bisect_left(bounds, edge * (1 - 1e-12)) for edge in edges]
        self.le = [*(f"{b:g}" for b in bounds), "+Inf"]

    def cumulative(self, buckets: Mapping[int, int]) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs of one histogram."""
        counts = [0] * len(self.le)
        for index, count in buckets.items():
            counts[self.index_of[index]] += count
        out: list[tuple[str, float]] = []
        running = 0
        for le, count in zip(self.le, counts, strict=True):
            running += count
            out.append((le, float(running)))
        return out


_LATENCY: Final = PromBuckets(LATENCY_BUCKETS_S)
_HANDLING: Final = PromBuckets(HANDLING_BUCKETS_S)


def latency_buckets(action: ActionSnapshot) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs of one action's latency histogram."""
    return _LATENCY.cumulative(action.buckets)


@dataclass(frozen=True, slots=True)
class RunInfo:
    scenario: str
    seed: int
    ocpp_versions: str


class _Families:
    """Metric families by catalogue name, each with the scenario label first."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.families: dict[str, Metric] = {}

    def add(self, name: str, labels: Sequence[str], value: float) -> None:
        family = self.families.get(name)
        if family is None:
            family = self.families[name] = _family(name)
        family.add_metric([self.scenario, *labels], value)  # type: ignore[attr-defined]

    def add_histogram(
        self, name: str, labels: Sequence[str], buckets: list[tuple[str, float]], sum_s: float
    ) -> None:
        family = self.families.get(name)
        if family is None:
            family = self.families[name] = _family(name)
        assert isinstance(family, HistogramMetricFamily)
        family.add_metric([self.scenario, *labels], buckets, sum_s)


def _family(name: str) -> Metric:
    spec = BY_NAME[name]
    labels = ["scenario", *spec.labels]
    base = family_name(spec)
    if spec.type == "counter":
        return CounterMetricFamily(base, spec.help, labels=labels)
    if spec.type == "gauge":
        return GaugeMetricFamily(base, spec.help, labels=labels)
    if spec.type == "histogram":
        return HistogramMetricFamily(base, spec.help, labels=labels)
    return InfoMetricFamily(base, spec.help, labels=labels[:1])


class FleetCollector(Collector):
    """Every catalogue metric, from `source()` (the latest snapshot of each worker)."""

    def __init__(
        self,
        info: RunInfo,
        source: Callable[[], Sequence[Snapshot]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.info = info
        self.source = source
        self.clock = clock

    def describe(self) -> Iterator[Metric]:
        return iter(())  # families depend on what happened; the registry must not pre-collect

    def collect(self) -> Iterator[Metric]:
        workers = list(self.source())
        fleet = merge(workers)
        out = _Families(self.info.scenario)
        self._run(out)
        _fleet(out, fleet)
        _connections(out, fleet)
        _ocpp(out, fleet)
        _commands(out, fleet)
        _schema(out, fleet)
        self._health(out, workers)
        return iter(out.families.values())

    def _run(self, out: _Families) -> None:
        family = _family("simfleet_run_info")
        assert isinstance(family, InfoMetricFamily)
        family.add_metric(
            [self.info.scenario],
            {
                "version": __version__,
                "seed": str(self.info.seed),
                "ocpp_versions": self.info.ocpp_versions,
            },
        )
        out.families["simfleet_run_info"] = family

    def _health(self, out: _Families, workers: Sequence[Snapshot]) -> None:
        now = self.clock()
        out.add("simfleet_process_cpu_seconds_total", ["main"], cpu_seconds())
        out.add("simfleet_process_resident_memory_bytes", ["main"], float(resident_bytes()))
        for snap in workers:
            if not snap.process:
                continue  # no report from this worker yet
            worker = [str(snap.worker)]
            out.add("simfleet_process_cpu_seconds_total", worker, snap.process["cpu_s"])
            out.add("simfleet_process_resident_memory_bytes", worker, snap.process["rss_bytes"])
            out.add("simfleet_process_loop_lag_seconds", worker, snap.process["loop_lag_s"])
            out.add("simfleet_process_snapshot_age_seconds", worker, max(0.0, now - snap.at))


def _fleet(out: _Families, fleet: Snapshot) -> None:
    gauges = fleet.gauges
    out.add("simfleet_fleet_planned_chargers", [], gauges["planned"])
    out.add("simfleet_fleet_connected_chargers", [], gauges["connected"])
    out.add("simfleet_fleet_booted_chargers", [], fleet.fleet.get("booted", 0))
    out.add("simfleet_fleet_boots_total", [], gauges["booted"])
    for key, count in sorted(fleet.connectors.items()):
        version, _, status = key.partition("|")
        out.add("simfleet_fleet_connectors", [version, status], count)
    versions = sorted({key.partition("|")[0] for key in fleet.transactions})
    for version in versions:
        # All three per version, 0 until something happens, so rate() sees the first one.
        get = fleet.transactions.get
        out.add("simfleet_transaction_active", [version], get(f"{version}|active", 0))
        out.add("simfleet_transaction_started_total", [version], get(f"{version}|started", 0))
        out.add("simfleet_transaction_stopped_total", [version], get(f"{version}|stopped", 0))
    out.add("simfleet_energy_power_watts", [], fleet.fleet.get("power_w", 0.0))
    out.add("simfleet_energy_delivered_watthours_total", [], fleet.fleet.get("energy_wh", 0.0))


def _connections(out: _Families, fleet: Snapshot) -> None:
    c = fleet.connections
    out.add("simfleet_connection_opened_total", [], c["opened"])
    out.add("simfleet_connection_dropped_total", [], c["dropped"])
    out.add("simfleet_connection_reconnects_total", [], c["reconnects"])
    out.add("simfleet_connection_offline_total", [], c["offline"])
    # The usual reasons start at 0, so rate() sees the first failure (http_NNN and
    # exception names appear when they happen).
    reasons = dict.fromkeys(COMMON_FAILURES, 0) | fleet.failure_reasons
    for reason, count in sorted(reasons.items()):
        out.add("simfleet_connection_failed_total", [reason], count)


def _ocpp(out: _Families, fleet: Snapshot) -> None:
    for direction in ("sent", "received"):
        out.add("simfleet_ocpp_frames_total", [direction], fleet.frames[direction])
    messages: dict[tuple[str, str, str], float] = {}
    for key, a in sorted(fleet.actions.items()):
        version, _, action = key.partition("|")
        va = [version, action]
        answered = a.ok + a.error_count
        _bump(messages, (version, action, "sent"), answered + a.timeouts)
        _bump(messages, (version, action, "received"), answered)
        for status, count in (
            ("ok", a.ok),
            ("error", a.error_count),
            ("timeout", a.timeouts),
            ("lost", a.lost),
        ):
            out.add("simfleet_ocpp_calls_total", [*va, status], count)
        out.add_histogram(
            "simfleet_ocpp_call_latency_seconds", va, latency_buckets(a), _finite(a.sum_s)
        )
        out.add("simfleet_ocpp_call_timeouts_total", va, a.timeouts)
        for code, count in sorted(a.errors.items()):
            out.add("simfleet_ocpp_call_errors_total", [*va, code], count)
    for key, count in sorted(fleet.commands.items()):
        version, action, _ = key.split("|", 2)
        # A command received is one message in, its answer one message out.
        _bump(messages, (version, action, "received"), count)
        _bump(messages, (version, action, "sent"), count)
    for labels, total in sorted(messages.items()):
        out.add("simfleet_ocpp_messages_total", labels, total)
    for code, count in sorted(fleet.malformed.items()):
        out.add("simfleet_ocpp_malformed_total", [code], count)
    _dropped(out, fleet)


def _dropped(out: _Families, fleet: Snapshot) -> None:
    """Per version that sent anything, every transaction message and reason from 0 (so rate()
    sees the first drop), and whatever else was dropped."""
    versions = {key.partition("|")[0] for key in fleet.actions}
    dropped = {
        f"{v}|{action}|{reason}": 0
        for v in versions
        for action in TRANSACTION_MESSAGES
        for reason in DROP_REASONS
    }
    dropped.update(fleet.tx_dropped)
    for key, count in sorted(dropped.items()):
        out.add("simfleet_ocpp_transaction_messages_dropped_total", key.split("|", 2), count)


def _commands(out: _Families, fleet: Snapshot) -> None:
    """CSMS-initiated calls: answers by status, and how long the charger took."""
    for key, count in sorted(fleet.commands.items()):
        out.add("simfleet_csms_commands_total", key.split("|", 2), count)
    for key, times in sorted(fleet.command_times.items()):
        out.add_histogram(
            "simfleet_csms_command_handling_seconds",
            key.split("|", 1),
            _HANDLING.cumulative(times.buckets),
            _finite(times.sum_s),
        )


def _schema(out: _Families, fleet: Snapshot) -> None:
    """Strict mode's figures (nothing at all when it is off)."""
    if not fleet.validated:
        return
    for direction in ("sent", "received"):
        out.add("simfleet_schema_validated_frames_total", [direction], fleet.validated[direction])
    for key, count in sorted(fleet.violations.items()):
        out.add("simfleet_schema_violations_total", key.split("|", 3), count)


def _bump(table: dict[tuple[str, str, str], float], key: tuple[str, str, str], n: int) -> None:
    table[key] = table.get(key, 0) + n


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


class MetricsServer:
    """The HTTP endpoint, on a thread of its own; `port` is the bound port (for port 0)."""

    def __init__(self, collector: Collector, host: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self._server, self._thread = start_http_server(port, host, self.registry)
        self.host = host
        self.port: int = self._server.server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def run_info(scenario: Scenario) -> RunInfo:
    """The info labels of a scenario (its name, seed and OCPP versions)."""
    # Every version some charger offers (a mixed fleet lists several), in order of first offer.
    offered = dict.fromkeys(v for offer in scenario.charger.offers for v in offer)
    return RunInfo(scenario.name, scenario.seed, ",".join(offered))
