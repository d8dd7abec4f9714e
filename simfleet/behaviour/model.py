"""What the behaviour models hand to the simulated chargers: vehicles, visits, episodes.

All times are *simulated* seconds from the start of the run (t = 0 is `start_at` on the chosen
day type); the sim layer maps them onto the wall clock with the scenario's `time_scale`.
A charger's plan is sampled in bulk (numpy) before the run; nothing is drawn on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class SiteType(StrEnum):
    WORKPLACE_AC = "workplace_ac"
    PUBLIC_AC = "public_ac"
    RESIDENTIAL = "residential"
    DC_FAST = "dc_fast"


class DayType(StrEnum):
    WEEKDAY = "weekday"
    WEEKEND = "weekend"


class AuthMethod(IntEnum):
    RFID = 0
    APP = 1  # app / remote start: modelled as an Authorize with an app-issued token
    PLUG_AND_CHARGE = 2  # Autocharge-style: the vehicle's token, presented at once
    AD_HOC = 3  # payment terminal / QR


class AuthOutcome(IntEnum):
    """What the presented token is meant to get (OCPP 1.6 AuthorizationStatus)."""

    ACCEPTED = 0
    INVALID = 1
    BLOCKED = 2
    EXPIRED = 3
    CONCURRENT_TX = 4


AUTH_STATUS = ("Accepted", "Invalid", "Blocked", "Expired", "ConcurrentTx")


@dataclass(frozen=True, slots=True)
class Vehicle:
    battery_wh: float  # usable capacity
    ac_max_w: float  # on-board charger limit (at 230 V per phase)
    ac_phases: int  # 1 or 3: the phases the on-board charger loads
    taper_soc: float  # AC: constant power up to this SoC, then linear taper to 0 at 100 %
    dc_curve: int  # index into physics.DC_CURVES (per-unit power vs SoC family)


@dataclass(frozen=True, slots=True)
class Visit:
    """One EV at one connector."""

    connector_id: int
    arrive_s: float
    #: Planned departure (AC). NaN: the EV leaves `dwell_s` after it is full (DC fast).
    depart_s: float
    dwell_s: float
    energy_wh: float  # what the driver wants; charging stops at soc_target
    soc_start: float
    soc_target: float  # <= 1.0; soc_start + energy_wh / battery_wh, capped
    vehicle: Vehicle
    auth_method: AuthMethod
    #: Tokens presented in order, each with the outcome it is meant to get; the visit charges
    #: only if one of them is ACCEPTED (retries after a failed attempt).
    auth_attempts: tuple[AuthOutcome, ...]
    auth_delay_s: float  # plug-in -> first Authorize (and between retries)
    no_plug: bool  # authorizes, never plugs in: back to Available after ConnectionTimeOut
    start_fails: bool  # Authorize accepted but the EV never starts drawing (EVCommunicationError)
    stop_early_s: float  # seconds after arrival of an unexpected mid-session stop; NaN: none


@dataclass(frozen=True, slots=True)
class Episode:
    """A fault or an offline spell, or a reboot (duration = boot time)."""

    start_s: float
    duration_s: float
    connector_id: int = 0  # faults: the connector (0 = the whole charger)
    error_code: str = ""  # faults: the OCPP ChargePointErrorCode


@dataclass(frozen=True, slots=True)
class ChargerPlan:
    """Everything one charger will do during the run, sorted by time."""

    index: int
    site: SiteType
    visits: tuple[Visit, ...]  # all connectors, by arrive_s
    faults: tuple[Episode, ...]
    offline: tuple[Episode, ...]
    reboots: tuple[Episode, ...]
