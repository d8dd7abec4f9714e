"""OCPP 1.6 local authorization: the Local Authorization List, the Authorization Cache, and what a
charger does with a presented idTag, online or offline (OCPP 1.6 §3.5 Local Authorization &
Offline Behavior, §5.4 Clear Cache, §5.10 Get Local List Version, §5.15 Send Local List).

Pure: no clock reads, times are epoch seconds passed in. idTags are CiString20 (§7.28 IdToken:
"case insensitive"), so both stores key on the casefolded tag and a lookup ignores case.

Section numbers are those of the OCPP 1.6 specification text (§3.5.1 Authorization Cache,
§3.5.2 Local Authorization List, §3.5.3 Relation between Authorization Cache and Local
Authorization List, §3.5.4 Unknown Offline Authorization, §7.1 AuthorizationData, §7.2
AuthorizationStatus, §7.27 IdTagInfo, §7.47 UpdateStatus, §9.1/§9.2 configuration keys).

Malformed payloads (a wrong type, a missing required field, a date that is not ISO 8601: what
the JSON schemas would refuse) raise `ValueError`; the caller answers those with a CALLERROR
(OCPP-J §4.2.3 FormationViolation / TypeConstraintViolation). Requests that are well formed but
cannot be applied are answered with the confirmation's own status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from simfleet.protocol.timefmt import parse_iso_utc

#: §3.5.2: "valid ... corresponding to IdTagInfo status values Accepted/ConcurrentTx"; Expired,
#: Blocked and Invalid are NOT-valid. The same reading is used for the Authorization Cache.
VALID_STATUSES: Final = frozenset({"Accepted", "ConcurrentTx"})
#: §7.2 AuthorizationStatus.
AUTHORIZATION_STATUSES: Final = frozenset(
    {"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"}
)
#: §7.48 UpdateType.
UPDATE_TYPES: Final = frozenset({"Full", "Differential"})


def _key(id_tag: str) -> str:
    return id_tag.casefold()


def _id_tag_info(info: object) -> tuple[dict[str, Any], float]:
    """A validated copy of an IdTagInfo (§7.27) and its expiry (math.inf if none)."""
    if not isinstance(info, dict):
        raise ValueError("idTagInfo must be an object")
    status = info.get("status")
    if status not in AUTHORIZATION_STATUSES:
        raise ValueError(f"idTagInfo.status must be an AuthorizationStatus, not {status!r}")
    parent = info.get("parentIdTag")
    if parent is not None and not isinstance(parent, str):
        raise ValueError("idTagInfo.parentIdTag must be a string")
    expiry = parse_iso_utc(info["expiryDate"]) if "expiryDate" in info else math.inf
    return dict(info), expiry


def _effective(info: dict[str, Any], expiry: float, now: float) -> dict[str, Any]:
    """`info` as it stands at `now`: a valid entry whose expiryDate has been reached reads as
    Expired (§3.5.1 "When the validity of a Cache entry expires, it SHALL be changed to
    expired"; §3.5.4 "Identifiers that were valid but are apparently expired due to passage of
    time MUST also be rejected")."""
    if now >= expiry and info["status"] in VALID_STATUSES:
        return {**info, "status": "Expired"}
    return info


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """The configuration keys that govern local authorization, as values.

    local_auth_list_enabled: §9.2.1 LocalAuthListEnabled.
    cache_enabled: §9.1.2 AuthorizationCacheEnabled.
    local_authorize_offline: §9.1.12 LocalAuthorizeOffline ("whether the Charge Point, when
        offline, will start a transaction for locally-authorized identifiers").
    local_pre_authorize: §9.1.13 LocalPreAuthorize ("whether the Charge Point, when online, will
        start a transaction for locally-authorized identifiers without waiting for or requesting
        an Authorize.conf from the Central System").
    allow_offline_tx_for_unknown_id: §9.1.1 AllowOfflineTxForUnknownId (Unknown Offline
        Authorization, §3.5.4).
    list_max_length: §9.2.2 LocalAuthListMaxLength (entries the list can hold).
    send_list_max_length: §9.2.3 SendLocalListMaxLength (entries in one SendLocalList.req).
    """

    local_auth_list_enabled: bool = True
    cache_enabled: bool = True
    local_authorize_offline: bool = True
    local_pre_authorize: bool = False
    allow_offline_tx_for_unknown_id: bool = False
    list_max_length: int = 1000
    send_list_max_length: int = 100


class LocalAuthList:
    """The Local Authorization List (§3.5.2), changed only by SendLocalList (§5.15).

    `version` is what GetLocalListVersion.conf reports while the list is enabled: the listVersion
    of the last accepted update, or 0 while the list is empty (§5.10 "A version number of 0
    (zero) SHALL be used to indicate that the local authorization list is empty" — so a Full
    update with no entries reads back as 0 whatever its listVersion, as OCTT TC_042_2_CS checks).
    `list_version(policy)` gives the value to answer, -1 while LocalAuthListEnabled is false
    (§5.10 "-1 SHALL be used to indicate that the Charge Point does not support Local
    Authorization Lists"; a charger that answers SendLocalList NotSupported says so here too).
    """

    __slots__ = ("_entries", "_version")

    def __init__(self) -> None:
        self._version = 0
        #: casefolded idTag -> (IdTagInfo as sent, its expiryDate as epoch seconds or inf)
        self._entries: dict[str, tuple[dict[str, Any], float]] = {}

    @property
    def version(self) -> int:
        return self._version if self._entries else 0

    def list_version(self, policy: AuthPolicy) -> int:
        """GetLocalListVersion.conf listVersion (§5.10)."""
        return self.version if policy.local_auth_list_enabled else -1

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, id_tag: object) -> bool:
        return isinstance(id_tag, str) and _key(id_tag) in self._entries

    def lookup(self, id_tag: str) -> dict[str, Any] | None:
        """The IdTagInfo stored for `id_tag` (a copy, as sent: its expiryDate is not applied
        here; `decide` applies it), or None."""
        entry = self._entries.get(_key(id_tag))
        return None if entry is None else dict(entry[0])

    def lookup_at(self, id_tag: str, now: float) -> dict[str, Any] | None:
        """The IdTagInfo for `id_tag` as it stands at `now` (a valid entry past its expiryDate
        reads as Expired), or None."""
        entry = self._entries.get(_key(id_tag))
        return None if entry is None else dict(_effective(entry[0], entry[1], now))

    def send(self, payload: dict[str, Any], policy: AuthPolicy) -> str:
        """Apply a SendLocalList.req (§5.15, §6.41); the SendLocalList.conf status (§7.47).

        - NotSupported while LocalAuthListEnabled is false.
        - VersionMismatch for a Differential update whose listVersion is not above `version`
          ("less or equal then version number of current list", §7.47).
        - Failed when the update has more than SendLocalListMaxLength entries, when the list
          would hold more than LocalAuthListMaxLength, when an idTag appears twice (§6.41 "All
          idTags in the localAuthorizationList MUST be unique"), when a Full entry has no
          idTagInfo (§7.1 "Required when UpdateType is Full"), or when a non-empty list would
          get a listVersion below 1 (0 and -1 have their own meaning in §5.10).
        - Accepted otherwise: Full replaces the list (no entries: the list is emptied, §6.41);
          Differential adds or updates the entries with an idTagInfo and deletes those without
          (§7.1); no entries: no change but the version.

        The update is all or nothing: on any status but Accepted the list is unchanged.
        """
        if not policy.local_auth_list_enabled:
            return "NotSupported"
        version = payload.get("listVersion")
        if type(version) is not int:
            raise ValueError("listVersion must be an integer")
        update_type = payload.get("updateType")
        if update_type not in UPDATE_TYPES:
            raise ValueError(f"updateType must be Full or Differential, not {update_type!r}")
        items = payload.get("localAuthorizationList", [])
        if not isinstance(items, list):
            raise ValueError("localAuthorizationList must be an array")
        changes: dict[str, tuple[dict[str, Any], float] | None] = {}
        duplicate = False
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("idTag"), str):
                raise ValueError("each AuthorizationData needs an idTag string")
            key = _key(item["idTag"])
            duplicate = duplicate or key in changes
            info = item.get("idTagInfo")
            changes[key] = None if info is None else _id_tag_info(info)

        if update_type == "Differential" and version <= self.version:
            return "VersionMismatch"
        if len(items) > policy.send_list_max_length or duplicate:
            return "Failed"
        if update_type == "Full":
            if any(change is None for change in changes.values()):
                return "Failed"
            entries = {key: change for key, change in changes.items() if change is not None}
        else:
            entries = dict(self._entries)
            for key, change in changes.items():
                if change is None:
                    entries.pop(key, None)
                else:
                    entries[key] = change
        if len(entries) > policy.list_max_length or (entries and version < 1):
            return "Failed"
        self._entries = entries
        self._version = version
        return "Accepted"


class AuthorizationCache:
    """The Authorization Cache (§3.5.1): the latest IdTagInfo received for each idTag, from
    Authorize.conf, StartTransaction.conf and StopTransaction.conf (§4.1, §4.8, §4.10).

    `enabled` is AuthorizationCacheEnabled (§9.1.2): while false nothing is remembered and
    ClearCache is Rejected (the charger keeps it equal to `AuthPolicy.cache_enabled`).
    Identifiers in `local_list` are never remembered (§3.5.3 "Identifiers known in the Local
    Authorization List SHALL NOT be added to the Authorization Cache"; §4.1/§4.8 "if the idTag
    is not in the Local Authorization List"), whether or not the list is enabled.
    When full, a new identifier first evicts every NOT-valid entry, then, if still needed, the
    valid entry updated longest ago (§3.5.1).
    """

    __slots__ = ("_entries", "enabled", "local_list", "max_entries")

    def __init__(
        self,
        enabled: bool = True,
        max_entries: int = 1000,
        local_list: LocalAuthList | None = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.enabled = enabled
        self.max_entries = max_entries
        self.local_list = local_list
        #: casefolded idTag -> (IdTagInfo, expiry); insertion order = order of last update
        self._entries: dict[str, tuple[dict[str, Any], float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, id_tag: str, id_tag_info: dict[str, Any], now: float) -> None:
        """Record the IdTagInfo the CSMS sent for `id_tag` (§3.5.1: "When an IdTagInfo is
        received for an identifier in the Cache, it SHALL be updated")."""
        if not self.enabled or (self.local_list is not None and id_tag in self.local_list):
            return
        entry = _id_tag_info(id_tag_info)
        key = _key(id_tag)
        if self._entries.pop(key, None) is None and len(self._entries) >= self.max_entries:
            self._make_room(now)
        self._entries[key] = entry

    def _make_room(self, now: float) -> None:
        # §3.5.1: "the Charge Point SHALL remove any NOT-valid entries, and then, if necessary,
        # the oldest valid entries to make space for the new entry."
        self._entries = {
            key: (info, expiry)
            for key, (info, expiry) in self._entries.items()
            if _effective(info, expiry, now)["status"] in VALID_STATUSES
        }
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]

    def lookup(self, id_tag: str, now: float) -> dict[str, Any] | None:
        """The cached IdTagInfo (a copy), or None. An entry whose expiryDate has been reached is
        changed to Expired in the cache and read as such (§3.5.1)."""
        key = _key(id_tag)
        entry = self._entries.get(key)
        if entry is None:
            return None
        info = _effective(entry[0], entry[1], now)
        if info is not entry[0]:
            self._entries[key] = (info, entry[1])
        return dict(info)

    def clear(self) -> str:
        """ClearCache (§5.4); the ClearCache.conf status (§7.20 ClearCacheStatus): Accepted, or
        Rejected ("Command has not been executed") while the cache is disabled, in which case
        nothing is removed."""
        if not self.enabled:
            return "Rejected"
        self._entries.clear()
        return "Accepted"


class Action(StrEnum):
    """What the charger does with a presented idTag."""

    ASK = "ask"  # send Authorize.req and wait for Authorize.conf
    ACCEPT = "accept"  # start the transaction without asking
    REJECT = "reject"  # refuse, no transaction


class Source(StrEnum):
    """Where the information that decided came from."""

    LIST = "list"  # the Local Authorization List
    CACHE = "cache"  # the Authorization Cache
    NONE = "none"  # neither knows the idTag (or neither may be used)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of presenting an idTag.

    action: ask / accept / reject.
    status: the AuthorizationStatus (§7.2) the charger records for the attempt: "Accepted" for
        every accept; the locally known status for a reject of a known identifier (Blocked,
        Expired, Invalid); "Invalid" ("Identifier is unknown. Not allowed for charging") for a
        refused identifier no store may vouch for; "" for ask (the Authorize.conf decides).
    source: the store whose entry decided (LIST/CACHE), or NONE.
    id_tag_info: that entry as it stands now (a valid entry past its expiryDate reads Expired),
        None if no store knows the idTag; its parentIdTag serves reservations (§5.13).
    send_start_transaction: True for accept: StartTransaction.req is sent now, or queued while
        offline and delivered on reconnection (§3.5.4, §3.7), and the CSMS's answer still rules
        (§4.8 "The Central System MUST verify validity of the identifier"). False for ask (the
        transaction waits for an Accepted Authorize.conf) and for reject.
    """

    action: Action
    status: str
    source: Source
    id_tag_info: dict[str, Any] | None
    send_start_transaction: bool

    @property
    def parent_id_tag(self) -> str | None:
        parent = (self.id_tag_info or {}).get("parentIdTag")
        return parent if isinstance(parent, str) else None


def _known(
    id_tag: str,
    now: float,
    policy: AuthPolicy,
    local_list: LocalAuthList,
    cache: AuthorizationCache,
) -> tuple[Source, dict[str, Any] | None]:
    # §3.5.3: "a Charge Point SHALL treat Local Authorization List entries as having priority
    # over Authorization Cache entries for the same identifiers". A disabled store is not read.
    if policy.local_auth_list_enabled:
        info = local_list.lookup_at(id_tag, now)
        if info is not None:
            return Source.LIST, info
    if policy.cache_enabled:
        info = cache.lookup(id_tag, now)
        if info is not None:
            return Source.CACHE, info
    return Source.NONE, None


def decide(
    id_tag: str,
    online: bool,
    now: float,
    policy: AuthPolicy,
    local_list: LocalAuthList,
    cache: AuthorizationCache,
) -> Decision:
    """What a charger does with `id_tag` presented to start a transaction (§3.5, §4.1).

    Online:
    - a valid (§3.5.2: Accepted/ConcurrentTx, not past its expiryDate) list or cache entry with
      LocalPreAuthorize: accept without waiting for the CSMS (§3.5, §9.1.13);
    - anything else asks: an unknown idTag MUST be authorized by the CSMS (§4.1 "the Charge
      Point SHALL send an Authorize.req"); a NOT-valid cache entry SHOULD be checked again
      (§3.5.1); a NOT-valid list entry is asked too (§4.1 allows it for known identifiers, and
      online the CSMS, not a possibly stale copy, has the last word; a disagreement is the
      charger's LocalListConflict, §3.5.2).

    Offline:
    - a NOT-valid entry (list or cache, including a valid one past its expiryDate) is rejected
      with its status (§3.5.4 "MUST be rejected"), whatever the other keys say;
    - a valid entry with LocalAuthorizeOffline: accept (§3.5, §9.1.12);
    - otherwise no store may vouch for the idTag, and it is "unknown" in the sense of §3.5.4
      ("identifiers that cannot be explicitly authorized by Local Authorization List or
      Authorization Cache entries"): accept with AllowOfflineTxForUnknownId, else reject as
      Invalid. (So with LocalAuthorizeOffline false a listed valid idTag is treated like an
      unknown one rather than worse than one.)
    """
    source, info = _known(id_tag, now, policy, local_list, cache)
    valid = info is not None and info["status"] in VALID_STATUSES
    if online:
        if valid and policy.local_pre_authorize:
            return Decision(Action.ACCEPT, "Accepted", source, info, True)
        return Decision(Action.ASK, "", source, info, False)
    if info is not None and not valid:
        return Decision(Action.REJECT, str(info["status"]), source, info, False)
    if valid and policy.local_authorize_offline:
        return Decision(Action.ACCEPT, "Accepted", source, info, True)
    if policy.allow_offline_tx_for_unknown_id:
        return Decision(Action.ACCEPT, "Accepted", Source.NONE, info, True)
    return Decision(Action.REJECT, "Invalid", Source.NONE, info, False)
