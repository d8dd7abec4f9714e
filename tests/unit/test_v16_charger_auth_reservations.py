"""Reservations (§5.13, §5.1) and local authorization (§3.5) as the charger lives them, pure."""

from __future__ import annotations

from typing import Any

import orjson
from ocpp_schemas import check
from test_charger16 import Csms, booted
from test_v16_core_commands import DriverMeter, booted_with, command, served

from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16.charger import (
    Charger16,
    Status,
    auth_policy_of,
    default_auth_policy,
)
from simfleet.protocol.v16.core_profile import default_configuration


def reserve(charger: Charger16, connector_id: int, id_tag: str, expiry: float, rid: int = 1) -> Any:
    payload = {
        "connectorId": connector_id,
        "expiryDate": iso_utc(expiry),
        "idTag": id_tag,
        "reservationId": rid,
    }
    check("ReserveNow", payload)
    return command(charger, "ReserveNow", payload)


def statuses(csms: Csms, since: int = 0) -> list[tuple[int, str]]:
    return [
        (p["connectorId"], p["status"]) for a, p in csms.seen[since:] if a == "StatusNotification"
    ]


def test_a_reservation_shows_reserved_and_expires() -> None:
    charger, csms, recorder = booted()
    before = len(csms.seen)
    assert reserve(charger, 2, "ALICE", expiry=65.0) == {"status": "Accepted"}
    csms.serve(5.0)
    assert statuses(csms, before) == [(2, "Reserved")]
    assert recorder.commands[("1.6", "ReserveNow", "Accepted")] == 1
    # Another idTag may not take the reserved connector; the other connector is open to all.
    assert not charger.plug_in(2, "BOB", 6.0)
    assert charger.status_of(2) is Status.RESERVED
    # A second reservation of the same connector: Occupied; of connector 0 (not supported here):
    # Rejected (ReserveConnectorZeroSupported is false).
    assert reserve(charger, 2, "CAROL", expiry=70.0, rid=2) == {"status": "Occupied"}
    assert reserve(charger, 0, "CAROL", expiry=70.0, rid=3) == {"status": "Rejected"}
    # The expiry timer is part of the charger's wake-up.
    assert charger.next_wakeup() <= 65.0
    before = len(csms.seen)
    charger.step(65.0)
    csms.serve(65.0)
    assert statuses(csms, before) == [(2, "Available")]
    assert charger.plug_in(2, "BOB", 66.0)


def test_the_reserving_driver_starts_with_the_reservation_id() -> None:
    charger, csms, _ = booted_with(DriverMeter())
    reserve(charger, 1, "ALICE", expiry=600.0, rid=77)
    csms.serve(5.0)
    # The app starts the session for the reserving driver: RemoteStart with her idTag.
    assert command(charger, "RemoteStartTransaction", {"idTag": "alice", "connectorId": 1}) == {
        "status": "Accepted"
    }
    csms.serve(6.0)
    (start,) = [p for a, p in csms.seen if a == "StartTransaction"]
    check("StartTransaction", start)
    assert start["reservationId"] == 77  # §4.8: the transaction ends the reservation
    assert charger.status_of(1) is Status.CHARGING
    assert charger.reservations.get(77) is None
    # Cancelling it now: it is gone.
    assert command(charger, "CancelReservation", {"reservationId": 77}) == {"status": "Rejected"}


def test_remote_start_for_someone_else_on_a_reserved_connector_is_rejected() -> None:
    charger, csms, _ = booted_with(DriverMeter())
    reserve(charger, 1, "ALICE", expiry=600.0)
    csms.serve(5.0)
    answer = command(charger, "RemoteStartTransaction", {"idTag": "BOB", "connectorId": 1})
    assert answer == {"status": "Rejected"}
    # Without a connector the charger picks a free one that is not reserved.
    answer = command(charger, "RemoteStartTransaction", {"idTag": "BOB"})
    assert answer == {"status": "Accepted"}
    csms.serve(6.0)
    (start,) = [p for a, p in csms.seen if a == "StartTransaction"]
    assert start["connectorId"] == 2 and "reservationId" not in start


def test_cancel_and_fault_end_reservations() -> None:
    charger, csms, _ = booted()
    reserve(charger, 1, "ALICE", expiry=600.0, rid=1)
    reserve(charger, 2, "BOB", expiry=600.0, rid=2)
    csms.serve(5.0)
    before = len(csms.seen)
    assert command(charger, "CancelReservation", {"reservationId": 1}) == {"status": "Accepted"}
    csms.serve(5.0)
    assert statuses(csms, before) == [(1, "Available")]
    # §5.13 (3): a connector that goes Faulted loses its reservation; repaired, it is Available.
    charger.fault(2, "GroundFailure", 6.0)
    charger.repaired(2, 7.0)
    csms.serve(7.0)
    assert charger.status_of(2) is Status.AVAILABLE
    assert len(charger.reservations) == 0
    # A reservation id that is not an integer: a CALLERROR, not a crash.
    error = command(charger, "CancelReservation", {"reservationId": "x"})
    assert error[0] == 4 and error[2] == "FormationViolation"


def test_an_unavailable_connector_loses_its_reservation() -> None:
    charger, csms, _ = booted()
    reserve(charger, 1, "ALICE", expiry=600.0)
    csms.serve(5.0)
    answer = command(charger, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert answer == {"status": "Accepted"}
    csms.serve(6.0)
    assert charger.status_of(1) is Status.UNAVAILABLE
    assert len(charger.reservations) == 0
    command(charger, "ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    assert charger.status_of(1) is Status.AVAILABLE


def test_connector_zero_reservation_holds_the_last_free_connector() -> None:
    charger, csms, _ = booted()
    change = {"key": "ReserveConnectorZeroSupported", "value": "true"}
    # Read-only in §9.3.1: a charger model either supports it or not.
    assert command(charger, "ChangeConfiguration", change) == {"status": "Rejected"}
    charger.config._values["ReserveConnectorZeroSupported"] = "true"  # this model does
    assert reserve(charger, 0, "ALICE", expiry=600.0) == {"status": "Accepted"}
    csms.serve(5.0)
    assert charger.status_of(1) is charger.status_of(2) is Status.AVAILABLE
    before = len(csms.seen)
    assert charger.plug_in(1, "BOB", 6.0)  # BOB takes one; the other is now held for ALICE
    csms.serve(6.0)
    assert (2, "Reserved") in statuses(csms, before)
    assert not charger.plug_in(2, "CAROL", 7.0)


# -- local authorization -------------------------------------------------------------------


def test_the_default_policy_is_the_default_configuration() -> None:
    charger, _, _ = booted()
    assert default_auth_policy() == auth_policy_of(default_configuration(charger))


def test_offline_a_cached_token_starts_and_an_unknown_one_is_refused() -> None:
    charger, csms, _ = booted()
    charger.plug_in(1, "KNOWN", 1.0)  # online: Authorize, and the answer is cached
    csms.serve(1.0)
    charger.unplug(1, 2.0)
    csms.serve(2.0)
    charger.disconnected(3.0)
    # LocalAuthorizeOffline (default true): the cached token starts at once, queued.
    assert charger.plug_in(1, "KNOWN", 4.0)
    assert charger.auth_status(1) == "Accepted"
    assert charger.connectors[0].starting
    # AllowOfflineTxForUnknownId (default false): an unknown token is Invalid.
    assert charger.plug_in(2, "STRANGER", 4.0)
    assert charger.auth_status(2) == "Invalid"
    assert not charger.connectors[1].in_transaction
    # Back online the StartTransaction goes out; the CSMS's answer rules.
    before = len(csms.seen)
    charger.connected(5.0)
    csms.serve(5.0)
    sent = [a for a, _ in csms.seen[before:]]
    assert "StartTransaction" in sent and "Authorize" not in sent
    assert charger.connectors[0].transaction_id == 42


def test_offline_unknown_tokens_start_when_allowed() -> None:
    charger, _, _ = booted()
    allow = {"key": "AllowOfflineTxForUnknownId", "value": "true"}
    assert command(charger, "ChangeConfiguration", allow) == {"status": "Accepted"}
    charger.disconnected(3.0)
    assert charger.plug_in(1, "STRANGER", 4.0)
    assert charger.auth_status(1) == "Accepted" and charger.connectors[0].starting


def test_local_pre_authorize_skips_authorize_for_listed_tokens() -> None:
    charger, csms, _ = booted()
    command(charger, "ChangeConfiguration", {"key": "LocalPreAuthorize", "value": "true"})
    entries = [{"idTag": "FLEET1", "idTagInfo": {"status": "Accepted"}}]
    payload = {"listVersion": 3, "updateType": "Full", "localAuthorizationList": entries}
    assert command(charger, "SendLocalList", payload) == {"status": "Accepted"}
    before = len(csms.seen)
    charger.plug_in(1, "FLEET1", 6.0)
    charger.plug_in(2, "WALKIN", 6.0)
    csms.serve(6.0)
    sent = [(a, p.get("idTag")) for a, p in csms.seen[before:] if a != "StatusNotification"]
    assert ("Authorize", "FLEET1") not in sent
    assert ("Authorize", "WALKIN") in sent
    assert charger.status_of(1) is charger.status_of(2) is Status.CHARGING


def test_an_unanswered_authorize_falls_back_to_the_offline_rules() -> None:
    charger, csms, recorder = booted()
    charger.plug_in(1, "KNOWN", 1.0)
    csms.serve(1.0)
    charger.unplug(1, 2.0)
    csms.serve(2.0)
    charger.plug_in(1, "KNOWN", 3.0)  # Authorize sent, never answered
    unanswered = []
    for _ in range(5):
        for frame in map(orjson.loads, charger.take_outbox()):
            if frame[2] == "Authorize":
                unanswered.append(frame)
            else:
                charger.receive(orjson.dumps([3, frame[1], csms.answers[frame[2]]]), 3.0)
    assert len(unanswered) == 1
    charger.step(3.0 + charger.settings.call_timeout_s)
    assert recorder.actions[("1.6", "Authorize")].timeouts == 1
    assert charger.auth_status(1) == "Accepted"  # the cache vouches for it
    assert served(csms, 40.0)[0] == "StartTransaction"


def test_clear_cache_forgets_and_a_disabled_cache_remembers_nothing() -> None:
    charger, csms, _ = booted()
    charger.plug_in(1, "KNOWN", 1.0)
    csms.serve(1.0)
    assert len(charger.cache) == 1
    assert command(charger, "ClearCache", {}) == {"status": "Accepted"}
    assert len(charger.cache) == 0
    off = {"key": "AuthorizationCacheEnabled", "value": "false"}
    assert command(charger, "ChangeConfiguration", off) == {"status": "Accepted"}
    charger.unplug(1, 6.0)
    charger.plug_in(1, "OTHER", 7.0)
    csms.serve(7.0)
    assert len(charger.cache) == 0
    assert command(charger, "ClearCache", {}) == {"status": "Rejected"}


def test_reboot_required_values_take_effect_at_the_reboot() -> None:
    charger, _, _ = booted()
    change = {"key": "WebSocketPingInterval", "value": "30"}
    assert command(charger, "ChangeConfiguration", change) == {"status": "RebootRequired"}
    assert charger.config.text("WebSocketPingInterval") == "0"
    charger.reboot("HardReset", 9.0)
    assert charger.config.text("WebSocketPingInterval") == "30"


def test_a_reboot_before_the_start_is_answered_stops_that_transaction_once() -> None:
    charger, csms, _ = booted()
    allow = {"key": "AllowOfflineTxForUnknownId", "value": "true"}
    command(charger, "ChangeConfiguration", allow)
    charger.disconnected(3.0)
    charger.plug_in(1, "STRANGER", 4.0)  # started offline: StartTransaction queued
    charger.reboot("PowerLoss", 5.0)
    assert charger.status_of(1) is Status.AVAILABLE
    before = len(csms.seen)
    charger.connected(20.0)
    csms.serve(20.0)
    sent = [(a, p) for a, p in csms.seen[before:] if a in ("StartTransaction", "StopTransaction")]
    assert [a for a, _ in sent] == ["StartTransaction", "StopTransaction"]
    assert sent[1][1]["transactionId"] == 42 and sent[1][1]["reason"] == "PowerLoss"
    check("StopTransaction", sent[1][1])
    assert not charger.connectors[0].in_transaction
    assert charger.status_of(1) is Status.AVAILABLE
