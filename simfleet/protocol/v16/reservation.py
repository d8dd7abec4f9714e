"""OCPP 1.6 Reservation profile: ReserveNow, CancelReservation, expiry, and which connector a
reservation holds (§3.11 Reservations, §5.1 Cancel Reservation, §5.13 Reserve Now, §6.37
ReserveNow.req, §7.40 ReservationStatus, §9.3.1 ReserveConnectorZeroSupported).

Pure: no clock reads, times are epoch seconds passed in; connector statuses are read through a
callable `connector_status(connector_id) -> ChargePointStatus` (§7.7), where connector 0 is the
Charge Point itself (Available, Unavailable or Faulted).

What stays with the charger: a StatusNotification Reserved for a connector that becomes held
(§4.9 A7) and Available when it stops being held (G1); `expire` at `next_expiry`; refusing an
idTag on a held connector unless `matches` admits it, and then `consume` and put the
reservationId in StartTransaction.req (§4.8 "If this transaction ends a reservation ... the
StartTransaction.req MUST contain the reservationId"); `release` when a connector (or the
Charge Point) goes Faulted or Unavailable (§5.13 (3)).

Malformed payloads (wrong types, a missing field, an expiryDate that is not ISO 8601) raise
`ValueError`; the caller answers a CALLERROR (OCPP-J §4.2.3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from simfleet.protocol.timefmt import parse_iso_utc

ConnectorStatus = Callable[[int], str]

#: §5.13 "'Occupied' if the Charge Point or the specified connector are occupied": the five
#: statuses that replaced 1.5's Occupied (§4.9).
OCCUPIED: Final = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})
#: A connector a new user could take: Available, or Reserved (the display of a reservation
#: held here; whose, `Reservations` knows).
FREE: Final = frozenset({"Available", "Reserved"})


@dataclass(slots=True)
class Reservation:
    """One accepted ReserveNow.req. `connector_id` 0: any connector (§6.37 "A value of 0 means
    that the reservation is not for a specific connector"). `expiry` is epoch seconds."""

    reservation_id: int
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry: float

    def admits(self, id_tag: str, parent_id_tag: str | None) -> bool:
        """Whether an idTag (with the parentIdTag its IdTagInfo gives, if known) may use this
        reservation. §5.13: "except when the incoming idTag or the parent idTag match the idTag
        or parent idTag of the reservation", read pairwise: idTag with idTag, parentIdTag with
        parentIdTag (§3.10: a ParentId "SHOULD NOT be used for comparison against a presented
        Token value"). IdTokens are case insensitive (§7.28)."""
        if id_tag.casefold() == self.id_tag.casefold():
            return True
        return (
            self.parent_id_tag is not None
            and parent_id_tag is not None
            and parent_id_tag.casefold() == self.parent_id_tag.casefold()
        )


def _field(payload: dict[str, Any], key: str, kind: type) -> Any:
    value = payload.get(key)
    if type(value) is not kind:
        raise ValueError(f"{key} must be {kind.__name__}, not {type(value).__name__}")
    return value


class Reservations:
    """The reservations of one Charge Point with `connectors` connectors (numbered 1..n, §3.8).

    Connector 0 (`connector_zero_supported`, ReserveConnectorZeroSupported §9.3.1) reserves no
    connector in particular, but "at any time during the validity of the reservation, one
    connector remains available for the reserved idTag" (§5.13). Here that means: the connectors
    that are free (Available or Reserved, and not held by a connector-specific reservation) form
    a pool; while the pool has one connector left and a connector-0 reservation stands, that
    connector is held by it (`held`, which then shows it Reserved). Until then every free
    connector is open to anyone. At most one connector-0 reservation stands at a time (§5.13
    "'Occupied' when the Charge Point ... has been reserved for the same or another idTag").
    """

    __slots__ = ("_by_id", "connector_zero_supported", "connectors")

    def __init__(self, connectors: int, connector_zero_supported: bool = False) -> None:
        if connectors < 1:
            raise ValueError("a Charge Point has at least one connector")
        self.connectors = connectors
        self.connector_zero_supported = connector_zero_supported
        self._by_id: dict[int, Reservation] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Reservation]:
        return iter(list(self._by_id.values()))

    def get(self, reservation_id: int) -> Reservation | None:
        return self._by_id.get(reservation_id)

    # -- ReserveNow / CancelReservation --------------------------------------------------------

    def reserve(
        self, payload: dict[str, Any], connector_status: ConnectorStatus, now: float
    ) -> str:
        """Apply a ReserveNow.req (§5.13, §6.37); the ReserveNow.conf status (§7.40).

        - Rejected: connectorId 0 without ReserveConnectorZeroSupported (§5.13); a connectorId
          this Charge Point does not have; an expiryDate already reached.
        - Faulted / Unavailable: the Charge Point (connector 0's status) or the specified
          connector is Faulted / Unavailable; for connectorId 0 with no free connector: all
          connectors Faulted -> Faulted, all Faulted or Unavailable -> Unavailable.
        - Occupied: the connector is Preparing, Charging, SuspendedEV, SuspendedEVSE or
          Finishing; it is reserved already (another reservationId, for the same or another
          idTag); it is the last free connector while a connector-0 reservation stands; for
          connectorId 0: a connector-0 reservation stands already, or no connector is free.
        - Accepted otherwise.

        A reservationId that exists is replaced (§5.13 "SHALL replace that reservation"): the
        new request is judged as if the old reservation were gone (its own Reserved connector
        counts as free), and if it is not Accepted the old reservation stays as it was.
        """
        reservation_id = _field(payload, "reservationId", int)
        connector_id = _field(payload, "connectorId", int)
        id_tag = _field(payload, "idTag", str)
        parent = payload.get("parentIdTag")
        if parent is not None and not isinstance(parent, str):
            raise ValueError("parentIdTag must be a string")
        expiry = parse_iso_utc(payload.get("expiryDate"))

        if not 0 <= connector_id <= self.connectors:
            return "Rejected"
        if connector_id == 0 and not self.connector_zero_supported:
            return "Rejected"
        if expiry <= now:
            return "Rejected"
        others = [r for r in self._by_id.values() if r.reservation_id != reservation_id]
        status = self._judge(connector_id, connector_status, others)
        if status == "Accepted":
            self._by_id[reservation_id] = Reservation(
                reservation_id, connector_id, id_tag, parent, expiry
            )
        return status

    def _judge(
        self, connector_id: int, status_of: ConnectorStatus, others: list[Reservation]
    ) -> str:
        charge_point = status_of(0)
        if charge_point in ("Faulted", "Unavailable"):
            return charge_point
        pool = self._pool(status_of, others)
        anywhere = any(r.connector_id == 0 for r in others)
        if connector_id == 0:
            if anywhere:
                return "Occupied"
            if pool:
                return "Accepted"
            statuses = {status_of(n) for n in range(1, self.connectors + 1)}
            if statuses == {"Faulted"}:
                return "Faulted"
            if statuses <= {"Faulted", "Unavailable"}:
                return "Unavailable"
            return "Occupied"
        status = status_of(connector_id)
        if status in ("Faulted", "Unavailable"):
            return status
        if connector_id not in pool:  # in use, or reserved by another reservationId
            return "Occupied"
        if anywhere and len(pool) <= 1:  # the connector-0 reservation's last connector
            return "Occupied"
        return "Accepted"

    def _pool(self, status_of: ConnectorStatus, reservations: list[Reservation]) -> list[int]:
        """The free connectors: Available or Reserved, and not held by a connector-specific
        reservation."""
        specific = {r.connector_id for r in reservations if r.connector_id > 0}
        return [
            n for n in range(1, self.connectors + 1) if n not in specific and status_of(n) in FREE
        ]

    def cancel(self, reservation_id: int) -> str:
        """CancelReservation (§5.1): "If the Charge Point has a reservation matching the
        reservationId in the request PDU, it SHALL return status 'Accepted'. Otherwise it SHALL
        return 'Rejected'." The reservation is gone either way."""
        return "Accepted" if self._by_id.pop(reservation_id, None) is not None else "Rejected"

    # -- time ----------------------------------------------------------------------------------

    def expire(self, now: float) -> list[Reservation]:
        """Remove and return the reservations whose expiryDate has been reached (§5.13 (2)
        "when the time specified in expiryDate is reached"), earliest first."""
        gone = sorted((r for r in self._by_id.values() if r.expiry <= now), key=lambda r: r.expiry)
        for reservation in gone:
            del self._by_id[reservation.reservation_id]
        return gone

    def next_expiry(self) -> float:
        """When `expire` next has something to do; math.inf without reservations."""
        return min((r.expiry for r in self._by_id.values()), default=math.inf)

    # -- use -----------------------------------------------------------------------------------

    def held(
        self, connector_id: int, connector_status: ConnectorStatus | None = None
    ) -> Reservation | None:
        """The reservation holding `connector_id`: the one made for that connector; else, given
        `connector_status`, the connector-0 reservation when this connector is the last free
        one (see the class docstring). `connector_id` 0: the connector-0 reservation, if any.
        Without `connector_status` a connector-0 reservation holds no numbered connector."""
        anywhere = None
        for reservation in self._by_id.values():
            if reservation.connector_id == connector_id:
                return reservation
            if reservation.connector_id == 0:
                anywhere = reservation
        if anywhere is None or connector_status is None:
            return None
        pool = self._pool(connector_status, list(self._by_id.values()))
        return anywhere if pool == [connector_id] else None

    def matches(
        self, connector_id: int, id_tag: str, parent_id_tag: str | None
    ) -> Reservation | None:
        """The reservation a transaction of `id_tag` on `connector_id` ends (§5.13 (1) "a
        transaction is started for the reserved idTag or parent idTag and on the reserved
        connector or any connector when the reserved connectorId is 0"), or None.

        A connector reserved for someone else yields None even if a connector-0 reservation
        admits the idTag: that connector is not open to it. `parent_id_tag` is the one the
        local list, the cache or an Authorize.conf gave for `id_tag` (§5.13), None if unknown.
        """
        anywhere = None
        for reservation in self._by_id.values():
            if reservation.connector_id == connector_id and connector_id > 0:
                return reservation if reservation.admits(id_tag, parent_id_tag) else None
            if reservation.connector_id == 0 and reservation.admits(id_tag, parent_id_tag):
                anywhere = reservation
        return anywhere

    def consume(self, reservation_id: int) -> None:
        """The reservation ends in a transaction (whose StartTransaction.req carries its
        reservationId). KeyError if there is no such reservation."""
        del self._by_id[reservation_id]

    def release(self, connector_id: int) -> list[Reservation]:
        """Remove and return the reservations that end because `connector_id` became Faulted or
        Unavailable (§5.13 (3)): the one made for that connector; for 0 (the Charge Point), all.
        A connector-0 reservation outlives its connectors: while none is free it holds none."""
        gone = [r for r in self._by_id.values() if connector_id in (0, r.connector_id)]
        for reservation in gone:
            del self._by_id[reservation.reservation_id]
        return gone
