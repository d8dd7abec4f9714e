"""OCPP-J RPC frames: encode and decode CALL, CALLRESULT and CALLERROR with orjson.

OCPP-J 1.6 §4 / 2.0.1 §4: every message is a JSON array whose first element is the message type:
``[2, id, action, payload]``, ``[3, id, payload]``, ``[4, id, code, description, details]``.
Decoding never raises anything but `FrameError`, which says which CALLERROR answers the frame.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from simfleet.protocol.errors import ErrorCode

CALL: Final = 2
CALLRESULT: Final = 3
CALLERROR: Final = 4

#: OCPP-J 2.0.1 §4.3: a CALLERROR whose CALL's id could not be read carries the id "-1".
UNKNOWN_ID: Final = "-1"
#: OCPP-J §4.1.4 (1.6) / §4.2.1 (2.0.1): message ids are strings of at most 36 characters.
MAX_ID_LENGTH: Final = 36

Payload = dict[str, Any]


class Call:
    """A request: ``[2, unique_id, action, payload]``."""

    __slots__ = ("action", "payload", "unique_id")

    def __init__(self, unique_id: str, action: str, payload: Payload) -> None:
        self.unique_id = unique_id
        self.action = action
        self.payload = payload

    def __repr__(self) -> str:
        return f"Call({self.unique_id!r}, {self.action!r}, {self.payload!r})"


class CallResult:
    """A successful answer: ``[3, unique_id, payload]``."""

    __slots__ = ("payload", "unique_id")

    def __init__(self, unique_id: str, payload: Payload) -> None:
        self.unique_id = unique_id
        self.payload = payload

    def __repr__(self) -> str:
        return f"CallResult({self.unique_id!r}, {self.payload!r})"


class CallError:
    """An error answer: ``[4, unique_id, code, description, details]`` (code as on the wire)."""

    __slots__ = ("code", "description", "details", "unique_id")

    def __init__(self, unique_id: str, code: str, description: str, details: Payload) -> None:
        self.unique_id = unique_id
        self.code = code
        self.description = description
        self.details = details

    def __repr__(self) -> str:
        return f"CallError({self.unique_id!r}, {self.code!r}, {self.description!r})"


Frame = Call | CallResult | CallError


class FrameError(Exception):
    """A frame that is not a valid OCPP-J message.

    `unique_id` is the id to answer with (`UNKNOWN_ID` when unreadable); `answerable` is False when
    the broken frame was itself an answer, which OCPP-J never answers with a CALLERROR.
    """

    def __init__(self, code: ErrorCode, description: str, unique_id: str, answerable: bool) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.unique_id = unique_id
        self.answerable = answerable


def encode_call(unique_id: str, action: str, payload: Payload) -> bytes:
    return orjson.dumps([CALL, unique_id, action, payload])


def encode_result(unique_id: str, payload: Payload) -> bytes:
    return orjson.dumps([CALLRESULT, unique_id, payload])


def encode_error(
    unique_id: str, code: str, description: str = "", details: Payload | None = None
) -> bytes:
    # OCPP-J: details is an object, `{}` when there is nothing to say; never null.
    return orjson.dumps([CALLERROR, unique_id, code, description, details or {}])


def decode(data: bytes | str) -> Frame:
    """Parse one WebSocket text message into a frame, or raise `FrameError`."""
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "not JSON", UNKNOWN_ID, True) from None
    if type(message) is not list or not message:
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "not a JSON array", UNKNOWN_ID, True)
    kind = message[0]
    unique_id = message[1] if len(message) > 1 else None
    if type(unique_id) is not str or not unique_id or len(unique_id) > MAX_ID_LENGTH:
        answerable = kind not in (CALLRESULT, CALLERROR)
        raise FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR, "message id unreadable", UNKNOWN_ID, answerable
        )
    if kind == CALL:
        return _decode_call(message, unique_id)
    if kind == CALLRESULT:
        return _decode_result(message, unique_id)
    if kind == CALLERROR:
        return _decode_error(message, unique_id)
    raise FrameError(
        ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, f"message type {kind!r}", unique_id, True
    )


def _decode_call(message: list[Any], unique_id: str) -> Call:
    if len(message) != 4 or type(message[2]) is not str:
        raise FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR, "CALL is not [2, id, action, payload]", unique_id, True
        )
    payload = message[3]
    if type(payload) is not dict:
        raise FrameError(
            ErrorCode.FORMAT_VIOLATION, "CALL payload is not an object", unique_id, True
        )
    return Call(unique_id, message[2], payload)


def _decode_result(message: list[Any], unique_id: str) -> CallResult:
    if len(message) != 3 or type(message[2]) is not dict:
        raise FrameError(
            ErrorCode.FORMAT_VIOLATION, "CALLRESULT is not [3, id, payload]", unique_id, False
        )
    return CallResult(unique_id, message[2])


def _decode_error(message: list[Any], unique_id: str) -> CallError:
    if len(message) != 5 or type(message[2]) is not str or type(message[3]) is not str:
        raise FrameError(
            ErrorCode.FORMAT_VIOLATION,
            "CALLERROR is not [4, id, code, description, details]",
            unique_id,
            False,
        )
    details = message[4] if type(message[4]) is dict else {}
    return CallError(unique_id, message[2], message[3], details)
