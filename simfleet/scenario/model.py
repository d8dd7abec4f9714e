"""A scenario as frozen dataclasses: what to simulate, against what, for how long."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from typing import Any

from simfleet.behaviour.model import DayType, SiteType
from simfleet.behaviour.plans import FixedRates
from simfleet.behaviour.profiles import FaultRates, SiteProfile, default_sites
from simfleet.behaviour.tokens import TokenBook
from simfleet.protocol.v16.state import FirmwareSettings


@dataclass(frozen=True, slots=True)
class Security:
    """OCPP security profile 0 (none), 1 (ws + Basic auth) or 2 (wss + Basic auth).

    The Basic auth user is the charger identity; the password (AuthorizationKey) comes from an
    environment variable or a file, never from the scenario itself, and is never logged.
    """

    profile: int = 0
    password_env: str = ""
    password_file: str = ""
    ca_file: str = ""  # extra CA bundle to verify a wss:// CSMS (system CAs otherwise)


@dataclass(frozen=True, slots=True)
class ChargerModel:
    ocpp_version: str = "1.6"
    #: The subprotocols offered, in preference order (OCPP-J §3.1.2); empty: `ocpp_version`.
    ocpp_versions: tuple[str, ...] = ()
    #: A mixed fleet: (offer, share) pairs, shares summing to 1; each charger's offer is drawn
    #: from the seed and its index. Empty: every charger offers `offer`.
    ocpp_mix: tuple[tuple[tuple[str, ...], float], ...] = ()
    vendor: str = "simfleet"
    model: str = "SF-AC22"
    firmware: str = "simfleet-0.1"
    connectors: int = 2
    max_power_w: float = 22_000.0
    heartbeat_interval_s: float = 300.0  # until the CSMS's BootNotification answer says otherwise
    meter_interval_s: float = 60.0  # MeterValueSampleInterval
    authorize_before_start: bool = True
    #: MeterValuesSampledData per current type (PROFILES.md §3.4 defaults).
    measurands_ac: tuple[str, ...] = (
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "Current.Offered",
    )
    measurands_dc: tuple[str, ...] = (
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
        "Temperature",
    )
    clock_aligned_s: float = 900.0  # ClockAlignedDataInterval; 0 = off
    #: Offline queue replay pace and transaction message retries (OCPP 1.6 §4.7, §9.1.31-32).
    max_offline_queue: int = 1000
    replay_interval_s: float = 0.5
    transaction_message_attempts: int = 3
    transaction_message_retry_interval_s: int = 60

    @property
    def offer(self) -> tuple[str, ...]:
        return self.ocpp_versions or (self.ocpp_version,)

    @property
    def offers(self) -> tuple[tuple[str, ...], ...]:
        """Every offer some charger of this model makes."""
        return tuple(offer for offer, _ in self.ocpp_mix) or (self.offer,)

    def describe_versions(self) -> str:
        """What the chargers offer, for people: "OCPP 1.6", "OCPP 2.0.1/1.6" (preference
        order), or the mix "OCPP 1.6 70 %, 2.0.1/1.6 30 %"."""
        if not self.ocpp_mix:
            return "OCPP " + "/".join(self.offer)
        return "OCPP " + ", ".join(f"{'/'.join(o)} {share:.0%}" for o, share in self.ocpp_mix)

    def offer_of(self, seed: int, index: int) -> tuple[str, ...]:
        """The versions charger `index` offers: a deterministic draw from the seed and the
        index (the same charger offers the same whatever the worker count)."""
        if not self.ocpp_mix:
            return self.offer
        draw = zlib.crc32(f"ocpp-mix:{seed}:{index}".encode()) / 2**32
        for offer, share in self.ocpp_mix:
            draw -= share
            if draw < 0:
                return offer
        return self.ocpp_mix[-1][0]  # rounding of the shares


@dataclass(frozen=True, slots=True)
class Timeouts:
    call_s: float = 30.0
    connect_s: float = 10.0
    boot_retry_s: float = 30.0  # when the CSMS gives no interval with Pending/Rejected
    #: Give up the run if no charger could connect at all within this many seconds.
    unreachable_s: float = 15.0


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Jittered exponential backoff between connection attempts of one charger."""

    min_s: float = 1.0
    max_s: float = 60.0
    factor: float = 2.0


@dataclass(frozen=True, slots=True)
class CsmsCommand:
    """The embedded CSMS sends `action` (with `payload`) to random chargers of a `share` of
    the fleet, `rate_per_s` commands per second in all (Poisson arrivals)."""

    action: str
    rate_per_s: float
    payload: dict[str, Any]
    share: float = 1.0
    #: The OCPP versions that have this command: chargers that negotiated another never get it.
    versions: tuple[str, ...] = ("1.6",)
    #: Per version, a payload other than `payload` (each version's default when the scenario
    #: gives none: 1.6 and 2.0.1 spell Reset, ChangeAvailability... differently).
    version_payloads: tuple[tuple[str, dict[str, Any]], ...] = ()

    def payload_for(self, version: str) -> dict[str, Any] | None:
        """What a charger speaking `version` is sent; None if the command is not for it."""
        if version not in self.versions:
            return None
        for known, payload in self.version_payloads:
            if known == version:
                return payload
        return self.payload

    def targets(self, identity: str) -> bool:
        """A fixed share of identities: the same chargers for the whole run."""
        return zlib.crc32(identity.encode()) / 2**32 < self.share


@dataclass(frozen=True, slots=True)
class Metrics:
    """The Prometheus endpoint (`[metrics]`): off unless a port is given."""

    port: int = -1  # -1: no endpoint; 0: any free port (printed at start)
    host: str = "127.0.0.1"  # "0.0.0.0" to let a Prometheus on another machine scrape
    hold_s: float = 0.0  # keep serving this long after the run, for a last scrape

    @property
    def enabled(self) -> bool:
        return self.port >= 0


#: PROFILES.md-style site mix of the issue's example: 40 % workplace AC, 35 % public AC,
#: 15 % residential, 10 % DC fast.
DEFAULT_SITE_MIX: tuple[tuple[SiteType, float], ...] = (
    (SiteType.WORKPLACE_AC, 0.40),
    (SiteType.PUBLIC_AC, 0.35),
    (SiteType.RESIDENTIAL, 0.15),
    (SiteType.DC_FAST, 0.10),
)


@dataclass(frozen=True, slots=True)
class Realistic:
    """The distribution-driven behaviour (PROFILES.md), on a simulated clock.

    `time_scale` simulated seconds pass per wall second; t = 0 is `start_hour` on `day`.
    """

    time_scale: float = 1.0
    start_hour: float = 8.0
    day: DayType = DayType.WEEKDAY
    site_mix: tuple[tuple[SiteType, float], ...] = DEFAULT_SITE_MIX
    sites: dict[SiteType, SiteProfile] = field(default_factory=default_sites)
    faults: FaultRates = field(default_factory=FaultRates)
    connection_timeout_s: float = 90.0  # ConnectionTimeOut (PROFILES.md §7)
    tokens: TokenBook = field(default_factory=TokenBook)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str = "unnamed"
    source: str = "<defaults>"
    seed: int = 1
    target: str = ""  # ws:// or wss:// URL; empty: start the embedded CSMS
    chargers: int = 100
    ramp_per_s: float = 50.0
    duration_s: float = 60.0
    identity: str = "SF-{index:06d}"
    workers: int = 0  # 0: one per core
    charger: ChargerModel = field(default_factory=ChargerModel)
    #: "realistic" (PROFILES.md distributions) or "fixed" (a metronome: benchmarks, tests).
    model: str = "realistic"
    fixed: FixedRates = field(
        default_factory=lambda: FixedRates(
            idle_s=60.0, session_s=300.0, power_w=11_000.0, energy_wh=1e12, id_tag="TAG{index:06d}"
        )
    )
    realistic: Realistic = field(default_factory=Realistic)
    security: Security = field(default_factory=Security)
    timeouts: Timeouts = field(default_factory=Timeouts)
    reconnect: Reconnect = field(default_factory=Reconnect)
    metrics: Metrics = field(default_factory=Metrics)
    #: How firmware updates and diagnostics uploads go on the chargers (`[firmware]`).
    firmware: FirmwareSettings = field(default_factory=FirmwareSettings)
    #: What the embedded CSMS sends on its own (`[[csms.commands]]`); unused with a target.
    csms_commands: tuple[CsmsCommand, ...] = ()
    #: Strict mode (`[run] strict`): every frame checked against the OCPP JSON schemas.
    strict: bool = False
    #: With strict mode, exit non-zero if any frame broke a schema (`[run] fail_on_violations`).
    fail_on_violations: bool = False

    def with_overrides(self, **changes: object) -> Scenario:
        """A copy with the given top-level fields replaced (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    def with_metrics(self, **changes: object) -> Scenario:
        """A copy with `[metrics]` settings replaced (None values are ignored)."""
        given = {k: v for k, v in changes.items() if v is not None}
        return replace(self, metrics=replace(self.metrics, **given)) if given else self  # type: ignore[arg-type]

    def identity_of(self, index: int) -> str:
        return self.identity.format(index=index)
