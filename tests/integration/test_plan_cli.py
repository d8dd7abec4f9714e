"""`simfleet plan` as a user runs it: the hourly table, the chart, CSV, reproducibility, errors,
and arrivals that follow the site types' time-of-day profiles."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT, run_simfleet, write_scenario

from simfleet.scenario import load
from simfleet.sim.fleet import plans_for
from simfleet.sim.forecast import ACTIONS, HOUR_S, forecast

QUICKSTART = str(ROOT / "scenarios" / "quickstart.toml")
TABLE_HEAD = re.compile(r"^hour\s+day\s+arrivals\s+present\s+charging\s+power kW\s+hb/s", re.M)
CHART_HEAD = "fleet power (kW, full bar = "
CSV_HEAD = (
    ["hour", "clock", "day", "arrivals", "in_progress", "charging", "power_kw", "energy_kwh"]
    + [f"{a}_per_s" for a in ACTIONS]
    + ["total_per_s"]
)

MIXED = """
name = "mixed"
seed = 4
[run]
time_scale = 60
start_at = "06:30"
day = "weekend"
[fleet]
chargers = 300
[sites]
public_ac = 0.5
dc_fast = 0.3
residential = 0.2
[faults]
enabled = false
"""

WORKPLACE = """
name = "workplace"
seed = 9
[run]
start_at = "00:00"
[fleet]
chargers = 400
[sites]
workplace_ac = 1.0
"""


def plan(*args: str) -> str:
    result = run_simfleet("plan", *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == CSV_HEAD
        return list(reader)


def table_rows(stdout: str) -> list[str]:
    """The table's data lines: they start with HH:MM and a day name."""
    return [line for line in stdout.splitlines() if re.match(r"^\d\d:\d\d\s+[A-Z][a-z]{2}\s", line)]


def test_quickstart_prints_the_table_and_the_chart() -> None:
    out = plan(QUICKSTART, "--hours", "6")
    head = out.splitlines()[0]
    assert head.startswith("plan of 'quickstart': 1000 chargers, realistic behaviour, seed 7")
    assert "from weekday 08:00, time_scale 10 (an hour of the plan takes 360 s)" in head
    assert out.splitlines()[1].startswith("sites: 40% workplace_ac, 35% public_ac")
    assert TABLE_HEAD.search(out)
    assert CHART_HEAD in out
    lines = table_rows(out)
    # Six table rows, then six chart rows (HH:MM day |bars|).
    table, chart = lines[:6], lines[6:]
    assert [line[:10] for line in table] == [f"{h:02d}:00  Mon" for h in range(8, 14)]
    assert len(chart) == 6 and all("|" in line for line in chart)
    for line in table:
        arrivals = int(line.split()[2])
        assert arrivals > 0  # a thousand chargers on a weekday morning


def test_the_default_is_a_day() -> None:
    out = plan(QUICKSTART, "--no-chart", "--chargers", "50")
    lines = table_rows(out)
    assert len(lines) == 24
    assert lines[0].startswith("08:00  Mon")
    assert lines[-1].startswith("07:00  Tue")  # across midnight into the next day
    assert "50 chargers" in out.splitlines()[0]


def test_a_scenario_with_a_site_mix(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, MIXED)
    csv_path = tmp_path / "mixed.csv"
    out = plan(str(path), "--hours", "4", "--csv", str(csv_path))
    assert "from weekend 06:30, time_scale 60 (an hour of the plan takes 60 s)" in out
    assert "sites: 50% public_ac, 30% dc_fast, 20% residential" in out
    assert CHART_HEAD in out
    rows = rows_of(csv_path)
    assert [(r["hour"], r["clock"], r["day"]) for r in rows] == [
        ("0", "06:30", "Sat"),
        ("1", "07:30", "Sat"),
        ("2", "08:30", "Sat"),
        ("3", "09:30", "Sat"),
    ]
    assert sum(int(r["arrivals"]) for r in rows) > 0


def test_csv_has_a_header_and_one_row_per_hour(tmp_path: Path) -> None:
    csv_path = tmp_path / "plan.csv"
    plan(QUICKSTART, "--hours", "6", "--chargers", "200", "--csv", str(csv_path))
    rows = rows_of(csv_path)
    assert len(rows) == 6
    assert [int(r["hour"]) for r in rows] == list(range(6))
    assert [r["clock"] for r in rows] == [f"{h:02d}:00" for h in range(8, 14)]
    for r in rows:
        assert int(r["arrivals"]) >= 0
        numbers = {k: float(v) for k, v in r.items() if k not in ("clock", "day")}
        assert all(v >= 0 for v in numbers.values())
        total = sum(numbers[f"{a}_per_s"] for a in ACTIONS)
        assert numbers["total_per_s"] == pytest.approx(total, abs=0.001)
        assert numbers["power_kw"] == numbers["energy_kwh"]  # mean kW over one hour
        assert numbers["charging"] <= numbers["in_progress"] + 1e-9
        # 200 chargers heartbeat every 60 s (wall clock) whatever happens.
        assert numbers["Heartbeat_per_s"] == pytest.approx(200 / 60, abs=0.001)
    # Plain "\n" line ends, whatever the platform.
    assert b"\r" not in csv_path.read_bytes()


def test_csv_and_table_agree(tmp_path: Path) -> None:
    csv_path = tmp_path / "plan.csv"
    out = plan(
        QUICKSTART, "--hours", "5", "--chargers", "100", "--csv", str(csv_path), "--no-chart"
    )
    table = [line.split() for line in table_rows(out)]
    rows = rows_of(csv_path)
    assert [t[2] for t in table] == [r["arrivals"] for r in rows]
    assert [float(t[5]) for t in table] == [
        pytest.approx(float(r["power_kw"]), abs=0.051) for r in rows
    ]


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    outs, csvs = [], []
    for name in ("a.csv", "b.csv"):
        csv_path = tmp_path / name
        outs.append(plan(QUICKSTART, "--hours", "6", "--chargers", "300", "--csv", str(csv_path)))
        csvs.append(csv_path.read_bytes())
    assert outs[0] == outs[1]
    assert csvs[0] == csvs[1]


def test_a_different_seed_gives_a_different_plan(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    out_a = plan(QUICKSTART, "--hours", "6", "--chargers", "300", "--seed", "1", "--csv", str(a))
    out_b = plan(QUICKSTART, "--hours", "6", "--chargers", "300", "--seed", "2", "--csv", str(b))
    assert a.read_bytes() != b.read_bytes()
    assert "seed 1" in out_a.splitlines()[0]
    assert "seed 2" in out_b.splitlines()[0]
    # Same shape, other draws: the header and the hours are the same.
    assert [r["clock"] for r in rows_of(a)] == [r["clock"] for r in rows_of(b)]


def test_no_chart_omits_the_chart() -> None:
    out = plan(QUICKSTART, "--hours", "3", "--chargers", "50", "--no-chart")
    assert TABLE_HEAD.search(out)
    assert CHART_HEAD not in out
    assert "█" not in out and "|" not in out
    assert len(table_rows(out)) == 3


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[run]\nstart_at = "25:00"', "run.start_at = '25:00'"),
        ("[sites]\npublic_ac = 0.5", "sites = {'public_ac': 0.5}"),
        ("[sites.public_ac]\nno_plug_share = 2", "sites.public_ac.no_plug_share = 2"),
        ('[behaviour]\nmodel = "realistic"\nidle_s = 5', "behaviour.idle_s = 5"),
    ],
)
def test_a_bad_scenario_exits_2_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = write_scenario(tmp_path, text, "bad.toml")
    csv_path = tmp_path / "never.csv"
    result = run_simfleet("plan", str(path), "--csv", str(csv_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"simfleet: error: {path}: {key}: ")
    assert not csv_path.exists()


@pytest.mark.parametrize(
    "args",
    [["--hours", "0"], ["--hours", "x"], ["--chargers", "0"], ["--seed", "-1"]],
)
def test_bad_options_exit_2(args: list[str]) -> None:
    result = run_simfleet("plan", QUICKSTART, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert args[0] in result.stderr


def test_a_missing_scenario_exits_2(tmp_path: Path) -> None:
    result = run_simfleet("plan", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "nope.toml: cannot read" in result.stderr


def test_arrivals_follow_the_time_of_day_profile(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, WORKPLACE)
    csv_path = tmp_path / "workplace.csv"
    plan(str(path), "--hours", "24", "--csv", str(csv_path), "--no-chart")
    rows = rows_of(csv_path)
    arrivals = {r["clock"]: int(r["arrivals"]) for r in rows}
    assert len(arrivals) == 24
    # ELAAD workplace weekday: 26.7 % of arrivals in 08:00-09:00, none 00:00-04:00.
    assert arrivals["08:00"] > 10 * max(1, arrivals["03:00"])
    assert arrivals["08:00"] == max(arrivals.values())
    assert arrivals["08:00"] + arrivals["09:00"] > 0.3 * sum(arrivals.values())
    night = sum(arrivals[f"{h:02d}:00"] for h in range(4))
    assert night <= 0.01 * sum(arrivals.values())
    # Expected: 400 chargers x 2 connectors x 1 arrival per connector-day, less the balking.
    assert 300 < sum(arrivals.values()) <= 1000
    # Occupancy follows: more present at 10:00 than at 03:00.
    present = {r["clock"]: float(r["in_progress"]) for r in rows}
    assert present["10:00"] > 5 * max(1.0, present["03:00"])


def test_arrivals_are_the_plans_visits_in_the_horizon(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, MIXED)
    hours = 8
    csv_path = tmp_path / "mixed.csv"
    plan(str(path), "--hours", str(hours), "--csv", str(csv_path), "--no-chart")
    by_hour = [int(r["arrivals"]) for r in rows_of(csv_path)]

    # The same plans, sampled in-process the way `simfleet plan` does.
    scenario = load(path)
    planned = replace(scenario, duration_s=hours * HOUR_S / scenario.realistic.time_scale)
    plans = plans_for(planned, range(1, scenario.chargers + 1))
    arrive = [v.arrive_s for p in plans for v in p.visits if 0 <= v.arrive_s < hours * HOUR_S]
    expected = [sum(1 for a in arrive if h * HOUR_S <= a < (h + 1) * HOUR_S) for h in range(hours)]
    assert by_hour == expected
    assert sum(by_hour) == len(arrive) > 0

    rows = forecast(planned, plans, hours)
    assert [r.arrivals for r in rows] == by_hour
    # Warm start: sessions under way at t = 0 make the first hour busy already.
    assert any(v.arrive_s < 0 for p in plans for v in p.visits)
    assert rows[0].in_progress > 0


def test_the_output_is_plain_text_when_piped() -> None:
    out = plan(QUICKSTART, "--hours", "2", "--chargers", "20")
    assert "\x1b[" not in out  # no colour codes
    assert out.endswith("\n")
    # Every table line has as many columns as the header.
    lines = out.splitlines()
    header = next(line for line in lines if TABLE_HEAD.match(line))
    width = len(header.split()) - 1  # "power kW" is two words
    for line in table_rows(out)[:2]:
        assert len(line.split()) == width
    assert io.StringIO(out).readline().startswith("plan of")
