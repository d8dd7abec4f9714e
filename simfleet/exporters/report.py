"""The run report (`--report run.json`) and the summary table printed at the end of a run."""

from __future__ import annotations

from typing import Any

from simfleet import __version__
from simfleet.scenario.model import Scenario
from simfleet.sim.histogram import percentile_s
from simfleet.sim.stats import ActionSnapshot, Snapshot


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


def action_row(stats: ActionSnapshot) -> dict[str, Any]:
    def ms(fraction: float) -> float:
        # A bucket's middle can lie above the largest sample in it: never report more than max.
        return round(min(percentile_s(stats.buckets, fraction), stats.max_s) * 1000, 3)

    return {
        "sent": stats.sent,
        "ok": stats.ok,
        "errors": stats.error_count,
        "timeouts": stats.timeouts,
        "lost": stats.lost,
        "p50_ms": ms(0.50),
        "p95_ms": ms(0.95),
        "p99_ms": ms(0.99),
        "max_ms": round(stats.max_s * 1000, 3),
    }


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
        "errors": dict(sorted(errors.items())),
        "timeouts": sum(s.timeouts for s in actions.values()),
        "transaction_messages_dropped": dropped_by_action(totals),
        "malformed": dict(sorted(totals.malformed.items())),
        "csms_commands": dict(sorted(totals.commands.items())),
        "connections": dict(totals.connections),
        "connection_failures": dict(sorted(totals.failure_reasons.items())),
        "frames": dict(totals.frames),
    }


def summary_table(report: dict[str, Any]) -> str:
    """The human summary: one row per action, then errors and connections."""
    head = ("action", "sent", "ok", "errors", "timeouts", "p50 ms", "p95 ms", "p99 ms", "max ms")
    rows = [head]
    for action, r in report["messages"].items():
        rows.append(
            (
                action,
                str(r["sent"]),
                str(r["ok"]),
                str(r["errors"]),
                str(r["timeouts"]),
                f"{r['p50_ms']:.1f}",
                f"{r['p95_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{r['max_ms']:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    c = report["chargers"]
    k = report["connections"]
    lines.append("")
    lines.append(
        f"chargers: {c['planned']} planned, {c['connected_max']} connected at most, "
        f"{c['booted']} boots accepted"
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
    lines.append(f"duration: {report['duration_s']:.1f} s, stopped by {report['stopped_by']}")
    return "\n".join(lines)
