"""The OCPP 2.0.1 / 2.1 charging station state machine: the 1.6 behaviour, the 2.x mapping.

It offers the same driver interface as `Charger16` (the agent plugs in, presents tokens,
suspends, stops, unplugs, faults and reboots either), so the behaviour models drive both; only
how the station says so differs:

- B01-B03 BootNotification with a reason, B03: nothing but the boot before it is Accepted
  (transaction events made meanwhile are held back, then delivered in order).
- StatusNotification per EVSE (one connector per EVSE, evseId = connectorId) with the 2.0.1
  connectorStatus: Preparing, Charging, Suspended* and Finishing all read Occupied, so it is
  sent only when that word changes.
- E01-E07 TransactionEvent: the station makes the transactionId; seqNo counts from 0 per
  transaction; every event is a transaction message (queued offline, retried, replayed in
  order: the session's rules) and carries `offline: true` when made while offline.
  TxStartPoint is PowerPathClosed: Started once the cable is in AND the token accepted (the
  1.6 StartTransaction moment, so a visit has the same shape on both versions). TxStopPoint is
  the same: Ended when the token is deauthorized/stopped or the cable leaves.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import Callable
from typing import Final

from simfleet.protocol.dialect import V201, Dialect
from simfleet.protocol.errors import ErrorCode
from simfleet.protocol.frames import Call, Payload
from simfleet.protocol.ports import Meter, Observer
from simfleet.protocol.session import NEVER, Malformed, OutgoingCall, RpcSession
from simfleet.protocol.v16.charger import default_auth_policy
from simfleet.protocol.v16.local_auth import Action, AuthorizationCache, LocalAuthList, decide
from simfleet.protocol.v16.maintenance import UploadRequest
from simfleet.protocol.v16.state import BootState, ChargerSettings, Status
from simfleet.protocol.v201 import control, messages, provisioning
from simfleet.protocol.v201.device_model import DeviceModel
from simfleet.protocol.v201.state import Evse

__all__ = ["Charger201", "Evse"]

_TIMER_SEQ: Final = itertools.count()
#: E01: an Ended event's chargingState when the cable stays in, or has gone.
_CONNECTED, _IDLE = "EVConnected", "Idle"


class Charger201:
    """One OCPP 2.0.1 (or, with the V21 dialect, 2.1) charging station."""

    __slots__ = (
        "_cache",
        "_device_model",
        "_held",
        "_local_list",
        "_reset_on_idle",
        "_timers",
        "_tx_counter",
        "boot",
        "boot_reason",
        "boot_retry_at",
        "clock_aligned_s",
        "clock_at",
        "connectors",
        "heartbeat_at",
        "heartbeat_interval",
        "meter",
        "meter_at",
        "meter_interval",
        "observer",
        "pending_uploads",
        "reset_deadline",
        "reset_pending",
        "session",
        "settings",
        "version",
    )

    def __init__(
        self,
        settings: ChargerSettings,
        observer: Observer,
        meter: Meter,
        dialect: Dialect = V201,
    ) -> None:
        self.settings = settings
        self.observer = observer
        self.meter = meter
        self.version = dialect.version
        self.session = RpcSession(
            dialect,
            settings.call_timeout_s,
            settings.max_offline_queue,
            retry_attempts=settings.transaction_message_attempts,  # OCPPCommCtrlr.MessageAttempts
            retry_interval=settings.transaction_message_retry_interval_s,
            replay_interval=settings.replay_interval_s,
        )
        self.connectors = [Evse(i) for i in range(1, settings.connectors + 1)]
        self.boot = BootState.WAITING
        self.boot_reason = "PowerUp"  # B01: the first boot; B11/B12 RemoteReset after a Reset
        self.boot_retry_at = NEVER
        self.heartbeat_interval = settings.heartbeat_interval_s
        self.heartbeat_at = NEVER
        self.meter_interval = settings.meter_interval_s  # SampledDataCtrlr.TxUpdatedInterval
        self.clock_aligned_s = settings.clock_aligned_s  # AlignedDataCtrlr.Interval
        self.meter_at = NEVER
        self.clock_at = NEVER
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self.reset_pending = ""  # "Immediate" | "OnIdle": the driver reboots the station
        self.reset_deadline = NEVER
        self._reset_on_idle = False  # B12: a Reset OnIdle waits for the transactions to end
        self._tx_counter = 0
        # Transaction events made before the boot was Accepted (B03), made on first use.
        self._held: list[OutgoingCall] | None = None
        self._device_model: DeviceModel | None = None  # made on first use (block B commands)
        self._local_list: LocalAuthList | None = None
        self._cache: AuthorizationCache | None = None
        self.pending_uploads: list[UploadRequest] | None = None  # no log uploads (yet)

    # -- connection ----------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self.session.online

    @property
    def accepted(self) -> bool:
        return self.boot is BootState.ACCEPTED

    def connected(self, now: float) -> None:
        if self.boot is not BootState.ACCEPTED:
            self.boot = BootState.WAITING
            self.boot_retry_at = NEVER
            # B03: nothing but the boot before it is Accepted. Transaction events the session
            # still has (the one in flight when the connection fell) wait aside with the
            # others, older first.
            drained = [c for c in self.session.clear_queue() if c.keep_offline]
            if drained:
                self._held = drained + (self._held or [])
            self._send_boot(now, now)
            self.session.connected(now)
            return
        # Back online: each EVSE's status now, then the queued transaction events in order.
        self.session.connected(now)
        for evse in self.connectors:
            self._report_status(evse, now)

    def disconnected(self, now: float) -> None:
        for lost in self.session.disconnected():
            self.observer.call_lost(self.version, lost.action)
            self._failed(lost, now)
        if self.boot is not BootState.ACCEPTED:
            self.boot = BootState.WAITING
            self.boot_retry_at = NEVER

    # -- the pump interface --------------------------------------------------------------------

    def take_outbox(self) -> list[bytes]:
        return self.session.take_outbox()

    def next_wakeup(self) -> float:
        wake = min(self.session.next_due, self.meter_at, self.clock_at)
        if self.session.online:
            wake = min(wake, self.boot_retry_at, self.heartbeat_at)
        if self._timers:
            wake = min(wake, self._timers[0][0])
        if self.reset_pending:
            wake = min(wake, self.reset_deadline if self.busy else 0.0)
        return wake

    @property
    def busy(self) -> bool:
        return self.session.in_flight is not None or self.session.queued > 0

    def ready_to_reboot(self, now: float) -> bool:
        return bool(self.reset_pending) and (not self.busy or now >= self.reset_deadline)

    def schedule(self, at: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._timers, (at, next(_TIMER_SEQ), action))

    def reboot_duration(self) -> float:
        return self.settings.reboot_s

    def take_uploads(self) -> list[UploadRequest]:
        uploads, self.pending_uploads = self.pending_uploads, None
        return uploads or []

    def upload_finished(self, upload_id: int, ok: bool, now: float) -> None:
        """No uploads are asked of a 2.0.1 station yet (GetLog lands with its block)."""

    def step(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            heapq.heappop(timers)[2](now)
        if self.session.next_due <= now:
            expired = self.session.poll(now)
            if expired is not None:
                waited = now - expired.intended_at
                self.observer.call_timed_out(self.version, expired.action, waited)
                self._attempt_failed(expired, now)
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
            following = due + self.heartbeat_interval
            self.heartbeat_at = following if following > now else now + self.heartbeat_interval
            self.session.call("Heartbeat", messages.heartbeat(), due, now)

    def receive(self, data: bytes | str, now: float) -> None:
        event = self.session.receive(data, now)
        if type(event) is OutgoingCall:
            latency = now - event.intended_at
            if event.error_code:
                self.observer.call_answered(self.version, event.action, latency, event.error_code)
                self._attempt_failed(event, now)
                return
            self.observer.call_answered(self.version, event.action, latency, None)
            handler = _ANSWERED.get(event.action)
            if handler is not None:
                handler(self, event, now)
        elif type(event) is Call:
            self._on_csms_call(event, now)
        elif type(event) is Malformed:
            self.observer.malformed(self.version, event.code)

    # -- driver operations (the agent's; same meaning as on Charger16) -------------------------

    def plug_in(self, connector_id: int, id_tag: str, now: float) -> bool:
        return self.cable_in(connector_id, now) and self.present_token(connector_id, id_tag, now)

    def cable_in(self, connector_id: int, now: float) -> bool:
        evse = self.connectors[connector_id - 1]
        if evse.in_transaction or evse.status is not Status.AVAILABLE:
            return False
        evse.plugged = True
        self._set_status(evse, Status.PREPARING, now)
        if evse.auth_status == "Accepted" and evse.id_tag:  # token first (or RemoteStart)
            self._start(evse, now, "RemoteStart" if evse.remote_start_id else "CablePluggedIn")
        return True

    def present_token(
        self, connector_id: int, id_tag: str, now: float, fail_start: str = ""
    ) -> bool:
        evse = self.connectors[connector_id - 1]
        if evse.in_transaction or evse.status not in (Status.AVAILABLE, Status.PREPARING):
            return False
        evse.id_tag = id_tag
        evse.token_kind = ""
        evse.auth_status = ""
        evse.fail_start = fail_start
        evse.remote_start_id = None
        if evse.status is not Status.PREPARING:
            self._set_status(evse, Status.PREPARING, now)
        if not self.settings.authorize_before_start:
            # The TransactionEvent's idTokenInfo authorizes it (E05: refused ends it).
            self._authorized(evse, "Accepted", now)
            return True
        status = self._authorize_locally(id_tag, now)
        if status:
            self._authorized(evse, status, now)
        else:
            payload = messages.authorize(id_tag)
            self.session.call("Authorize", payload, now, now, context=connector_id)
        return True

    def auth_status(self, connector_id: int) -> str:
        return self.connectors[connector_id - 1].auth_status

    def cancel_preparing(self, connector_id: int, now: float) -> None:
        """TxCtrlr.EVConnectionTimeOut: no cable after the token, or no token after it."""
        evse = self.connectors[connector_id - 1]
        if evse.status is Status.PREPARING and not evse.in_transaction:
            evse.id_tag = ""
            evse.auth_status = ""
            evse.remote_start_id = None
            evse.plugged = False
            self._set_status(evse, evse.free_status, now)

    def fault(self, connector_id: int, error_code: str, now: float) -> None:
        for evse in self._targets(connector_id):
            if evse.in_transaction:
                self._end(evse, "Other", now, _CONNECTED, "AbnormalCondition")
            evse.error_code = error_code
            self._set_status(evse, Status.FAULTED, now)

    def repaired(self, connector_id: int, now: float) -> None:
        for evse in self._targets(connector_id):
            if evse.status is Status.FAULTED:
                evse.error_code = "NoError"
                evse.id_tag = ""
                self._set_status(evse, evse.free_status, now)

    def reboot(self, reason: str, now: float) -> None:
        """Power loss or reset: transactions end with `reason` (E07/E08: delivered once back,
        after the boot), everything else queued is forgotten, the next connection boots."""
        # B03: the Ended events wait aside (`_held`) until the next boot is Accepted.
        self.boot = BootState.WAITING
        for evse in self.connectors:
            if evse.in_transaction:
                stopped = messages.STOPPED_REASON.get(reason, "Other")
                trigger = messages.ENDED_TRIGGER.get(stopped, "AbnormalCondition")
                self._end(evse, reason, now, _IDLE, trigger)
            evse.id_tag = ""
            evse.auth_status = ""
            evse.remote_start_id = None
            evse.plugged = False
            evse.error_code = "NoError"
            evse.status = evse.free_status  # G03: availability survives reboots
            self.meter.status_changed(evse.connector_id, evse.status.value, now)
        for dropped in self.session.clear_queue(keep_offline=True):
            self.observer.call_lost(self.version, dropped.action)
        self.boot_retry_at = NEVER
        self.heartbeat_at = NEVER
        self._reset_on_idle = False
        # B11/B12: a boot after a Reset says RemoteReset; after a power loss, PowerUp.
        self.boot_reason = "RemoteReset" if reason.endswith("Reset") else "PowerUp"

    def ev_suspended(self, connector_id: int, now: float) -> None:
        evse = self.connectors[connector_id - 1]
        if evse.status is Status.CHARGING:
            self._set_status(evse, Status.SUSPENDED_EV, now)

    def stop_transaction(self, connector_id: int, reason: str, now: float) -> None:
        """End the transaction; the cable stays in (Occupied until unplugged)."""
        evse = self.connectors[connector_id - 1]
        if not evse.in_transaction:
            return
        stopped = messages.STOPPED_REASON.get(reason, "Other")
        self._end(
            evse, reason, now, _CONNECTED, messages.ENDED_TRIGGER.get(stopped, "AbnormalCondition")
        )
        self._set_status(evse, Status.FINISHING, now)

    def unplug(self, connector_id: int, now: float) -> None:
        evse = self.connectors[connector_id - 1]
        evse.plugged = False
        if evse.in_transaction:
            self._end(evse, "EVDisconnected", now, _IDLE, "EVCommunicationLost")
        evse.id_tag = ""
        evse.auth_status = ""
        evse.remote_start_id = None
        if evse.status not in (Status.AVAILABLE, Status.UNAVAILABLE, Status.FAULTED):
            evse.error_code = "NoError"
            self._set_status(evse, evse.free_status, now)

    def is_charging(self, connector_id: int) -> bool:
        return self.connectors[connector_id - 1].status is Status.CHARGING

    def status_of(self, connector_id: int) -> Status:
        return self.connectors[connector_id - 1].status

    # -- used by the command handlers ----------------------------------------------------------

    def remote_start(self, evse_id: int, token: Payload, remote_start_id: int, now: float) -> None:
        """F01 RequestStartTransaction accepted: the token is authorized (AuthorizeRemoteStart
        false), the planned driver plugs in if there is one, and Started says RemoteStart with
        the remoteStartId (F01.FR.?: transactionInfo.remoteStartId)."""
        evse = self.connectors[evse_id - 1]
        evse.id_tag = str(token.get("idToken", ""))
        evse.token_kind = str(token.get("type", ""))
        evse.auth_status = "Accepted"
        evse.fail_start = ""
        evse.remote_start_id = remote_start_id
        if evse.plugged:
            self._start(evse, now, "RemoteStart")
            return
        if not self.meter.remote_start(evse_id, now):  # the driver calls cable_in, or nobody
            self._set_status(evse, Status.PREPARING, now)
            timeout = control.EV_CONNECTION_TIMEOUT_S
            self.schedule(now + timeout, lambda at: self.cancel_preparing(evse_id, at))

    def end_all(self, reason: str, now: float) -> None:
        for evse in self.connectors:
            if evse.in_transaction:
                self.stop_transaction(evse.connector_id, reason, now)

    def reset_when_idle(self, now: float) -> None:
        """B12 OnIdle: reboot once no transaction is going on."""
        if any(e.in_transaction for e in self.connectors):
            self._reset_on_idle = True
            return
        self.reset_pending = "OnIdle"
        self.reset_deadline = now + control.RESET_GRACE_S

    def send_boot_triggered(self, now: float) -> None:
        self.boot_reason = "Triggered"
        self._send_boot(now, now)

    def send_transaction_updated(self, evse: Evse, trigger: str, context: str, now: float) -> None:
        """A TransactionEvent Updated with a reading of `context` (periodic, clock, trigger)."""
        self._event(evse, "Updated", trigger, now, values=[self._reading(evse, context, now)])

    def send_meter_values(self, evse: Evse, now: float) -> None:
        """J01 MeterValuesRequest outside a transaction (F06 TriggerMessage MeterValues)."""
        payload = messages.meter_values(evse.connector_id, [self._reading(evse, "Trigger", now)])
        self.session.call("MeterValues", payload, now, now)

    def report_status(self, evse: Evse, now: float) -> None:
        self._report_status(evse, now)

    def send_heartbeat(self, now: float) -> None:
        self.session.call("Heartbeat", messages.heartbeat(), now, now)

    def set_status(self, evse: Evse, status: Status, now: float) -> None:
        self._set_status(evse, status, now)

    def clear_cache(self) -> str:
        """C11 ClearCache."""
        return self._cache.clear() if self._cache is not None else "Accepted"

    def queued_events(self, transaction_id: str | None) -> bool:
        """E14: are TransactionEvents (of this transaction, or any) still to be delivered?"""
        held = self._held or []
        for call in [*held, *self.session.transaction_messages()]:
            info = call.payload.get("transactionInfo", {})
            if transaction_id is None or info.get("transactionId") == transaction_id:
                return True
        return False

    # -- transactions --------------------------------------------------------------------------

    def _start(self, evse: Evse, now: float, trigger: str) -> None:
        """E01/E02 (TxStartPoint PowerPathClosed): Started, energy flowing."""
        if evse.fail_start:
            # The EV does not respond (no PWM / no communication): no transaction.
            evse.error_code = evse.fail_start
            evse.fail_start = ""
            self._set_status(evse, Status.FINISHING, now)
            return
        self._tx_counter += 1
        # identifierString(36), unique per station: its identity, a counter and the clock.
        tx_id = f"{self.settings.identity[-16:]}-{int(now):x}-{self._tx_counter}"
        evse.transaction_id = tx_id
        evse.seq_no = 0
        evse.charging_state = "Charging"
        self.observer.transaction_started(self.version)
        self._put_status(evse, Status.CHARGING, now)
        info: Payload = {"transactionId": tx_id, "chargingState": "Charging"}
        if evse.remote_start_id is not None:
            info["remoteStartId"] = evse.remote_start_id  # F01 / F02
        token = messages.id_token(evse.id_tag, evse.token_kind)
        reading = self._reading(evse, "Transaction.Begin", now)
        self._event(evse, "Started", trigger, now, info=info, token=token, values=[reading])
        if self.meter_at == NEVER and self.clock_at == NEVER:
            self._reschedule_meter(now)

    def _end(self, evse: Evse, reason: str, now: float, state: str, trigger: str) -> None:
        """E06/E07: Ended with the stoppedReason and the Transaction.End reading."""
        assert evse.transaction_id is not None
        info: Payload = {
            "transactionId": evse.transaction_id,
            "chargingState": state,
            "stoppedReason": messages.STOPPED_REASON.get(reason, "Other"),
        }
        reading = self._reading(evse, "Transaction.End", now)
        self._event(evse, "Ended", trigger, now, info=info, values=[reading])
        evse.transaction_id = None
        evse.remote_start_id = None
        evse.charging_state = ""
        self.observer.transaction_stopped(self.version)
        if not any(e.in_transaction for e in self.connectors):
            self.meter_at = NEVER
            self.clock_at = NEVER
            if self._reset_on_idle:  # B12 OnIdle: now
                self._reset_on_idle = False
                self.reset_pending = "OnIdle"
                self.reset_deadline = now + control.RESET_GRACE_S

    def _event(
        self,
        evse: Evse,
        event_type: str,
        trigger: str,
        now: float,
        *,
        info: Payload | None = None,
        token: Payload | None = None,
        values: list[Payload] | None = None,
    ) -> None:
        """One TransactionEvent of the EVSE's transaction: the next seqNo, offline flag."""
        assert evse.transaction_id is not None
        if info is None:
            info = {"transactionId": evse.transaction_id}
        payload = messages.transaction_event(
            event_type,
            trigger,
            evse.seq_no,
            now,
            info,
            offline=not self.session.online,
            evse_id=evse.connector_id if event_type == "Started" else 0,
            token=token,
            values=values,
        )
        evse.seq_no += 1
        if self.boot is not BootState.ACCEPTED:
            self._hold(OutgoingCall("TransactionEvent", payload, now, True, evse.connector_id))
            return
        self._transaction_call(payload, now, now, evse.connector_id)

    def _transaction_call(
        self, payload: Payload, intended_at: float, now: float, evse_id: int
    ) -> None:
        session = self.session
        outgoing = session.call(
            "TransactionEvent", payload, intended_at, now, keep_offline=True, context=evse_id
        )
        if outgoing is None:
            self.observer.transaction_message_dropped(
                self.version, "TransactionEvent", "queue_full"
            )
        displaced = session.take_displaced()
        if displaced is not None:
            self.observer.transaction_message_dropped(self.version, displaced.action, "queue_full")

    def _hold(self, outgoing: OutgoingCall) -> None:
        if self._held is None:
            self._held = []
        if len(self._held) >= self.settings.max_offline_queue:
            self.observer.transaction_message_dropped(self.version, outgoing.action, "queue_full")
            return
        self._held.append(outgoing)

    def _release_held(self, now: float) -> None:
        held, self._held = self._held, None
        for outgoing in held or ():
            self._transaction_call(outgoing.payload, outgoing.intended_at, now, outgoing.context)

    def _reading(self, evse: Evse, context: str, at: float) -> Payload:
        reading = self.meter.read(evse.connector_id, at)
        s = self.settings
        return messages.meter_value(reading, s.measurands, context, s.ac, at)

    def _reschedule_meter(self, now: float) -> None:
        interval = self.meter_interval
        self.meter_at = now + interval if interval > 0 else NEVER
        aligned = self.clock_aligned_s
        self.clock_at = (now // aligned + 1) * aligned if aligned > 0 else NEVER

    def _periodic_sample(self, now: float) -> None:
        """E02 / J02: Updated with MeterValuePeriodic every TxUpdatedInterval."""
        if self.meter_at <= now:
            due = self.meter_at
            following = due + self.meter_interval
            self.meter_at = following if following > now else now + self.meter_interval
            for evse in self.connectors:
                if evse.in_transaction:
                    self.send_transaction_updated(
                        evse, "MeterValuePeriodic", "Sample.Periodic", due
                    )

    def _clock_sample(self, now: float) -> None:
        """J01: clock-aligned readings of a transaction go as Updated MeterValueClock."""
        if self.clock_at <= now:
            due = self.clock_at
            aligned = self.clock_aligned_s
            self.clock_at = (now // aligned + 1) * aligned
            for evse in self.connectors:
                if evse.in_transaction:
                    self.send_transaction_updated(evse, "MeterValueClock", "Sample.Clock", due)

    # -- authorization -------------------------------------------------------------------------

    def _authorize_locally(self, id_tag: str, now: float, offline: bool = False) -> str:
        """C12/C15: offline, the authorization cache and the offline rules decide (the 1.6
        policy's defaults); online, the CSMS does ("" = send Authorize)."""
        online = not offline and self.session.online and self.boot is BootState.ACCEPTED
        if online:
            return ""
        if self._local_list is None:
            self._local_list = LocalAuthList()
        if self._cache is None:
            self._cache = AuthorizationCache(enabled=True, local_list=self._local_list)
        decision = decide(id_tag, False, now, default_auth_policy(), self._local_list, self._cache)
        return "" if decision.action is Action.ASK else decision.status

    def _authorized(self, evse: Evse, status: str, now: float) -> None:
        evse.auth_status = status
        if (
            status == "Accepted"
            and evse.status is Status.PREPARING
            and evse.plugged
            and not evse.in_transaction
        ):
            self._start(evse, now, "Authorized")

    def _remember(self, token: object, info: object, now: float) -> None:
        """C10: idTokenInfo answers update the authorization cache (made when first needed)."""
        if self._cache is None or not isinstance(info, dict) or not isinstance(token, dict):
            return
        entry = {"status": info.get("status")}
        if "cacheExpiryDateTime" in info:
            entry["expiryDate"] = info["cacheExpiryDateTime"]
        with contextlib.suppress(ValueError):  # a 2.0.1-only status (NoCredit...): not cached
            self._cache.remember(str(token.get("idToken")), entry, now)

    # -- answers to our CALLs ------------------------------------------------------------------

    def _send_boot(self, intended_at: float, now: float) -> None:
        s = self.settings
        payload = messages.boot_notification(
            self.boot_reason, s.vendor, s.model, s.serial, s.firmware
        )
        self.session.call("BootNotification", payload, intended_at, now, urgent=True)

    def _on_boot(self, outgoing: OutgoingCall, now: float) -> None:
        result = outgoing.result or {}
        interval = result.get("interval")
        if result.get("status") == "Accepted":
            was_accepted = self.boot is BootState.ACCEPTED  # a triggered boot (F06)
            self.boot = BootState.ACCEPTED
            # B01 the interval is the heartbeat interval to use.
            if type(interval) is int and interval > 0:
                self.heartbeat_interval = float(interval)
                if self._device_model is not None:  # B06: it reads what the station runs with
                    self._device_model.set_actual(
                        "OCPPCommCtrlr", "HeartbeatInterval", str(interval)
                    )
            self.heartbeat_at = now + self.heartbeat_interval
            if was_accepted:
                return
            self.observer.booted()
            for evse in self.connectors:
                self._report_status(evse, now)
            self._release_held(now)
            return
        # B02/B03 Pending or Rejected: retry after `interval` (ours if it gave none).
        if self.boot is BootState.ACCEPTED:
            return  # a triggered boot answered Pending: the station stays accepted
        self.boot = BootState.PENDING
        delay = (
            float(interval)
            if type(interval) is int and interval > 0
            else self.settings.boot_retry_s
        )
        self.boot_retry_at = now + delay

    def _on_authorize(self, outgoing: OutgoingCall, now: float) -> None:
        token = outgoing.payload["idToken"]
        info = (outgoing.result or {}).get("idTokenInfo", {})
        self._remember(token, info, now)
        evse = self.connectors[outgoing.context - 1]
        if evse.id_tag != token["idToken"] or evse.auth_status:
            return  # an earlier token's answer: stale
        self._authorized(evse, str(info.get("status")), now)

    def _on_transaction_event(self, outgoing: OutgoingCall, now: float) -> None:
        """E05 (TxCtrlr.StopTxOnInvalidId): a refused token ends its transaction."""
        info = (outgoing.result or {}).get("idTokenInfo")
        if not isinstance(info, dict) or info.get("status") == "Accepted":
            return
        self._remember(outgoing.payload.get("idToken"), info, now)
        tx_id = outgoing.payload["transactionInfo"]["transactionId"]
        evse = self.connectors[outgoing.context - 1]
        evse.auth_status = str(info.get("status"))
        if evse.transaction_id == tx_id:
            self._end(evse, "DeAuthorized", now, _CONNECTED, "Deauthorized")
            self._set_status(evse, Status.FINISHING, now)

    def _attempt_failed(self, outgoing: OutgoingCall, now: float) -> None:
        if outgoing.retrying:
            return
        if outgoing.keep_offline:
            self.observer.transaction_message_dropped(self.version, outgoing.action, "attempts")
        self._failed(outgoing, now)

    def _failed(self, outgoing: OutgoingCall, now: float) -> None:
        if outgoing.action == "BootNotification" and self.boot is not BootState.ACCEPTED:
            self.boot = BootState.PENDING
            self.boot_retry_at = now + self.settings.boot_retry_s
        elif outgoing.action == "Authorize":
            # No answer from the CSMS: decide as an offline station does (C12/C15).
            evse = self.connectors[outgoing.context - 1]
            token = outgoing.payload["idToken"]["idToken"]
            if evse.id_tag == token and not evse.auth_status:
                self._authorized(evse, self._authorize_locally(token, now, offline=True), now)

    # -- CSMS-initiated calls ------------------------------------------------------------------

    @property
    def device_model(self) -> DeviceModel:
        if self._device_model is None:
            dm = provisioning.device_model_of(self)
            # What the station runs with now (the boot answer may have set the heartbeat).
            interval = str(round(self.heartbeat_interval))
            dm.set_actual("OCPPCommCtrlr", "HeartbeatInterval", interval)
            dm.set_actual("SampledDataCtrlr", "TxUpdatedInterval", str(round(self.meter_interval)))
            dm.set_actual("AlignedDataCtrlr", "Interval", str(round(self.clock_aligned_s)))
            self._device_model = dm
        return self._device_model

    def _on_csms_call(self, call: Call, now: float) -> None:
        handler = _HANDLERS.get(call.action)
        if handler is not None:
            self.observer.command_handled(self.version, call.action, handler(self, call, now))
            return
        # OCPP-J 2.0.1 §4.3: a known action we do not support, or one we do not know at all.
        known = call.action in control.known_actions(self.version)
        code = ErrorCode.NOT_SUPPORTED if known else ErrorCode.NOT_IMPLEMENTED
        self.session.answer_error(call, code, call.action)
        self.observer.command_handled(self.version, call.action, code.value)

    # -- status --------------------------------------------------------------------------------

    def _targets(self, connector_id: int) -> list[Evse]:
        return self.connectors if connector_id == 0 else [self.connectors[connector_id - 1]]

    def _set_status(self, evse: Evse, status: Status, now: float) -> None:
        """Behaviour status change: StatusNotification if the connectorStatus word changes,
        and TransactionEvent Updated ChargingStateChanged if the chargingState does (E02)."""
        self._put_status(evse, status, now)
        if evse.in_transaction:
            state = messages.CHARGING_STATE.get(status.value)
            if state and state != evse.charging_state:
                evse.charging_state = state
                info: Payload = {"transactionId": evse.transaction_id, "chargingState": state}
                self._event(evse, "Updated", "ChargingStateChanged", now, info=info)

    def _put_status(self, evse: Evse, status: Status, now: float) -> None:
        before = messages.CONNECTOR_STATUS[evse.status.value]
        evse.status = status
        self.meter.status_changed(evse.connector_id, status.value, now)
        if messages.CONNECTOR_STATUS[status.value] != before:
            self._report_status(evse, now)

    def _report_status(self, evse: Evse, now: float) -> None:
        # Not a transaction message: offline it is not queued; the reconnect reports the
        # current status instead. B03: none before the boot is Accepted.
        if not self.session.online or self.boot is not BootState.ACCEPTED:
            return
        payload = messages.status_notification(evse.connector_id, evse.status.value, now)
        self.session.call("StatusNotification", payload, now, now)


_ANSWERED: Final[dict[str, Callable[[Charger201, OutgoingCall, float], None]]] = {
    "BootNotification": Charger201._on_boot,
    "Authorize": Charger201._on_authorize,
    "TransactionEvent": Charger201._on_transaction_event,
}


_HANDLERS: Final = {**control.HANDLERS, **provisioning.HANDLERS}
