"""Helpers for tests of the shipped Grafana dashboard (dashboards/simfleet.json).

They pull the PromQL out of the dashboard's panels and variables, turn Grafana's template
variables into values a live Prometheus can evaluate, and find the metric names an expression
selects (so they can be checked against `simfleet.exporters.catalogue`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "dashboards" / "simfleet.json"

#: What each Grafana variable the dashboard uses becomes for a live Prometheus.
CONCRETE_VALUES: dict[str, str] = {
    "scenario": ".+",
    "worker": ".+",
    "action": ".+",
    "__rate_interval": "15s",
    "__interval": "15s",
    "__range": "1m",
}

_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")


def load_dashboard(path: Path | str | None = None) -> dict[str, Any]:
    """The dashboard JSON (dashboards/simfleet.json unless told another path)."""
    with Path(path if path is not None else DASHBOARD).open(encoding="utf-8") as source:
        dashboard: dict[str, Any] = json.load(source)
    return dashboard


def iter_panels(dashboard: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(title of the row above it or None, panel) for every non-row panel, including panels
    nested in collapsed rows."""
    row: str | None = None
    for panel in dashboard.get("panels") or []:
        if panel.get("type") == "row":
            row = panel.get("title")
            for nested in panel.get("panels") or []:
                yield row, nested
        else:
            yield row, panel


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL expression) for every target of every panel."""
    return [
        (panel.get("title", ""), target["expr"])
        for _, panel in iter_panels(dashboard)
        for target in panel.get("targets") or []
        if "expr" in target
    ]


def variable_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(variable name, query) for the query variables; the query may be saved as a string
    or as the Prometheus variable editor's object ({"query": ...})."""
    found = []
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if isinstance(query, str) and query:
            found.append((variable["name"], query))
    return found


def concrete(expr: str) -> str:
    """`expr` with Grafana's variables replaced by values a live Prometheus can evaluate.

    Raises ValueError for a variable this module has no value for."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in CONCRETE_VALUES:
            raise ValueError(f"no concrete value for Grafana variable ${name} in {expr!r}")
        return CONCRETE_VALUES[name]

    return _VARIABLE.sub(value, expr)


# --- a small PromQL tokenizer, enough to find the metric names an expression selects ---

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<variable>\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\])
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+(?![A-Za-z0-9_:]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<punct>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],@])
    """,
    re.VERBOSE,
)

#: Keywords followed by a parenthesised list of label names.
_LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
#: Words that are never metric names when used bare.
_KEYWORDS = frozenset(
    {"and", "or", "unless", "offset", "bool", "atan2", "inf", "nan", *_LABEL_LIST_KEYWORDS}
)

#: Grafana's Prometheus variable functions: label_values(SELECTOR, LABEL), label_values(LABEL),
#: query_result(EXPR), metrics(REGEX), label_names().
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<body>.*)\)\s*$", re.DOTALL)
_QUERY_RESULT = re.compile(r"^\s*query_result\(\s*(?P<body>.*)\)\s*$", re.DOTALL)
_NO_METRIC = re.compile(r"^\s*(?:metrics|label_names)\(.*\)\s*$", re.DOTALL)


def _tokens(expr: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None:
            raise ValueError(f"cannot tokenize {expr[position:]!r} in {expr!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind not in {"space", "comment"}:
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


def _grafana_function_body(expr: str) -> str | None:
    """The PromQL inside a Grafana variable function, '' when it selects no metric, or None
    when `expr` is plain PromQL."""
    if _NO_METRIC.match(expr):
        return ""
    match = _QUERY_RESULT.match(expr)
    if match is not None:
        return match.group("body")
    match = _LABEL_VALUES.match(expr)
    if match is None:
        return None
    body = match.group("body")
    # label_values(LABEL) selects no metric; label_values(SELECTOR, LABEL) selects SELECTOR's.
    selector, comma, _label = body.rpartition(",")
    return selector if comma else ""


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or a Grafana variable query) selects.

    An identifier is a metric name when it is followed by `{` or used bare: not a function
    or aggregation (followed by `(`), not a keyword, not a label name in a `by`/`without`/
    `on`/`ignoring`/`group_*` list or inside `{...}`, not an aggregation followed by its
    `by`/`without` clause, and not within a `[...]` range.
    `{__name__="..."}` counts too."""
    body = _grafana_function_body(expr)
    if body is not None:
        expr = body
    tokens = _tokens(expr)
    names: set[str] = set()
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        following = tokens[index + 1][1] if index + 1 < len(tokens) else None
        if kind == "punct" and text == "{":
            index = _matchers(tokens, index + 1, names)
            continue
        if kind == "punct" and text == "[":
            while index < len(tokens) and tokens[index][1] != "]":
                index += 1
            index += 1
            continue
        if kind == "ident":
            lowered = text.lower()
            if lowered in _LABEL_LIST_KEYWORDS and following == "(":
                while index < len(tokens) and tokens[index][1] != ")":
                    index += 1
                index += 1
                continue
            # `sum by (...) (...)`: an aggregation whose grouping comes first.
            aggregation = following is not None and following.lower() in {"by", "without"}
            if following != "(" and not aggregation and lowered not in _KEYWORDS:
                names.add(text)
        index += 1
    return names


def _matchers(tokens: list[tuple[str, str]], index: int, names: set[str]) -> int:
    """Skip label matchers up to the closing `}`; note `__name__` matches. Returns the index
    after the `}`."""
    while index < len(tokens) and tokens[index][1] != "}":
        kind, text = tokens[index]
        if (
            kind == "ident"
            and text == "__name__"
            and index + 2 < len(tokens)
            and tokens[index + 1][1] == "="
            and tokens[index + 2][0] == "string"
        ):
            names.add(tokens[index + 2][1][1:-1])
            index += 3
            continue
        index += 1
    return index + 1
