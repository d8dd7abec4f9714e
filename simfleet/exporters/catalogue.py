"""Every Prometheus metric simfleet exposes: name, type, labels and meaning, in one place.

The collector emits exactly these families, the README's metric catalogue is checked against
this table, and so are the metric names the shipped Grafana dashboard uses. Every series also
carries the `scenario` label (the scenario's name); none carries a charger identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

MetricType = Literal["counter", "gauge", "histogram", "info"]

#: Call latency buckets (seconds), 1 ms to 60 s: fine enough that histogram_quantile's linear
#: interpolation inside a bucket stays within about a third of the bucket's width.
LATENCY_BUCKETS_S: Final = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2,
    0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0,
)  # fmt: skip


#: CSMS command handling time buckets (seconds), 50 µs to 1 s: a charger answers in well under
#: a millisecond unless its process is saturated.
HANDLING_BUCKETS_S: Final = (
    0.00005, 0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003,
    0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str  # as exposed (counters with their _total suffix)
    type: MetricType
    labels: tuple[str, ...]  # besides `scenario`
    help: str


def _spec(name: str, kind: MetricType, labels: tuple[str, ...], help_text: str) -> MetricSpec:
    return MetricSpec(name, kind, labels, help_text)


VA: Final = ("ocpp_version", "action")

CATALOGUE: Final[tuple[MetricSpec, ...]] = (
    _spec("simfleet_run_info", "info", ("version", "seed", "ocpp_versions"),
          "The run: simfleet version, scenario seed and OCPP versions simulated (value 1)."),
    _spec("simfleet_fleet_planned_chargers", "gauge", (),
          "Chargers the run simulates (connected or not)."),
    _spec("simfleet_fleet_connected_chargers", "gauge", (),
          "Chargers with an open WebSocket to the CSMS."),
    _spec("simfleet_fleet_booted_chargers", "gauge", (),
          "Chargers whose last BootNotification was Accepted and that have not rebooted since."),
    _spec("simfleet_fleet_boots_total", "counter", (),
          "BootNotifications the CSMS accepted (reboots count again)."),
    _spec("simfleet_fleet_connectors", "gauge", ("ocpp_version", "status"),
          "Connectors by the OCPP status their charger shows (Available, Charging, ...)."),
    _spec("simfleet_transaction_active", "gauge", ("ocpp_version",),
          "Transactions the CSMS has given an id to and that have not been stopped."),
    _spec("simfleet_transaction_started_total", "counter", ("ocpp_version",),
          "Transactions started (StartTransaction answered with a transactionId)."),
    _spec("simfleet_transaction_stopped_total", "counter", ("ocpp_version",),
          "Transactions stopped (StopTransaction sent or queued for sending)."),
    _spec("simfleet_energy_power_watts", "gauge", (),
          "Power all simulated EVs draw now (after smart-charging limits)."),
    _spec("simfleet_energy_delivered_watthours_total", "counter", (),
          "Energy delivered to EVs since the run started, from the chargers' meter registers."),
    _spec("simfleet_connection_opened_total", "counter", (),
          "WebSocket connections opened (OCPP subprotocol agreed)."),
    _spec("simfleet_connection_failed_total", "counter", ("reason",),
          "Connection attempts that failed, by reason (refused, timeout, tls, auth, ...)."),
    _spec("simfleet_connection_dropped_total", "counter", (),
          "Open connections lost without the simulator asking (closed by the CSMS or network)."),
    _spec("simfleet_connection_reconnects_total", "counter", (),
          "Connection attempts after a drop or failure (after the backoff delay)."),
    _spec("simfleet_connection_offline_total", "counter", (),
          "Planned offline spells and reboots from the behaviour model (not counted as drops)."),
    _spec("simfleet_ocpp_frames_total", "counter", ("direction",),
          "WebSocket frames sent and received, of any kind (malformed ones included)."),
    _spec("simfleet_ocpp_messages_total", "counter", ("ocpp_version", "action", "direction"),
          "OCPP messages by action and direction: sent are our CALLs that were answered or "
          "timed out and our answers to CSMS commands, received are answers to our CALLs and "
          "CSMS commands."),
    _spec("simfleet_ocpp_calls_total", "counter", ("ocpp_version", "action", "status"),
          "Charger-initiated CALLs by outcome: ok, error (CALLERROR), timeout, lost "
          "(in flight or queued when the connection went; transaction messages are kept)."),
    _spec("simfleet_ocpp_call_latency_seconds", "histogram", VA,
          "Time from a CALL's intended send time to its answer (CALLRESULT or CALLERROR)."),
    _spec("simfleet_ocpp_call_errors_total", "counter", ("ocpp_version", "action", "error_code"),
          "CALLERRORs received for our CALLs, by OCPP error code."),
    _spec("simfleet_ocpp_call_timeouts_total", "counter", VA,
          "CALLs that got no answer within the call timeout."),
    _spec("simfleet_ocpp_transaction_messages_dropped_total", "counter",
          ("ocpp_version", "action", "reason"),
          "Transaction messages given up: queue_full (offline queue full; the oldest queued "
          "MeterValues goes first) or attempts (TransactionMessageAttempts failed, OCPP 1.6 "
          "§4.7)."),
    _spec("simfleet_ocpp_malformed_total", "counter", ("error_code",),
          "Frames received that were not valid OCPP-J (or answers we could not use)."),
    _spec("simfleet_csms_commands_total", "counter", ("ocpp_version", "action", "status"),
          "CSMS-initiated commands answered, by action and the status the charger answered."),
    _spec("simfleet_csms_command_handling_seconds", "histogram", VA,
          "Time the charger took for a CSMS-initiated command: from reading its CALL to having "
          "written its answer (and any messages it sends at once in response)."),
    _spec("simfleet_schema_validated_frames_total", "counter", ("direction",),
          "Strict mode (--strict): frames checked against the official OCPP JSON schemas."),
    _spec("simfleet_schema_violations_total", "counter",
          ("ocpp_version", "action", "direction", "kind"),
          "Strict mode: frames that broke the OCPP JSON schema, by action, direction (sent, "
          "received) and kind (call, result, error: CALLERROR shape, frame: not OCPP-J)."),
    _spec("simfleet_process_cpu_seconds_total", "counter", ("worker",),
          "CPU time (user + system) of each simulator process (worker 'main' is the parent)."),
    _spec("simfleet_process_resident_memory_bytes", "gauge", ("worker",),
          "Resident memory of each simulator process."),
    _spec("simfleet_process_loop_lag_seconds", "gauge", ("worker",),
          "How late the worker's event loop woke a 100 ms timer (the worst of the last second): "
          "above a few ms the simulator itself is saturated."),
    _spec("simfleet_process_snapshot_age_seconds", "gauge", ("worker",),
          "Age of the worker's latest stats snapshot at scrape time."),
)  # fmt: skip

BY_NAME: Final = {spec.name: spec for spec in CATALOGUE}


def family_name(spec: MetricSpec) -> str:
    """The name prometheus_client wants for the family (without the suffix it appends)."""
    if spec.type == "counter":
        return spec.name.removesuffix("_total")
    if spec.type == "info":
        return spec.name.removesuffix("_info")
    return spec.name


def series_names(spec: MetricSpec) -> tuple[str, ...]:
    """The sample names a family produces in the exposition (what PromQL can select)."""
    if spec.type == "histogram":
        return (f"{spec.name}_bucket", f"{spec.name}_sum", f"{spec.name}_count")
    return (spec.name,)


def catalogue_markdown() -> str:
    """The README's metric catalogue table (a test keeps the README equal to it)."""
    rows = [
        "| metric | type | labels (besides `scenario`) | meaning |",
        "|---|---|---|---|",
    ]
    for spec in CATALOGUE:
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "none"
        rows.append(f"| `{spec.name}` | {spec.type} | {labels} | {spec.help} |")
    return "\n".join(rows)
