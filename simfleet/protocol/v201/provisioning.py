"""Block B of OCPP 2.0.1 on the station: GetVariables (B06), SetVariables (B05) with their
effects, GetBaseReport (B07) and GetReport (B08) with their NotifyReport pages. The device
model itself (components, variables, checks, pages) is `device_model` / `dm_reports`; this
module answers the CALLs and applies what a new value changes in the station's traffic.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

from simfleet.protocol.frames import Call
from simfleet.protocol.session import NEVER
from simfleet.protocol.v201 import dm_reports
from simfleet.protocol.v201.device_model import Changed, DeviceModel, RequestError
from simfleet.protocol.v201.dm_catalogue import StationModel, definitions_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from simfleet.protocol.v201.charger import Charger201

#: The model's nominal power for the EVSE Power variable (the settings carry no per-connector
#: power; per-charger values would defeat sharing the definitions among a model's chargers).
AC_POWER_W: Final = 22_000.0
DC_POWER_W: Final = 150_000.0


def device_model_of(ch: Charger201) -> DeviceModel:
    """The station's device model from its charger model (definitions shared per model)."""
    s = ch.settings
    model = StationModel(
        vendor=s.vendor,
        model=s.model,
        evses=len(ch.connectors),
        ac=s.ac,
        max_power_w=AC_POWER_W if s.ac else DC_POWER_W,
        phases=s.phases,
        security_profile=s.security_profile,
        heartbeat_interval_s=round(s.heartbeat_interval_s),
    )
    return DeviceModel(definitions_for(model))


def retry_back_off(ch: Charger201) -> tuple[int, int, int]:
    """RetryBackOffWaitMinimum, RandomRange and RepeatTimes (OCPPCommCtrlr), read without
    making the station's device model when nobody configured it (most stations)."""
    dm = ch._device_model or device_model_of(ch)  # the model's defaults: nothing is kept
    read = functools.partial(dm.integer, "OCPPCommCtrlr")
    return (
        read("RetryBackOffWaitMinimum"),
        read("RetryBackOffRandomRange"),
        read("RetryBackOffRepeatTimes"),
    )


def _refuse(ch: Charger201, call: Call, error: RequestError) -> str:
    ch.session.answer_error(call, error.code, error.description)
    return ch.session.dialect.spell(error.code)


def get_variables(ch: Charger201, call: Call, now: float) -> str:
    answer = ch.device_model.get_variables(call.payload, now)
    if isinstance(answer, RequestError):
        return _refuse(ch, call, answer)
    ch.session.answer(call, answer)
    return "Answered"


def set_variables(ch: Charger201, call: Call, now: float) -> str:
    result = ch.device_model.set_variables(call.payload)
    if isinstance(result.answer, RequestError):
        return _refuse(ch, call, result.answer)
    ch.session.answer(call, result.answer)
    for changed in result.changed:
        _apply(ch, changed, now)
    statuses = {r["attributeStatus"] for r in result.answer["setVariableResult"]}
    return statuses.pop() if len(statuses) == 1 else "Mixed"


def get_base_report(ch: Charger201, call: Call, now: float) -> str:
    return _report(ch, call, dm_reports.get_base_report(ch.device_model, call.payload, now), now)


def get_report(ch: Charger201, call: Call, now: float) -> str:
    return _report(ch, call, dm_reports.get_report(ch.device_model, call.payload, now), now)


def _report(ch: Charger201, call: Call, result: dm_reports.ReportResult, now: float) -> str:
    if isinstance(result.answer, RequestError):
        return _refuse(ch, call, result.answer)
    ch.session.answer(call, result.answer)
    for page in result.pages:  # B07.FR.05 / B08.FR.03: the report follows the answer
        ch.session.call("NotifyReport", page, now, now)
    return str(result.answer["status"])


def _apply(ch: Charger201, changed: Changed, now: float) -> None:
    """What a new value changes in the station's behaviour (2.0.1 Part 2 Appendices)."""
    effect = _EFFECTS.get((changed.component, changed.variable))
    if effect is not None:
        effect(ch, now)


def _heartbeat(ch: Charger201, now: float) -> None:
    interval = ch.device_model.integer("OCPPCommCtrlr", "HeartbeatInterval")
    ch.heartbeat_interval = float(interval) or ch.settings.heartbeat_interval_s
    if ch.accepted:
        ch.heartbeat_at = now + ch.heartbeat_interval


def _sampling(ch: Charger201, now: float) -> None:
    dm = ch.device_model
    ch.meter_interval = float(dm.integer("SampledDataCtrlr", "TxUpdatedInterval"))
    ch.clock_aligned_s = float(dm.integer("AlignedDataCtrlr", "Interval"))
    if any(evse.transaction_id is not None for evse in ch.connectors):
        ch._reschedule_meter(now)
    else:
        ch.meter_at = ch.clock_at = NEVER


def _message_attempts(ch: Charger201, _now: float) -> None:
    # E04 / B05: TransactionEvent retries follow MessageAttempts / MessageAttemptInterval.
    dm = ch.device_model
    ch.session.retry_attempts = dm.integer("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent")
    ch.session.retry_interval = float(
        dm.integer("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent")
    )


_EFFECTS: Final[dict[tuple[str, str], Callable[[Charger201, float], None]]] = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): _heartbeat,
    ("SampledDataCtrlr", "TxUpdatedInterval"): _sampling,
    ("AlignedDataCtrlr", "Interval"): _sampling,
    ("OCPPCommCtrlr", "MessageAttempts"): _message_attempts,
    ("OCPPCommCtrlr", "MessageAttemptInterval"): _message_attempts,
}

HANDLERS: Final[dict[str, Callable[[Charger201, Call, float], str]]] = {
    "GetBaseReport": get_base_report,
    "GetReport": get_report,
    "GetVariables": get_variables,
    "SetVariables": set_variables,
}

__all__ = ["HANDLERS", "device_model_of", "retry_back_off"]
