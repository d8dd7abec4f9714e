"""OCPP 1.6 Reservation profile (§3.11, §5.1, §5.13): ReserveNow statuses, replacement by
reservationId, connector 0, expiry, idTag / parentIdTag matching, CancelReservation.

Pure: connector statuses come from a dict, times are epoch seconds. Example payloads and every
confirmation are checked against the official 1.6 JSON schemas shipped in the `ocpp` package.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from ocpp_schemas import check, validator

from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16.reservation import Reservation, Reservations

T0 = 1_700_000_000.0
HOUR = 3600.0


class Statuses(dict[int, str]):
    """connector_id -> ChargePointStatus; 0 is the Charge Point. Unlisted: Available."""

    def __call__(self, connector_id: int) -> str:
        return self.get(connector_id, "Available")


def request(
    reservation_id: int,
    connector_id: int,
    id_tag: str = "DRIVER1",
    expiry: float = T0 + HOUR,
    parent: str | None = None,
    expiry_text: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": connector_id,
        "expiryDate": expiry_text if expiry_text is not None else iso_utc(expiry),
        "idTag": id_tag,
        "reservationId": reservation_id,
    }
    if parent is not None:
        payload["parentIdTag"] = parent
    check("ReserveNow", payload)
    return payload


def reserve(
    reservations: Reservations,
    payload: dict[str, Any],
    statuses: Statuses | None = None,
    now: float = T0,
) -> str:
    status = reservations.reserve(payload, statuses if statuses is not None else Statuses(), now)
    check("ReserveNowResponse", {"status": status})
    return status


def cancel(reservations: Reservations, reservation_id: int) -> str:
    check("CancelReservation", {"reservationId": reservation_id})
    status = reservations.cancel(reservation_id)
    check("CancelReservationResponse", {"status": status})
    return status


# -- ReserveNow on a connector ------------------------------------------------------------------


def test_reserve_an_available_connector() -> None:
    reservations = Reservations(2)
    assert reserve(reservations, request(7, 1, parent="FLEET")) == "Accepted"
    assert len(reservations) == 1
    held = reservations.held(1)
    assert held == Reservation(7, 1, "DRIVER1", "FLEET", T0 + HOUR)
    assert reservations.get(7) is held
    assert reservations.held(2) is None
    assert reservations.held(0) is None
    assert list(reservations) == [held]


@pytest.mark.parametrize("status", ["Faulted", "Unavailable"])
def test_a_faulted_or_unavailable_connector(status: str) -> None:
    reservations = Reservations(2)
    assert reserve(reservations, request(1, 2), Statuses({2: status})) == status
    assert len(reservations) == 0


@pytest.mark.parametrize("status", ["Faulted", "Unavailable"])
def test_a_faulted_or_unavailable_charge_point(status: str) -> None:
    # §5.13: "if the Charge Point or the connector are in the Faulted [Unavailable] state".
    reservations = Reservations(2, connector_zero_supported=True)
    assert reserve(reservations, request(1, 1), Statuses({0: status})) == status
    assert reserve(reservations, request(2, 0), Statuses({0: status})) == status
    assert len(reservations) == 0


@pytest.mark.parametrize(
    "status", ["Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"]
)
def test_a_connector_in_use_is_occupied(status: str) -> None:
    reservations = Reservations(2)
    assert reserve(reservations, request(1, 1), Statuses({1: status})) == "Occupied"
    assert len(reservations) == 0


@pytest.mark.parametrize("id_tag", ["DRIVER1", "DRIVER2"])
def test_a_connector_reserved_under_another_reservation_id_is_occupied(id_tag: str) -> None:
    # §5.13: "'Occupied' when the Charge Point or connector has been reserved for the same or
    # another idTag."
    reservations = Reservations(2)
    reserve(reservations, request(1, 1, "DRIVER1"))
    shown = Statuses({1: "Reserved"})
    assert reserve(reservations, request(2, 1, id_tag), shown) == "Occupied"
    assert reserve(reservations, request(2, 1, id_tag)) == "Occupied"  # status not updated yet
    assert reserve(reservations, request(2, 2, id_tag), shown) == "Accepted"


@pytest.mark.parametrize("connector_id", [3, -1])
def test_a_connector_the_charge_point_does_not_have_is_rejected(connector_id: int) -> None:
    reservations = Reservations(2)
    payload = request(1, 1)
    payload["connectorId"] = connector_id
    assert reserve(reservations, payload) == "Rejected"


@pytest.mark.parametrize("expiry", [T0 - 1, T0])
def test_an_expiry_date_already_reached_is_rejected(expiry: float) -> None:
    reservations = Reservations(1)
    assert reserve(reservations, request(1, 1, expiry=expiry)) == "Rejected"
    assert len(reservations) == 0


def test_expiry_date_with_an_offset() -> None:
    reservations = Reservations(1)
    payload = request(1, 1, expiry_text="2023-11-15T01:13:20+02:00")  # T0 + 1 h
    assert reserve(reservations, payload) == "Accepted"
    assert reservations.next_expiry() == T0 + HOUR


# -- replacement (§5.13 "SHALL replace that reservation") -------------------------------------


def test_same_reservation_id_replaces_the_reservation() -> None:
    reservations = Reservations(2)
    reserve(reservations, request(5, 1, "DRIVER1"))
    # Its own Reserved connector is no obstacle.
    shown = Statuses({1: "Reserved"})
    payload = request(5, 1, "DRIVER2", expiry=T0 + 2 * HOUR, parent="FLEET")
    assert reserve(reservations, payload, shown) == "Accepted"
    assert len(reservations) == 1
    assert reservations.held(1) == Reservation(5, 1, "DRIVER2", "FLEET", T0 + 2 * HOUR)
    # Moved to another connector: the first one is free again.
    assert reserve(reservations, request(5, 2, "DRIVER2"), shown) == "Accepted"
    assert reservations.held(1) is None
    assert reservations.held(2) is not None
    assert len(reservations) == 1


def test_a_replacement_that_fails_keeps_the_old_reservation() -> None:
    reservations = Reservations(2)
    reserve(reservations, request(5, 1))
    assert reserve(reservations, request(5, 2, "DRIVER2"), Statuses({2: "Charging"})) == "Occupied"
    assert reservations.held(1) == Reservation(5, 1, "DRIVER1", None, T0 + HOUR)
    assert reserve(reservations, request(5, 1, expiry=T0 - 1)) == "Rejected"
    assert reservations.held(1) == Reservation(5, 1, "DRIVER1", None, T0 + HOUR)


# -- connector 0 (§5.13, §9.3.1 ReserveConnectorZeroSupported) --------------------------------


def test_connector_0_is_rejected_unless_supported() -> None:
    reservations = Reservations(2)
    assert reserve(reservations, request(1, 0)) == "Rejected"
    assert len(reservations) == 0


def test_connector_0_keeps_one_connector_for_the_reserved_id_tag() -> None:
    reservations = Reservations(3, connector_zero_supported=True)
    statuses = Statuses()
    assert reserve(reservations, request(1, 0, "DRIVER1"), statuses) == "Accepted"
    anywhere = reservations.held(0)
    assert anywhere is not None
    assert anywhere.connector_id == 0
    # Three free connectors: none is held yet, anyone may take one.
    assert [reservations.held(n, statuses) for n in (1, 2, 3)] == [None, None, None]
    statuses[1] = "Charging"
    assert [reservations.held(n, statuses) for n in (1, 2, 3)] == [None, None, None]
    statuses[2] = "Preparing"
    # The last free connector is held for DRIVER1 (the charger shows it Reserved).
    assert [reservations.held(n, statuses) for n in (1, 2, 3)] == [None, None, anywhere]
    statuses[3] = "Reserved"
    assert reservations.held(3, statuses) is anywhere
    # Without statuses a connector-0 reservation holds no numbered connector.
    assert reservations.held(3) is None
    statuses[1] = "Available"
    assert reservations.held(3, statuses) is None


def test_connector_0_with_a_specific_reservation_beside_it() -> None:
    reservations = Reservations(2, connector_zero_supported=True)
    statuses = Statuses()
    assert reserve(reservations, request(1, 0), statuses) == "Accepted"
    # Reserving connector 1 would leave connector 2 for the connector-0 reservation: fine.
    assert reserve(reservations, request(2, 1, "DRIVER2"), statuses) == "Accepted"
    statuses[1] = "Reserved"
    assert reservations.held(2, statuses) is reservations.get(1)
    # But not the last free connector.
    assert reserve(reservations, request(3, 2, "DRIVER3"), statuses) == "Occupied"


def test_connector_0_the_charge_point_reserved_already_is_occupied() -> None:
    reservations = Reservations(4, connector_zero_supported=True)
    assert reserve(reservations, request(1, 0, "DRIVER1")) == "Accepted"
    assert reserve(reservations, request(2, 0, "DRIVER1")) == "Occupied"
    assert reserve(reservations, request(2, 0, "DRIVER2")) == "Occupied"
    assert reserve(reservations, request(1, 0, "DRIVER2")) == "Accepted"  # a replacement
    assert len(reservations) == 1


@pytest.mark.parametrize(
    ("connectors", "answer"),
    [
        ({1: "Faulted", 2: "Faulted"}, "Faulted"),
        ({1: "Unavailable", 2: "Unavailable"}, "Unavailable"),
        ({1: "Faulted", 2: "Unavailable"}, "Unavailable"),
        ({1: "Charging", 2: "Faulted"}, "Occupied"),
        ({1: "Charging", 2: "Finishing"}, "Occupied"),
        ({1: "Charging", 2: "Available"}, "Accepted"),
        ({1: "Faulted", 2: "Reserved"}, "Accepted"),  # Reserved but held by nobody: free
    ],
)
def test_connector_0_status_from_the_connectors(connectors: dict[int, str], answer: str) -> None:
    reservations = Reservations(2, connector_zero_supported=True)
    assert reserve(reservations, request(1, 0), Statuses(connectors)) == answer


def test_connector_0_with_every_connector_reserved_is_occupied() -> None:
    reservations = Reservations(2, connector_zero_supported=True)
    reserve(reservations, request(1, 1, "A"))
    reserve(reservations, request(2, 2, "B"))
    statuses = Statuses({1: "Reserved", 2: "Reserved"})
    assert reserve(reservations, request(3, 0, "C"), statuses) == "Occupied"


# -- expiry -------------------------------------------------------------------------------------


def test_expire() -> None:
    reservations = Reservations(3, connector_zero_supported=True)
    assert reservations.next_expiry() == math.inf
    assert reservations.expire(T0) == []
    reserve(reservations, request(1, 1, expiry=T0 + 3 * HOUR))
    reserve(reservations, request(2, 2, expiry=T0 + HOUR))
    reserve(reservations, request(3, 0, expiry=T0 + 2 * HOUR))
    assert reservations.next_expiry() == T0 + HOUR
    assert reservations.expire(T0 + HOUR - 1) == []
    # "when the time specified in expiryDate is reached" (§5.13): at, not after.
    assert [r.reservation_id for r in reservations.expire(T0 + HOUR)] == [2]
    assert reservations.held(2) is None
    assert reservations.next_expiry() == T0 + 2 * HOUR
    assert [r.reservation_id for r in reservations.expire(T0 + 10 * HOUR)] == [3, 1]
    assert len(reservations) == 0
    assert reservations.next_expiry() == math.inf


# -- who may use a reservation (§5.13, §3.10) ----------------------------------------------------


def test_matches_the_reserved_id_tag_or_its_group() -> None:
    reservations = Reservations(2)
    reserve(reservations, request(1, 1, "DRIVER1", parent="FLEET"))
    mine = reservations.get(1)
    assert reservations.matches(1, "DRIVER1", None) is mine
    assert reservations.matches(1, "driver1", "OTHER") is mine  # IdToken: case insensitive
    assert reservations.matches(1, "DRIVER2", "FLEET") is mine
    assert reservations.matches(1, "DRIVER2", "fleet") is mine
    assert reservations.matches(1, "DRIVER2", None) is None
    assert reservations.matches(1, "DRIVER2", "OTHER") is None
    # The parentIdTag is not compared with a presented idTag (§3.10).
    assert reservations.matches(1, "FLEET", None) is None
    # Another connector: not this reservation (it ends only on the reserved connector).
    assert reservations.matches(2, "DRIVER1", None) is None


def test_without_a_parent_in_the_reservation_only_the_id_tag_matches() -> None:
    reservations = Reservations(1)
    reserve(reservations, request(1, 1, "DRIVER1"))
    assert reservations.matches(1, "DRIVER2", "FLEET") is None
    assert reservations.matches(1, "DRIVER1", "FLEET") is reservations.get(1)


def test_matches_a_connector_0_reservation_on_any_free_connector() -> None:
    reservations = Reservations(3, connector_zero_supported=True)
    reserve(reservations, request(1, 0, "DRIVER1", parent="FLEET"))
    anywhere = reservations.get(1)
    assert [reservations.matches(n, "DRIVER1", None) for n in (1, 2, 3)] == [anywhere] * 3
    assert reservations.matches(2, "DRIVER9", "FLEET") is anywhere
    assert reservations.matches(2, "DRIVER9", None) is None
    # A connector reserved for someone else is not open to the connector-0 reservation's idTag.
    reserve(reservations, request(2, 3, "DRIVER3"))
    assert reservations.matches(3, "DRIVER1", None) is None
    assert reservations.matches(3, "DRIVER3", None) is reservations.get(2)


# -- ending a reservation -----------------------------------------------------------------------


def test_cancel_reservation() -> None:
    reservations = Reservations(2)
    reserve(reservations, request(9, 2))
    assert cancel(reservations, 9) == "Accepted"
    assert reservations.held(2) is None
    assert cancel(reservations, 9) == "Rejected"
    assert cancel(reservations, 1) == "Rejected"


def test_consume() -> None:
    reservations = Reservations(2)
    reserve(reservations, request(4, 1))
    reservations.consume(4)
    assert len(reservations) == 0
    with pytest.raises(KeyError):
        reservations.consume(4)


def test_release_when_a_connector_or_the_charge_point_goes_inoperative() -> None:
    reservations = Reservations(3, connector_zero_supported=True)
    reserve(reservations, request(1, 1))
    reserve(reservations, request(2, 2))
    reserve(reservations, request(3, 0))
    assert [r.reservation_id for r in reservations.release(1)] == [1]
    assert reservations.release(1) == []
    assert sorted(r.reservation_id for r in reservations.release(0)) == [2, 3]
    assert len(reservations) == 0


# -- malformed requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z", "idTag": "A"},
        {
            "connectorId": "1",
            "expiryDate": "2030-01-01T00:00:00Z",
            "idTag": "A",
            "reservationId": 1,
        },
        {
            "connectorId": True,
            "expiryDate": "2030-01-01T00:00:00Z",
            "idTag": "A",
            "reservationId": 1,
        },
        {"connectorId": 1, "expiryDate": "soon", "idTag": "A", "reservationId": 1},
        {"connectorId": 1, "idTag": "A", "reservationId": 1},
        {"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z", "idTag": 7, "reservationId": 1},
        {
            "connectorId": 1,
            "expiryDate": "2030-01-01T00:00:00Z",
            "idTag": "A",
            "parentIdTag": 7,
            "reservationId": 1,
        },
    ],
)
def test_malformed_reserve_now_raises(payload: dict[str, Any]) -> None:
    assert validator("ReserveNow").is_valid(payload) is False
    reservations = Reservations(2)
    with pytest.raises(ValueError):
        reservations.reserve(payload, Statuses(), T0)
    assert len(reservations) == 0


def test_a_charge_point_has_connectors() -> None:
    with pytest.raises(ValueError):
        Reservations(0)
