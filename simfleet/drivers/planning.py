"""`simfleet plan`: sample the scenario's plan for every charger and show the hourly forecast."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from simfleet.exporters.planview import chart, table, to_csv
from simfleet.scenario.model import Scenario
from simfleet.sim.fleet import plans_for
from simfleet.sim.forecast import HOUR_S, forecast


def render_plan(scenario: Scenario, hours: int, csv_path: str | None, chart_too: bool) -> str:
    realistic = scenario.realistic
    scale = realistic.time_scale if scenario.model == "realistic" else 1.0
    # Plan the requested hours (not just the run's duration): duration covers them in wall time.
    planned = replace(scenario, duration_s=hours * HOUR_S / scale)
    plans = plans_for(planned, range(1, scenario.chargers + 1))
    rows = forecast(planned, plans, hours)
    if csv_path:
        Path(csv_path).write_text(to_csv(rows), encoding="utf-8")
    head = (
        f"plan of {scenario.name!r}: {scenario.chargers} chargers, {scenario.model} behaviour, "
        f"seed {scenario.seed}"
    )
    if scenario.model == "realistic":
        mix = ", ".join(f"{share:.0%} {site.value}" for site, share in realistic.site_mix)
        head += (
            f", from {realistic.day.value} {int(realistic.start_hour):02d}:"
            f"{round(realistic.start_hour % 1 * 60):02d}, time_scale {scale:g} "
            f"(an hour of the plan takes {HOUR_S / scale:g} s)\nsites: {mix}"
        )
    parts = [head, "", table(rows)]
    if chart_too:
        parts += ["", chart(rows)]
    return "\n".join(parts)
