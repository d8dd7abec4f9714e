"""The OCPP 1.6 charger's state types: settings, connector view, statuses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """ChargePointStatus (OCPP 1.6 §7.7)."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


@dataclass(frozen=True, slots=True)
class FirmwareSettings:
    """How long firmware and diagnostics work takes on a charger, and how often it fails
    (the scenario's `[firmware]`). Durations are wall seconds, drawn uniformly in (low, high).
    One object is shared by a whole fleet; `seed` is the scenario's."""

    download_s: tuple[float, float] = (30.0, 120.0)
    install_s: tuple[float, float] = (60.0, 180.0)
    reboot_s: tuple[float, float] = (20.0, 60.0)
    download_failure_rate: float = 0.02  # per download attempt
    install_failure_rate: float = 0.01
    upload_timeout_s: float = 30.0  # one HTTP upload attempt, connect to answer
    seed: int = 0


class BootState(StrEnum):
    WAITING = "Waiting"  # not connected yet, or connected and the BootNotification in flight
    PENDING = "Pending"  # CSMS said Pending/Rejected (or failed): retry at `boot_retry_at`
    ACCEPTED = "Accepted"


@dataclass(frozen=True, slots=True)
class ChargerSettings:
    """What a charger of a given model says about itself and how it paces its messages."""

    identity: str
    vendor: str
    model: str
    serial: str
    firmware: str
    connectors: int
    heartbeat_interval_s: float
    meter_interval_s: float
    call_timeout_s: float
    boot_retry_s: float
    authorize_before_start: bool = True
    max_offline_queue: int = 1000
    #: MeterValuesSampledData (§9.1.17) and whether the connectors are AC.
    measurands: tuple[str, ...] = ("Energy.Active.Import.Register", "Power.Active.Import")
    ac: bool = True
    #: ClockAlignedDataInterval (§9.1.7): Sample.Clock readings at whole multiples; 0 = off.
    clock_aligned_s: float = 0.0
    #: Wall seconds a Reset keeps the charger offline before it boots again.
    reboot_s: float = 15.0
    #: AC supply phases of each connector (smart charging converts A <-> W with them).
    phases: int = 3
    #: The charger's index in the fleet: with the firmware settings' seed, its random draws.
    index: int = 0
    firmware_settings: FirmwareSettings = FirmwareSettings()
    #: The security profile it connects with (security whitepaper §2.1; 0: none).
    security_profile: int = 0
    #: OCPP 1.6 §4.7, §9.1.31-32 at boot (ChangeConfiguration may change them later).
    transaction_message_attempts: int = 3
    transaction_message_retry_interval_s: int = 60
    #: After a reconnect, transaction messages queued offline go at most one per this (0: no
    #: pause between them, as fast as the CSMS answers).
    replay_interval_s: float = 0.5
    #: "1.6" builds a Charger16; "2.0.1" and "2.1" a Charger201 (`sim.chargers.build_charger`).
    ocpp_version: str = "1.6"


class Connector:
    """One connector's OCPP view: status and the transaction on it."""

    __slots__ = (
        "auth_status",
        "connector_id",
        "error_code",
        "fail_start",
        "id_tag",
        "inoperative",
        "pending_stop",
        "plugged",
        "starting",
        "status",
        "transaction_id",
    )

    def __init__(self, connector_id: int) -> None:
        self.connector_id = connector_id
        self.status = Status.AVAILABLE
        self.error_code = "NoError"
        self.id_tag = ""
        self.auth_status = ""  # the last Authorize answer for this connector ("" = none yet)
        self.fail_start = ""  # an error code: the EV will not start after authorization
        self.transaction_id: int | None = None
        self.starting = False  # StartTransaction sent, no transactionId yet
        self.pending_stop = ""  # a stop reason waiting for the transactionId
        self.plugged = False  # a cable is in: a transaction may start
        self.inoperative = False  # ChangeAvailability Inoperative (§5.2), maybe still scheduled

    @property
    def free_status(self) -> Status:
        """The status the connector rests in when nothing happens on it."""
        return Status.UNAVAILABLE if self.inoperative else Status.AVAILABLE

    @property
    def in_transaction(self) -> bool:
        return self.transaction_id is not None or self.starting
