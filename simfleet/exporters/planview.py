"""`simfleet plan` output: the hourly table, a terminal chart, and CSV (byte-stable)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from simfleet.sim.forecast import ACTIONS, HourRow

_SHORT = {
    "Heartbeat": "hb/s",
    "StatusNotification": "status/s",
    "Authorize": "auth/s",
    "StartTransaction": "start/s",
    "MeterValues": "meter/s",
    "StopTransaction": "stop/s",
}
BAR_WIDTH = 40


def table(rows: Sequence[HourRow]) -> str:
    head = ["hour", "day", "arrivals", "present", "charging", "power kW"]
    head += [_SHORT[a] for a in ACTIONS] + ["msg/s"]
    lines = [head]
    for r in rows:
        line = [r.clock, r.day, str(r.arrivals), f"{r.in_progress:.1f}", f"{r.charging:.1f}"]
        line.append(f"{r.power_kw:.1f}")
        line += [f"{r.messages_per_s[a]:.2f}" for a in ACTIONS]
        line.append(f"{r.total_per_s:.2f}")
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = [
        "  ".join(
            c.rjust(w) if i > 1 else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def chart(rows: Sequence[HourRow]) -> str:
    """Fleet power and arrivals per hour as horizontal bars."""
    top_power = max((r.power_kw for r in rows), default=0.0) or 1.0
    top_arrivals = max((r.arrivals for r in rows), default=0) or 1
    lines = [f"fleet power (kW, full bar = {top_power:.0f})   arrivals (full bar = {top_arrivals})"]
    for r in rows:
        power = _bar(r.power_kw / top_power, BAR_WIDTH)
        arrivals = _bar(r.arrivals / top_arrivals, BAR_WIDTH // 2)
        lines.append(f"{r.clock} {r.day} |{power}| {r.power_kw:8.1f}  |{arrivals}| {r.arrivals}")
    return "\n".join(lines)


def _bar(fraction: float, width: int) -> str:
    cells = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(cells, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if part else ""
    return ("█" * full + partial).ljust(width)


def to_csv(rows: Sequence[HourRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["hour", "clock", "day", "arrivals", "in_progress", "charging", "power_kw", "energy_kwh"]
        + [f"{a}_per_s" for a in ACTIONS]
        + ["total_per_s"]
    )
    for r in rows:
        writer.writerow(
            [
                r.hour,
                r.clock,
                r.day,
                r.arrivals,
                f"{r.in_progress:.3f}",
                f"{r.charging:.3f}",
                f"{r.power_kw:.3f}",
                f"{r.energy_kwh:.3f}",
            ]
            + [f"{r.messages_per_s[a]:.4f}" for a in ACTIONS]
            + [f"{r.total_per_s:.4f}"]
        )
    return buffer.getvalue()
