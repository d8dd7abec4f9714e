"""The Prometheus collector over snapshots, the fleet scan and the process probe, pure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from simfleet.engine.probe import LagMeter, resident_bytes
from simfleet.engine.worker import GaugeRefresher
from simfleet.exporters.catalogue import (
    CATALOGUE,
    HANDLING_BUCKETS_S,
    LATENCY_BUCKETS_S,
    catalogue_markdown,
    family_name,
)
from simfleet.exporters.prometheus import FleetCollector, RunInfo
from simfleet.scenario.model import Scenario
from simfleet.sim.agent import ChargerAgent
from simfleet.sim.fleet import build_agents
from simfleet.sim.scan import SCAN_SLICE, FleetScan, scan
from simfleet.sim.stats import Recorder, Snapshot

INFO = RunInfo("unit", 42, "1.6")
#: Labels a series may carry: few values each, never a charger's identity.
ALLOWED_LABELS = {
    "scenario", "ocpp_version", "action", "direction", "status", "error_code", "worker",
    "reason", "version", "seed", "ocpp_versions", "kind",
}  # fmt: skip


def worker_snapshot(worker: int) -> Snapshot:
    r = Recorder()
    r.planned, r.connected, r.booted_count = 10, 9, 9
    r.opened, r.dropped, r.reconnects, r.offline = 9, 1, 2, 1
    r.frames_sent, r.frames_received = 100, 98
    r.connection_failed("refused")
    r.call_answered("1.6", "Heartbeat", 0.0009, None)  # <= 1 ms
    r.call_answered("1.6", "Heartbeat", 0.0015, None)  # in (1 ms, 2 ms]
    r.call_answered("1.6", "Heartbeat", 0.5, "InternalError")
    r.call_timed_out("1.6", "Heartbeat", 30.0)
    r.call_lost("1.6", "MeterValues")
    r.malformed("1.6", "FormationViolation")
    r.transaction_message_dropped("1.6", "MeterValues", "queue_full")
    r.command_handled("1.6", "Reset", "NotSupported")
    r.command_answered(0.00012)  # in (100 µs, 150 µs]
    r.validated_sent, r.validated_received = 100, 98
    r.schema_violation("1.6", "received", "BootNotification", "result", "no interval", b"[3]")
    r.transaction_started("1.6")
    r.transaction_started("1.6")
    r.transaction_stopped("1.6")
    r.scan = FleetScan(
        booted=9,
        connectors={"1.6|Available": 15, "1.6|Charging": 5},
        active={"1.6": 1},
        power_w=11_000.0,
        energy_wh=250.0,
    )
    r.process = {"cpu_s": 1.5, "rss_bytes": 1e8, "loop_lag_s": 0.002}
    return r.snapshot(worker, at=1000.0)


@pytest.fixture
def collector() -> FleetCollector:
    snapshots = [worker_snapshot(0), worker_snapshot(1)]
    return FleetCollector(INFO, lambda: snapshots, clock=lambda: 1000.5)


def families_by_name(collector: FleetCollector) -> dict[str, Metric]:
    """Collected families keyed by their catalogue name."""
    out: dict[str, Metric] = {}
    for family in collector.collect():
        name = family.name
        if family.type == "counter":
            name += "_total"
        elif family.type == "info":
            name += "_info"
        out[name] = family
    return out


def values(collector: FleetCollector, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    family = families_by_name(collector)[name]
    return {
        tuple(sorted((k, v) for k, v in s.labels.items() if k != "scenario")): s.value
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_every_catalogue_metric_is_collected_with_its_labels(collector: FleetCollector) -> None:
    families = families_by_name(collector)
    assert set(families) == {spec.name for spec in CATALOGUE}
    for spec in CATALOGUE:
        for sample in families[spec.name].samples:
            assert sample.labels["scenario"] == "unit"
            extra = {"le"} if sample.name.endswith("_bucket") else set()
            assert set(sample.labels) == {"scenario", *spec.labels, *extra}, sample
            assert set(sample.labels) <= ALLOWED_LABELS | {"le"}


def test_catalogue_names_follow_the_convention() -> None:
    for spec in CATALOGUE:
        assert re.fullmatch(r"simfleet_[a-z]+_[a-z_]+", spec.name), spec.name
        assert spec.name.endswith("_total") == (spec.type == "counter"), spec.name
        assert family_name(spec) != "" and spec.help.endswith(".")


def test_fleet_counters_are_summed_over_workers(collector: FleetCollector) -> None:
    assert values(collector, "simfleet_fleet_planned_chargers") == {(): 20}
    assert values(collector, "simfleet_fleet_booted_chargers") == {(): 18}
    assert values(collector, "simfleet_connection_dropped_total") == {(): 2}
    assert values(collector, "simfleet_transaction_started_total") == {
        (("ocpp_version", "1.6"),): 4
    }
    assert values(collector, "simfleet_transaction_active")[(("ocpp_version", "1.6"),)] == 2
    assert values(collector, "simfleet_energy_power_watts") == {(): 22_000.0}
    assert values(collector, "simfleet_energy_delivered_watthours_total") == {(): 500.0}
    charging = (("ocpp_version", "1.6"), ("status", "Charging"))
    assert values(collector, "simfleet_fleet_connectors")[charging] == 10
    failed = values(collector, "simfleet_connection_failed_total")
    assert failed[(("reason", "refused"),)] == 2
    assert failed[(("reason", "tls"),)] == 0  # the usual reasons exist before they happen


def test_calls_messages_and_commands(collector: FleetCollector) -> None:
    calls = values(collector, "simfleet_ocpp_calls_total")
    hb = (("action", "Heartbeat"), ("ocpp_version", "1.6"))
    assert calls[(*hb[:1], hb[1], ("status", "ok"))] == 4
    assert calls[(*hb, ("status", "error"))] == 2
    assert calls[(*hb, ("status", "timeout"))] == 2
    errors = values(collector, "simfleet_ocpp_call_errors_total")
    assert errors == {(hb[0], ("error_code", "InternalError"), hb[1]): 2}
    messages = values(collector, "simfleet_ocpp_messages_total")
    # Heartbeat: 3 answered + 1 timed out sent per worker; 3 answers received.
    assert messages[(hb[0], ("direction", "sent"), hb[1])] == 8
    assert messages[(hb[0], ("direction", "received"), hb[1])] == 6
    reset = ("action", "Reset")
    assert messages[(reset, ("direction", "received"), hb[1])] == 2
    commands = values(collector, "simfleet_csms_commands_total")
    assert commands == {(reset, hb[1], ("status", "NotSupported")): 2}
    assert values(collector, "simfleet_ocpp_malformed_total") == {
        (("error_code", "FormationViolation"),): 2
    }


def test_dropped_transaction_messages_by_action_and_reason(collector: FleetCollector) -> None:
    dropped = values(collector, "simfleet_ocpp_transaction_messages_dropped_total")
    v16 = ("ocpp_version", "1.6")
    assert dropped[(("action", "MeterValues"), v16, ("reason", "queue_full"))] == 2
    # Every transaction message and reason exists before its first drop (for rate()).
    assert len(dropped) == 6
    assert dropped[(("action", "StopTransaction"), v16, ("reason", "attempts"))] == 0


def test_latency_histogram_is_cumulative_in_seconds(collector: FleetCollector) -> None:
    family = families_by_name(collector)["simfleet_ocpp_call_latency_seconds"]
    heartbeat = [s for s in family.samples if s.labels["action"] == "Heartbeat"]
    buckets = {s.labels["le"]: s.value for s in heartbeat if s.name.endswith("_bucket")}
    assert len(buckets) == len(LATENCY_BUCKETS_S) + 1
    assert buckets["0.001"] == 2  # 0.9 ms, one per worker
    assert buckets["0.002"] == 4
    assert buckets["0.3"] == 4
    assert buckets["0.5"] == 4  # 0.5 s sits in a bucket whose upper edge is above 0.5: next
    assert buckets["0.75"] == 6
    assert buckets["+Inf"] == 6
    ordered = [buckets[f"{b:g}"] for b in LATENCY_BUCKETS_S]
    assert ordered == sorted(ordered)
    [total] = [s.value for s in heartbeat if s.name.endswith("_sum")]
    assert total == pytest.approx(2 * (0.0009 + 0.0015 + 0.5))
    [count] = [s.value for s in heartbeat if s.name.endswith("_count")]
    assert count == 6


def test_command_handling_histogram_has_sub_millisecond_buckets(
    collector: FleetCollector,
) -> None:
    family = families_by_name(collector)["simfleet_csms_command_handling_seconds"]
    reset = [s for s in family.samples if s.labels["action"] == "Reset"]
    assert {s.labels["ocpp_version"] for s in reset} == {"1.6"}
    buckets = {s.labels["le"]: s.value for s in reset if s.name.endswith("_bucket")}
    assert len(buckets) == len(HANDLING_BUCKETS_S) + 1
    assert buckets["0.0001"] == 0
    assert buckets["0.00015"] == 2  # 120 µs, one per worker
    assert buckets["+Inf"] == 2
    [total] = [s.value for s in reset if s.name.endswith("_sum")]
    assert total == pytest.approx(2 * 0.00012)


def test_schema_figures_are_summed_and_absent_when_strict_is_off(
    collector: FleetCollector,
) -> None:
    validated = values(collector, "simfleet_schema_validated_frames_total")
    assert validated == {(("direction", "sent"),): 200, (("direction", "received"),): 196}
    violations = values(collector, "simfleet_schema_violations_total")
    boot = (
        ("action", "BootNotification"),
        ("direction", "received"),
        ("kind", "result"),
        ("ocpp_version", "1.6"),
    )
    assert violations == {boot: 2}
    plain = Recorder()
    plain.frames_sent = 10
    off = FleetCollector(INFO, lambda: [plain.snapshot(0, 1.0)])
    names = set(families_by_name(off))
    assert "simfleet_schema_validated_frames_total" not in names
    assert "simfleet_schema_violations_total" not in names


def test_health_is_per_worker_plus_the_parent(collector: FleetCollector) -> None:
    cpu = values(collector, "simfleet_process_cpu_seconds_total")
    assert set(cpu) == {(("worker", w),) for w in ("main", "0", "1")}
    assert cpu[(("worker", "0"),)] == 1.5
    age = values(collector, "simfleet_process_snapshot_age_seconds")
    assert age[(("worker", "1"),)] == pytest.approx(0.5)
    assert values(collector, "simfleet_process_resident_memory_bytes")[(("worker", "main"),)] > 0


def test_exposition_round_trips(collector: FleetCollector) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    text = generate_latest(registry).decode()
    parsed = {f.name for f in text_string_to_metric_families(text)}
    # The text format has no info type: the parser reads it as a gauge of its full name.
    expected = {spec.name if spec.type == "info" else family_name(spec) for spec in CATALOGUE}
    assert expected <= parsed
    assert 'simfleet_run_info{ocpp_versions="1.6",scenario="unit",seed="42"' in text


def test_a_worker_without_a_report_yet_is_left_out() -> None:
    collector = FleetCollector(INFO, lambda: [Snapshot.empty(0), worker_snapshot(1)])
    assert set(values(collector, "simfleet_process_loop_lag_seconds")) == {(("worker", "1"),)}


def test_scan_counts_every_status_of_every_connector() -> None:
    scenario = Scenario(chargers=5)
    agents = build_agents(scenario, range(1, 6), Recorder(), 1000.0)
    result = scan(agents, 1000.0)
    connectors = scenario.charger.connectors * 5
    assert sum(result.connectors.values()) == connectors
    assert result.connectors["1.6|Available"] == connectors
    assert result.connectors["1.6|Faulted"] == 0  # present at 0, not missing
    assert result.active == {"1.6": 0}
    assert result.booted == 0
    assert result.power_w == 0.0


def test_snapshot_wire_carries_the_new_fields() -> None:
    snap = worker_snapshot(3)
    again = Snapshot.from_wire(snap.to_wire())
    assert again == snap
    assert again.actions["1.6|Heartbeat"].sum_s == pytest.approx(0.0009 + 0.0015 + 0.5)


def test_lag_meter_reports_the_worst_of_each_window() -> None:
    lag = LagMeter(window_s=1.0)
    lag.woke(10.0, 10.002)  # opens the first window
    lag.woke(10.1, 10.13)
    lag.woke(10.2, 10.201)
    assert lag.lag_s == pytest.approx(0.002)
    lag.woke(11.0, 11.004)  # the window closes: its worst is 30 ms
    assert lag.lag_s == pytest.approx(0.03)
    lag.woke(12.1, 12.1)
    assert lag.lag_s == 0.0
    lag.woke(13.0, 12.99)  # early is not late
    assert lag.lag_s >= 0.0


def test_resident_memory_is_plausible() -> None:
    assert 10e6 < resident_bytes() < 10e9


def test_the_readme_catalogue_is_the_catalogue() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- catalogue:start -->\n", 1)[1].split("\n<!-- catalogue:end -->")[0]
    assert block == catalogue_markdown(), (
        "README's metric table is stale: paste catalogue_markdown()"
    )


def test_the_gauges_refresh_a_slice_per_tick_and_cover_the_fleet() -> None:
    scenario = Scenario(chargers=1200)
    recorder = Recorder()
    agents = build_agents(scenario, range(1, 1201), recorder, 1000.0)
    for agent in agents[:700]:
        agent.charger.connectors[0].transaction_id = 1  # as if started
    refresher = GaugeRefresher(recorder, lambda: 1000.0)
    refresher.refresh(agents)

    def connectors(some: list[ChargerAgent]) -> int:
        return sum(len(agent.charger.connectors) for agent in some)

    assert sum(recorder.scan.connectors.values()) == connectors(agents[:SCAN_SLICE])
    refresher.refresh(agents)
    refresher.refresh(agents)
    whole = scan(agents, 1000.0)
    assert recorder.scan == whole
    assert whole.active == {"1.6": 700}
    refresher.refresh(agents[:600])  # the fleet shrank (Locust): no stale slices survive
    refresher.refresh(agents[:600])
    assert sum(recorder.scan.connectors.values()) == connectors(agents[:600])
    assert recorder.process["rss_bytes"] > 0
