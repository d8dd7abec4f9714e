"""Strict mode: every OCPP-J frame checked against the official OCPP JSON schemas.

The schemas are the ones the `ocpp` package ships (ocpp/v16, v201, v21 /schemas), compiled to
Python by fastjsonschema once per (version, message), lazily, and cached for the process. A
`FrameValidator` belongs to one connection: it remembers which action each outstanding CALL
had, per direction, so a CALLRESULT is checked with its CALL's `<Action>Response` schema
(OCPP-J §4.2.2: a CALLRESULT carries only the CALL's unique id). CALLERRORs have no payload
schema: their shape is checked (OCPP-J §4.2.3).

What the schema files needed (and what they did not):
- 1.6 mixes draft-04 (the 1.6 core messages) and draft-06 (the security whitepaper's), 2.0.1 and
  2.1 are draft-06; fastjsonschema picks the draft from each file's "$schema", and resolves the
  2.x "$ref": "#/definitions/..." against their "urn:OCPP:..." "$id"s. A property *named* "id"
  (2.0.1 ChangeAvailabilityRequest.evse.id, ...) is a dict, not a draft-04 scope id, and the
  resolver leaves it alone. So every file compiles unchanged.
- 2.0.1 files start with a UTF-8 byte order mark: read as "utf-8-sig".
- `use_default=False`: some 2.x schemas carry "default" values, which fastjsonschema would
  otherwise write into the checked payload.
- "multipleOf": 0.1 (three 1.6 messages): fastjsonschema divides Decimal(repr(value)), so a
  float read from "15.9" is a multiple of 0.1 (jsonschema needs Decimal parsing for that).
- "additionalProperties": false also appears on enum and other non-object types in 2.x files:
  it constrains objects only, so it is inert there (as JSON Schema says), nothing to adjust.

Pure: no sockets, no clock; the engine calls `sent`/`received` with each frame's bytes.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import fastjsonschema
import orjson

from simfleet.protocol.frames import CALL, CALLERROR, CALLRESULT, MAX_ID_LENGTH

#: The `ocpp` package's schema folder of each OCPP version simfleet names.
SCHEMA_DIRS: Final = {"1.6": "v16", "2.0.1": "v201", "2.1": "v21"}
#: Outstanding CALLs remembered per direction. A peer that never answers (its CALLs time out)
#: must not grow the table: past this, the oldest is forgotten (its late answer, if it ever
#: comes, is then not checked). OCPP-J allows one outstanding CALL per side (§4.1.1).
MAX_PENDING: Final = 16
#: What a frame that is not a readable OCPP-J message is counted under.
UNKNOWN_ACTION: Final = "unknown"

Check = Callable[[Any], Any]


class Violation(NamedTuple):
    """One frame that broke the schema: its action, message kind and what was wrong."""

    action: str
    kind: str  # "call", "result", "error" or "frame" (not an OCPP-J message at all)
    message: str


def schema_name(version: str, action: str, response: bool) -> str:
    """The schema file's name: 1.6 has `Action.json`, 2.x `ActionRequest.json`, and all
    versions `ActionResponse.json`."""
    if response:
        return f"{action}Response"
    if version == "1.6":
        # `XResponse` is no 1.6 action, though a file of that name exists.
        return "" if action.endswith("Response") else action
    return f"{action}Request"


_COMPILED: dict[tuple[str, str], Check] = {}


@functools.cache
def schema_names(version: str) -> frozenset[str]:
    """The messages the `ocpp` package has a schema for, in one version."""
    folder = importlib.resources.files("ocpp") / SCHEMA_DIRS[version] / "schemas"
    return frozenset(
        entry.name.removesuffix(".json")
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    )


def compiled(version: str, name: str) -> Check | None:
    """The compiled validator of one schema file (None if the version has no such message);
    compiled on first use and kept for the process. Names a peer makes up are never cached,
    so they cannot grow the cache."""
    key = (version, name)
    check = _COMPILED.get(key)
    if check is None:
        if name not in schema_names(version):
            return None
        folder = importlib.resources.files("ocpp") / SCHEMA_DIRS[version] / "schemas"
        schema = json.loads((folder / f"{name}.json").read_text(encoding="utf-8-sig"))
        check = _COMPILED[key] = fastjsonschema.compile(schema, use_default=False)
    return check


class FrameValidator:
    """Checks one connection's frames in both directions; `sent` and `received` return the
    violation of a frame, or None if it is valid."""

    __slots__ = ("_ours", "_theirs", "version")

    def __init__(self, version: str) -> None:
        if version not in SCHEMA_DIRS:
            raise ValueError(f"no OCPP schemas for version {version!r}")
        self.version = version
        self._ours: dict[str, str] = {}  # unique id -> action of CALLs we sent
        self._theirs: dict[str, str] = {}  # unique id -> action of CALLs we received

    def reset(self) -> None:
        """A new connection: answers never cross connections (OCPP-J §4.1.1)."""
        self._ours.clear()
        self._theirs.clear()

    def sent(self, data: bytes | str) -> Violation | None:
        return self._check(data, self._ours, self._theirs)

    def received(self, data: bytes | str) -> Violation | None:
        return self._check(data, self._theirs, self._ours)

    def _check(
        self, data: bytes | str, calls: dict[str, str], answered: dict[str, str]
    ) -> Violation | None:
        """`calls` holds the CALLs this direction makes, `answered` those it answers."""
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:
            return Violation(UNKNOWN_ACTION, "frame", "not JSON")
        if (
            not isinstance(frame, list)
            or not frame
            or frame[0] not in (CALL, CALLRESULT, CALLERROR)
        ):
            return Violation(UNKNOWN_ACTION, "frame", "not an OCPP-J message array")
        kind = frame[0]
        unique_id = frame[1] if len(frame) > 1 else None
        if not isinstance(unique_id, str) or len(unique_id) > MAX_ID_LENGTH:
            return Violation(UNKNOWN_ACTION, "frame", "unique id is not a string of <= 36 chars")
        if kind == CALL:
            return self._call(frame, unique_id, calls)
        action = answered.pop(unique_id, UNKNOWN_ACTION)
        if kind == CALLRESULT:
            return self._result(frame, action)
        return _error_shape(frame, action)

    def _call(self, frame: list[Any], unique_id: str, calls: dict[str, str]) -> Violation | None:
        if len(frame) != 4 or not isinstance(frame[2], str):
            return Violation(UNKNOWN_ACTION, "call", "a CALL is [2, id, action, payload]")
        action: str = frame[2]
        if len(calls) >= MAX_PENDING:
            del calls[next(iter(calls))]
        calls[unique_id] = action
        check = compiled(self.version, schema_name(self.version, action, response=False))
        if check is None:
            return Violation(action, "call", f"{action} is not an OCPP {self.version} action")
        return _validate(check, frame[3], action, "call")

    def _result(self, frame: list[Any], action: str) -> Violation | None:
        if len(frame) != 3:
            return Violation(action, "result", "a CALLRESULT is [3, id, payload]")
        if action == UNKNOWN_ACTION:
            return None  # answers a CALL we never saw (or forgot): nothing to check it against
        check = compiled(self.version, schema_name(self.version, action, response=True))
        if check is None:
            return Violation(action, "result", f"no {action}Response in OCPP {self.version}")
        return _validate(check, frame[2], action, "result")


def _validate(check: Check, payload: Any, action: str, kind: str) -> Violation | None:
    try:
        check(payload)
    except fastjsonschema.JsonSchemaValueException as error:
        return Violation(action, kind, error.message)
    return None


def _error_shape(frame: list[Any], action: str) -> Violation | None:
    """OCPP-J §4.2.3: [4, id, errorCode, errorDescription, errorDetails]."""
    if (
        len(frame) == 5
        and isinstance(frame[2], str)
        and isinstance(frame[3], str)
        and isinstance(frame[4], dict)
    ):
        return None
    return Violation(action, "error", "a CALLERROR is [4, id, code, description, details{}]")
