"""OCPP 1.6 local authorization (§3.5): the Local Authorization List (SendLocalList,
GetLocalListVersion), the Authorization Cache (ClearCache) and the online/offline decisions.

Pure: epoch seconds in, strings and dicts out. Example payloads and every confirmation are
checked against the official 1.6 JSON schemas shipped in the `ocpp` package.
"""

from __future__ import annotations

from typing import Any

import pytest
from ocpp_schemas import check, validator

from simfleet.protocol.timefmt import parse_iso_utc
from simfleet.protocol.v16.local_auth import (
    Action,
    AuthorizationCache,
    AuthPolicy,
    Decision,
    LocalAuthList,
    Source,
    decide,
)

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
PAST = "2023-11-14T22:00:00.000Z"  # before T0
FUTURE = "2023-11-14T23:00:00.000Z"  # T0 + 46 min 40 s
ON = AuthPolicy()


def full(version: int, *entries: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {"listVersion": version, "updateType": "Full"}
    if entries:
        payload["localAuthorizationList"] = list(entries)
    check("SendLocalList", payload)
    return payload


def diff(version: int, *entries: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {"listVersion": version, "updateType": "Differential"}
    if entries:
        payload["localAuthorizationList"] = list(entries)
    check("SendLocalList", payload)
    return payload


def entry(id_tag: str, status: str | None = "Accepted", **info: str) -> dict[str, Any]:
    """AuthorizationData (§7.1); status None: no idTagInfo (a Differential deletion)."""
    if status is None:
        return {"idTag": id_tag}
    return {"idTag": id_tag, "idTagInfo": {"status": status, **info}}


def send(local: LocalAuthList, payload: dict[str, Any], policy: AuthPolicy = ON) -> str:
    status = local.send(payload, policy)
    check("SendLocalListResponse", {"status": status})
    return status


def version_conf(local: LocalAuthList, policy: AuthPolicy = ON) -> int:
    answer = {"listVersion": local.list_version(policy)}
    check("GetLocalListVersionResponse", answer)
    return answer["listVersion"]


# -- dates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2023-11-14T22:13:20Z", T0),
        ("2023-11-14T22:13:20.000Z", T0),
        ("2023-11-14T22:13:20.5Z", T0 + 0.5),
        ("2023-11-14t22:13:20z", T0),
        ("2023-11-15T00:13:20+02:00", T0),
        ("2023-11-14T20:13:20.000-02:00", T0),
        ("2023-11-14T22:13:20", T0),  # no offset: read as UTC
    ],
)
def test_parse_iso_utc(text: str, epoch: float) -> None:
    assert parse_iso_utc(text) == pytest.approx(epoch)


@pytest.mark.parametrize("bad", ["yesterday", "2023-13-14T00:00:00Z", "", 1_700_000_000, None])
def test_parse_iso_utc_refuses(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_iso_utc(bad)


# -- Local Authorization List (§3.5.2, §5.10, §5.15) --------------------------------------------


def test_a_new_list_is_empty_and_version_0() -> None:
    local = LocalAuthList()
    assert local.version == 0
    assert version_conf(local) == 0
    assert len(local) == 0
    assert local.lookup("TAG") is None


def test_full_then_differential_updates() -> None:
    local = LocalAuthList()
    assert send(local, full(2, entry("A"), entry("B", "Blocked"), entry("C"))) == "Accepted"
    assert version_conf(local) == 2
    assert local.lookup("B") == {"status": "Blocked"}
    assert len(local) == 3

    # §7.1: with idTagInfo an entry is added or updated, without it the entry is deleted.
    update = diff(5, entry("B"), entry("D", "Expired"), entry("C", None), entry("ZZ", None))
    assert send(local, update) == "Accepted"
    assert version_conf(local) == 5
    assert local.lookup("A") == {"status": "Accepted"}
    assert local.lookup("B") == {"status": "Accepted"}
    assert local.lookup("C") is None
    assert local.lookup("D") == {"status": "Expired"}
    assert len(local) == 3

    # A Full update replaces everything, whatever its version (VersionMismatch is for
    # Differential updates only, §7.47).
    assert send(local, full(1, entry("E", parentIdTag="FLEET"))) == "Accepted"
    assert local.version == 1
    assert local.lookup("A") is None
    assert local.lookup("E") == {"status": "Accepted", "parentIdTag": "FLEET"}


def test_id_tags_are_case_insensitive() -> None:
    # §7.28 IdToken: "IdToken is case insensitive."
    local = LocalAuthList()
    send(local, full(1, entry("04a2b3c4")))
    assert local.lookup("04A2B3C4") == {"status": "Accepted"}
    assert "04A2b3C4" in local
    send(local, diff(2, entry("04A2B3C4", None)))
    assert local.lookup("04a2b3c4") is None


def test_lookup_returns_a_copy() -> None:
    local = LocalAuthList()
    send(local, full(1, entry("A")))
    found = local.lookup("A")
    assert found is not None
    found["status"] = "Blocked"
    assert local.lookup("A") == {"status": "Accepted"}


def test_expiry_date_is_kept_as_sent_and_applied_by_lookup_at() -> None:
    local = LocalAuthList()
    send(local, full(1, entry("A", expiryDate=FUTURE), entry("B", "Blocked", expiryDate=PAST)))
    assert local.lookup("A") == {"status": "Accepted", "expiryDate": FUTURE}
    expires = parse_iso_utc(FUTURE)
    assert local.lookup_at("A", expires - 1) == {"status": "Accepted", "expiryDate": FUTURE}
    assert local.lookup_at("A", expires) == {"status": "Expired", "expiryDate": FUTURE}
    assert local.lookup_at("B", T0) == {"status": "Blocked", "expiryDate": PAST}
    assert local.lookup_at("nobody", T0) is None


@pytest.mark.parametrize("version", [3, 2])
def test_differential_at_or_below_the_current_version_is_a_version_mismatch(version: int) -> None:
    local = LocalAuthList()
    send(local, full(3, entry("A")))
    assert send(local, diff(version, entry("B"))) == "VersionMismatch"
    assert local.version == 3
    assert local.lookup("B") is None


def test_differential_on_an_empty_list_compares_with_version_0() -> None:
    local = LocalAuthList()
    assert send(local, diff(0, entry("A"))) == "VersionMismatch"
    assert send(local, diff(1, entry("A"))) == "Accepted"
    assert version_conf(local) == 1


def test_full_without_entries_empties_the_list_and_reads_back_0() -> None:
    # §6.41 "If no (empty) localAuthorizationList is given and the updateType is Full, all
    # identifications are removed"; §5.10 "0 (zero) ... indicate[s] that the local
    # authorization list is empty" (OCTT TC_042_2_CS: Full, listVersion 1, no list -> 0).
    local = LocalAuthList()
    send(local, full(4, entry("A")))
    assert send(local, full(1)) == "Accepted"
    assert len(local) == 0
    assert version_conf(local) == 0
    assert send(local, {**full(6), "localAuthorizationList": []}) == "Accepted"
    assert version_conf(local) == 0


def test_differential_without_entries_changes_only_the_version() -> None:
    # §6.41 "Requesting a Differential update without (empty) localAuthorizationList will have
    # no effect on the list."
    local = LocalAuthList()
    send(local, full(1, entry("A")))
    assert send(local, diff(2)) == "Accepted"
    assert local.lookup("A") == {"status": "Accepted"}
    assert version_conf(local) == 2


def test_more_entries_than_send_local_list_max_length_fails() -> None:
    policy = AuthPolicy(send_list_max_length=2)
    local = LocalAuthList()
    assert send(local, full(1, entry("A"), entry("B")), policy) == "Accepted"
    assert send(local, full(2, entry("A"), entry("B"), entry("C")), policy) == "Failed"
    assert send(local, diff(2, entry("C"), entry("D"), entry("A", None)), policy) == "Failed"
    assert local.version == 1
    assert len(local) == 2


def test_a_list_longer_than_local_auth_list_max_length_fails() -> None:
    policy = AuthPolicy(list_max_length=3)
    local = LocalAuthList()
    assert send(local, full(1, *(entry(f"T{i}") for i in range(4))), policy) == "Failed"
    assert len(local) == 0
    assert send(local, full(1, *(entry(f"T{i}") for i in range(3))), policy) == "Accepted"
    # Updating or deleting existing entries does not grow the list; a new one does.
    assert send(local, diff(2, entry("T0", "Blocked")), policy) == "Accepted"
    assert send(local, diff(3, entry("T9")), policy) == "Failed"
    assert send(local, diff(3, entry("T9"), entry("T1", None)), policy) == "Accepted"
    assert len(local) == 3
    assert local.version == 3


def test_duplicate_id_tags_fail() -> None:
    # §6.41 "All idTags in the localAuthorizationList MUST be unique" (case insensitive).
    local = LocalAuthList()
    assert send(local, full(1, entry("A"), entry("a", "Blocked"))) == "Failed"
    assert send(local, diff(1, entry("B"), entry("B", None))) == "Failed"
    assert len(local) == 0


def test_full_entries_need_an_id_tag_info() -> None:
    # §7.1 idTagInfo "Required when UpdateType is Full" (the schema cannot say so).
    local = LocalAuthList()
    assert send(local, full(1, entry("A"), entry("B", None))) == "Failed"
    assert len(local) == 0


def test_a_non_empty_list_needs_a_positive_version() -> None:
    # 0 means "empty" and -1 "not supported" in GetLocalListVersion.conf (§5.10).
    local = LocalAuthList()
    assert send(local, full(0, entry("A"))) == "Failed"
    assert send(local, full(-1, entry("A"))) == "Failed"
    assert send(local, full(0)) == "Accepted"
    assert version_conf(local) == 0


def test_disabled_list_answers_not_supported_and_version_minus_1() -> None:
    # §5.10 "-1 SHALL be used to indicate that the Charge Point does not support Local
    # Authorization Lists" (OCTT TC_042_1_CS / TC_043_1_CS).
    off = AuthPolicy(local_auth_list_enabled=False)
    local = LocalAuthList()
    send(local, full(7, entry("A")))
    assert send(local, full(8, entry("B")), off) == "NotSupported"
    assert send(local, diff(9, entry("B")), off) == "NotSupported"
    assert version_conf(local, off) == -1
    # The stored list is untouched and comes back when the list is enabled again.
    assert version_conf(local) == 7
    assert local.lookup("A") == {"status": "Accepted"}
    assert local.lookup("B") is None


@pytest.mark.parametrize(
    "payload",
    [
        {"listVersion": "1", "updateType": "Full"},
        {"listVersion": True, "updateType": "Full"},
        {"updateType": "Full"},
        {"listVersion": 1, "updateType": "Partial"},
        {"listVersion": 1, "updateType": "Full", "localAuthorizationList": {}},
        {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [{"id": "A"}]},
        {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [entry("A", "Ok")]},
        {
            "listVersion": 1,
            "updateType": "Full",
            "localAuthorizationList": [entry("A", expiryDate="tomorrow")],
        },
        {
            "listVersion": 1,
            "updateType": "Full",
            "localAuthorizationList": [{"idTag": "A", "idTagInfo": "Accepted"}],
        },
    ],
)
def test_malformed_send_local_list_raises(payload: dict[str, Any]) -> None:
    # What the schema refuses is the caller's CALLERROR, not an UpdateStatus.
    assert validator("SendLocalList").is_valid(payload) is False
    local = LocalAuthList()
    with pytest.raises(ValueError):
        local.send(payload, ON)
    assert local.version == 0


# -- Authorization Cache (§3.5.1, §5.4) ---------------------------------------------------------


def id_tag_info(status: str = "Accepted", **extra: str) -> dict[str, Any]:
    info = {"status": status, **extra}
    check("AuthorizeResponse", {"idTagInfo": info})
    return info


def test_cache_remembers_the_latest_id_tag_info() -> None:
    cache = AuthorizationCache()
    assert cache.lookup("A", T0) is None
    cache.remember("A", id_tag_info("Accepted", parentIdTag="FLEET"), T0)
    assert cache.lookup("a", T0) == {"status": "Accepted", "parentIdTag": "FLEET"}
    # §3.5.1: NOT-valid answers are cached too, and an update replaces the entry.
    cache.remember("a", id_tag_info("Blocked"), T0 + 1)
    assert cache.lookup("A", T0 + 1) == {"status": "Blocked"}
    assert len(cache) == 1


def test_cache_entries_are_copies() -> None:
    cache = AuthorizationCache()
    info = id_tag_info()
    cache.remember("A", info, T0)
    info["status"] = "Blocked"
    found = cache.lookup("A", T0)
    assert found == {"status": "Accepted"}
    found["status"] = "Invalid"
    assert cache.lookup("A", T0) == {"status": "Accepted"}


def test_cache_entry_past_its_expiry_date_becomes_expired() -> None:
    cache = AuthorizationCache()
    cache.remember("A", id_tag_info(expiryDate=FUTURE), T0)
    cache.remember("B", id_tag_info("Blocked", expiryDate=PAST), T0)
    expires = parse_iso_utc(FUTURE)
    assert cache.lookup("A", expires - 0.001) == {"status": "Accepted", "expiryDate": FUTURE}
    assert cache.lookup("A", expires) == {"status": "Expired", "expiryDate": FUTURE}
    # "it SHALL be changed to expired in the Cache": it stays Expired.
    assert cache.lookup("A", T0) == {"status": "Expired", "expiryDate": FUTURE}
    assert cache.lookup("B", T0) == {"status": "Blocked", "expiryDate": PAST}
    # A new answer revives it.
    cache.remember("A", id_tag_info(), T0)
    assert cache.lookup("A", expires + 10) == {"status": "Accepted"}


def test_clear_cache() -> None:
    cache = AuthorizationCache()
    cache.remember("A", id_tag_info(), T0)
    status = cache.clear()
    check("ClearCacheResponse", {"status": status})
    assert status == "Accepted"
    assert cache.lookup("A", T0) is None
    assert len(cache) == 0


def test_disabled_cache_remembers_nothing_and_rejects_clear_cache() -> None:
    cache = AuthorizationCache()
    cache.remember("A", id_tag_info(), T0)
    cache.enabled = False
    cache.remember("B", id_tag_info(), T0)
    status = cache.clear()
    check("ClearCacheResponse", {"status": status})
    assert status == "Rejected"
    assert len(cache) == 1
    assert cache.lookup("B", T0) is None
    assert AuthorizationCache(enabled=False).clear() == "Rejected"


def test_identifiers_in_the_local_list_are_not_cached() -> None:
    # §3.5.3 "Identifiers known in the Local Authorization List SHALL NOT be added to the
    # Authorization Cache."
    local = LocalAuthList()
    send(local, full(1, entry("LISTED")))
    cache = AuthorizationCache(local_list=local)
    cache.remember("listed", id_tag_info("Blocked"), T0)
    cache.remember("OTHER", id_tag_info(), T0)
    assert cache.lookup("LISTED", T0) is None
    assert cache.lookup("OTHER", T0) == {"status": "Accepted"}


def test_a_full_cache_drops_not_valid_entries_then_the_oldest_valid_ones() -> None:
    # §3.5.1: "remove any NOT-valid entries, and then, if necessary, the oldest valid entries".
    cache = AuthorizationCache(max_entries=4)
    cache.remember("V1", id_tag_info(), T0)
    cache.remember("BAD", id_tag_info("Invalid"), T0)
    cache.remember("V2", id_tag_info("ConcurrentTx"), T0)
    cache.remember("OLD", id_tag_info(expiryDate=PAST), T0 - 3600)  # valid when received
    cache.remember("NEW1", id_tag_info(), T0)
    assert cache.lookup("BAD", T0) is None
    assert cache.lookup("OLD", T0) is None  # expired by now: NOT-valid
    assert {t for t in ("V1", "V2", "NEW1") if cache.lookup(t, T0)} == {"V1", "V2", "NEW1"}

    cache.remember("V1", id_tag_info(), T0 + 1)  # updated: now the most recent
    cache.remember("NEW2", id_tag_info(), T0 + 2)
    cache.remember("NEW3", id_tag_info(), T0 + 3)
    assert len(cache) == 4
    assert cache.lookup("V2", T0) is None  # the oldest valid entry went first
    assert {t for t in ("V1", "NEW1", "NEW2", "NEW3") if cache.lookup(t, T0 + 3)} == {
        "V1",
        "NEW1",
        "NEW2",
        "NEW3",
    }


def test_cache_refuses_a_bad_id_tag_info() -> None:
    cache = AuthorizationCache()
    with pytest.raises(ValueError):
        cache.remember("A", {"status": "Maybe"}, T0)
    with pytest.raises(ValueError):
        cache.remember("A", {"status": "Accepted", "expiryDate": "soon"}, T0)
    with pytest.raises(ValueError):
        AuthorizationCache(max_entries=0)


# -- decide (§3.5, §3.5.4, §4.1) ----------------------------------------------------------------

ASK, ACCEPT, REJECT = Action.ASK, Action.ACCEPT, Action.REJECT
LIST, CACHE, NONE = Source.LIST, Source.CACHE, Source.NONE


def stores(
    listed: dict[str, Any] | None = None, cached: dict[str, Any] | None = None
) -> tuple[LocalAuthList, AuthorizationCache]:
    """A list and a cache that know "TAG" as given (IdTagInfo dicts), or not at all."""
    local = LocalAuthList()
    if listed is not None:
        send(local, full(1, {"idTag": "TAG", "idTagInfo": listed}))
    cache = AuthorizationCache()
    if cached is not None:
        cache.remember("TAG", cached, T0 - 60)
    return local, cache


def run(
    online: bool,
    policy: AuthPolicy,
    listed: dict[str, Any] | None = None,
    cached: dict[str, Any] | None = None,
) -> Decision:
    local, cache = stores(listed, cached)
    decision = decide("tag", online, T0, policy, local, cache)
    assert decision.send_start_transaction is (decision.action is ACCEPT)
    if decision.status:
        check("AuthorizeResponse", {"idTagInfo": {"status": decision.status}})
    return decision


OK = {"status": "Accepted"}
CONCURRENT = {"status": "ConcurrentTx"}
BLOCKED = {"status": "Blocked"}
INVALID = {"status": "Invalid"}
EXPIRED = {"status": "Expired"}
LAPSED = {"status": "Accepted", "expiryDate": PAST}  # valid when sent, expired by T0
PRE = AuthPolicy(local_pre_authorize=True)
NO_LIST = AuthPolicy(local_auth_list_enabled=False, local_pre_authorize=True)
NO_CACHE = AuthPolicy(cache_enabled=False, local_pre_authorize=True)
UNKNOWN_OK = AuthPolicy(allow_offline_tx_for_unknown_id=True)
NO_OFFLINE = AuthPolicy(local_authorize_offline=False)
NO_OFFLINE_UNKNOWN_OK = AuthPolicy(
    local_authorize_offline=False, allow_offline_tx_for_unknown_id=True
)


@pytest.mark.parametrize(
    ("policy", "listed", "cached", "action", "status", "source"),
    [
        # An unknown idTag is always asked for (§4.1 "SHALL send an Authorize.req").
        pytest.param(ON, None, None, ASK, "", NONE, id="unknown"),
        pytest.param(PRE, None, None, ASK, "", NONE, id="unknown-preauthorize"),
        pytest.param(UNKNOWN_OK, None, None, ASK, "", NONE, id="unknown-allow-unknown"),
        # Known and valid: asked, unless LocalPreAuthorize (§9.1.13).
        pytest.param(ON, OK, None, ASK, "", LIST, id="list-valid"),
        pytest.param(PRE, OK, None, ACCEPT, "Accepted", LIST, id="list-valid-preauthorize"),
        pytest.param(PRE, CONCURRENT, None, ACCEPT, "Accepted", LIST, id="list-concurrenttx"),
        pytest.param(ON, None, OK, ASK, "", CACHE, id="cache-valid"),
        pytest.param(PRE, None, OK, ACCEPT, "Accepted", CACHE, id="cache-valid-preauthorize"),
        # Known as NOT-valid: asked again (§3.5.1 SHOULD for the cache; the CSMS decides).
        pytest.param(PRE, BLOCKED, None, ASK, "", LIST, id="list-blocked"),
        pytest.param(PRE, LAPSED, None, ASK, "", LIST, id="list-lapsed"),
        pytest.param(PRE, None, INVALID, ASK, "", CACHE, id="cache-invalid"),
        pytest.param(PRE, None, LAPSED, ASK, "", CACHE, id="cache-lapsed"),
        # The list has priority over the cache (§3.5.3).
        pytest.param(PRE, BLOCKED, OK, ASK, "", LIST, id="list-over-cache-blocked"),
        pytest.param(PRE, OK, BLOCKED, ACCEPT, "Accepted", LIST, id="list-over-cache-ok"),
        # A disabled store is not read.
        pytest.param(NO_LIST, OK, None, ASK, "", NONE, id="list-disabled"),
        pytest.param(NO_LIST, BLOCKED, OK, ACCEPT, "Accepted", CACHE, id="list-disabled-cache"),
        pytest.param(NO_CACHE, None, OK, ASK, "", NONE, id="cache-disabled"),
        pytest.param(NO_CACHE, OK, None, ACCEPT, "Accepted", LIST, id="cache-disabled-list"),
    ],
)
def test_decide_online(
    policy: AuthPolicy,
    listed: dict[str, Any] | None,
    cached: dict[str, Any] | None,
    action: Action,
    status: str,
    source: Source,
) -> None:
    decision = run(True, policy, listed, cached)
    assert (decision.action, decision.status, decision.source) == (action, status, source)


@pytest.mark.parametrize(
    ("policy", "listed", "cached", "action", "status", "source"),
    [
        # Unknown: Unknown Offline Authorization decides (§3.5.4, §9.1.1).
        pytest.param(ON, None, None, REJECT, "Invalid", NONE, id="unknown"),
        pytest.param(UNKNOWN_OK, None, None, ACCEPT, "Accepted", NONE, id="unknown-allowed"),
        pytest.param(PRE, None, None, REJECT, "Invalid", NONE, id="unknown-preauthorize"),
        # Known and valid: LocalAuthorizeOffline decides (§9.1.12).
        pytest.param(ON, OK, None, ACCEPT, "Accepted", LIST, id="list-valid"),
        pytest.param(ON, CONCURRENT, None, ACCEPT, "Accepted", LIST, id="list-concurrenttx"),
        pytest.param(ON, None, OK, ACCEPT, "Accepted", CACHE, id="cache-valid"),
        pytest.param(NO_OFFLINE, OK, None, REJECT, "Invalid", NONE, id="list-no-offline"),
        pytest.param(NO_OFFLINE, None, OK, REJECT, "Invalid", NONE, id="cache-no-offline"),
        pytest.param(
            NO_OFFLINE_UNKNOWN_OK, OK, None, ACCEPT, "Accepted", NONE, id="list-no-offline-unknown"
        ),
        pytest.param(
            NO_OFFLINE_UNKNOWN_OK, None, None, ACCEPT, "Accepted", NONE, id="no-offline-unknown"
        ),
        # Known as NOT-valid: rejected whatever the keys say (§3.5.4 "MUST be rejected").
        pytest.param(UNKNOWN_OK, BLOCKED, None, REJECT, "Blocked", LIST, id="list-blocked"),
        pytest.param(UNKNOWN_OK, EXPIRED, None, REJECT, "Expired", LIST, id="list-expired"),
        pytest.param(UNKNOWN_OK, INVALID, None, REJECT, "Invalid", LIST, id="list-invalid"),
        pytest.param(UNKNOWN_OK, LAPSED, None, REJECT, "Expired", LIST, id="list-lapsed"),
        pytest.param(UNKNOWN_OK, None, BLOCKED, REJECT, "Blocked", CACHE, id="cache-blocked"),
        pytest.param(UNKNOWN_OK, None, LAPSED, REJECT, "Expired", CACHE, id="cache-lapsed"),
        pytest.param(
            NO_OFFLINE_UNKNOWN_OK, BLOCKED, None, REJECT, "Blocked", LIST, id="blocked-no-offline"
        ),
        # The list has priority over the cache (§3.5.3).
        pytest.param(ON, BLOCKED, OK, REJECT, "Blocked", LIST, id="list-over-cache-blocked"),
        pytest.param(ON, OK, BLOCKED, ACCEPT, "Accepted", LIST, id="list-over-cache-ok"),
        # A disabled store is not read: its idTags are unknown.
        pytest.param(NO_LIST, OK, None, REJECT, "Invalid", NONE, id="list-disabled"),
        pytest.param(NO_LIST, BLOCKED, OK, ACCEPT, "Accepted", CACHE, id="list-disabled-cache"),
        pytest.param(NO_CACHE, None, OK, REJECT, "Invalid", NONE, id="cache-disabled"),
        pytest.param(
            AuthPolicy(cache_enabled=False, allow_offline_tx_for_unknown_id=True),
            None,
            BLOCKED,
            ACCEPT,
            "Accepted",
            NONE,
            id="cache-disabled-unknown-allowed",
        ),
    ],
)
def test_decide_offline(
    policy: AuthPolicy,
    listed: dict[str, Any] | None,
    cached: dict[str, Any] | None,
    action: Action,
    status: str,
    source: Source,
) -> None:
    decision = run(False, policy, listed, cached)
    assert (decision.action, decision.status, decision.source) == (action, status, source)


def test_decision_carries_the_entry_and_its_parent_id_tag() -> None:
    local, cache = stores(listed={"status": "Accepted", "parentIdTag": "FLEET"})
    decision = decide("TAG", False, T0, ON, local, cache)
    assert decision.action is ACCEPT
    assert decision.send_start_transaction  # queued while offline, sent on reconnection
    assert decision.id_tag_info == {"status": "Accepted", "parentIdTag": "FLEET"}
    assert decision.parent_id_tag == "FLEET"

    local, cache = stores(listed=LAPSED)
    decision = decide("TAG", True, T0, PRE, local, cache)
    assert decision.id_tag_info == {"status": "Expired", "expiryDate": PAST}
    assert decision.parent_id_tag is None

    unknown = decide("NOBODY", True, T0, ON, local, cache)
    assert (unknown.id_tag_info, unknown.parent_id_tag) == (None, None)
    assert not unknown.send_start_transaction  # waits for the Authorize.conf


def test_decide_marks_a_lapsed_cache_entry_expired() -> None:
    local, cache = stores(cached=LAPSED)
    decide("TAG", False, T0, ON, local, cache)
    assert cache.lookup("TAG", T0 - 3600) == {"status": "Expired", "expiryDate": PAST}
