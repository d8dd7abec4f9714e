"""CSMS-initiated Reservation operations of OCPP 1.6: ReserveNow (§5.13), CancelReservation
(§5.1). The rules live in `reservation.Reservations`; this module answers the CALLs and lets the
charger show what they changed (Reserved / Available, §4.9).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from simfleet.protocol.frames import Call
from simfleet.protocol.v16.core_profile import Handler, reject_payload

if TYPE_CHECKING:
    from simfleet.protocol.v16.charger import Charger16


def reserve_now(ch: Charger16, call: Call, now: float) -> str:
    reservations = ch.reservations
    try:
        status = reservations.reserve(call.payload, ch.status_name, now)
    except ValueError as error:
        return reject_payload(ch, call, str(error))
    ch.session.answer(call, {"status": status})
    if status == "Accepted":
        reservation = reservations.get(call.payload["reservationId"])
        assert reservation is not None
        # §5.13 (2): the reservation ends when its expiryDate is reached.
        ch.schedule(reservation.expiry, ch.expire_reservations)
        ch.show_reservations(now)
    return status


def cancel_reservation(ch: Charger16, call: Call, now: float) -> str:
    reservation_id = call.payload.get("reservationId")
    if type(reservation_id) is not int:
        return reject_payload(ch, call, "reservationId must be an integer")
    status = ch.reservations.cancel(reservation_id)
    ch.session.answer(call, {"status": status})
    ch.show_reservations(now)
    return status


HANDLERS: Final[dict[str, Handler]] = {
    "CancelReservation": cancel_reservation,
    "ReserveNow": reserve_now,
}
