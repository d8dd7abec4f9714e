"""OCPP 1.6 smart charging (§3.13, §5.5, §5.7, §5.16), driven with strings and numbers only."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from ocpp_schemas import violations as schema_violations

from simfleet.protocol.timefmt import iso_utc, parse_iso_utc
from simfleet.protocol.v16.smart_charging import (
    NO_LIMIT,
    ChargingProfiles,
    Limit,
)


def violations(name: str, payload: Any) -> list[str]:
    return schema_violations(name, payload, ocpp_timestamps=True)


#: Tuesday 2024-03-05 10:00:00 UTC.
T0 = parse_iso_utc("2024-03-05T10:00:00Z")
MIDNIGHT = parse_iso_utc("2024-03-05T00:00:00Z")


def prof(
    pid: int,
    purpose: str,
    periods: list[tuple[int, float] | tuple[int, float, int]],
    *,
    stack: int = 0,
    unit: str = "A",
    kind: str = "Absolute",
    start: float | None = T0,
    duration: int | None = None,
    recurrency: str | None = None,
    valid_from: float | None = None,
    valid_to: float | None = None,
    tx: int | None = None,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": p[0], "limit": p[1], **({"numberPhases": p[2]} if len(p) > 2 else {})}
            for p in periods
        ],
    }
    if duration is not None:
        schedule["duration"] = duration
    if start is not None and kind != "Relative":
        schedule["startSchedule"] = iso_utc(start)
    profile: dict[str, Any] = {
        "chargingProfileId": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    if recurrency is not None:
        profile["recurrencyKind"] = recurrency
    if valid_from is not None:
        profile["validFrom"] = iso_utc(valid_from)
    if valid_to is not None:
        profile["validTo"] = iso_utc(valid_to)
    if tx is not None:
        profile["transactionId"] = tx
    return profile


def put(
    cp: ChargingProfiles,
    connector: int,
    profile: dict[str, Any],
    now: float = T0,
    tx: int | None = None,
) -> str:
    """SetChargingProfile.req, checked against the official schema first."""
    assert (
        violations("SetChargingProfile", {"connectorId": connector, "csChargingProfiles": profile})
        == []
    )
    return cp.set(connector, profile, now, tx)


TXD = "TxDefaultProfile"
TXP = "TxProfile"
CPMAX = "ChargePointMaxProfile"


# --- Limit -------------------------------------------------------------------------------


def test_limit_to_watts_and_amps() -> None:
    assert Limit(amps=6).to_watts(3) == 6 * 230 * 3
    assert Limit(amps=6).to_watts(1) == 6 * 230
    assert Limit(amps=16, watts=5000).to_watts(3) == 5000
    assert Limit(amps=16, phases=1).to_watts(3) == 16 * 230  # numberPhases=1 on a 3-phase point
    assert Limit(watts=6900).to_amps(3) == pytest.approx(10.0)
    assert Limit(watts=6900).to_watts(3, voltage=240) == 6900
    assert Limit(amps=10).to_watts(3, voltage=240) == 7200
    assert NO_LIMIT.unlimited and math.isinf(NO_LIMIT.to_watts(3))


# --- SetChargingProfile placement (§3.13.1, §5.16) ----------------------------------------


@pytest.mark.parametrize(
    ("connector", "profile", "tx", "why"),
    [
        (1, prof(1, CPMAX, [(0, 10)]), None, "ChargePointMaxProfile only on connector 0"),
        (0, prof(1, CPMAX, [(0, 10)], kind="Relative"), None, "ChargePointMax has no tx start"),
        (0, prof(1, TXP, [(0, 10)]), 7, "TxProfile never on connector 0"),
        (1, prof(1, TXP, [(0, 10)]), None, "TxProfile without a transaction"),
        (1, prof(1, TXP, [(0, 10)], tx=8), 7, "TxProfile for another transaction"),
        (3, prof(1, TXD, [(0, 10)]), None, "no connector 3"),
        (-1, prof(1, TXD, [(0, 10)]), None, "no connector -1"),
        (1, prof(1, TXD, [(0, 10)], stack=9), None, "stackLevel above the maximum"),
        (1, prof(1, TXD, [(0, 10)], stack=-1), None, "negative stackLevel"),
        (1, prof(1, TXD, [(i * 60, 10) for i in range(5)]), None, "more periods than allowed"),
        (1, prof(1, TXD, [(0, 10)], unit="W"), None, "unit not allowed"),
        (1, prof(1, TXD, [(0, 10)], kind="Recurring"), None, "Recurring without recurrencyKind"),
        (
            1,
            prof(1, TXD, [(0, 10)], kind="Recurring", recurrency="Daily", start=None),
            None,
            "Recurring without startSchedule",
        ),
        (1, prof(1, TXD, [(0, 10), (0, 16)]), None, "startPeriod not increasing"),
        (1, prof(1, TXD, [(0, 10, 4)]), None, "numberPhases above 3"),
        (1, prof(1, TXD, []), None, "no period"),
    ],
)
def test_set_rejected(connector: int, profile: dict[str, Any], tx: int | None, why: str) -> None:
    cp = ChargingProfiles(2, max_periods=4, allowed_units=("Current",))
    assert cp.set(connector, profile, T0, tx) == "Rejected", why
    assert len(cp) == 0


@pytest.mark.parametrize(
    "broken",
    [
        {"validFrom": "yesterday"},
        {"chargingProfilePurpose": "Whatever"},
        {"stackLevel": "1"},
        {"chargingSchedule": {"chargingRateUnit": "A"}},
        {"chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"limit": 1}]}},
        {
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": -1}],
            }
        },
    ],
)
def test_set_rejects_malformed(broken: dict[str, Any]) -> None:
    cp = ChargingProfiles(1)
    assert cp.set(1, {**prof(1, TXD, [(0, 10)]), **broken}, T0, None) == "Rejected"


def test_set_accepts_each_placement() -> None:
    cp = ChargingProfiles(2)
    assert put(cp, 0, prof(1, CPMAX, [(0, 32)])) == "Accepted"
    assert put(cp, 0, prof(2, TXD, [(0, 16)])) == "Accepted"
    assert put(cp, 2, prof(3, TXD, [(0, 10)])) == "Accepted"
    assert put(cp, 1, prof(4, TXP, [(0, 8)], tx=7), tx=7) == "Accepted"
    assert put(cp, 2, prof(5, TXP, [(0, 8)]), tx=9) == "Accepted"  # transactionId is optional
    assert cp.profile_ids(0) == [1, 2]
    assert cp.profile_ids(2) == [3, 5]
    assert len(cp) == 5


def test_not_supported_without_allowed_units() -> None:
    cp = ChargingProfiles(1, allowed_units=())
    assert cp.set(1, prof(1, TXD, [(0, 10)]), T0, None) == "NotSupported"


def test_max_installed() -> None:
    cp = ChargingProfiles(2, max_installed=2)
    assert put(cp, 1, prof(1, TXD, [(0, 10)])) == "Accepted"
    assert put(cp, 2, prof(2, TXD, [(0, 10)])) == "Accepted"
    assert put(cp, 1, prof(3, TXD, [(0, 10)], stack=1)) == "Rejected"
    assert put(cp, 1, prof(1, TXD, [(0, 12)], stack=1)) == "Accepted"  # a replacement fits
    assert cp.profile_ids() == [1, 2]


def test_expired_profiles_make_room() -> None:
    cp = ChargingProfiles(1, max_installed=1)
    assert put(cp, 1, prof(1, TXD, [(0, 10)], valid_to=T0 + 60)) == "Accepted"
    assert put(cp, 1, prof(2, TXD, [(0, 10)], stack=1), now=T0 + 30) == "Rejected"
    assert put(cp, 1, prof(2, TXD, [(0, 10)], stack=1), now=T0 + 60) == "Accepted"
    assert cp.profile_ids() == [2]


# --- Replacement (§5.16) -----------------------------------------------------------------


def test_same_id_replaces() -> None:
    cp = ChargingProfiles(2)
    put(cp, 1, prof(1, TXD, [(0, 10)], stack=0))
    put(cp, 2, prof(1, TXD, [(0, 12)], stack=3))
    assert cp.profile_ids(1) == [] and cp.profile_ids(2) == [1]
    assert cp.limit(2, T0).amps == 12
    assert cp.limit(1, T0) == NO_LIMIT


def test_same_stack_level_and_purpose_replaces_per_connector() -> None:
    cp = ChargingProfiles(2)
    put(cp, 1, prof(1, TXD, [(0, 10)], stack=2))
    put(cp, 2, prof(2, TXD, [(0, 11)], stack=2))
    put(cp, 1, prof(3, TXD, [(0, 12)], stack=2))  # replaces 1 on connector 1 only
    assert cp.profile_ids() == [2, 3]
    put(cp, 1, prof(4, TXD, [(0, 13)], stack=1))  # another stack level stacks
    assert sorted(cp.profile_ids()) == [2, 3, 4]
    assert cp.limit(1, T0).amps == 12

    # One on connector 0 at stack level 2 covers every connector: it replaces both.
    put(cp, 0, prof(5, TXD, [(0, 14)], stack=2))
    assert sorted(cp.profile_ids()) == [4, 5]
    assert cp.limit(1, T0).amps == 14 and cp.limit(2, T0).amps == 14

    # A connector's own at the same stack level wins over connector 0's, on that connector.
    put(cp, 2, prof(6, TXD, [(0, 9)], stack=2))
    assert cp.limit(2, T0).amps == 9 and cp.limit(1, T0).amps == 14


def test_same_stack_level_other_purpose_stacks() -> None:
    cp = ChargingProfiles(1)
    put(cp, 0, prof(1, CPMAX, [(0, 20)], stack=1))
    put(cp, 1, prof(2, TXD, [(0, 10)], stack=1))
    put(cp, 1, prof(3, TXP, [(0, 8)], stack=1), tx=1)
    assert sorted(cp.profile_ids()) == [1, 2, 3]


# --- ClearChargingProfile (§5.5) ---------------------------------------------------------


def three_connectors() -> ChargingProfiles:
    cp = ChargingProfiles(2)
    put(cp, 0, prof(1, CPMAX, [(0, 32)], stack=0))
    put(cp, 0, prof(2, TXD, [(0, 16)], stack=0))
    put(cp, 1, prof(3, TXD, [(0, 10)], stack=1))
    put(cp, 2, prof(4, TXD, [(0, 10)], stack=1))
    put(cp, 1, prof(5, TXP, [(0, 6)], stack=2), tx=1)
    return cp


@pytest.mark.parametrize(
    ("criteria", "left"),
    [
        ((3, None, None, None), [1, 2, 4, 5]),
        ((3, 2, "ChargePointMaxProfile", 0), [1, 2, 4, 5]),  # an id alone decides
        ((None, 0, None, None), [3, 4, 5]),
        ((None, 1, None, None), [1, 2, 4]),
        ((None, None, "TxDefaultProfile", None), [1, 5]),
        ((None, None, None, 1), [1, 2, 5]),
        ((None, 2, "TxDefaultProfile", 1), [1, 2, 3, 5]),
        ((None, None, None, None), []),
    ],
)
def test_clear(criteria: tuple[Any, Any, Any, Any], left: list[int]) -> None:
    cp = three_connectors()
    assert cp.clear(*criteria) == "Accepted"
    assert sorted(cp.profile_ids()) == left


@pytest.mark.parametrize(
    "criteria",
    [
        (99, None, None, None),
        (None, 2, "TxProfile", None),
        (None, 0, None, 1),
        (None, None, "ChargePointMaxProfile", 5),
    ],
)
def test_clear_unknown(criteria: tuple[Any, Any, Any, Any]) -> None:
    cp = three_connectors()
    assert cp.clear(*criteria) == "Unknown"
    assert len(cp) == 5
    assert ChargingProfiles(1).clear(None, None, None, None) == "Unknown"


# --- The limit in force ------------------------------------------------------------------


def test_tx_profile_6a_on_three_phases() -> None:
    cp = ChargingProfiles(1)
    cp.transaction_started(1, T0)
    assert put(cp, 1, prof(1, TXP, [(0, 6)], kind="Relative"), now=T0 + 5, tx=42) == "Accepted"
    limit = cp.limit(1, T0 + 10)
    assert limit == Limit(amps=6.0)
    assert limit.to_watts(3) == 6 * 230 * 3 == 4140


def test_higher_stack_level_wins_while_valid() -> None:
    cp = ChargingProfiles(1)
    put(cp, 1, prof(1, TXD, [(0, 16)], stack=0))
    put(cp, 1, prof(2, TXD, [(0, 10)], stack=1, valid_from=T0 + 600, valid_to=T0 + 1800))
    assert cp.limit(1, T0).amps == 16
    assert cp.next_change(1, T0) == T0 + 600
    assert cp.limit(1, T0 + 600).amps == 10
    assert cp.limit(1, T0 + 1799).amps == 10
    assert cp.next_change(1, T0 + 600) == T0 + 1800
    assert cp.limit(1, T0 + 1800).amps == 16  # validTo passed: the lower one takes over
    assert cp.next_change(1, T0 + 1800) == math.inf


def test_absolute_periods_switch() -> None:
    cp = ChargingProfiles(1)
    periods: list[Any] = [(0, 16), (600, 8), (1200, 10, 1)]
    put(cp, 1, prof(1, TXD, periods, start=T0, duration=1800))
    assert cp.limit(1, T0 - 1) == NO_LIMIT  # before startSchedule
    assert cp.next_change(1, T0 - 100) == T0
    assert cp.limit(1, T0) == Limit(amps=16)
    assert cp.next_change(1, T0 + 100) == T0 + 600
    assert cp.limit(1, T0 + 600) == Limit(amps=8)
    assert cp.next_change(1, T0 + 600) == T0 + 1200
    assert cp.limit(1, T0 + 1200) == Limit(amps=10, phases=1)
    assert cp.limit(1, T0 + 1200).to_watts(3) == 10 * 230
    assert cp.next_change(1, T0 + 1300) == T0 + 1800  # duration over
    assert cp.limit(1, T0 + 1800) == NO_LIMIT
    assert cp.next_change(1, T0 + 1800) == math.inf


def test_next_change_skips_boundaries_that_change_nothing() -> None:
    cp = ChargingProfiles(1)
    put(cp, 1, prof(1, TXD, [(0, 16), (600, 16), (1200, 8)]))
    assert cp.next_change(1, T0) == T0 + 1200
    # A lower stack level's boundary is hidden while the higher one applies.
    put(cp, 1, prof(2, TXD, [(0, 6)], stack=1, duration=3000))
    assert cp.next_change(1, T0) == T0 + 3000
    assert cp.limit(1, T0 + 3000).amps == 8


def test_relative_starts_with_the_transaction() -> None:
    cp = ChargingProfiles(2)
    put(cp, 0, prof(1, TXD, [(0, 6), (900, 16)], kind="Relative", duration=3600))
    cp.transaction_started(1, T0 + 100)
    assert cp.limit(1, T0 + 100 + 899).amps == 6
    assert cp.next_change(1, T0 + 110) == T0 + 100 + 900
    assert cp.limit(1, T0 + 100 + 900).amps == 16
    assert cp.next_change(1, T0 + 1000) == T0 + 100 + 3600
    assert cp.limit(1, T0 + 100 + 3600) == NO_LIMIT
    # Connector 2 has no transaction: as if one started at the queried time.
    assert cp.limit(2, T0 + 5000).amps == 6
    assert cp.next_change(2, T0 + 5000) == math.inf
    # A TxProfile set mid-transaction also counts from the transaction's start.
    put(cp, 1, prof(2, TXP, [(0, 10), (1800, 12)], kind="Relative"), now=T0 + 1000, tx=3)
    assert cp.limit(1, T0 + 1000).amps == 10
    assert cp.next_change(1, T0 + 1000) == T0 + 100 + 1800


def test_absolute_without_start_schedule_is_relative_to_the_transaction() -> None:
    cp = ChargingProfiles(1)
    cp.transaction_started(1, T0)
    put(cp, 1, prof(1, TXP, [(0, 10), (60, 20)], start=None), now=T0 + 30, tx=5)
    assert cp.limit(1, T0 + 59).amps == 10
    assert cp.limit(1, T0 + 60).amps == 20


def test_recurring_daily_wraps_at_midnight() -> None:
    cp = ChargingProfiles(1)
    daily = prof(
        1,
        TXD,
        [(0, 32), (7 * 3600, 16), (18 * 3600, 10)],
        kind="Recurring",
        recurrency="Daily",
        start=MIDNIGHT,
    )
    put(cp, 1, daily)
    day3 = MIDNIGHT + 3 * 86_400
    assert cp.limit(1, MIDNIGHT - 1) == NO_LIMIT  # before startSchedule
    assert cp.limit(1, day3 - 1).amps == 10  # 23:59:59
    assert cp.limit(1, day3).amps == 32  # 00:00:00 the next day
    assert cp.limit(1, day3 + 7 * 3600).amps == 16
    assert cp.next_change(1, day3 - 3600) == day3
    assert cp.next_change(1, day3) == day3 + 7 * 3600
    assert cp.next_change(1, day3 + 19 * 3600) == day3 + 86_400


def test_recurring_daily_with_duration_and_weekly() -> None:
    cp = ChargingProfiles(1)
    evening = MIDNIGHT + 22 * 3600  # 22:00 to 02:00 every night
    put(
        cp,
        1,
        prof(
            1, TXD, [(0, 8)], kind="Recurring", recurrency="Daily", start=evening, duration=4 * 3600
        ),
    )
    assert cp.limit(1, evening + 86_400 + 3 * 3600).amps == 8  # 01:00 two days later
    assert cp.limit(1, evening + 86_400 + 4 * 3600) == NO_LIMIT
    assert cp.next_change(1, evening + 86_400 + 3600) == evening + 86_400 + 4 * 3600
    assert cp.next_change(1, evening + 86_400 + 4 * 3600) == evening + 2 * 86_400

    weekly = ChargingProfiles(1)
    put(
        weekly,
        1,
        prof(1, TXD, [(0, 6), (86_400, 16)], kind="Recurring", recurrency="Weekly", start=MIDNIGHT),
    )
    assert weekly.limit(1, MIDNIGHT + 7 * 86_400 + 10).amps == 6  # the Tuesday after
    assert weekly.limit(1, MIDNIGHT + 9 * 86_400).amps == 16
    assert weekly.next_change(1, MIDNIGHT + 9 * 86_400) == MIDNIGHT + 14 * 86_400


def test_flat_recurring_never_changes() -> None:
    cp = ChargingProfiles(1)
    put(
        cp,
        1,
        prof(1, TXD, [(0, 8), (3600, 8)], kind="Recurring", recurrency="Daily", start=MIDNIGHT),
    )
    assert cp.next_change(1, T0) == math.inf
    # ...until its validTo, years away: found without walking every day in between.
    put(
        cp,
        1,
        prof(
            1,
            TXD,
            [(0, 8), (3600, 8)],
            kind="Recurring",
            recurrency="Daily",
            start=MIDNIGHT,
            valid_to=T0 + 3e8,
        ),
    )
    assert cp.next_change(1, T0) == T0 + 3e8


def test_charge_point_max_caps_each_connector() -> None:
    cp = ChargingProfiles(2)
    put(cp, 0, prof(1, CPMAX, [(0, 10)]))
    put(cp, 1, prof(2, TXD, [(0, 16)]))
    assert cp.limit(1, T0).amps == 10
    assert cp.limit(2, T0).amps == 10  # no profile of its own: the charge point's cap
    assert cp.limit(0, T0) == Limit(amps=10)
    put(cp, 0, prof(1, CPMAX, [(0, 5000)], unit="W"))
    assert cp.limit(1, T0) == Limit(amps=16, watts=5000)
    assert cp.limit(1, T0).to_watts(3) == 5000
    assert cp.limit(1, T0).to_watts(1) == 16 * 230


def test_tx_profile_overrides_tx_default_until_the_transaction_ends() -> None:
    cp = ChargingProfiles(1)
    put(cp, 0, prof(1, TXD, [(0, 10)], stack=5))
    cp.transaction_started(1, T0)
    # Any TxProfile overrides any TxDefaultProfile, whatever their stack levels.
    assert put(cp, 1, prof(2, TXP, [(0, 20)], stack=0), tx=77) == "Accepted"
    assert cp.limit(1, T0 + 1).amps == 20
    cp.transaction_ended(1)
    assert cp.profile_ids() == [1]
    assert cp.limit(1, T0 + 2).amps == 10
    # A TxProfile that does not cover the time (expired) leaves the TxDefaultProfile in force.
    cp.transaction_started(1, T0 + 10)
    put(cp, 1, prof(3, TXP, [(0, 20)], valid_to=T0 + 60), now=T0 + 10, tx=78)
    assert cp.limit(1, T0 + 59).amps == 20
    assert cp.limit(1, T0 + 60).amps == 10
    assert cp.next_change(1, T0 + 20) == T0 + 60


def test_remote_start_profile_waits_for_its_transaction() -> None:
    cp = ChargingProfiles(2)
    assert not cp.set_for_remote_start(1, prof(1, TXD, [(0, 6)]))  # §5.11: TxProfile only
    assert not cp.set_for_remote_start(1, prof(1, TXP, [(0, 6)], tx=5))  # no transactionId yet
    assert not cp.set_for_remote_start(0, prof(1, TXP, [(0, 6)]))
    profile = prof(1, TXP, [(0, 6), (60, 12)], kind="Relative")
    request = {"idTag": "TAG", "connectorId": 1, "chargingProfile": profile}
    assert violations("RemoteStartTransaction", request) == []
    assert cp.set_for_remote_start(1, profile)
    assert len(cp) == 0 and cp.limit(1, T0) == NO_LIMIT
    cp.transaction_started(1, T0)
    assert cp.profile_ids(1) == [1]
    assert cp.limit(1, T0 + 60).amps == 12
    cp.transaction_ended(1)
    assert len(cp) == 0


# --- GetCompositeSchedule (§5.7) ---------------------------------------------------------


def busy_connector() -> ChargingProfiles:
    """A bit of everything on connector 1, whose transaction started 5 minutes before T0."""
    cp = ChargingProfiles(2)
    put(cp, 0, prof(1, CPMAX, [(0, 8000), (2400, 20000)], unit="W"))
    put(cp, 0, prof(2, TXD, [(0, 16)], stack=0))
    put(cp, 1, prof(3, TXD, [(0, 32)], stack=1, valid_from=T0 + 3000))
    cp.transaction_started(1, T0 - 300)
    tx_periods: list[Any] = [(0, 10), (1200, 6, 1), (1800, 13)]
    put(cp, 1, prof(4, TXP, tx_periods, kind="Relative", duration=2700), now=T0 - 200, tx=11)
    return cp


@pytest.mark.parametrize("unit", ["A", "W"])
def test_composite_matches_limit_each_minute(unit: str) -> None:
    cp = busy_connector()
    now = T0 + 0.25
    schedule = cp.composite(1, 3600, unit, now, phases=3)
    assert schedule is not None
    conf = {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": iso_utc(now),
        "chargingSchedule": schedule,
    }
    assert violations("GetCompositeScheduleResponse", conf) == []
    assert schedule["startSchedule"] == "2024-03-05T10:00:00.250Z"
    assert schedule["duration"] == 3600 and schedule["chargingRateUnit"] == unit
    periods = schedule["chargingSchedulePeriod"]
    starts = [p["startPeriod"] for p in periods]
    assert starts[0] == 0 and starts == sorted(set(starts))
    for minute in range(60):
        offset = minute * 60
        period = [p for p in periods if p["startPeriod"] <= offset][-1]
        limit = cp.limit(1, now + offset)
        expected = limit.to_amps(3) if unit == "A" else limit.to_watts(3)
        assert period["limit"] == pytest.approx(expected, abs=0.1), minute
        assert period.get("numberPhases") == limit.phases
    # Consecutive periods differ, and each starts where limit() changes.
    for a, b in itertools.pairwise(periods):
        assert (a["limit"], a.get("numberPhases")) != (b["limit"], b.get("numberPhases"))
        assert cp.next_change(1, now + a["startPeriod"]) <= now + b["startPeriod"]


def test_composite_values() -> None:
    cp = busy_connector()
    # The TxProfile (started T0-300): 10 A until T0+900, 6 A on 1 phase until T0+1500, 13 A
    # until it ends at T0+2400; then connector 0's TxDefaultProfile, 16 A, and from T0+3000
    # connector 1's own, 32 A. ChargePointMax caps all: 8000 W until T0+2400, 20000 W after.
    periods = cp.composite(1, 3600, "A", T0, phases=3)
    assert periods is not None
    assert periods["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 10.0},
        {"startPeriod": 900, "limit": 6.0, "numberPhases": 1},
        {"startPeriod": 1500, "limit": 11.5},  # 8000 W / (230 V * 3) = 11.59, rounded down
        {"startPeriod": 2400, "limit": 16.0},
        {"startPeriod": 3000, "limit": 28.9},  # 20000 W / (230 V * 3) = 28.98
    ]
    watts = cp.composite(1, 3600, "W", T0, phases=3)
    assert watts is not None
    assert [p["limit"] for p in watts["chargingSchedulePeriod"]] == [
        6900.0,
        1380.0,
        8000.0,
        11040.0,
        20000.0,
    ]
    # The connector's rating caps every period and stands where nothing else applies.
    rated = cp.composite(1, 3600, "A", T0, phases=3, rated_a=12)
    assert rated is not None
    assert [p["limit"] for p in rated["chargingSchedulePeriod"]] == [10.0, 6.0, 11.5, 12.0]


def test_composite_in_watts_from_a_three_phase_tx_profile() -> None:
    cp = ChargingProfiles(1)
    cp.transaction_started(1, T0)
    put(cp, 1, prof(1, TXP, [(0, 6)], kind="Relative"), tx=1)
    schedule = cp.composite(1, 3600, "W", T0, phases=3)
    assert schedule == {
        "duration": 3600,
        "startSchedule": "2024-03-05T10:00:00.000Z",
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 4140.0}],
    }


def test_composite_gap_filled_with_rating() -> None:
    cp = ChargingProfiles(1)
    put(cp, 1, prof(1, TXD, [(0, 10)], start=T0 + 600, duration=600))
    schedule = cp.composite(1, 3600, "A", T0, phases=3)
    assert schedule is not None
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 32.0},
        {"startPeriod": 600, "limit": 10.0},
        {"startPeriod": 1200, "limit": 32.0},
    ]


def test_composite_unit_defaults() -> None:
    cp = ChargingProfiles(1, allowed_units=("Power", "Current"))
    put(cp, 1, prof(1, TXD, [(0, 10)]))
    schedule = cp.composite(1, 600, None, T0, phases=3)
    assert schedule is not None and schedule["chargingRateUnit"] == "A"  # all profiles in A
    put(cp, 0, prof(2, CPMAX, [(0, 5000)], unit="W"))
    schedule = cp.composite(1, 600, None, T0, phases=3)
    assert schedule is not None and schedule["chargingRateUnit"] == "W"  # mixed: first allowed


def test_composite_relative_without_transaction_starts_now() -> None:
    cp = ChargingProfiles(1)
    put(cp, 1, prof(1, TXD, [(0, 6), (900, 16)], kind="Relative"))
    schedule = cp.composite(1, 3600, "A", T0, phases=3)
    assert schedule is not None
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 6.0},
        {"startPeriod": 900, "limit": 16.0},
    ]


def test_composite_when_nothing_applies() -> None:
    cp = ChargingProfiles(2)
    assert cp.composite(1, 3600, "A", T0, phases=3) is None
    put(cp, 1, prof(1, TXD, [(0, 10)], start=T0 + 7200))
    assert cp.composite(1, 3600, "A", T0, phases=3) is None
    assert cp.composite(2, 86_400, "W", T0, phases=3) is None  # another connector's profile
    conf = cp.get_composite_schedule_conf(2, 3600, "A", T0, phases=3)
    assert conf == {"status": "Accepted", "connectorId": 2, "scheduleStart": iso_utc(T0)}
    assert violations("GetCompositeScheduleResponse", conf) == []


def test_get_composite_schedule_conf() -> None:
    cp = ChargingProfiles(1, allowed_units=("Current",))
    put(cp, 0, prof(1, CPMAX, [(0, 20)]))
    conf = cp.get_composite_schedule_conf(0, 600, "A", T0, phases=3)
    assert conf["status"] == "Accepted" and conf["connectorId"] == 0
    assert conf["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 20.0}]
    assert violations("GetCompositeScheduleResponse", conf) == []
    for rejected in (
        cp.get_composite_schedule_conf(2, 600, "A", T0, phases=3),
        cp.get_composite_schedule_conf(1, 600, "W", T0, phases=3),
        cp.get_composite_schedule_conf(1, -1, None, T0, phases=3),
    ):
        assert rejected == {"status": "Rejected"}
        assert violations("GetCompositeScheduleResponse", rejected) == []


def test_clear_drops_a_waiting_remote_start_profile() -> None:
    cp = ChargingProfiles(1)
    assert cp.set_for_remote_start(1, prof(1, TXP, [(0, 6)], kind="Relative"))
    assert cp.clear(None, None, "TxProfile", None) == "Accepted"
    cp.transaction_started(1, T0)
    assert len(cp) == 0 and cp.limit(1, T0) == NO_LIMIT
