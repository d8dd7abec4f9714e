"""The OCPP 1.6J charger state machine: boot, heartbeat, connector status, transactions.

Pure: it reacts to `receive(data, now)`, `step(now)` and the driver operations (`plug_in`,
`stop_transaction`, `unplug`, ...) and leaves frames in `take_outbox()`. *When* a car arrives and
how much it charges is not decided here but by whoever drives it (the sim layer's agent, from the
behaviour models); this class only knows how a 1.6 charger says so.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from simfleet.protocol.dialect import V16
from simfleet.protocol.errors import ErrorCode
from simfleet.protocol.frames import Call, Payload
from simfleet.protocol.ports import Meter, Observer
from simfleet.protocol.session import NEVER, Malformed, OutgoingCall, RpcSession
from simfleet.protocol.v16 import (
    charging_commands,
    core_profile,
    diagnostics,
    firmware,
    messages,
    reservation_profile,
    security,
)
from simfleet.protocol.v16.configuration import Configuration
from simfleet.protocol.v16.local_auth import (
    Action,
    AuthorizationCache,
    AuthPolicy,
    LocalAuthList,
    decide,
)
from simfleet.protocol.v16.maintenance import Maintenance, UploadRequest
from simfleet.protocol.v16.reservation import Reservations
from simfleet.protocol.v16.smart_charging import ChargingProfiles
from simfleet.protocol.v16.state import BootState, ChargerSettings, Connector, Status

if TYPE_CHECKING:
    from simfleet.protocol.certificates import CertificateStore

__all__ = ["BootState", "Charger16", "ChargerSettings", "Connector", "Status"]

VERSION: Final = V16.version
_TIMER_SEQ: Final = itertools.count()  # ties between timers run in the order they were set

#: OCPP 1.6 §5 and the security whitepaper: every CSMS-initiated action (each has a handler; a
#: test keeps it so). Anything else is answered NotImplemented (OCPP-J §4.2.3).
KNOWN_CSMS_ACTIONS: Final = frozenset(
    {
        "CancelReservation",
        "CertificateSigned",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "ClearChargingProfile",
        "DataTransfer",
        "DeleteCertificate",
        "ExtendedTriggerMessage",
        "GetCompositeSchedule",
        "GetConfiguration",
        "GetDiagnostics",
        "GetInstalledCertificateIds",
        "GetLocalListVersion",
        "GetLog",
        "InstallCertificate",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "SignedUpdateFirmware",
        "TriggerMessage",
        "UnlockConnector",
        "UpdateFirmware",
    }
)


class Charger16:
    """One OCPP 1.6J charge point."""

    # Slots, not a dict per charger: tens of thousands of them share a process (RSS budget).
    __slots__ = (
        "_cache",
        "_config",
        "_limit_at",
        "_local_list",
        "_maintenance",
        "_profiles",
        "_reboot_event",
        "_reservations",
        "_security",
        "_timers",
        "boot",
        "boot_retry_at",
        "clock_aligned_s",
        "clock_at",
        "connectors",
        "diagnostics_status",
        "firmware_status",
        "heartbeat_at",
        "heartbeat_interval",
        "log_status",
        "measurands",
        "meter",
        "meter_at",
        "meter_interval",
        "observer",
        "pending_uploads",
        "reset_deadline",
        "reset_pending",
        "session",
        "settings",
        "signed_firmware_status",
        "stop_measurands",
    )

    version: Final = VERSION

    def __init__(self, settings: ChargerSettings, observer: Observer, meter: Meter) -> None:
        self.settings = settings
        self.observer = observer
        self.meter = meter
        self.session = RpcSession(
            V16,
            settings.call_timeout_s,
            settings.max_offline_queue,
            retry_attempts=settings.transaction_message_attempts,
            retry_interval=settings.transaction_message_retry_interval_s,
            replay_interval=settings.replay_interval_s,
        )
        self.connectors = [Connector(i) for i in range(1, settings.connectors + 1)]
        self.boot = BootState.WAITING
        self.boot_retry_at = NEVER
        self.heartbeat_interval = settings.heartbeat_interval_s
        self.heartbeat_at = NEVER
        self.meter_interval = settings.meter_interval_s
        self.clock_aligned_s = settings.clock_aligned_s
        self.measurands = settings.measurands  # MeterValuesSampledData
        self.stop_measurands = settings.measurands  # StopTxnSampledData
        self._config: Configuration | None = None  # made on first use: most chargers never ask
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self.reset_pending = ""  # "Soft" | "Hard": the driver reboots the charger (§5.13)
        self.reset_deadline = NEVER
        self.firmware_status = "Idle"
        self.diagnostics_status = "Idle"
        self.signed_firmware_status = "Idle"  # FirmwareStatusEnumType (whitepaper §6.8)
        self.log_status = "Idle"  # UploadLogStatusEnumType (security whitepaper §6.19)
        # Firmware and upload jobs, made on first use; files for the engine to upload.
        self._maintenance: Maintenance | None = None
        self.pending_uploads: list[UploadRequest] | None = None
        # Security extension: certificates made on first use; a reboot's event until back up.
        self._security: CertificateStore | None = None
        self._reboot_event: tuple[str, float] | None = None
        # Smart charging and local authorization state, made on first use (memory per charger).
        self._profiles: ChargingProfiles | None = None
        self._local_list: LocalAuthList | None = None
        self._cache: AuthorizationCache | None = None
        self._reservations: Reservations | None = None
        self._limit_at = NEVER  # when the pending smart-charging timer fires
        self.meter_at = NEVER
        self.clock_at = NEVER

    # -- connection ----------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self.session.online

    @property
    def accepted(self) -> bool:
        return self.boot is BootState.ACCEPTED

    def connected(self, now: float) -> None:
        # OCPP 1.6 §4.2: boot once after power-up; a charger that was accepted and only lost its
        # connection resumes where it was and delivers what it queued (§3.7 of OCPP-J 1.6).
        if self.boot is not BootState.ACCEPTED:
            self.boot = BootState.WAITING
            self.boot_retry_at = NEVER
            self._send_boot(now, now)  # queued first (urgent), ahead of transaction messages
            if self._reboot_event is not None:
                security.back_up(self, now)
            self.session.connected(now)
            return
        # Back online: report where each connector is now (§4.9), then the queued transaction
        # messages follow in order.
        self.session.connected(now)
        for connector in self.connectors:
            self._report_status(connector, now)

    def disconnected(self, now: float) -> None:
        for lost in self.session.disconnected():
            self.observer.call_lost(VERSION, lost.action)
            self._failed(lost, now)
        if self.boot is not BootState.ACCEPTED:
            self.boot = BootState.WAITING
            self.boot_retry_at = NEVER

    # -- the pump interface --------------------------------------------------------------------

    def take_outbox(self) -> list[bytes]:
        return self.session.take_outbox()

    def next_wakeup(self) -> float:
        wake = min(self.session.next_due, self.meter_at, self.clock_at)
        if self.session.online:  # heartbeats and boot retries wait for the connection
            wake = min(wake, self.boot_retry_at, self.heartbeat_at)
        if self._timers:
            wake = min(wake, self._timers[0][0])
        if self.reset_pending:
            wake = min(wake, self.reset_deadline if self.busy else 0.0)
        return wake

    @property
    def busy(self) -> bool:
        """A CALL of ours is in flight or queued (a soft reset lets them finish first)."""
        return self.session.in_flight is not None or self.session.queued > 0

    def ready_to_reboot(self, now: float) -> bool:
        """A Reset was accepted and its stop messages are out (or we waited long enough)."""
        return bool(self.reset_pending) and (not self.busy or now >= self.reset_deadline)

    def schedule(self, at: float, action: Callable[[float], None]) -> None:
        """Run `action(now)` at `at` (firmware steps, timeouts, expiries...)."""
        heapq.heappush(self._timers, (at, next(_TIMER_SEQ), action))

    def _run_timers(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            heapq.heappop(timers)[2](now)

    def reschedule_meter(self, now: float) -> None:
        """Sampled and clock-aligned readings follow the current intervals (0 = off)."""
        running = any(c.transaction_id is not None for c in self.connectors)
        interval = self.meter_interval
        self.meter_at = now + interval if running and interval > 0 else NEVER
        aligned = self.clock_aligned_s
        self.clock_at = _next_aligned(now, aligned) if running and aligned > 0 else NEVER

    @property
    def config(self) -> Configuration:
        if self._config is None:
            self._config = core_profile.default_configuration(self)
        return self._config

    @property
    def maintenance(self) -> Maintenance:
        if self._maintenance is None:
            s = self.settings
            self._maintenance = Maintenance(s.firmware_settings, s.index, s.firmware)
        return self._maintenance

    def take_uploads(self) -> list[UploadRequest]:
        """Files the engine must upload now (GetDiagnostics, GetLog); the charger forgets them
        and waits for `upload_finished`."""
        uploads, self.pending_uploads = self.pending_uploads, None
        return uploads or []

    def upload_finished(self, upload_id: int, ok: bool, now: float) -> None:
        diagnostics.upload_finished(self, upload_id, ok, now)

    def reboot_duration(self) -> float:
        """Wall seconds the next reboot keeps the charger offline (a Reset's, or after a
        firmware installation the `[firmware]` reboot_s)."""
        return firmware.reboot_duration(self)

    @property
    def profiles(self) -> ChargingProfiles:
        if self._profiles is None:
            c = self.config
            self._profiles = ChargingProfiles(
                len(self.connectors),
                max_stack_level=c.integer("ChargeProfileMaxStackLevel"),
                max_periods=c.integer("ChargingScheduleMaxPeriods"),
                max_installed=c.integer("MaxChargingProfilesInstalled"),
                allowed_units=c.members("ChargingScheduleAllowedChargingRateUnit"),
            )
        return self._profiles

    @property
    def local_list(self) -> LocalAuthList:
        if self._local_list is None:
            self._local_list = LocalAuthList()
            if self._cache is not None:  # listed tokens are never cached (§3.5.3)
                self._cache.local_list = self._local_list
        return self._local_list

    @property
    def cache(self) -> AuthorizationCache:
        if self._cache is None:
            self._cache = AuthorizationCache(
                enabled=self.auth_policy.cache_enabled, local_list=self._local_list
            )
        return self._cache

    @property
    def auth_policy(self) -> AuthPolicy:
        # Every session reads it: a charger nobody reconfigured shares the default one rather
        # than building its configuration (kilobytes per charger) to read five keys.
        if self._config is None:
            return default_auth_policy()
        return auth_policy_of(self._config)

    @property
    def reservations(self) -> Reservations:
        if self._reservations is None:
            self._reservations = Reservations(
                len(self.connectors),
                connector_zero_supported=self.config.flag("ReserveConnectorZeroSupported"),
            )
        return self._reservations

    def status_name(self, connector_id: int) -> str:
        """A connector's status, or the charge point's for 0 (what reservations judge by)."""
        if connector_id == 0:
            if all(c.status is Status.FAULTED for c in self.connectors):
                return "Faulted"
            return self.charger_status
        return self.connectors[connector_id - 1].status.value

    def clear_authorization_cache(self) -> str:
        return self.cache.clear()

    def apply_limits(self, now: float) -> None:
        """Every connector's composite limit to the meter, and a timer for the next change
        (§3.13: the power follows the profiles as their periods begin and end)."""
        profiles = self._profiles
        if profiles is None:
            return
        phases = self.settings.phases
        wake = NEVER
        for connector in self.connectors:
            cid = connector.connector_id
            self.meter.set_limit(cid, profiles.limit(cid, now).to_watts(phases), now)
            wake = min(wake, profiles.next_change(cid, now))
        # One timer for the next change: set, clear and transaction events all call this, and
        # a timer each would fire (and re-arm) once per call, a chain that never dies.
        if wake < NEVER and wake != self._limit_at:
            self._limit_at = wake
            self.schedule(wake, functools.partial(self._limit_changed, wake))

    def _limit_changed(self, due: float, now: float) -> None:
        if due == self._limit_at:  # else a later apply_limits replaced this timer
            self._limit_at = NEVER
            self.apply_limits(now)

    def remote_profile(self, connector_id: int, profile: Payload) -> bool:
        """RemoteStartTransaction's chargingProfile (§5.11): held for the new transaction;
        False if it cannot be used."""
        return self.profiles.set_for_remote_start(connector_id, profile)

    def remote_start(self, connector_id: int, id_tag: str, now: float) -> None:
        """RemoteStartTransaction accepted (§5.11): Preparing, an EV if the driver is there,
        Authorize first if AuthorizeRemoteTxRequests, then StartTransaction."""
        connector = self.connectors[connector_id - 1]
        connector.id_tag = id_tag  # a reservation for this idTag lets its driver plug in
        connector.auth_status = ""
        connector.fail_start = ""
        if connector.status in (Status.AVAILABLE, Status.RESERVED) and not self.meter.remote_start(
            connector_id, now
        ):
            # Nobody plugs in: Preparing until ConnectionTimeOut (§9.1.5), then Available.
            self._set_status(connector, Status.PREPARING, now)
            timeout = self.config.integer("ConnectionTimeOut")
            self.schedule(now + timeout, lambda at: self.cancel_preparing(connector_id, at))
        if self.config.flag("AuthorizeRemoteTxRequests"):
            payload = messages.authorize(id_tag)
            self.session.call("Authorize", payload, now, now, context=connector_id)
            return
        connector.auth_status = "Accepted"
        if connector.plugged and not connector.in_transaction:
            self._start(connector, now)

    @property
    def charger_status(self) -> str:
        """Connector 0's status: the charge point as a whole."""
        return "Unavailable" if all(c.inoperative for c in self.connectors) else "Available"

    def step(self, now: float) -> None:
        """Do whatever is due at `now`: timeouts, boot retry, heartbeat, meter values."""
        if self._timers:
            self._run_timers(now)
        if self.session.next_due <= now:  # a timeout, or a held-back transaction message
            expired = self.session.poll(now)
            if expired is not None:
                self.observer.call_timed_out(VERSION, expired.action, now - expired.intended_at)
                self._attempt_failed(expired, now)
        # Transaction messages: generated offline too, queued for delivery (OCPP-J 1.6 §3.7).
        # The earlier reading first: a meter cannot be read back in time.
        if self.clock_at < self.meter_at:
            self._clock_sample(now)
        self._periodic_sample(now)
        self._clock_sample(now)
        if not self.session.online:
            return
        if self.boot_retry_at <= now:
            due, self.boot_retry_at = self.boot_retry_at, NEVER
            self._send_boot(due, now)
        if self.heartbeat_at <= now:
            due = self.heartbeat_at
            self.heartbeat_at = _next_tick(due, self.heartbeat_interval, now)
            self.session.call("Heartbeat", messages.heartbeat(), due, now)

    def _periodic_sample(self, now: float) -> None:
        if self.meter_at <= now:
            due = self.meter_at
            self.meter_at = _next_tick(due, self.meter_interval, now)
            self._send_meter_values(due, now, "Sample.Periodic")

    def _clock_sample(self, now: float) -> None:
        if self.clock_at <= now:
            due = self.clock_at
            self.clock_at = _next_aligned(now, self.clock_aligned_s)
            self._send_meter_values(due, now, "Sample.Clock")

    def receive(self, data: bytes | str, now: float) -> None:
        event = self.session.receive(data, now)
        if type(event) is OutgoingCall:
            if event.error_code:
                self.observer.call_answered(
                    VERSION, event.action, now - event.intended_at, event.error_code
                )
                self._attempt_failed(event, now)
                return
            self.observer.call_answered(VERSION, event.action, now - event.intended_at, None)
            handler = _ANSWERED.get(event.action)
            if handler is not None:
                handler(self, event, now)
        elif type(event) is Call:
            self._on_csms_call(event, now)
        elif type(event) is Malformed:
            self.observer.malformed(VERSION, event.code)

    # -- driver operations (called by the agent that owns the behaviour plan) ------------------

    def plug_in(self, connector_id: int, id_tag: str, now: float) -> bool:
        """An EV is plugged in and a driver presents `id_tag` at once; False if busy."""
        return self.cable_in(connector_id, now) and self.present_token(connector_id, id_tag, now)

    def cable_in(self, connector_id: int, now: float) -> bool:
        """An EV is plugged in (Preparing until a token is accepted); False if busy."""
        connector = self.connectors[connector_id - 1]
        if connector.in_transaction or not (
            connector.status is Status.AVAILABLE
            or (  # the driver who reserved it, started from the app (RemoteStart)
                connector.status is Status.RESERVED
                and reservation_profile.admits(self, connector, connector.id_tag, now)
            )
        ):
            return False
        connector.plugged = True
        self._set_status(connector, Status.PREPARING, now)
        return True

    def present_token(
        self, connector_id: int, id_tag: str, now: float, fail_start: str = ""
    ) -> bool:
        """A driver presents `id_tag` (before or after plugging in): Authorize, then start.

        `fail_start` is an error code: the authorization goes through but the EV never starts
        (the connector reports the error and goes to Finishing). False if the connector is busy.
        """
        connector = self.connectors[connector_id - 1]
        if connector.in_transaction or connector.status not in (
            Status.AVAILABLE,
            Status.PREPARING,
            Status.RESERVED,
        ):
            return False
        if not reservation_profile.admits(self, connector, id_tag, now):
            return False  # reserved for someone else (§5.13)
        connector.id_tag = id_tag
        connector.auth_status = ""
        connector.fail_start = fail_start
        if connector.status is not Status.PREPARING:
            self._set_status(connector, Status.PREPARING, now)
        if not self.settings.authorize_before_start:
            if connector.plugged:
                self._start(connector, now)
            return True
        status = self._authorize_locally(id_tag, now)
        if status:
            self._authorized(connector, status, now)
        else:
            self.session.call(
                "Authorize", messages.authorize(id_tag), now, now, context=connector_id
            )
        return True

    def _authorize_locally(self, id_tag: str, now: float, offline: bool = False) -> str:
        """§3.5: the AuthorizationStatus the local list, the cache and the offline rules give
        `id_tag` without asking the CSMS, or "" when the charger must send Authorize."""
        policy = self.auth_policy
        online = not offline and self.session.online and self.boot is BootState.ACCEPTED
        if online and not policy.local_pre_authorize:
            return ""  # the common case, without a lookup
        decision = decide(id_tag, online, now, policy, self.local_list, self.cache)
        return "" if decision.action is Action.ASK else decision.status

    def _authorized(self, connector: Connector, status: str, now: float) -> None:
        """The token presented on the connector is `status` (Authorize.conf or a local
        decision): an accepted one starts the transaction once the cable is in."""
        connector.auth_status = status
        if (
            status == "Accepted"
            and connector.status is Status.PREPARING
            and connector.plugged
            and not connector.in_transaction
        ):
            if connector.fail_start:
                # The EV does not respond (no PWM / no communication): no transaction.
                connector.error_code = connector.fail_start
                connector.fail_start = ""
                self._set_status(connector, Status.FINISHING, now)
                return
            self._start(connector, now)

    def auth_status(self, connector_id: int) -> str:
        """The last Authorize answer for the connector ("" while waiting or none)."""
        return self.connectors[connector_id - 1].auth_status

    def cancel_preparing(self, connector_id: int, now: float) -> None:
        """§9.1.5 ConnectionTimeOut: no cable after the token, or no token after the cable."""
        connector = self.connectors[connector_id - 1]
        if connector.status is Status.PREPARING and not connector.in_transaction:
            connector.id_tag = ""
            self._set_status(connector, connector.free_status, now)

    def fault(self, connector_id: int, error_code: str, now: float) -> None:
        """A fault (§4.9): the transaction on the connector stops, the connector is Faulted.
        `connector_id` 0 faults the whole charger."""
        for connector in self._targets(connector_id):
            if connector.transaction_id is not None:
                self._send_stop(connector, "Other", now)
            elif connector.starting:
                connector.pending_stop = connector.pending_stop or "Other"
            connector.error_code = error_code
            self._set_status(connector, Status.FAULTED, now)
        if connector_id == 0:
            self._report_charger_status("Faulted", error_code, now)
            reservation_profile.release(self, 0, now)

    def repaired(self, connector_id: int, now: float) -> None:
        for connector in self._targets(connector_id):
            if connector.status is Status.FAULTED:
                connector.error_code = "NoError"
                connector.id_tag = ""
                self._set_status(connector, connector.free_status, now)
        if connector_id == 0:
            self._report_charger_status("Available", "NoError", now)

    def _targets(self, connector_id: int) -> list[Connector]:
        """Connector 0 means the whole charge point (OCPP 1.6 §3.3)."""
        return self.connectors if connector_id == 0 else [self.connectors[connector_id - 1]]

    def reboot(self, reason: str, now: float) -> None:
        """Power loss or reboot: transactions end with `reason` (queued until the charger is
        back), everything else in flight is forgotten, and the next connection boots again."""
        for connector in self.connectors:
            if connector.transaction_id is not None:
                self._send_stop(connector, reason, now)
            if connector.starting:
                # Its StartTransaction survives the reboot (a transaction message): once the
                # CSMS gives the transactionId, the transaction is stopped with `reason`.
                connector.pending_stop = connector.pending_stop or reason
            else:
                connector.pending_stop = ""
                connector.id_tag = ""
            connector.plugged = False
            connector.error_code = "NoError"
            connector.status = connector.free_status  # ChangeAvailability survives reboots
            self.meter.status_changed(connector.connector_id, connector.status.value, now)
        for dropped in self.session.clear_queue(keep_offline=True):
            self.observer.call_lost(VERSION, dropped.action)
        if self._config is not None:
            # Values accepted with RebootRequired take effect now (§5.3, §9.1.31).
            for key in self._config.reboot():
                core_profile.apply_configuration(self, key, now)
        self.boot = BootState.WAITING
        self.boot_retry_at = NEVER
        self.heartbeat_at = NEVER
        security.rebooted(self, reason, now)

    def ev_suspended(self, connector_id: int, now: float) -> None:
        """The EV stopped drawing power (battery full)."""
        connector = self.connectors[connector_id - 1]
        if connector.status is Status.CHARGING:
            self._set_status(connector, Status.SUSPENDED_EV, now)

    def stop_transaction(self, connector_id: int, reason: str, now: float) -> None:
        """End the transaction on the connector (the cable stays plugged: Finishing)."""
        connector = self.connectors[connector_id - 1]
        if connector.starting:
            # Sent once, as soon as the transactionId is known, with the reason of whatever
            # ended the transaction first (an unplug, a fault, a reset may follow).
            connector.pending_stop = connector.pending_stop or reason
            return
        if connector.transaction_id is None:
            return
        self._send_stop(connector, reason, now)
        self._set_status(connector, Status.FINISHING, now)

    def unplug(self, connector_id: int, now: float) -> None:
        """The EV leaves: any transaction ends with EVDisconnected and the connector frees up."""
        connector = self.connectors[connector_id - 1]
        connector.plugged = False
        if connector.transaction_id is not None:
            self._send_stop(connector, "EVDisconnected", now)
        if connector.starting:
            # StartTransaction is in flight: stop as soon as its transactionId arrives, or the
            # CSMS would keep a transaction open forever.
            connector.pending_stop = connector.pending_stop or "EVDisconnected"
        else:
            connector.pending_stop = ""
            connector.id_tag = ""
        if connector.status not in (Status.AVAILABLE, Status.UNAVAILABLE, Status.FAULTED):
            connector.error_code = "NoError"
            self._set_status(connector, connector.free_status, now)

    def is_charging(self, connector_id: int) -> bool:
        return self.connectors[connector_id - 1].status is Status.CHARGING

    def status_of(self, connector_id: int) -> Status:
        return self.connectors[connector_id - 1].status

    # -- answers to our CALLs ------------------------------------------------------------------

    def _send_boot(self, intended_at: float, now: float) -> None:
        s = self.settings
        version = firmware.firmware_version(self)  # a new one after a firmware update
        payload = messages.boot_notification(s.vendor, s.model, s.serial, version)
        self.session.call("BootNotification", payload, intended_at, now, urgent=True)

    def _on_boot(self, outgoing: OutgoingCall, now: float) -> None:
        result = outgoing.result or {}
        interval = result.get("interval")
        status = result.get("status")
        if status == "Accepted":
            self.boot = BootState.ACCEPTED
            self.observer.booted()
            # §4.2: a positive interval is the heartbeat interval to use.
            if type(interval) is int and interval > 0:
                self.heartbeat_interval = float(interval)
                if self._config is not None:  # §9.1.10: the key reports the interval in use
                    self._config.change("HeartbeatInterval", str(interval))
            self.heartbeat_at = now + self.heartbeat_interval
            self.session.call(
                "StatusNotification",
                messages.status_notification(0, "Available", now, "NoError"),
                now,
                now,
            )
            for connector in self.connectors:
                self._report_status(connector, now)
            if self._maintenance is not None:  # back on new firmware: Installed (§4.5)
                firmware.booted(self, now)
            return
        # Pending or Rejected: §4.2 retry after `interval` seconds (ours if it gave none).
        self.boot = BootState.PENDING
        delay = (
            float(interval)
            if type(interval) is int and interval > 0
            else self.settings.boot_retry_s
        )
        self.boot_retry_at = now + delay

    def _on_authorize(self, outgoing: OutgoingCall, now: float) -> None:
        # The answer belongs to the connector that asked (two connectors may share an idTag).
        id_tag = outgoing.payload["idTag"]
        info = (outgoing.result or {}).get("idTagInfo", {})
        self._remember(id_tag, info, now)
        connector = self.connectors[outgoing.context - 1]
        if connector.id_tag != id_tag or connector.auth_status:
            return  # a token presented before this one: stale
        self._authorized(connector, str(info.get("status")), now)

    def _remember(self, id_tag: object, info: object, now: float) -> None:
        """§3.5.1: every IdTagInfo the CSMS sends updates the Authorization Cache."""
        if isinstance(id_tag, str) and isinstance(info, dict) and "status" in info:
            try:
                self.cache.remember(id_tag, info, now)
            except ValueError:
                self.observer.malformed(VERSION, "BadIdTagInfo")

    def _on_stop(self, outgoing: OutgoingCall, now: float) -> None:
        result = outgoing.result or {}
        if "idTagInfo" in result:
            self._remember(outgoing.payload.get("idTag"), result["idTagInfo"], now)

    def _on_start(self, outgoing: OutgoingCall, now: float) -> None:
        connector = self.connectors[outgoing.payload["connectorId"] - 1]
        result = outgoing.result or {}
        transaction_id = result.get("transactionId")
        connector.starting = False
        if type(transaction_id) is not int:
            self.observer.malformed(VERSION, "BadTransactionId")
            self._start_failed(connector, now)
            return
        connector.transaction_id = transaction_id
        self.observer.transaction_started(VERSION)
        self._remember(connector.id_tag, result.get("idTagInfo"), now)
        if self._profiles is not None:  # TxProfiles (and a remote start's) bind to it
            self._profiles.transaction_started(connector.connector_id, now)
            self.apply_limits(now)
        if connector.pending_stop:
            reason, connector.pending_stop = connector.pending_stop, ""
            self._send_stop(connector, reason, now)
            self._after_stop(connector, now)
            return
        if result.get("idTagInfo", {}).get("status") != "Accepted":
            # §5.16 StopTransactionOnInvalidId: a transaction the CSMS refused ends at once.
            self.stop_transaction(connector.connector_id, "DeAuthorized", now)
            return
        if connector.status is Status.PREPARING:
            self._set_status(connector, Status.CHARGING, now)
        self._send_meter_values_of(connector, now, now, "Transaction.Begin")
        if self.meter_at == NEVER and self.clock_at == NEVER:
            self.reschedule_meter(now)

    def _attempt_failed(self, outgoing: OutgoingCall, now: float) -> None:
        """A call of ours got a CALLERROR or timed out. A transaction message is retried
        (OCPP 1.6 §4.7): only its final failure counts, as a drop, and acts."""
        if outgoing.retrying:
            return
        if outgoing.keep_offline:
            self.observer.transaction_message_dropped(VERSION, outgoing.action, "attempts")
        self._failed(outgoing, now)

    def _failed(self, outgoing: OutgoingCall, now: float) -> None:
        """A call of ours failed for good: CALLERROR, timeout or lost with the connection."""
        action = outgoing.action
        if action == "BootNotification":
            self.boot = BootState.PENDING
            self.boot_retry_at = now + self.settings.boot_retry_s
        elif action == "StartTransaction":
            connector = self.connectors[outgoing.payload["connectorId"] - 1]
            if connector.starting:
                connector.starting = False
                self._start_failed(connector, now)
        elif action == "Authorize":
            # No answer from the CSMS: decide as an offline charger does (§3.5.4).
            connector = self.connectors[outgoing.context - 1]
            id_tag = outgoing.payload["idTag"]
            if connector.id_tag == id_tag and not connector.auth_status:
                status = self._authorize_locally(id_tag, now, offline=True)
                self._authorized(connector, status, now)

    def _start_failed(self, connector: Connector, now: float) -> None:
        """No transaction came of the StartTransaction: no stop is owed to the CSMS."""
        connector.pending_stop = ""
        self._after_stop(connector, now)

    def _after_stop(self, connector: Connector, now: float) -> None:
        """The transaction is over: Finishing while the EV is still plugged in."""
        if connector.status in (Status.AVAILABLE, Status.UNAVAILABLE):
            connector.id_tag = ""  # the EV already left
        else:
            self._set_status(connector, Status.FINISHING, now)

    # -- CSMS-initiated calls ------------------------------------------------------------------

    def _on_csms_call(self, call: Call, now: float) -> None:
        handler = _HANDLERS.get(call.action)
        if handler is not None:
            self.observer.command_handled(VERSION, call.action, handler(self, call, now))
            return
        self.session.answer_error(call, ErrorCode.NOT_IMPLEMENTED, call.action)
        self.observer.command_handled(VERSION, call.action, "NotImplemented")

    # -- helpers -------------------------------------------------------------------------------

    def _start(self, connector: Connector, now: float) -> None:
        connector.starting = True
        energy = self.meter.energy_wh(connector.connector_id, now)
        reservation_id = reservation_profile.consume(self, connector, now)
        payload = messages.start_transaction(
            connector.connector_id, connector.id_tag, energy, now, reservation_id
        )
        self._transaction_call("StartTransaction", payload, now, now)

    def _send_stop(self, connector: Connector, reason: str, now: float) -> None:
        assert connector.transaction_id is not None
        reading = self.meter.read(connector.connector_id, now)
        end = messages.sampled_values(
            reading, self.stop_measurands, "Transaction.End", self.settings.ac
        )
        payload = messages.stop_transaction(
            connector.transaction_id, connector.id_tag, reading.energy_wh, now, reason, end
        )
        connector.transaction_id = None
        self.observer.transaction_stopped(VERSION)
        if self._profiles is not None:  # §3.13.2: TxProfiles end with their transaction
            self._profiles.transaction_ended(connector.connector_id)
            self.apply_limits(now)
        self._transaction_call("StopTransaction", payload, now, now)
        if not any(c.transaction_id is not None for c in self.connectors):
            self.meter_at = NEVER
            self.clock_at = NEVER

    def _send_meter_values(self, due: float, now: float, context: str) -> None:
        for connector in self.connectors:
            if connector.transaction_id is not None:
                self._send_meter_values_of(connector, due, now, context)

    def _send_meter_values_of(
        self, connector: Connector, due: float, now: float, context: str
    ) -> None:
        reading = self.meter.read(connector.connector_id, due)
        sampled = messages.sampled_values(reading, self.measurands, context, self.settings.ac)
        payload = messages.meter_values(
            connector.connector_id, connector.transaction_id, sampled, due
        )
        if connector.transaction_id is None:  # a triggered reading outside a transaction
            self.session.call("MeterValues", payload, due, now)
        else:
            self._transaction_call("MeterValues", payload, due, now)

    def _call(
        self, action: str, payload: Payload, intended_at: float, now: float, keep_offline: bool
    ) -> None:
        """A CALL of ours; `keep_offline` ones are delivered like transaction messages (queued
        while offline, retried, paced: critical security events, whitepaper A04.FR.02)."""
        if keep_offline:
            self._transaction_call(action, payload, intended_at, now)
        elif self.session.call(action, payload, intended_at, now) is None:
            self.observer.call_lost(VERSION, action)

    def _transaction_call(
        self, action: str, payload: Payload, intended_at: float, now: float
    ) -> None:
        """A transaction message: queued while offline, retried, paced (session.py)."""
        session = self.session
        if session.call(action, payload, intended_at, now, keep_offline=True) is None:
            self.observer.transaction_message_dropped(VERSION, action, "queue_full")
        displaced = session.take_displaced()
        if displaced is not None:  # a full queue: an older MeterValues made room
            self.observer.transaction_message_dropped(VERSION, displaced.action, "queue_full")

    def _set_status(self, connector: Connector, status: Status, now: float) -> None:
        self._put_status(connector, status, now)
        if self._reservations:
            reservation_profile.status_changed(self, connector, status, now)

    def _put_status(self, connector: Connector, status: Status, now: float) -> None:
        connector.status = status
        self.meter.status_changed(connector.connector_id, status.value, now)
        self._report_status(connector, now)

    def _report_status(self, connector: Connector, now: float) -> None:
        # StatusNotification is not a transaction message: while offline it is not queued, and
        # on reconnect the charger reports the current status instead (§4.9).
        if not self.session.online or self.boot is not BootState.ACCEPTED:
            return
        payload = messages.status_notification(
            connector.connector_id, connector.status.value, now, connector.error_code
        )
        self.session.call("StatusNotification", payload, now, now)

    def _report_charger_status(self, status: str, error_code: str, now: float) -> None:
        """StatusNotification for connector 0, the charge point as a whole."""
        if self.session.online and self.boot is BootState.ACCEPTED:
            payload = messages.status_notification(0, status, now, error_code)
            self.session.call("StatusNotification", payload, now, now)


def _next_aligned(now: float, interval: float) -> float:
    """The next whole multiple of `interval` seconds of the clock after `now`."""
    return (now // interval + 1) * interval


def _next_tick(due: float, interval: float, now: float) -> float:
    """The next periodic deadline after `due`; if we fell far behind, restart from `now`."""
    following = due + interval
    return following if following > now else now + interval


#: Later tables win: security wraps core_profile's ChangeConfiguration (whitepaper A05, A01).
_HANDLERS: Final = {
    **core_profile.HANDLERS,
    **charging_commands.HANDLERS,
    **reservation_profile.HANDLERS,
    **firmware.HANDLERS,
    **diagnostics.HANDLERS,
    **security.HANDLERS,
}

#: What to do with the answer to one of our CALLs, by action (class-wide: no dict per charger).
_ANSWERED: Final[dict[str, Callable[[Charger16, OutgoingCall, float], None]]] = {
    "BootNotification": Charger16._on_boot,
    "Authorize": Charger16._on_authorize,
    "StartTransaction": Charger16._on_start,
    "StopTransaction": Charger16._on_stop,
    "SignCertificate": security.on_sign_certificate,
}


@functools.cache
def default_auth_policy() -> AuthPolicy:
    """The local-authorization keys of a charger nobody reconfigured (see `auth_policy_of`)."""
    return auth_policy_of(Configuration.defaults(1, 60.0, 60.0, 0.0, ()))


def auth_policy_of(c: Configuration) -> AuthPolicy:
    return AuthPolicy(
        local_auth_list_enabled=c.flag("LocalAuthListEnabled"),
        cache_enabled=c.flag("AuthorizationCacheEnabled"),
        local_authorize_offline=c.flag("LocalAuthorizeOffline"),
        local_pre_authorize=c.flag("LocalPreAuthorize"),
        allow_offline_tx_for_unknown_id=c.flag("AllowOfflineTxForUnknownId"),
        list_max_length=c.integer("LocalAuthListMaxLength"),
        send_list_max_length=c.integer("SendLocalListMaxLength"),
    )
