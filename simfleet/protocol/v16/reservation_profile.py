"""CSMS-initiated Reservation operations of OCPP 1.6: ReserveNow (§5.13), CancelReservation
(§5.1), and what reservations change in the charger's life: which connector shows Reserved
(§4.9), who may use it, and the reservationId a StartTransaction carries (§4.8). The rules live
in `reservation.Reservations`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

from simfleet.protocol.frames import Call
from simfleet.protocol.v16.answers import Handler, reject_payload
from simfleet.protocol.v16.reservation import Reservation
from simfleet.protocol.v16.state import Connector, Status

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
        ch.schedule(reservation.expiry, functools.partial(expire, ch))
        show(ch, now)
    return status


def cancel_reservation(ch: Charger16, call: Call, now: float) -> str:
    reservation_id = call.payload.get("reservationId")
    if type(reservation_id) is not int:
        return reject_payload(ch, call, "reservationId must be an integer")
    status = ch.reservations.cancel(reservation_id)
    ch.session.answer(call, {"status": status})
    show(ch, now)
    return status


# -- the charger's side ----------------------------------------------------------------------


def held_by(ch: Charger16, connector: Connector) -> Reservation | None:
    """The reservation holding the connector now, if any (§5.13)."""
    reservations = ch._reservations
    if not reservations:
        return None
    return reservations.held(connector.connector_id, ch.status_name)


def admits(ch: Charger16, connector: Connector, id_tag: str, now: float) -> bool:
    """May `id_tag` use the connector? Yes unless a reservation holds it for someone else
    (§5.13: the idTag or its parentIdTag, as the local list or cache knows it)."""
    held = held_by(ch, connector)
    return held is None or held.admits(id_tag, _known_parent(ch, id_tag, now))


def _known_parent(ch: Charger16, id_tag: str, now: float) -> str | None:
    info = None
    if ch._local_list is not None:
        info = ch._local_list.lookup_at(id_tag, now)
    if info is None and ch._cache is not None:
        info = ch._cache.lookup(id_tag, now)
    parent = (info or {}).get("parentIdTag")
    return parent if isinstance(parent, str) else None


def show(ch: Charger16, now: float) -> None:
    """Free connectors a reservation holds read Reserved, the others Available (§4.9)."""
    for connector in ch.connectors:
        if connector.in_transaction or connector.status not in (Status.AVAILABLE, Status.RESERVED):
            continue
        wanted = Status.RESERVED if held_by(ch, connector) else connector.free_status
        if connector.status is not wanted:
            ch._put_status(connector, wanted, now)


def expire(ch: Charger16, now: float) -> None:
    """A reservation's expiryDate came (§5.13 (2)): its connector is free again."""
    if ch._reservations is not None and ch._reservations.expire(now):
        show(ch, now)


def release(ch: Charger16, connector_id: int, now: float) -> None:
    """§5.13 (3): a connector (0: the charge point) went Faulted or Unavailable."""
    if ch._reservations and ch._reservations.release(connector_id):
        show(ch, now)


def status_changed(ch: Charger16, connector: Connector, status: Status, now: float) -> None:
    """§5.13 (3): Faulted or Unavailable ends the connector's reservation; any change may move
    which connector a connector-0 reservation holds."""
    if status in (Status.FAULTED, Status.UNAVAILABLE) and ch._reservations is not None:
        ch._reservations.release(connector.connector_id)
    show(ch, now)


def consume(ch: Charger16, connector: Connector, now: float) -> int | None:
    """The reservation a starting transaction ends (§5.13 (1)), if any: its id goes in the
    StartTransaction.req (§4.8)."""
    reservations = ch._reservations
    if not reservations:
        return None
    id_tag = connector.id_tag
    match = reservations.matches(connector.connector_id, id_tag, _known_parent(ch, id_tag, now))
    if match is None:
        return None
    reservations.consume(match.reservation_id)
    return match.reservation_id


HANDLERS: Final[dict[str, Handler]] = {
    "CancelReservation": cancel_reservation,
    "ReserveNow": reserve_now,
}
