"""SmartCharging (§3.13, §5.5, §5.7, §5.16) and LocalAuthList/cache commands on the charger.

The profile arithmetic lives in `smart_charging`, the lists in `local_auth`; this module answers
the CALLs and makes the charger follow: every change of a connector's composite limit goes to
the `Meter` port, so the simulated power, currents and energy obey it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from simfleet.protocol.frames import Call
from simfleet.protocol.v16.answers import reject_payload

if TYPE_CHECKING:
    from simfleet.protocol.v16.answers import Handler
    from simfleet.protocol.v16.charger import Charger16


def set_charging_profile(ch: Charger16, call: Call, now: float) -> str:
    cid = call.payload.get("connectorId")
    profile = call.payload.get("csChargingProfiles")
    if type(cid) is not int or not isinstance(profile, dict):
        return reject_payload(ch, call, "connectorId, csChargingProfiles")
    tx = ch.connectors[cid - 1].transaction_id if 1 <= cid <= len(ch.connectors) else None
    try:
        status = ch.profiles.set(cid, profile, now, tx)
    except (KeyError, TypeError, ValueError) as error:
        return reject_payload(ch, call, str(error))
    ch.session.answer(call, {"status": status})
    ch.apply_limits(now)
    return status


def clear_charging_profile(ch: Charger16, call: Call, now: float) -> str:
    p = call.payload
    status = ch.profiles.clear(
        p.get("id"), p.get("connectorId"), p.get("chargingProfilePurpose"), p.get("stackLevel")
    )
    ch.session.answer(call, {"status": status})
    ch.apply_limits(now)
    return status


def get_composite_schedule(ch: Charger16, call: Call, now: float) -> str:
    cid, duration = call.payload.get("connectorId"), call.payload.get("duration")
    if type(cid) is not int or type(duration) is not int:
        return reject_payload(ch, call, "connectorId, duration")
    unit = call.payload.get("chargingRateUnit")
    conf = ch.profiles.get_composite_schedule_conf(
        cid, duration, unit if isinstance(unit, str) else None, now, ch.settings.phases
    )
    ch.session.answer(call, conf)
    return str(conf["status"])


def send_local_list(ch: Charger16, call: Call, _now: float) -> str:
    try:
        status = ch.local_list.send(call.payload, ch.auth_policy)
    except (KeyError, TypeError, ValueError) as error:
        return reject_payload(ch, call, str(error))
    ch.session.answer(call, {"status": status})
    return status


def get_local_list_version(ch: Charger16, call: Call, _now: float) -> str:
    ch.session.answer(call, {"listVersion": ch.local_list.list_version(ch.auth_policy)})
    return "Answered"


HANDLERS: Final[dict[str, Handler]] = {
    "ClearChargingProfile": clear_charging_profile,
    "GetCompositeSchedule": get_composite_schedule,
    "GetLocalListVersion": get_local_list_version,
    "SendLocalList": send_local_list,
    "SetChargingProfile": set_charging_profile,
}
