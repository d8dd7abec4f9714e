"""The run report (`--report run.json`) and the summary table printed at the end of a run."""

from __future__ import annotations

from typing import Any

from simfleet import __version__
from simfleet.scenario.model import Scenario
from simfleet.sim.histogram import percentile_s
from simfleet.sim.stats import ActionSnapshot, HistogramSnapshot, Snapshot


def by_action(totals: Snapshot) -> dict[str, ActionSnapshot]:
    """Per action across OCPP versions (keys of `totals.actions` are "VERSION|Action")."""
    merged: dict[str, ActionSnapshot] = {}
    for key, stats in totals.actions.items():
        action = key.split("|", 1)[1]
        merged[action] = merged[action].merged(stats) if action in merged else stats
    return dict(sorted(merged.items()))


def dropped_by_action(totals: Snapshot) -> dict[str, dict[str, int]]:
    """Transaction messages given up, {action: {reason: count}} across OCPP versions."""
    out: dict[str, dict[str, int]] = {}
    for key, count in sorted(totals.tx_dropped.items()):
        _version, action, reason = key.split("|", 2)
        reasons = out.setdefault(action, {})
        reasons[reason] = reasons.get(reason, 0) + count
    return out


def percentiles_ms(buckets: dict[int, int], max_s: float) -> dict[str, float]:
    def ms(fraction: float) -> float:
        # A bucket's middle can lie above the largest sample in it: never report more than max.
        return round(min(percentile_s(buckets, fraction), max_s) * 1000, 3)

    return {
        "p50_ms": ms(0.50),
        "p95_ms": ms(0.95),
        "p99_ms": ms(0.99),
        "max_ms": round(max_s * 1000, 3),
    }


def action_row(stats: ActionSnapshot) -> dict[str, Any]:
    return {
        "sent": stats.sent,
        "ok": stats.ok,
        "errors": stats.error_count,
        "timeouts": stats.timeouts,
        "lost": stats.lost,
        **percentiles_ms(stats.buckets, stats.max_s),
    }


def command_rows(totals: Snapshot) -> dict[str, dict[str, Any]]:
    """CSMS-initiated calls per action (across OCPP versions): how many, the statuses the
    charger answered, and the handling time (CALL read -> answer written) percentiles."""
    statuses: dict[str, dict[str, int]] = {}
    for key, count in totals.commands.items():
        _, action, status = key.split("|", 2)
        per_action = statuses.setdefault(action, {})
        per_action[status] = per_action.get(status, 0) + count
    times: dict[str, HistogramSnapshot] = {}
    for key, histogram in totals.command_times.items():
        action = key.split("|", 1)[1]
        times[action] = times[action].merged(histogram) if action in times else histogram
    rows: dict[str, dict[str, Any]] = {}
    for action in sorted(statuses.keys() | times.keys()):
        timing = times.get(action, HistogramSnapshot())
        rows[action] = {
            "count": sum(statuses.get(action, {}).values()),
            "statuses": dict(sorted(statuses.get(action, {}).items())),
            "timed": timing.count,
            **percentiles_ms(timing.buckets, timing.max_s),
        }
    return rows


def schema_section(scenario: Scenario, totals: Snapshot) -> dict[str, Any]:
    """Strict mode's figures: frames checked, violations by "Action|direction|kind" (across
    OCPP versions), and the first few violation messages."""
    violations: dict[str, int] = {}
    for key, count in totals.violations.items():
        short = key.split("|", 1)[1]
        violations[short] = violations.get(short, 0) + count
    return {
        "strict": scenario.strict,
        "validated": {d: totals.validated.get(d, 0) for d in ("sent", "received")},
        "violations_total": sum(violations.values()),
        "violations": dict(sorted(violations.items())),
        "examples": list(totals.violation_examples),
    }


def by_version(totals: Snapshot) -> dict[str, dict[str, int]]:
    """Per OCPP version (a mixed fleet): CALLs sent and transactions started and stopped."""
    out: dict[str, dict[str, int]] = {}
    for key, stats in totals.actions.items():
        version = key.split("|", 1)[0]
        row = out.setdefault(version, {"calls": 0})
        row["calls"] += stats.sent
    for key, count in totals.transactions.items():
        version, what = key.split("|", 1)
        if what in ("started", "stopped"):
            out.setdefault(version, {"calls": 0})[f"transactions_{what}"] = count
    return dict(sorted(out.items()))


def build_report(
    scenario: Scenario,
    target: str,
    totals: Snapshot,
    duration_s: float,
    connected_max: int,
    stopped_by: str,
    workers: int,
) -> dict[str, Any]:
    actions = by_action(totals)
    errors: dict[str, int] = {}
    for stats in actions.values():
        for code, count in stats.errors.items():
            errors[code] = errors.get(code, 0) + count
    return {
        "simfleet_version": __version__,
        "scenario": scenario.name,
        "scenario_file": scenario.source,
        "target": target,
        "seed": scenario.seed,
        "workers": workers,
        "duration_s": round(duration_s, 3),
        "stopped_by": stopped_by,
        "chargers": {
            "planned": totals.gauges.get("planned", 0),
            "connected_max": connected_max,
            "booted": totals.gauges.get("booted", 0),
        },
        "messages": {action: action_row(stats) for action, stats in actions.items()},
        "ocpp_versions": by_version(totals),
        "errors": dict(sorted(errors.items())),
        "timeouts": sum(s.timeouts for s in actions.values()),
        "transaction_messages_dropped": dropped_by_action(totals),
        "malformed": dict(sorted(totals.malformed.items())),
        "csms_commands": dict(sorted(totals.commands.items())),
        "csms_command_handling": command_rows(totals),
        "schema_validation": schema_section(scenario, totals),
        "connections": dict(totals.connections),
        "connection_failures": dict(sorted(totals.failure_reasons.items())),
        "frames": dict(totals.frames),
    }


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Aligned columns: the first left, the others right, a rule under the head row."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _ms(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(f"{row[k]:.1f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))


def command_table(rows: dict[str, dict[str, Any]]) -> list[str]:
    """CSMS-initiated calls: count, statuses, handling time (finer: it is well under 1 ms)."""
    head = ("CSMS command", "count", "statuses", "p50 ms", "p95 ms", "p99 ms", "max ms")
    table: list[tuple[str, ...]] = [head]
    for action, r in rows.items():
        statuses = " ".join(f"{s}={n}" for s, n in r["statuses"].items())
        times = tuple(f"{r[k]:.3f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))
        table.append((action, str(r["count"]), statuses, *times))
    return _table(table)


def schema_lines(schema: dict[str, Any]) -> list[str]:
    """Strict mode's summary: a clear line, then the violations and a few examples."""
    if not schema["strict"]:
        return []
    validated = schema["validated"]
    total = schema["violations_total"]
    lines = [
        f"strict: {validated['sent']} frames sent and {validated['received']} received "
        f"checked against the OCPP schemas, {total} violation{'s' if total != 1 else ''}"
    ]
    if total:
        lines.append(
            "schema violations: "
            + ", ".join(f"{k.replace('|', ' ')}={v}" for k, v in schema["violations"].items())
        )
        lines += [f"  e.g. {example}" for example in schema["examples"][:5]]
    return lines


def summary_table(report: dict[str, Any]) -> str:
    """The human summary: one row per action, the CSMS commands, then errors and
    connections."""
    head = ("action", "sent", "ok", "errors", "timeouts", "p50 ms", "p95 ms", "p99 ms", "max ms")
    rows: list[tuple[str, ...]] = [head]
    for action, r in report["messages"].items():
        counts = (str(r["sent"]), str(r["ok"]), str(r["errors"]), str(r["timeouts"]))
        rows.append((action, *counts, *_ms(r)))
    lines = _table(rows)
    if report["csms_command_handling"]:
        lines.append("")
        lines += command_table(report["csms_command_handling"])
    c = report["chargers"]
    k = report["connections"]
    lines.append("")
    lines.append(
        f"chargers: {c['planned']} planned, {c['connected_max']} connected at most, "
        f"{c['booted']} boots accepted"
    )
    versions = report.get("ocpp_versions", {})
    if len(versions) > 1:  # a mixed fleet: what each version did
        lines.append(
            "OCPP versions: "
            + ", ".join(
                f"{v} {row['calls']} calls {row.get('transactions_started', 0)} transactions"
                for v, row in versions.items()
            )
        )
    lines.append(
        f"connections: {k['opened']} opened, {k['failed']} failed, {k['dropped']} dropped, "
        f"{k['reconnects']} reconnects, {k.get('offline', 0)} planned offline spells"
    )
    if report["errors"]:
        lines.append("CALLERRORs: " + ", ".join(f"{k}={v}" for k, v in report["errors"].items()))
    dropped = report.get("transaction_messages_dropped")
    if dropped:
        lines.append(
            "transaction messages dropped: "
            + ", ".join(
                f"{a} {r}={n}" for a, reasons in dropped.items() for r, n in reasons.items()
            )
        )
    if report["malformed"]:
        lines.append(
            "malformed from CSMS: " + ", ".join(f"{k}={v}" for k, v in report["malformed"].items())
        )
    lines += schema_lines(report["schema_validation"])
    lines.append(f"duration: {report['duration_s']:.1f} s, stopped by {report['stopped_by']}")
    return "\n".join(lines)
