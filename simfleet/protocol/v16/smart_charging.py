"""The charger side of the OCPP 1.6 SmartCharging feature profile (§3.13).

`ChargingProfiles` holds the profiles a charge point was given (SetChargingProfile §5.16,
RemoteStartTransaction §5.11), removes them (ClearChargingProfile §5.5, end of transaction
§3.13.1), and answers what limit is in force on a connector at a time (`limit`, `next_change`)
and over a window (GetCompositeSchedule §5.7, `composite`).

Pure like the rest of `simfleet.protocol`: no clock reads, times are float epoch seconds passed
in; timestamps in profiles are ISO-8601 strings and are parsed once, when the profile is set.

Decisions where OCPP 1.6 leaves room (each is repeated where it is implemented):

* Relative profiles (and Absolute ones without startSchedule, which §7.13 says are "relative to
  start of charging") start at the transaction's start, told by `transaction_started`. On a
  connector without a transaction they are evaluated as if a transaction started at the queried
  time: `limit` then gives their first period, `composite` their schedule from its start.
* A TxDefaultProfile set on connector 0 applies to every connector; one set on a connector wins
  over a connector-0 one of the same stackLevel on that connector. Setting one on connector 0
  replaces the connector-specific TxDefaultProfiles of the same stackLevel (as if connector 0's
  profile were copied to every connector, which is what EVerest's libocpp does).
* ChargePointMaxProfile caps each connector, not their sum (see `ChargingProfiles._limit_at`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final, TypeVar

from simfleet.protocol.frames import Payload
from simfleet.protocol.timefmt import iso_utc, parse_iso_utc

DAY_S: Final = 86_400.0
WEEK_S: Final = 7 * DAY_S
#: Nominal phase-to-neutral voltage used to convert between A and W.
VOLTAGE_V: Final = 230.0
#: §7.14 numberPhases: "numberPhases=3 will be assumed unless another number is given".
DEFAULT_PHASES: Final = 3
#: What `composite` reports where no profile limits a connector (and the cap on every period):
#: the connector's own rating, a local limit in the sense of §5.7. 32 A is a 22 kW AC point.
DEFAULT_RATED_A: Final = 32.0

#: SetChargingProfile.conf ChargingProfileStatus (§7.11), ClearChargingProfile.conf
#: ClearChargingProfileStatus (§7.21), GetCompositeSchedule.conf status (§7.26).
ACCEPTED: Final = "Accepted"
REJECTED: Final = "Rejected"
NOT_SUPPORTED: Final = "NotSupported"
UNKNOWN: Final = "Unknown"


class Purpose(StrEnum):
    """ChargingProfilePurposeType (§7.10)."""

    CHARGE_POINT_MAX = "ChargePointMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


class Kind(StrEnum):
    """ChargingProfileKindType (§7.9)."""

    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class Recurrency(StrEnum):
    """RecurrencyKindType (§7.37)."""

    DAILY = "Daily"
    WEEKLY = "Weekly"


#: ChargingRateUnitType (§7.12) -> its name in ChargingScheduleAllowedChargingRateUnit (§9.4).
UNIT_NAMES: Final[dict[str, str]] = {"A": "Current", "W": "Power"}
_CYCLES: Final[dict[Recurrency, float]] = {Recurrency.DAILY: DAY_S, Recurrency.WEEKLY: WEEK_S}


@dataclass(frozen=True, slots=True)
class Limit:
    """The composite limit on a connector at one instant; math.inf where nothing limits.

    `amps` is per phase (a schedule in A, §7.13 chargingRateUnit), `watts` total (a schedule in
    W); both can be set when profiles in different units combine. `phases` is the numberPhases
    of the schedule periods in force (the smallest, if several), None if none sets it.
    """

    amps: float = math.inf
    watts: float = math.inf
    phases: int | None = None

    @property
    def unlimited(self) -> bool:
        return math.isinf(self.amps) and math.isinf(self.watts)

    def phases_used(self, phases: int) -> int:
        """Phases the connector may draw on: its own, at most numberPhases (default 3, §7.14)."""
        allowed = DEFAULT_PHASES if self.phases is None else self.phases
        return max(1, min(phases, allowed))

    def to_watts(self, phases: int, voltage: float = VOLTAGE_V) -> float:
        """Total power allowed to a connector wired for `phases` phases: min(W, A * V * phases)."""
        return min(self.watts, self.amps * voltage * self.phases_used(phases))

    def to_amps(self, phases: int, voltage: float = VOLTAGE_V) -> float:
        """Current per phase allowed to a connector wired for `phases` phases."""
        return min(self.amps, self.watts / (voltage * self.phases_used(phases)))

    def tighten(self, unit: str, value: float, phases: int | None) -> Limit:
        """This limit and another one in `unit` ("A" or "W"), whichever is lower."""
        if phases is None or (self.phases is not None and self.phases < phases):
            phases = self.phases
        if unit == "A":
            return Limit(min(self.amps, value), self.watts, phases)
        return Limit(self.amps, min(self.watts, value), phases)


NO_LIMIT: Final = Limit()


@dataclass(frozen=True, slots=True)
class _Period:
    """ChargingSchedulePeriod (§7.14)."""

    start: int  # startPeriod, seconds from the start of the schedule
    limit: float
    phases: int | None


@dataclass(frozen=True, slots=True)
class _Profile:
    """ChargingProfile (§7.8) with its ChargingSchedule (§7.13), times parsed."""

    id: int
    connector: int  # where it was set: 0 = the whole charge point
    stack_level: int
    purpose: Purpose
    kind: Kind
    recurrency: Recurrency | None
    valid_from: float  # -inf if absent
    valid_to: float  # +inf if absent
    #: startSchedule; None for Relative profiles (and Absolute ones without startSchedule),
    #: which start with the transaction.
    start: float | None
    duration: float  # +inf if absent; for Recurring at most one cycle
    cycle: float | None  # Recurring: a day or a week
    unit: str
    periods: tuple[_Period, ...]
    transaction_id: int | None

    def base(self, anchor: float) -> float:
        return self.start if self.start is not None else anchor

    def period_at(self, t: float, anchor: float) -> _Period | None:
        """The period in force at `t`, None if the profile does not apply then.

        §3.13.2: a profile is valid from validFrom (inclusive) to validTo (exclusive); a
        schedule covers [start, start + duration) (§7.13) and, when Recurring, restarts at its
        first period every day or week from startSchedule (§7.9). It does not apply before the
        first period's startPeriod, nor (Recurring) before startSchedule.
        """
        if not self.valid_from <= t < self.valid_to:
            return None
        offset = t - self.base(anchor)
        if offset < 0:
            return None
        if self.cycle is not None:
            offset %= self.cycle
        if offset >= self.duration:
            return None
        found: _Period | None = None
        for period in self.periods:
            if period.start > offset:
                break
            found = period
        return found

    def _offsets(self) -> list[float]:
        offsets: list[float] = [float(period.start) for period in self.periods]
        if self.duration < (self.cycle or math.inf):
            offsets.append(self.duration)
        return offsets

    def fixed_edges(self, anchor: float | None, after: float) -> Iterator[float]:
        """Times after `after` where this profile may change that do not repeat.

        `anchor` None: the transaction-relative schedule moves with the query time (no edges).
        """
        for t in (self.valid_from, self.valid_to):
            if after < t < math.inf:
                yield t
        base = self.start if self.start is not None else anchor
        if base is None:
            return
        if self.cycle is not None:
            if base > after:
                yield base
            return
        for offset in self._offsets():
            if after < base + offset < math.inf:
                yield base + offset

    def cycle_edges(self, after: float, until: float) -> Iterator[float]:
        """Recurring only: period starts and duration ends in (after, until], until finite."""
        if self.cycle is None or self.start is None:
            return
        offsets = self._offsets()
        k = max(0, math.floor((after - self.start) / self.cycle))
        while self.start + k * self.cycle <= until:
            origin = self.start + k * self.cycle
            for offset in offsets:
                if after < origin + offset <= until:
                    yield origin + offset
            k += 1


class _InvalidError(ValueError):
    """A profile that cannot be read (the answer is Rejected)."""


_E = TypeVar("_E", bound=StrEnum)


def _get_int(raw: dict[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _InvalidError(f"{key} is not an integer")
    return value


def _require_int(raw: dict[str, Any], key: str) -> int:
    value = _get_int(raw, key)
    if value is None:
        raise _InvalidError(f"{key} missing")
    return value


def _get_time(raw: dict[str, Any], key: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _InvalidError(f"{key} is not a date-time")
    try:
        return parse_iso_utc(value)
    except ValueError as exc:
        raise _InvalidError(f"{key} is not a date-time") from exc


def _get_enum(raw: dict[str, Any], key: str, enum: type[_E]) -> _E | None:
    value = raw.get(key)
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError as exc:
        raise _InvalidError(f"{key}: {value!r}") from exc


def _parse_period(raw: object) -> _Period:
    if not isinstance(raw, dict):
        raise _InvalidError("chargingSchedulePeriod item is not an object")
    start = _require_int(raw, "startPeriod")
    limit = raw.get("limit")
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit):
        raise _InvalidError("limit is not a number")
    phases = _get_int(raw, "numberPhases")
    if start < 0 or limit < 0 or (phases is not None and not 1 <= phases <= DEFAULT_PHASES):
        raise _InvalidError("startPeriod, limit or numberPhases out of range")
    return _Period(start, float(limit), phases)


def _parse_profile(raw: object, connector: int) -> _Profile:
    """csChargingProfiles (§5.16) / chargingProfile (§5.11) -> `_Profile`, or `_InvalidError`."""
    if not isinstance(raw, dict):
        raise _InvalidError("profile is not an object")
    purpose = _get_enum(raw, "chargingProfilePurpose", Purpose)
    kind = _get_enum(raw, "chargingProfileKind", Kind)
    if purpose is None or kind is None:
        raise _InvalidError("chargingProfilePurpose and chargingProfileKind are required")
    recurrency = _get_enum(raw, "recurrencyKind", Recurrency)
    schedule = raw.get("chargingSchedule")
    if not isinstance(schedule, dict):
        raise _InvalidError("chargingSchedule missing")
    unit = schedule.get("chargingRateUnit")
    if unit not in UNIT_NAMES:
        raise _InvalidError(f"chargingRateUnit: {unit!r}")
    periods_raw = schedule.get("chargingSchedulePeriod")
    if not isinstance(periods_raw, list) or not periods_raw:
        raise _InvalidError("chargingSchedulePeriod missing or empty")
    periods = tuple(_parse_period(item) for item in periods_raw)
    if any(a.start >= b.start for a, b in itertools.pairwise(periods)):
        # §7.14: startPeriod "also defines the stop time of the previous period": increasing.
        raise _InvalidError("startPeriod not increasing")
    duration = _get_int(schedule, "duration")
    if duration is not None and duration < 0:
        raise _InvalidError("negative duration")
    start = _get_time(schedule, "startSchedule")
    valid_from = _get_time(raw, "validFrom")
    valid_to = _get_time(raw, "validTo")
    cycle = None
    if kind is Kind.RECURRING:
        # §7.9 Recurring: "the schedule restarts periodically at the first schedule period";
        # without recurrencyKind or startSchedule it has no period or no phase: Rejected.
        if recurrency is None or start is None:
            raise _InvalidError("Recurring needs recurrencyKind and startSchedule")
        cycle = _CYCLES[recurrency]
    elif kind is Kind.RELATIVE:
        start = None  # §7.9 Relative: relative to the start of the transaction, not startSchedule
    return _Profile(
        id=_require_int(raw, "chargingProfileId"),
        connector=connector,
        stack_level=_require_int(raw, "stackLevel"),
        purpose=purpose,
        kind=kind,
        recurrency=recurrency,
        valid_from=-math.inf if valid_from is None else valid_from,
        valid_to=math.inf if valid_to is None else valid_to,
        start=start,
        # A Recurring schedule longer than its cycle is cut at the next repetition.
        duration=min(math.inf if duration is None else float(duration), cycle or math.inf),
        cycle=cycle,
        unit=unit,
        periods=periods,
        transaction_id=_get_int(raw, "transactionId"),
    )


def _precedence(profile: _Profile) -> tuple[int, bool, int]:
    # §3.13.2: the highest stackLevel prevails; at equal stackLevel a connector's own
    # TxDefaultProfile before the charge point's (connector 0) one.
    return (-profile.stack_level, profile.connector == 0, profile.id)


def _floor_tenth(value: float) -> float:
    """Limits go out with one decimal (schema: multipleOf 0.1), rounded down to stay under."""
    return math.floor(value * 10 + 1e-6) / 10


class ChargingProfiles:
    """The charging profiles installed on one charge point with `connectors` connectors.

    The keyword arguments are the §9.4 Smart Charging configuration keys:
    ChargeProfileMaxStackLevel, ChargingScheduleMaxPeriods, MaxChargingProfilesInstalled and
    ChargingScheduleAllowedChargingRateUnit ("Current", "Power"; empty: SmartCharging is not
    supported and every SetChargingProfile.req is answered NotSupported).
    """

    def __init__(
        self,
        connectors: int,
        max_stack_level: int = 8,
        max_periods: int = 24,
        max_installed: int = 16,
        allowed_units: tuple[str, ...] = ("Current", "Power"),
    ) -> None:
        self.connectors = connectors
        self.max_stack_level = max_stack_level
        self.max_periods = max_periods
        self.max_installed = max_installed
        self.allowed_units = allowed_units
        #: Installed profiles, in precedence order (`_precedence`).
        self._profiles: list[_Profile] = []
        #: connector -> start of its running transaction (anchor of Relative schedules).
        self._tx_start: dict[int, float] = {}
        #: connector -> a RemoteStartTransaction's TxProfile, waiting for its transaction.
        self._pending: dict[int, _Profile] = {}

    # --- installing and removing (§5.16, §5.11, §5.5, §3.13.1) ---------------------------

    def set(
        self, connector_id: int, profile: dict[str, Any], now: float, transaction_id: int | None
    ) -> str:
        """SetChargingProfile.req (§5.16) -> SetChargingProfile.conf status.

        `profile` is the request's csChargingProfiles; `transaction_id` the id of the
        transaction running on `connector_id`, None if there is none. If the caller never
        called `transaction_started` for that transaction, it is taken to have started `now`.
        """
        if not self.allowed_units:
            return NOT_SUPPORTED
        if not 0 <= connector_id <= self.connectors:
            return REJECTED
        try:
            parsed = _parse_profile(profile, connector_id)
        except _InvalidError:
            return REJECTED
        if not self._acceptable(parsed, transaction_id):
            return REJECTED
        if parsed.purpose is Purpose.TX:
            # Bound to the transaction running now, whether or not the CSMS named it.
            parsed = replace(parsed, transaction_id=transaction_id)
        self._purge_expired(now)
        if not self._install(parsed):
            return REJECTED
        if connector_id > 0 and transaction_id is not None:
            self._tx_start.setdefault(connector_id, now)
        return ACCEPTED

    def set_for_remote_start(self, connector_id: int, profile: dict[str, Any]) -> bool:
        """RemoteStartTransaction.req's chargingProfile (§5.11): True if it can be used.

        §5.11: its purpose SHALL be TxProfile and it carries no transactionId (there is none
        yet). It is held until `transaction_started(connector_id, ...)` installs it for the
        new transaction (or `transaction_ended` / `clear` drop it). False: the charger should
        answer RemoteStartTransaction.conf Rejected.
        """
        if not self.allowed_units or not 1 <= connector_id <= self.connectors:
            return False
        try:
            parsed = _parse_profile(profile, connector_id)
        except _InvalidError:
            return False
        if parsed.purpose is not Purpose.TX or parsed.transaction_id is not None:
            return False
        if not self._acceptable(parsed, None, remote_start=True):
            return False
        self._pending[connector_id] = parsed
        return True

    def _acceptable(
        self, profile: _Profile, transaction_id: int | None, remote_start: bool = False
    ) -> bool:
        """§5.16 / §3.13.1 / §9.4 rules a readable profile must also meet to be Accepted."""
        if not 0 <= profile.stack_level <= self.max_stack_level:  # ChargeProfileMaxStackLevel
            return False
        if len(profile.periods) > self.max_periods:  # ChargingScheduleMaxPeriods
            return False
        if UNIT_NAMES[profile.unit] not in self.allowed_units:
            return False
        if profile.purpose is Purpose.CHARGE_POINT_MAX:
            # §3.13.1: "can only be set at Charge Point ConnectorId 0". It needs a fixed start:
            # there is no transaction on connector 0 for a Relative schedule to start with.
            return profile.connector == 0 and profile.start is not None
        if profile.purpose is Purpose.TX:
            # §3.13.1: only on a connector > 0, and "If there is no transaction active on the
            # connector specified in a charging profile of type TxProfile, then the Charge Point
            # SHALL discard it and return an error status"; §5.16: transactionId, if given,
            # must be that transaction's.
            if profile.connector == 0:
                return False
            if remote_start:
                return True
            return transaction_id is not None and profile.transaction_id in (None, transaction_id)
        return True  # TxDefaultProfile: on 0 (every connector) or on one connector (§3.13.1)

    def _replaces(self, new: _Profile, old: _Profile) -> bool:
        # §5.16: "If a charging profile with the same chargingProfileId, or the same combination
        # of stackLevel / ChargingProfilePurpose, exists on the Charge Point, the new charging
        # profile SHALL replace the existing charging profile". Per connector: one set on
        # connector 0 covers every connector; one set on connector c replaces only c's.
        if old.id == new.id:
            return True
        return (
            old.purpose is new.purpose
            and old.stack_level == new.stack_level
            and new.connector in (0, old.connector)
        )

    def _install(self, profile: _Profile) -> bool:
        kept = [old for old in self._profiles if not self._replaces(profile, old)]
        if len(kept) >= self.max_installed:  # MaxChargingProfilesInstalled (§9.4)
            return False
        kept.append(profile)
        kept.sort(key=_precedence)
        self._profiles = kept
        return True

    def _purge_expired(self, now: float) -> None:
        """Forget profiles that can never apply again (past validTo, or a fixed schedule over)."""
        self._profiles = [
            p
            for p in self._profiles
            if p.valid_to > now
            and (p.start is None or p.cycle is not None or p.start + p.duration > now)
        ]

    def clear(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> str:
        """ClearChargingProfile.req (§5.5) -> "Accepted" if anything was removed, else "Unknown".

        §5.5: the CSMS clears either one charging profile, by its id, or the selection of
        profiles matching the optional connectorId, stackLevel and chargingProfilePurpose.
        So a given id selects that profile alone (the other fields are then ignored);
        otherwise every profile matching all given fields goes, all of them if none is given.
        connectorId 0 selects the profiles set on connector 0 (ChargePointMaxProfile,
        charge-point-wide TxDefaultProfile). A RemoteStartTransaction's TxProfile still waiting
        for its transaction is cleared like an installed one.
        """

        def doomed(p: _Profile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return (
                (connector_id is None or p.connector == connector_id)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        before = len(self._profiles) + len(self._pending)
        self._profiles = [p for p in self._profiles if not doomed(p)]
        self._pending = {c: p for c, p in self._pending.items() if not doomed(p)}
        return ACCEPTED if len(self._profiles) + len(self._pending) < before else UNKNOWN

    def transaction_started(self, connector_id: int, now: float) -> None:
        """A transaction started on the connector at `now`: Relative schedules start there;
        a TxProfile given with RemoteStartTransaction.req is installed for it (§5.11)."""
        self._tx_start[connector_id] = now
        pending = self._pending.pop(connector_id, None)
        if pending is not None:
            self._install(pending)

    def transaction_ended(self, connector_id: int) -> None:
        """§3.13.1: "After the transaction is stopped, the [TxProfile] SHOULD be deleted"."""
        self._profiles = [
            p
            for p in self._profiles
            if not (p.purpose is Purpose.TX and p.connector == connector_id)
        ]
        self._tx_start.pop(connector_id, None)
        self._pending.pop(connector_id, None)

    def __len__(self) -> int:
        """Installed profiles (not counting one waiting for a remote-started transaction)."""
        return len(self._profiles)

    def profile_ids(self, connector_id: int | None = None) -> list[int]:
        """chargingProfileIds installed (on `connector_id`, as set), in precedence order."""
        return [p.id for p in self._profiles if connector_id in (None, p.connector)]

    # --- evaluating (§3.13.2, §3.13.3) ---------------------------------------------------

    def _relevant(self, connector_id: int) -> list[_Profile]:
        """The profiles that can limit the connector, in precedence order."""
        if connector_id == 0:
            return [p for p in self._profiles if p.purpose is Purpose.CHARGE_POINT_MAX]
        return [
            p
            for p in self._profiles
            if p.connector == connector_id
            or (p.connector == 0 and p.purpose is not Purpose.TX)  # TX never on 0
        ]

    @staticmethod
    def _winner(
        profiles: list[_Profile], purpose: Purpose, t: float, anchor: float
    ) -> tuple[_Profile, _Period] | None:
        # §3.13.2: "At any point in time the prevailing charging profile SHALL be the charging
        # profile with the highest stackLevel among the profiles that are valid at that point in
        # time"; valid here also means its schedule has a period covering `t`.
        for profile in profiles:
            if profile.purpose is purpose:
                period = profile.period_at(t, anchor)
                if period is not None:
                    return profile, period
        return None

    def _limit_at(self, connector_id: int, t: float, anchor: float | None) -> Limit:
        """The limit at `t`; `anchor` is when transaction-relative schedules start (None: `t`)."""
        relevant = self._relevant(connector_id)
        start = t if anchor is None else anchor
        limit = NO_LIMIT
        if connector_id > 0:
            # §3.13.1 (and §3.13.3, combining purposes): a TxProfile overrules the
            # TxDefaultProfile for the duration of its transaction, here while it applies.
            won = self._winner(relevant, Purpose.TX, t, start) or self._winner(
                relevant, Purpose.TX_DEFAULT, t, start
            )
            if won is not None:
                profile, period = won
                limit = limit.tighten(profile.unit, period.limit, period.phases)
        # §3.13.1: ChargePointMaxProfile limits the whole charge point. Simplification: it is
        # applied as an upper bound on each connector's own limit; strictly it caps the sum of
        # the connectors' consumption, which would need every connector's draw to evaluate.
        cap = self._winner(relevant, Purpose.CHARGE_POINT_MAX, t, start)
        if cap is not None:
            profile, period = cap
            limit = limit.tighten(profile.unit, period.limit, period.phases)
        return limit

    def limit(self, connector_id: int, now: float) -> Limit:
        """The composite limit in force on the connector at `now` (connector 0: the charge
        point's own ChargePointMaxProfile); `NO_LIMIT` if no profile applies."""
        return self._limit_at(connector_id, now, self._tx_start.get(connector_id))

    def next_change(self, connector_id: int, now: float) -> float:
        """The first time after `now` at which `limit(connector_id, ...)` differs from
        `limit(connector_id, now)`, as long as no profile or transaction changes; math.inf if
        it never does."""
        anchor = self._tx_start.get(connector_id)
        relevant = self._relevant(connector_id)
        current = self._limit_at(connector_id, now, anchor)

        def changes(t: float) -> bool:
            return self._limit_at(connector_id, t, anchor) != current

        fixed = sorted({t for p in relevant for t in p.fixed_edges(anchor, now)})
        recurring = [p for p in relevant if p.cycle is not None]
        after, index = now, 0
        while True:
            while index < len(fixed) and fixed[index] <= after:
                index += 1
            upcoming = fixed[index] if index < len(fixed) else math.inf
            if recurring:
                until = min(upcoming, after + WEEK_S)
                edges = sorted({t for p in recurring for t in p.cycle_edges(after, until)})
                for t in edges:
                    if changes(t):
                        return t
                # Past a whole week without a change and with no fixed edge: the limit is
                # periodic (day and week both divide a week) hence constant until `upcoming`.
            if upcoming == math.inf:
                return math.inf
            if changes(upcoming):
                return upcoming
            after = upcoming

    # --- GetCompositeSchedule (§5.7) -----------------------------------------------------

    def composite(
        self,
        connector_id: int,
        duration_s: int,
        unit: str | None,
        now: float,
        phases: int,
        voltage: float = VOLTAGE_V,
        rated_a: float = DEFAULT_RATED_A,
    ) -> dict[str, Any] | None:
        """GetCompositeSchedule.conf chargingSchedule (§5.7, §7.13) for [now, now + duration_s).

        startSchedule is `now`, startPeriod are whole seconds from it (a change inside a second
        shows from the next whole second), limits are in `unit` ("A" per phase or "W"; None:
        the unit every relevant profile uses, or the first allowed one if they differ), converted
        with `voltage` and the phases the connector (wired for `phases`) may use, rounded down
        to 0.1, and capped by `rated_a`, the connector's rating (a local limit in the sense of
        §5.7), which is also what stands where no profile applies. numberPhases is given where a
        profile sets it. Transaction-relative schedules on a connector without a transaction are
        shown as if one started `now`.

        Returns None when no profile applies at any time in the window: the charger then
        answers status "Accepted" without chargingSchedule (§6.22 makes it optional), as
        `get_composite_schedule_conf` does. Connector 0 shows ChargePointMaxProfile alone.
        """
        if duration_s < 0 or not math.isfinite(rated_a):
            raise ValueError("duration_s must be >= 0 and rated_a finite")
        relevant = self._relevant(connector_id)
        if unit is None:
            units = {p.unit for p in relevant}
            unit = units.pop() if len(units) == 1 else self._preferred_unit()
        if unit not in UNIT_NAMES:
            raise ValueError(f"unit must be 'A' or 'W', not {unit!r}")
        anchor = self._tx_start.get(connector_id, now)
        end = now + duration_s
        edges = {t for p in relevant for t in p.fixed_edges(anchor, now) if t < end}
        edges.update(t for p in relevant for t in p.cycle_edges(now, end) if t < end)
        starts = {math.ceil(round(t - now, 6)) for t in edges}
        offsets = [0, *sorted(s for s in starts if 0 < s < duration_s)]
        periods: list[dict[str, Any]] = []
        applies = False
        previous: tuple[float, int | None] | None = None
        for offset in offsets:
            limit = self._limit_at(connector_id, now + offset, anchor)
            applies = applies or not limit.unlimited
            limit = limit.tighten("A", rated_a, None)
            value = (
                limit.to_amps(phases, voltage) if unit == "A" else limit.to_watts(phases, voltage)
            )
            current = (_floor_tenth(value), limit.phases)
            if current == previous:
                continue
            previous = current
            period: dict[str, Any] = {"startPeriod": offset, "limit": current[0]}
            if limit.phases is not None:
                period["numberPhases"] = limit.phases
            periods.append(period)
        if not applies:
            return None
        return {
            "duration": duration_s,
            "startSchedule": iso_utc(now),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": periods,
        }

    def _preferred_unit(self) -> str:
        for unit, name in UNIT_NAMES.items():
            if self.allowed_units and self.allowed_units[0] == name:
                return unit
        return "W"

    def get_composite_schedule_conf(
        self,
        connector_id: int,
        duration_s: int,
        unit: str | None,
        now: float,
        phases: int,
        voltage: float = VOLTAGE_V,
        rated_a: float = DEFAULT_RATED_A,
    ) -> Payload:
        """The whole GetCompositeSchedule.conf (§5.7, §6.22) for a GetCompositeSchedule.req.

        Rejected for an unknown connector, a negative duration or a unit the charger does not
        allow; otherwise Accepted with connectorId and scheduleStart, and chargingSchedule
        unless no profile applies (see `composite`).
        """
        if (
            not 0 <= connector_id <= self.connectors
            or duration_s < 0
            or (unit is not None and UNIT_NAMES.get(unit) not in self.allowed_units)
        ):
            return {"status": REJECTED}
        conf: Payload = {
            "status": ACCEPTED,
            "connectorId": connector_id,
            "scheduleStart": iso_utc(now),
        }
        schedule = self.composite(connector_id, duration_s, unit, now, phases, voltage, rated_a)
        if schedule is not None:
            conf["chargingSchedule"] = schedule
        return conf
