"""The scenario tables of the realistic behaviour: [sites], [sites.<type>], [faults], [auth],
and the simulated clock keys of [run] (time_scale, start_at, day).

Every profile parameter of `behaviour.profiles` can be overridden by its name; types and ranges
are checked here, and the profile's own checks run on the result, so an error always names the
file, the key and the value.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from simfleet.behaviour.model import DayType, SiteType
from simfleet.behaviour.profiles import FaultRates, SiteProfile
from simfleet.behaviour.tokens import TokenBook
from simfleet.scenario.model import DEFAULT_SITE_MIX, Realistic

D = TypeVar("D")
Fail = Callable[[str, object, str], Exception]

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_realistic(raw: Mapping[str, Any], run: Mapping[str, Any], fail: Fail) -> Realistic:
    d = Realistic()
    sites_table = _table(raw, "sites", fail)
    faults_table = _table(raw, "faults", fail)
    auth_table = _table(raw, "auth", fail)
    return Realistic(
        time_scale=_time_scale(run, fail),
        start_hour=_start_hour(run, fail),
        day=_day(run, fail),
        site_mix=_site_mix(sites_table, fail),
        sites=_sites(sites_table, d.sites, fail),
        faults=_faults(faults_table, fail),
        connection_timeout_s=_number(
            auth_table, "auth.connection_timeout_s", d.connection_timeout_s, fail
        ),
        tokens=_tokens(auth_table, fail),
    )


def _table(raw: Mapping[str, Any], key: str, fail: Fail) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise fail(key, value, "must be a table")
    return value


def _number(table: Mapping[str, Any], key: str, default: float, fail: Fail) -> float:
    name = key.rsplit(".", 1)[-1]
    value = table.get(name, default)
    if type(value) not in (int, float) or not 0 < value < math.inf:
        raise fail(key, value, "must be a positive number")
    return float(value)


def _time_scale(run: Mapping[str, Any], fail: Fail) -> float:
    scale = _number(run, "run.time_scale", 1.0, fail)
    if scale > 3600:
        raise fail("run.time_scale", scale, "must be at most 3600 (an hour per second)")
    return scale


def _start_hour(run: Mapping[str, Any], fail: Fail) -> float:
    value = run.get("start_at", "08:00")
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None:
        raise fail("run.start_at", value, 'must be a time of day "HH:MM" (24 h)')
    return int(match.group(1)) + int(match.group(2)) / 60.0


def _day(run: Mapping[str, Any], fail: Fail) -> DayType:
    value = run.get("day", DayType.WEEKDAY.value)
    try:
        return DayType(value)
    except ValueError:
        raise fail("run.day", value, "must be weekday or weekend") from None


def _site_mix(table: Mapping[str, Any], fail: Fail) -> tuple[tuple[SiteType, float], ...]:
    # A share is given as `type = 0.4`, or as `share = 0.4` in the type's own table (TOML
    # cannot hold both `[sites] type = 0.4` and a `[sites.type]` table).
    shares = {
        k: (v["share"] if isinstance(v, dict) else v)
        for k, v in table.items()
        if not isinstance(v, dict) or "share" in v
    }
    if not shares:
        return DEFAULT_SITE_MIX
    mix = []
    for name, share in shares.items():
        site = _site(f"sites.{name}", name, fail)
        if type(share) not in (int, float) or share < 0:
            raise fail(f"sites.{name}", share, "must be a share >= 0")
        mix.append((site, float(share)))
    total = sum(share for _, share in mix)
    if abs(total - 1.0) > 1e-6:
        raise fail("sites", shares, f"the shares must add up to 1 (they add up to {total:g})")
    return tuple(mix)


def _site(key: str, name: str, fail: Fail) -> SiteType:
    try:
        return SiteType(name)
    except ValueError:
        known = ", ".join(s.value for s in SiteType)
        raise fail(key, name, f"unknown site type (known: {known})") from None


def _sites(
    table: Mapping[str, Any], defaults: Mapping[SiteType, SiteProfile], fail: Fail
) -> dict[SiteType, SiteProfile]:
    sites = dict(defaults)
    for name, overrides in table.items():
        if isinstance(overrides, dict):
            site = _site(f"sites.{name}", name, fail)
            fields = {k: v for k, v in overrides.items() if k != "share"}
            sites[site] = override(sites[site], fields, f"sites.{name}", fail)
    return sites


def _faults(table: Mapping[str, Any], fail: Fail) -> FaultRates:
    enabled = table.get("enabled", True)
    if type(enabled) is not bool:
        raise fail("faults.enabled", enabled, "must be true or false")
    base = FaultRates() if enabled else FaultRates.none()
    overrides = {k: v for k, v in table.items() if k != "enabled"}
    return override(base, overrides, "faults", fail)


def _tokens(table: Mapping[str, Any], fail: Fail) -> TokenBook:
    kinds = [f.name for f in dataclasses.fields(TokenBook) if f.name != "fixed_pattern"]
    overrides = {}
    for name, value in table.items():
        if name == "connection_timeout_s":
            continue
        if not name.startswith("prefix_"):
            known = "connection_timeout_s, " + ", ".join(f"prefix_{k}" for k in kinds)
            raise fail(f"auth.{name}", value, f"unknown key (known: {known})")
        if name.removeprefix("prefix_") not in kinds:
            raise fail(f"auth.{name}", value, "unknown token kind")
        overrides[name.removeprefix("prefix_")] = value
    for name, value in overrides.items():
        if not isinstance(value, str) or not 0 < len(value) <= 8:
            raise fail(f"auth.prefix_{name}", value, "must be a string of 1-8 characters")
    book = dataclasses.replace(TokenBook(), **overrides)
    for name in overrides:
        mine = getattr(book, name)
        for other in kinds:
            theirs = getattr(book, other)
            if other != name and (mine.startswith(theirs) or theirs.startswith(mine)):
                raise fail(
                    f"auth.prefix_{name}",
                    mine,
                    f"overlaps prefix_{other} = {theirs!r}: a token's prefix must tell its kind",
                )
    return book


def override(base: D, overrides: Mapping[str, Any], prefix: str, fail: Fail) -> D:
    """`base` (a dataclass) with fields replaced by name, each type-checked; the dataclass's
    own validation runs on the result and its complaint is reported with the key."""
    fields = {f.name: f for f in dataclasses.fields(base)}  # type: ignore[arg-type]
    changes: dict[str, object] = {}
    for name, value in overrides.items():
        key = f"{prefix}.{name}"
        if name not in fields:
            raise fail(key, value, f"unknown key (known: {', '.join(sorted(fields))})")
        changes[name] = _coerce(getattr(base, name), value, key, fail)
    try:
        return dataclasses.replace(base, **changes)  # type: ignore[type-var]
    except ValueError as error:
        key = next((f"{prefix}.{n}" for n in changes if n in str(error)), prefix)
        raise fail(key, overrides.get(key.rsplit(".", 1)[-1], changes), str(error)) from None


def _coerce(current: object, value: object, key: str, fail: Fail) -> object:
    """`value` as the type of `current` (int -> float allowed, lists -> tuples)."""
    if isinstance(current, bool):
        if type(value) is not bool:
            raise fail(key, value, "must be true or false")
        return value
    if isinstance(current, int):
        if type(value) is not int:
            raise fail(key, value, "must be an integer")
        return value
    if isinstance(current, float):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise fail(key, value, "must be a number")
        return float(value)
    if isinstance(current, str):
        if type(value) is not str:
            raise fail(key, value, "must be a string")
        return value
    if isinstance(current, tuple):
        if type(value) is not list or not value:
            raise fail(key, value, "must be a non-empty list")
        sample = current[0] if current else 0.0
        return tuple(_coerce(sample, item, key, fail) for item in value)
    raise fail(key, value, "cannot be overridden")
