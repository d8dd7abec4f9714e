"""The shipped Grafana dashboard, its provisioning and the Prometheus/compose setup.

The dashboard must validate against the JSON Schema generated from @grafana/schema
(dashboards/schema), select only metrics the catalogue defines, and show every one of them.
"""

from __future__ import annotations

import json
import re
import subprocess
from itertools import combinations
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import require_program
from dashboard_queries import (
    CONCRETE_VALUES,
    ROOT,
    concrete,
    iter_panels,
    load_dashboard,
    metric_names,
    panel_queries,
    variable_queries,
)

from simfleet.exporters.catalogue import CATALOGUE, series_names

DASHBOARDS = ROOT / "dashboards"
SCHEMA = DASHBOARDS / "schema" / "dashboard.schema.json"

ROWS = [
    "Fleet",
    "Traffic",
    "Latency",
    "Errors",
    "Connections",
    "Energy",
    "CSMS commands",
    "Simulator health",
]
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
UNITS = {"s", "watt", "watth", "bytes", "percentunit", "reqps", "short"}
#: Catalogue metrics no panel shows, and why.
NOT_IN_PANELS: dict[str, str] = {
    "simfleet_run_info": "the scenario variable lists its values (the Run table shows it too)",
}
SCENARIO = 'scenario=~"$scenario"'
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_dashboard()


def catalogue_series() -> dict[str, str]:
    """Every selectable series name -> its family's name."""
    return {series: spec.name for spec in CATALOGUE for series in series_names(spec)}


# --- the schema ---


def test_dashboard_validates_against_the_generated_schema(dashboard: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(dashboard),
        key=lambda error: str(list(error.absolute_path)),
    )
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_schema_rejects_a_broken_dashboard(dashboard: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(dashboard))
    del broken["schemaVersion"]
    broken["panels"][1]["gridPos"]["w"] = "wide"
    broken["templating"]["list"][0]["type"] = "dropdown"
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(broken))) >= 3


def test_schema_version_is_the_one_grafana_schema_writes(dashboard: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    script = (DASHBOARDS / "schema" / "generate.sh").read_text(encoding="utf-8")
    pinned = re.search(r"^GRAFANA_SCHEMA_VERSION=(\S+)", script, re.MULTILINE)
    assert pinned is not None
    assert f"@grafana/schema@{pinned.group(1)} " in schema["$comment"]
    written = re.search(r"schemaVersion (\d+)", schema["$comment"])
    assert written is not None
    assert dashboard["schemaVersion"] == int(written.group(1))


def test_dashboard_identity(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "simfleet"
    assert dashboard["title"] == "simfleet"


# --- metric names against the catalogue ---


def test_every_query_selects_only_catalogue_series(dashboard: dict[str, Any]) -> None:
    known = catalogue_series()
    queries = panel_queries(dashboard) + variable_queries(dashboard)
    assert queries
    unknown = [
        (title, name)
        for title, expr in queries
        for name in sorted(metric_names(expr))
        if name not in known
    ]
    assert not unknown
    for title, expr in queries:
        assert metric_names(expr), f"{title}: {expr!r} selects no metric"


def test_every_catalogue_metric_is_shown(dashboard: dict[str, Any]) -> None:
    known = catalogue_series()
    shown = {known[name] for _, expr in panel_queries(dashboard) for name in metric_names(expr)}
    missing = {spec.name for spec in CATALOGUE} - shown - set(NOT_IN_PANELS)
    assert not missing
    in_variables = {
        known[name] for _, query in variable_queries(dashboard) for name in metric_names(query)
    }
    for name in NOT_IN_PANELS:
        assert name in known.values()
        assert name in shown | in_variables, f"{name} is left out and used nowhere"


def test_every_selector_filters_by_the_variables(dashboard: dict[str, Any]) -> None:
    labels = {spec.name: spec.labels for spec in CATALOGUE}
    family = catalogue_series()
    for title, expr in panel_queries(dashboard):
        selectors = _SELECTOR.findall(expr)
        assert {name for name, _ in selectors} == metric_names(expr), (
            f"{title}: a metric is selected without braces in {expr!r}"
        )
        for name, matchers in selectors:
            assert SCENARIO in matchers, f"{title}: {name} not filtered by scenario"
            own = labels[family[name]]
            if "action" in own:
                assert 'action=~"$action"' in matchers, f"{title}: {name} not by $action"
            if "worker" in own:
                assert 'worker=~"$worker"' in matchers, f"{title}: {name} not by $worker"


def test_every_range_uses_a_grafana_interval(dashboard: dict[str, Any]) -> None:
    for title, expr in panel_queries(dashboard):
        for window in re.findall(r"\[([^\]]*)\]", expr):
            assert window in {"$__rate_interval", "$__range"}, f"{title}: [{window}]"


def test_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert list(variables) == ["datasource", "scenario", "worker", "action"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert dict(variable_queries(dashboard)) == {
        "scenario": "label_values(simfleet_run_info, scenario)",
        "worker": 'label_values(simfleet_process_cpu_seconds_total{scenario=~"$scenario"}, worker)',
        "action": 'label_values(simfleet_ocpp_messages_total{scenario=~"$scenario"}, action)',
    }
    for name in ("scenario", "worker", "action"):
        assert variables[name]["multi"] is True
        assert variables[name]["includeAll"] is True
        assert variables[name]["datasource"] == DATASOURCE


# --- rows, panels, layout ---


def test_rows_in_order_and_panels_use_the_datasource_variable(
    dashboard: dict[str, Any],
) -> None:
    rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    assert rows == ROWS
    per_row: dict[str, int] = {}
    for row, panel in iter_panels(dashboard):
        assert row is not None, f"{panel.get('title')} is above the first row"
        per_row[row] = per_row.get(row, 0) + 1
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", DATASOURCE) == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]
    assert set(per_row) == set(ROWS)


def test_panels_are_described_and_use_known_units(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    ids += [nested["id"] for panel in dashboard["panels"] for nested in panel.get("panels", [])]
    assert len(ids) == len(set(ids))
    for _, panel in iter_panels(dashboard):
        assert panel["type"] in {"timeseries", "stat", "table"}, panel["title"]
        assert panel["title"].strip()
        assert len(panel.get("description", "")) > 20, panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"] in UNITS, panel["title"]


def _overlap(a: dict[str, int], b: dict[str, int]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def test_no_two_panels_overlap(dashboard: dict[str, Any]) -> None:
    # The grid holds the top-level panels (rows included); a collapsed row's panels are laid
    # out among themselves, shown in place of what follows the row once it is expanded.
    grids = [dashboard["panels"]]
    grids += [row["panels"] for row in dashboard["panels"] if row["type"] == "row"]
    for grid in grids:
        for panel in grid:
            pos = panel["gridPos"]
            assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] >= 0 and pos["y"] >= 0
            assert pos["x"] + pos["w"] <= 24, panel.get("title")
        for a, b in combinations(grid, 2):
            assert not _overlap(a["gridPos"], b["gridPos"]), (a.get("title"), b.get("title"))


def test_panels_sit_under_their_row(dashboard: dict[str, Any]) -> None:
    """Grafana assigns a panel to the row above it by position: list order must agree."""
    top = dashboard["panels"]
    assert [p["gridPos"]["y"] for p in top] == sorted(p["gridPos"]["y"] for p in top)
    rows = [p for p in top if p["type"] == "row"]
    assert top[0]["type"] == "row"
    for row, following in zip(rows, [*rows[1:], None], strict=True):
        start = top.index(row)
        end = top.index(following) if following is not None else len(top)
        for panel in top[start + 1 : end]:
            assert panel["gridPos"]["y"] > row["gridPos"]["y"]
            if following is not None:
                bottom = panel["gridPos"]["y"] + panel["gridPos"]["h"]
                assert bottom <= following["gridPos"]["y"], panel["title"]


# --- PromQL and the Prometheus config against Prometheus 2.42's own parser (promtool) ---


def test_expressions_parse_with_promtool(dashboard: dict[str, Any], tmp_path: Path) -> None:
    promtool = require_program("promtool")  # Debian's prometheus package; .ci/run installs it
    exprs = [concrete(expr) for _, expr in panel_queries(dashboard)]
    for _, query in variable_queries(dashboard):
        selector = query.removeprefix("label_values(").rpartition(",")[0]
        exprs.append(concrete(selector))
    lines = ["groups:", "  - name: simfleet-dashboard", "    rules:"]
    for number, expr in enumerate(exprs):
        lines += [
            f"      - record: simfleet:dashboard_{number}",
            f"        expr: {json.dumps(expr)}",
        ]
    rules = tmp_path / "rules.yml"
    rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_prometheus_config_passes_promtool() -> None:
    promtool = require_program("promtool")  # Debian's prometheus package; .ci/run installs it
    command = [promtool, "check", "config", str(DASHBOARDS / "prometheus.yml")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- provisioning, Prometheus config and compose file (a YAML subset parser: no PyYAML) ---


def _strip_comment(line: str) -> str:
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index].rstrip()
    return line.rstrip()


def _scalar(text: str) -> Any:
    text = text.strip()
    if text[:1] in {'"', "'"}:
        assert text[-1] == text[0] and len(text) >= 2, f"unterminated string {text!r}"
        return text[1:-1]
    if text.startswith("["):
        assert text.endswith("]"), f"unterminated list {text!r}"
        return [_scalar(item) for item in text[1:-1].split(",") if item.strip()]
    if text in {"true", "false"}:
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w.\-]*|\"[^\"]*\")\s*:(?:\s+(?P<rest>.*))?$")


def parse_yaml_subset(text: str) -> Any:
    """Block mappings, block lists, quoted/plain scalars and flow lists: what these files use.
    Anything else (tabs, bad indentation, anchors, multi-line strings) fails an assertion."""
    lines: list[tuple[int, str]] = []
    for raw in text.splitlines():
        assert "\t" not in raw, f"tab in {raw!r}"
        content = _strip_comment(raw)
        if content.strip() and content.strip() != "---":
            indent = len(content) - len(content.lstrip(" "))
            assert not content.lstrip().startswith(("&", "*", "|", ">")), raw
            lines.append((indent, content.strip()))

    def block(index: int, indent: int) -> tuple[Any, int]:
        if lines[index][1].startswith("- ") or lines[index][1] == "-":
            items = []
            while (
                index < len(lines) and lines[index][0] == indent and lines[index][1].startswith("-")
            ):
                item = lines[index][1][1:].strip()
                if not item:
                    value, index = block(index + 1, lines[index + 1][0])
                elif _KEY.match(item) or item.startswith("- "):
                    lines[index] = (indent + 2, item)
                    value, index = block(index, indent + 2)
                else:
                    value, index = _scalar(item), index + 1
                items.append(value)
            return items, index
        mapping: dict[str, Any] = {}
        while index < len(lines) and lines[index][0] == indent:
            match = _KEY.match(lines[index][1])
            assert match is not None, f"not a `key: value` line: {lines[index][1]!r}"
            key = match.group("key").strip('"')
            assert key not in mapping, f"duplicate key {key}"
            rest = match.group("rest")
            index += 1
            if rest:
                mapping[key] = _scalar(rest)
            elif index < len(lines) and (
                lines[index][0] > indent
                or (lines[index][0] == indent and lines[index][1].startswith("-"))
            ):
                mapping[key], index = block(index, lines[index][0])
            else:
                mapping[key] = None
        return mapping, index

    value, end = block(0, lines[0][0])
    assert end == len(lines), f"bad indentation at {lines[end][1]!r}"
    return value


def load_yaml(relative: str) -> Any:
    return parse_yaml_subset((DASHBOARDS / relative).read_text(encoding="utf-8"))


def test_yaml_subset_parser() -> None:
    text = """
# comment
top:
  name: "a # not a comment"  # a comment
  list:
  - one
  - key: 1
    other: [x, "y"]
  flag: true
  nested:
    - - inner
"""
    assert parse_yaml_subset(text) == {
        "top": {
            "name": "a # not a comment",
            "list": ["one", {"key": 1, "other": ["x", "y"]}],
            "flag": True,
            "nested": [["inner"]],
        }
    }
    with pytest.raises(AssertionError):
        parse_yaml_subset("a: 1\n  b: 2\n")
    with pytest.raises(AssertionError):
        parse_yaml_subset("a:\n\tb: 2\n")


def test_datasource_provisioning() -> None:
    config = load_yaml("provisioning/datasources/prometheus.yml")
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert source["access"] == "proxy"


def test_dashboard_provisioning() -> None:
    config = load_yaml("provisioning/dashboards/simfleet.yml")
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_prometheus_config() -> None:
    config = load_yaml("prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "simfleet"
    assert job["scrape_interval"] == "5s"
    assert job["static_configs"][0]["targets"] == ["host.docker.internal:9464"]
    assert "port+worker index" in (DASHBOARDS / "prometheus.yml").read_text(encoding="utf-8")


def test_compose_file() -> None:
    compose = load_yaml("docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"prometheus", "grafana"}
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert prometheus["image"].startswith("prom/prometheus")
    assert grafana["image"].startswith("grafana/grafana")
    assert prometheus["extra_hosts"] == ["host.docker.internal:host-gateway"]
    for service in services.values():
        assert service["ports"], service
        for port in service["ports"]:
            assert str(port).startswith("127.0.0.1:"), port
    assert "127.0.0.1:3000:3000" in grafana["ports"]
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Admin"
    mounts = [volume for service in services.values() for volume in service.get("volumes", [])]
    sources = {mount.split(":")[0] for mount in mounts if mount.startswith("./")}
    assert {
        "./prometheus.yml",
        "./provisioning/datasources",
        "./provisioning/dashboards",
        "./simfleet.json",
    } <= sources
    for source in sources:
        assert (DASHBOARDS / source).exists(), source
    assert any(m.split(":")[1] == "/var/lib/grafana/dashboards/simfleet.json" for m in mounts)


# --- the helpers ---


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('simfleet_fleet_boots_total{scenario=~"$scenario"}', {"simfleet_fleet_boots_total"}),
        (
            "sum by (le, action) (rate(simfleet_ocpp_call_latency_seconds_bucket"
            '{scenario=~"$scenario", action=~"$action"}[$__rate_interval]))',
            {"simfleet_ocpp_call_latency_seconds_bucket"},
        ),
        (
            "histogram_quantile(0.99, sum(rate(a_bucket[5m])) by (le))",
            {"a_bucket"},
        ),
        ("rate(a_total[5m] offset 1h30m) / on(job) group_left(instance) b", {"a_total", "b"}),
        ("a and b or c unless d", {"a", "b", "c", "d"}),
        ("a > bool 3 * 1e3 + 0x1f - .5", {"a"}),
        ('{__name__="simfleet_run_info", scenario="x"}', {"simfleet_run_info"}),
        ('count_values("version", build_info)', {"build_info"}),
        ('label_replace(a, "dst", "$1", "src", "(.*)")', {"a"}),
        ("max_over_time(rate(a[1m])[5m:30s])", {"a"}),
        ("sum without (le, instance) (a)", {"a"}),
        ("time() - process_start_time_seconds @ end()", {"process_start_time_seconds"}),
        ("vector(1) + scalar(b)", {"b"}),
        ("sum(rate(x{a='by (z)'}[1m]))  # by (y)", {"x"}),
        ("label_values(simfleet_run_info, scenario)", {"simfleet_run_info"}),
        ('label_values(m{scenario=~"$scenario"}, worker)', {"m"}),
        ("label_values(scenario)", set()),
        ("query_result(topk(3, sum by (a) (m)))", {"m"}),
        ("metrics(simfleet_.*)", set()),
        ("NaN + Inf", set()),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_metric_names_rejects_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="cannot tokenize"):
        metric_names("a ; b")


def test_concrete() -> None:
    expr = (
        'sum by (action) (rate(m{scenario=~"$scenario", action=~"${action}", '
        'worker=~"$worker"}[$__rate_interval])) + increase(n[$__range]) + rate(o[$__interval])'
    )
    assert concrete(expr) == (
        'sum by (action) (rate(m{scenario=~".+", action=~".+", worker=~".+"}[15s])) '
        "+ increase(n[1m]) + rate(o[15s])"
    )
    assert concrete('m{scenario=~"${scenario:regex}"}') == 'm{scenario=~".+"}'
    assert concrete("no variables") == "no variables"
    with pytest.raises(ValueError, match="unknown_var"):
        concrete("m{a=~'$unknown_var'}")
    assert set(CONCRETE_VALUES) >= {"scenario", "worker", "action", "__rate_interval", "__range"}


def test_concrete_dashboard_leaves_no_variable(dashboard: dict[str, Any]) -> None:
    for _, expr in panel_queries(dashboard) + variable_queries(dashboard):
        assert "$" not in concrete(expr)


def test_panel_queries_reach_into_collapsed_rows() -> None:
    dashboard = {
        "panels": [
            {"type": "row", "title": "Open", "collapsed": False, "panels": []},
            {"type": "timeseries", "title": "A", "targets": [{"expr": "a", "refId": "A"}]},
            {
                "type": "row",
                "title": "Closed",
                "collapsed": True,
                "panels": [
                    {
                        "type": "stat",
                        "title": "B",
                        "targets": [{"expr": "b"}, {"expr": "c"}, {"refId": "no expr"}],
                    }
                ],
            },
        ],
        "templating": {
            "list": [
                {"type": "datasource", "name": "ds", "query": "prometheus"},
                {"type": "query", "name": "s", "query": "label_values(m, s)"},
                {"type": "query", "name": "t", "query": {"query": "label_values(n, t)"}},
            ]
        },
    }
    assert panel_queries(dashboard) == [("A", "a"), ("B", "b"), ("B", "c")]
    assert [row for row, _ in iter_panels(dashboard)] == ["Open", "Closed"]
    assert variable_queries(dashboard) == [("s", "label_values(m, s)"), ("t", "label_values(n, t)")]


def test_load_dashboard_default_and_path(tmp_path: Path) -> None:
    assert load_dashboard()["uid"] == "simfleet"
    other = tmp_path / "d.json"
    other.write_text('{"uid": "other"}', encoding="utf-8")
    assert load_dashboard(other) == {"uid": "other"}
    assert load_dashboard(str(other)) == {"uid": "other"}
