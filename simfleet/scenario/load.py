"""Scenario files (TOML) -> `Scenario`, with errors that name the file, the key and the value.

Every key is checked: unknown keys are errors too, so a typo never silently falls back to a
default.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from simfleet.behaviour.plans import FixedRates
from simfleet.protocol.dialect import DIALECTS
from simfleet.protocol.v16.messages import MEASURAND_UNITS
from simfleet.protocol.v16.state import FirmwareSettings
from simfleet.protocol.v201.commands import DEFAULTS_BY_VERSION, command_defaults
from simfleet.scenario.model import (
    ChargerModel,
    CsmsCommand,
    Metrics,
    Reconnect,
    Scenario,
    Security,
    Timeouts,
)
from simfleet.scenario.realistic import override, parse_realistic
from simfleet.sim.chargers import simulated_versions

T = TypeVar("T")

#: OCPP versions a charger model can speak today (those with a charger class).
SUPPORTED_VERSIONS = simulated_versions()
#: OCPP-J 2.0.1 §3.1: identities of at most 48 characters; ':' would break Basic auth.
MAX_IDENTITY = 48
#: OCPP 1.6 §7.28 IdToken: CiString20.
MAX_ID_TAG = 20
METERING_KEYS = ("measurands_ac", "measurands_dc", "clock_aligned_s")
#: The [firmware] keys (FirmwareSettings without its seed, which is the scenario's).
FIRMWARE_KEYS = (
    "download_s",
    "install_s",
    "reboot_s",
    "download_failure_rate",
    "install_failure_rate",
    "upload_timeout_s",
)
#: A download, installation or reboot takes at most a day.
MAX_SPAN_S = 86_400.0
#: The [behaviour] keys of the fixed-rate model.
FIXED_KEYS = frozenset({"idle_s", "session_s", "power_w", "energy_wh", "id_tag"})


class ScenarioError(ValueError):
    """A scenario that cannot run; the message names the file, the key and the value."""

    def __init__(self, source: str, key: str, value: object, problem: str) -> None:
        where = f"{source}: {key}" if key else source
        shown = "" if value is _MISSING else f" = {value!r}"
        super().__init__(f"{where}{shown}: {problem}")
        self.source = source
        self.key = key
        self.value = value
        self.problem = problem


_MISSING = object()


def load(path: str | Path) -> Scenario:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(source, "", _MISSING, f"cannot read: {error.strerror}") from None
    return parse(text, source)


def parse(text: str, source: str = "<string>") -> Scenario:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(source, "", _MISSING, f"not valid TOML: {error}") from None
    reader = _Reader(source)
    return reader.scenario(raw)


def validate(scenario: Scenario) -> Scenario:
    """Check the cross-field rules; used after CLI overrides too."""
    src = scenario.source
    if scenario.chargers < 1:
        raise ScenarioError(src, "fleet.chargers", scenario.chargers, "must be at least 1")
    if scenario.duration_s <= 0:
        raise ScenarioError(src, "run.duration_s", scenario.duration_s, "must be positive")
    if scenario.ramp_per_s <= 0:
        raise ScenarioError(src, "fleet.ramp_per_s", scenario.ramp_per_s, "must be positive")
    if scenario.workers < 0:
        raise ScenarioError(src, "run.workers", scenario.workers, "must be 0 (auto) or more")
    if scenario.target:
        parts = urlsplit(scenario.target)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ScenarioError(
                src, "target.url", scenario.target, "must be a ws:// or wss:// URL with a host"
            )
        if scenario.security.profile == 2 and parts.scheme != "wss":
            raise ScenarioError(
                src, "target.url", scenario.target, "security profile 2 needs a wss:// URL"
            )
    if scenario.fail_on_violations and not scenario.strict:
        raise ScenarioError(
            src, "run.fail_on_violations", True, "needs run.strict = true (or --strict)"
        )
    _check_identity(src, scenario.identity, scenario.chargers)
    _check_id_tag(src, scenario.fixed.id_tag, scenario.chargers)
    return scenario


def _check_identity(source: str, pattern: str, chargers: int) -> None:
    try:
        first, other = pattern.format(index=1), pattern.format(index=2)
        last = pattern.format(index=chargers)  # the longest one with a plain {index}
    except (KeyError, IndexError, ValueError) as error:
        raise ScenarioError(
            source, "fleet.identity", pattern, f"not a pattern with {{index}}: {error}"
        ) from None
    if first == other:
        raise ScenarioError(
            source, "fleet.identity", pattern, "must contain {index} so identities differ"
        )
    if max(len(first), len(last)) > MAX_IDENTITY or ":" in first:
        raise ScenarioError(
            source, "fleet.identity", pattern, f"identities must be <= {MAX_IDENTITY} chars, no ':'"
        )


def _check_id_tag(source: str, pattern: str, chargers: int) -> None:
    try:
        tags = (pattern.format(index=1), pattern.format(index=chargers))
    except (KeyError, IndexError, ValueError) as error:
        raise ScenarioError(source, "behaviour.id_tag", pattern, f"bad pattern: {error}") from None
    if not all(0 < len(tag) <= MAX_ID_TAG for tag in tags):
        longest = max(tags, key=len)
        raise ScenarioError(
            source,
            "behaviour.id_tag",
            pattern,
            f"id tags must be 1-{MAX_ID_TAG} characters (OCPP 1.6 IdToken); {longest!r} is not",
        )


class _Reader:
    """Walks the TOML document, checking each key's type and range."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, value: object, problem: str) -> ScenarioError:
        return ScenarioError(self.source, key, value, problem)

    def table(self, raw: Mapping[str, Any], key: str, allowed: set[str]) -> Mapping[str, Any]:
        value = raw.get(key.rsplit(".", 1)[-1], {})
        if not isinstance(value, dict):
            raise self.fail(key, value, "must be a table")
        for name in value:
            if name not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(f"{key}.{name}", value[name], f"unknown key (known: {known})")
        return value

    def get(
        self,
        table: Mapping[str, Any],
        prefix: str,
        name: str,
        default: T,
        check: Callable[[Any], bool] = lambda _v: True,
        rule: str = "",
    ) -> T:
        if name not in table:
            return default
        value = table[name]
        key = f"{prefix}.{name}" if prefix else name
        expected = type(default)
        if expected is float and type(value) is int:
            value = float(value)
        if type(value) is not expected:
            raise self.fail(key, value, f"must be {_type_name(expected)}")
        if not check(value):
            raise self.fail(key, value, rule)
        return value

    def scenario(self, raw: Mapping[str, Any]) -> Scenario:
        top = {
            "name",
            "seed",
            "run",
            "fleet",
            "target",
            "charger",
            "behaviour",
            "timeouts",
            "reconnect",
            "sites",
            "faults",
            "auth",
            "metrics",
            "csms",
            "firmware",
        }
        for name in raw:
            if name not in top:
                raise self.fail(name, raw[name], f"unknown key (known: {', '.join(sorted(top))})")
        d = Scenario()
        run = self.table(
            raw,
            "run",
            {
                "duration_s",
                "workers",
                "time_scale",
                "start_at",
                "day",
                "strict",
                "fail_on_violations",
            },
        )
        fleet = self.table(raw, "fleet", {"chargers", "ramp_per_s", "identity"})
        target = self.table(
            raw, "target", {"url", "security_profile", "password_env", "password_file", "ca_file"}
        )
        positive = (lambda v: v > 0), "must be positive"
        scenario = replace(
            d,
            source=self.source,
            name=self.get(raw, "", "name", d.name),
            seed=self.get(raw, "", "seed", d.seed, lambda v: v >= 0, "must be >= 0"),
            duration_s=self.get(run, "run", "duration_s", d.duration_s, *positive),
            workers=self.get(
                run,
                "run",
                "workers",
                d.workers,
                lambda v: v >= 0,
                "must be 0 (one per core) or more",
            ),
            chargers=self.get(
                fleet, "fleet", "chargers", d.chargers, lambda v: v >= 1, "must be at least 1"
            ),
            ramp_per_s=self.get(fleet, "fleet", "ramp_per_s", d.ramp_per_s, *positive),
            identity=self.get(fleet, "fleet", "identity", d.identity),
            target=self.get(target, "target", "url", d.target),
            security=self.security(target),
            charger=self.charger(raw),
            model=self.model(raw),
            fixed=self.behaviour(raw),
            realistic=parse_realistic(raw, run, self.fail),
            timeouts=self.timeouts(raw),
            reconnect=self.reconnect(raw),
            metrics=self.metrics(raw),
            csms_commands=self.csms_commands(raw),
            firmware=self.firmware(raw),
            strict=self.get(run, "run", "strict", d.strict),
            fail_on_violations=self.get(run, "run", "fail_on_violations", d.fail_on_violations),
        )
        return validate(scenario)

    def security(self, target: Mapping[str, Any]) -> Security:
        d = Security()
        security = Security(
            profile=self.get(
                target,
                "target",
                "security_profile",
                d.profile,
                lambda v: v in (0, 1, 2),
                "must be 0, 1 or 2 (3 is not supported yet)",
            ),
            password_env=self.get(target, "target", "password_env", d.password_env),
            password_file=self.get(target, "target", "password_file", d.password_file),
        )
        ca_file = self.get(target, "target", "ca_file", d.ca_file)
        security = replace(security, ca_file=ca_file)
        if security.profile in (1, 2) and not (security.password_env or security.password_file):
            raise self.fail(
                "target.security_profile",
                security.profile,
                "profiles 1 and 2 need target.password_env or target.password_file",
            )
        return security

    def charger(self, raw: Mapping[str, Any]) -> ChargerModel:
        names = {f.name for f in fields(ChargerModel)}
        table = self.table(raw, "charger", names)
        d = ChargerModel()
        positive = (lambda v: v > 0), "must be positive"
        model = ChargerModel(
            ocpp_version=self.get(
                table,
                "charger",
                "ocpp_version",
                d.ocpp_version,
                lambda v: v in SUPPORTED_VERSIONS,
                f"must be one of {', '.join(SUPPORTED_VERSIONS)} "
                f"(known to the protocol core: {', '.join(DIALECTS)})",
            ),
            vendor=self.get(
                table,
                "charger",
                "vendor",
                d.vendor,
                lambda v: 0 < len(v) <= 20,
                "must be 1-20 characters (OCPP 1.6 CiString20)",
            ),
            model=self.get(
                table,
                "charger",
                "model",
                d.model,
                lambda v: 0 < len(v) <= 20,
                "must be 1-20 characters (OCPP 1.6 CiString20)",
            ),
            firmware=self.get(
                table,
                "charger",
                "firmware",
                d.firmware,
                lambda v: len(v) <= 50,
                "must be at most 50 characters",
            ),
            connectors=self.get(
                table,
                "charger",
                "connectors",
                d.connectors,
                lambda v: 1 <= v <= 16,
                "must be 1..16",
            ),
            max_power_w=self.get(table, "charger", "max_power_w", d.max_power_w, *positive),
            heartbeat_interval_s=self.get(
                table, "charger", "heartbeat_interval_s", d.heartbeat_interval_s, *positive
            ),
            meter_interval_s=self.get(
                table, "charger", "meter_interval_s", d.meter_interval_s, *positive
            ),
            authorize_before_start=self.get(
                table, "charger", "authorize_before_start", d.authorize_before_start
            ),
            **self.offline(table, d),
        )
        model = replace(
            model,
            ocpp_versions=self.offer(table, "charger", "ocpp_versions"),
            ocpp_mix=self.mix(table),
        )
        metering = {k: table[k] for k in METERING_KEYS if k in table}
        model = override(model, metering, "charger", self.fail)
        for key in ("measurands_ac", "measurands_dc"):
            for measurand in getattr(model, key):
                if measurand not in MEASURAND_UNITS:
                    known = ", ".join(MEASURAND_UNITS)
                    raise self.fail(f"charger.{key}", measurand, f"not a measurand ({known})")
        if model.clock_aligned_s < 0:
            raise self.fail("charger.clock_aligned_s", model.clock_aligned_s, "must be >= 0")
        return model

    def offer(self, table: Mapping[str, Any], prefix: str, name: str) -> tuple[str, ...]:
        """An offer of OCPP versions in preference order, each simulated, none twice."""
        key = f"{prefix}.{name}"
        versions = self.versions(table, prefix, name, ())
        for version in versions:
            if version not in SUPPORTED_VERSIONS:
                raise self.fail(
                    key,
                    version,
                    f"no charger of this version is simulated in this build "
                    f"(simulated: {', '.join(SUPPORTED_VERSIONS)})",
                )
        return versions

    def mix(self, table: Mapping[str, Any]) -> tuple[tuple[tuple[str, ...], float], ...]:
        """ocpp_mix = { "1.6" = 0.7, "2.0.1,1.6" = 0.3 }: offers (comma-separated versions)
        and the share of chargers making each; shares sum to 1."""
        if "ocpp_mix" not in table:
            return ()
        raw = table["ocpp_mix"]
        if not isinstance(raw, dict) or not raw:
            raise self.fail("charger.ocpp_mix", raw, 'must be a table like { "1.6" = 1.0 }')
        if "ocpp_versions" in table or "ocpp_version" in table:
            raise self.fail("charger.ocpp_mix", raw, "give ocpp_mix or ocpp_version(s), not both")
        mix = []
        for name, share in raw.items():
            key = f"charger.ocpp_mix.{name}"
            listed = {name: [v.strip() for v in name.split(",")]}
            offer = self.offer(listed, "charger.ocpp_mix", name)
            if type(share) not in (int, float) or not 0 < share <= 1:
                raise self.fail(key, share, "must be a share in (0, 1]")
            mix.append((offer, float(share)))
        total = sum(share for _, share in mix)
        if abs(total - 1) > 1e-6:
            raise self.fail(
                "charger.ocpp_mix", raw, f"shares must sum to 1 (they sum to {total:g})"
            )
        return tuple(mix)

    def offline(self, table: Mapping[str, Any], d: ChargerModel) -> dict[str, Any]:
        """The offline queue's length and replay pace, and the transaction message retries
        (0 attempts means 1, as in the charger's configuration: no retry)."""
        queue = self.get(
            table,
            "charger",
            "max_offline_queue",
            d.max_offline_queue,
            lambda v: v >= 1,
            "must be >= 1",
        )
        names = (
            "replay_interval_s",
            "transaction_message_attempts",
            "transaction_message_retry_interval_s",
        )
        return {
            "max_offline_queue": queue,
            **{
                name: self.get(
                    table, "charger", name, getattr(d, name), lambda v: v >= 0, "must be >= 0"
                )
                for name in names
            },
        }

    def model(self, raw: Mapping[str, Any]) -> str:
        """[behaviour] model: "realistic", or "fixed" (the default when fixed-rate keys are
        given without a model)."""
        table = raw.get("behaviour", {})
        if not isinstance(table, dict):
            return "realistic"  # reported by behaviour()
        fixed_keys = FIXED_KEYS & set(table)
        model = table.get("model", "fixed" if fixed_keys else "realistic")
        if model not in ("realistic", "fixed"):
            raise self.fail("behaviour.model", model, "must be realistic or fixed")
        if model == "realistic" and fixed_keys:
            key = sorted(fixed_keys)[0]
            raise self.fail(
                f"behaviour.{key}", table[key], 'only for model = "fixed" (realistic: see [sites])'
            )
        return str(model)

    def behaviour(self, raw: Mapping[str, Any]) -> FixedRates:
        table = self.table(raw, "behaviour", {*FIXED_KEYS, "model"})
        d = Scenario().fixed
        positive = (lambda v: v > 0), "must be positive"
        rates = FixedRates(
            idle_s=self.get(table, "behaviour", "idle_s", d.idle_s, *positive),
            session_s=self.get(table, "behaviour", "session_s", d.session_s, *positive),
            power_w=self.get(table, "behaviour", "power_w", d.power_w, *positive),
            energy_wh=self.get(table, "behaviour", "energy_wh", d.energy_wh, *positive),
            id_tag=self.get(table, "behaviour", "id_tag", d.id_tag),
        )
        return rates

    def timeouts(self, raw: Mapping[str, Any]) -> Timeouts:
        table = self.table(raw, "timeouts", {f.name for f in fields(Timeouts)})
        d = Timeouts()
        positive = (lambda v: v > 0), "must be positive"
        return Timeouts(
            **{
                f.name: self.get(table, "timeouts", f.name, getattr(d, f.name), *positive)
                for f in fields(Timeouts)
            }
        )

    def reconnect(self, raw: Mapping[str, Any]) -> Reconnect:
        table = self.table(raw, "reconnect", {f.name for f in fields(Reconnect)})
        d = Reconnect()
        positive = (lambda v: v > 0), "must be positive"
        result = Reconnect(
            **{
                f.name: self.get(table, "reconnect", f.name, getattr(d, f.name), *positive)
                for f in fields(Reconnect)
            }
        )
        if result.max_s < result.min_s:
            raise self.fail("reconnect.max_s", result.max_s, "must be >= reconnect.min_s")
        if result.factor < 1:
            raise self.fail("reconnect.factor", result.factor, "must be >= 1")
        return result

    def csms_commands(self, raw: Mapping[str, Any]) -> tuple[CsmsCommand, ...]:
        table = self.table(raw, "csms", {"commands"})
        entries = table.get("commands", [])
        if not isinstance(entries, list):
            raise self.fail(
                "csms.commands", entries, "must be an array of tables [[csms.commands]]"
            )
        out = []
        for i, entry in enumerate(entries):
            key = f"csms.commands[{i}]"
            if not isinstance(entry, dict):
                raise self.fail(key, entry, "must be a table")
            allowed = {"action", "rate_per_s", "share", "payload", "ocpp_versions"}
            for name in entry:
                if name not in allowed:
                    known = ", ".join(sorted(allowed))
                    raise self.fail(f"{key}.{name}", entry[name], f"unknown key (known: {known})")
            if "action" not in entry:
                raise self.fail(f"{key}.action", None, "missing: which command to send")
            action = self.get(entry, key, "action", "")
            versions = self.versions(entry, key, "ocpp_versions", ())
            command = self.command(key, action, versions, entry.get("payload"))
            out.append(
                replace(
                    command,
                    rate_per_s=self.get(
                        entry, key, "rate_per_s", 1.0, lambda v: v > 0, "must be positive"
                    ),
                    share=self.get(
                        entry, key, "share", 1.0, lambda v: 0 < v <= 1, "must be in (0, 1]"
                    ),
                )
            )
        return tuple(out)

    def command(
        self, key: str, action: str, versions: tuple[str, ...], payload: object
    ) -> CsmsCommand:
        """A command for the chargers of `versions` (default: every version that has it).
        Without a payload, each version gets its own default."""
        defaults = command_defaults(action)
        if payload is not None:
            if not isinstance(payload, dict):
                raise self.fail(f"{key}.payload", payload, "must be a table")
            # A command of the scenario's own (a vendor's, a 2.1 one...): all versions if unsaid.
            chosen = versions or tuple(defaults) or tuple(DIALECTS)
            return CsmsCommand(action, 1.0, dict(payload), versions=chosen)
        if not defaults:
            known = ", ".join(sorted({a for table in DEFAULTS_BY_VERSION.values() for a in table}))
            raise self.fail(
                f"{key}.action",
                action,
                f"no default payload for this command: give `payload` (defaults: {known})",
            )
        chosen = versions or tuple(defaults)
        for version in chosen:
            if version not in defaults:
                raise self.fail(
                    f"{key}.ocpp_versions",
                    list(versions),
                    f"OCPP {version} has no default {action}: give `payload` "
                    f"(versions with one: {', '.join(defaults)})",
                )
        return CsmsCommand(
            action,
            1.0,
            dict(defaults[chosen[0]]),
            versions=chosen,
            version_payloads=tuple((v, dict(defaults[v])) for v in chosen),
        )

    def versions(
        self, table: Mapping[str, Any], prefix: str, name: str, default: tuple[str, ...]
    ) -> tuple[str, ...]:
        """A list of OCPP versions, each known, none twice."""
        if name not in table:
            return default
        value = table[name]
        key = f"{prefix}.{name}"
        known = ", ".join(f'"{v}"' for v in DIALECTS)
        if not isinstance(value, list) or not value:
            raise self.fail(key, value, f"must be a non-empty list of OCPP versions ({known})")
        for version in value:
            if version not in DIALECTS:
                raise self.fail(key, version, f"not an OCPP version (known: {known})")
        if len(set(value)) != len(value):
            raise self.fail(key, value, "lists a version twice")
        return tuple(value)

    def firmware(self, raw: Mapping[str, Any]) -> FirmwareSettings:
        """[firmware]: durations as seconds or [low, high] ranges, failure rates, timeout."""
        table = self.table(raw, "firmware", set(FIRMWARE_KEYS))
        d = FirmwareSettings()
        rate = (lambda v: 0 <= v <= 1), "must be a probability, 0 to 1"
        return FirmwareSettings(
            download_s=self.span(table, "download_s", d.download_s),
            install_s=self.span(table, "install_s", d.install_s),
            reboot_s=self.span(table, "reboot_s", d.reboot_s),
            download_failure_rate=self.get(
                table, "firmware", "download_failure_rate", d.download_failure_rate, *rate
            ),
            install_failure_rate=self.get(
                table, "firmware", "install_failure_rate", d.install_failure_rate, *rate
            ),
            upload_timeout_s=self.get(
                table,
                "firmware",
                "upload_timeout_s",
                d.upload_timeout_s,
                lambda v: 0 < v <= 3600,
                "must be positive, at most 3600",
            ),
        )

    def span(
        self, table: Mapping[str, Any], name: str, default: tuple[float, float]
    ) -> tuple[float, float]:
        """Wall seconds: one number, or [low, high] for a uniform draw between them."""
        if name not in table:
            return default
        value = table[name]
        key = f"firmware.{name}"
        numbers = value if isinstance(value, list) else [value]
        if not (
            1 <= len(numbers) <= 2
            and all(type(v) in (int, float) and 0 <= v <= MAX_SPAN_S for v in numbers)
        ):
            raise self.fail(
                key, value, f"must be seconds (0 to {MAX_SPAN_S:.0f}) or a [low, high] range"
            )
        low, high = float(numbers[0]), float(numbers[-1])
        if high < low:
            raise self.fail(key, value, "the range must be [low, high] with low <= high")
        return low, high

    def metrics(self, raw: Mapping[str, Any]) -> Metrics:
        table = self.table(raw, "metrics", {f.name for f in fields(Metrics)})
        d = Metrics()
        return Metrics(
            port=self.get(
                table,
                "metrics",
                "port",
                d.port,
                lambda v: 0 <= v <= 65535,
                "must be a TCP port, 0 to 65535 (0: any free port)",
            ),
            host=self.get(table, "metrics", "host", d.host, bool, "must not be empty"),
            hold_s=self.get(table, "metrics", "hold_s", d.hold_s, lambda v: v >= 0, "must be >= 0"),
        )


def _type_name(kind: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        kind, kind.__name__
    )
