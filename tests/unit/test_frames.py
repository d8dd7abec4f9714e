"""OCPP-J frames: strings in, frames or the right CALLERROR out; never a crash."""

from __future__ import annotations

import orjson
import pytest

from simfleet.protocol.errors import ErrorCode
from simfleet.protocol.frames import (
    UNKNOWN_ID,
    Call,
    CallError,
    CallResult,
    FrameError,
    decode,
    encode_call,
    encode_error,
    encode_result,
)


def test_round_trip_of_each_message_type() -> None:
    call = decode(encode_call("7", "Heartbeat", {}))
    assert isinstance(call, Call)
    assert (call.unique_id, call.action, call.payload) == ("7", "Heartbeat", {})
    result = decode(encode_result("7", {"currentTime": "2026-01-01T00:00:00.000Z"}))
    assert isinstance(result, CallResult)
    assert result.payload == {"currentTime": "2026-01-01T00:00:00.000Z"}
    error = decode(encode_error("7", "NotImplemented", "nope"))
    assert isinstance(error, CallError)
    assert (error.code, error.description, error.details) == ("NotImplemented", "nope", {})


def test_encoded_frames_are_the_ocpp_j_arrays() -> None:
    assert orjson.loads(encode_call("1", "Authorize", {"idTag": "A"})) == [
        2,
        "1",
        "Authorize",
        {"idTag": "A"},
    ]
    assert orjson.loads(encode_result("1", {})) == [3, "1", {}]
    # details is an object, never null (OCPP-J 1.6 §4.2.3).
    assert orjson.loads(encode_error("1", "GenericError")) == [4, "1", "GenericError", "", {}]


@pytest.mark.parametrize(
    ("data", "code", "unique_id", "answerable"),
    [
        (b"not json", ErrorCode.RPC_FRAMEWORK_ERROR, UNKNOWN_ID, True),
        (b'{"a": 1}', ErrorCode.RPC_FRAMEWORK_ERROR, UNKNOWN_ID, True),
        (b"[]", ErrorCode.RPC_FRAMEWORK_ERROR, UNKNOWN_ID, True),
        (b'[2, 17, "Heartbeat", {}]', ErrorCode.RPC_FRAMEWORK_ERROR, UNKNOWN_ID, True),
        (
            b'[2, "' + b"x" * 37 + b'", "Heartbeat", {}]',
            ErrorCode.RPC_FRAMEWORK_ERROR,
            UNKNOWN_ID,
            True,
        ),
        (b'[2, "5", "Heartbeat"]', ErrorCode.RPC_FRAMEWORK_ERROR, "5", True),
        (b'[2, "5", 3, {}]', ErrorCode.RPC_FRAMEWORK_ERROR, "5", True),
        (b'[2, "5", "Heartbeat", null]', ErrorCode.FORMAT_VIOLATION, "5", True),
        (b'[2, "5", "Heartbeat", []]', ErrorCode.FORMAT_VIOLATION, "5", True),
        (b'[9, "5", "Heartbeat", {}]', ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, "5", True),
        (b'["2", "5", "Heartbeat", {}]', ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, "5", True),
        # Broken answers are never answered (OCPP-J: only a CALL gets a CALLERROR).
        (b'[3, "5"]', ErrorCode.FORMAT_VIOLATION, "5", False),
        (b'[3, "5", null]', ErrorCode.FORMAT_VIOLATION, "5", False),
        (b'[4, "5", "X"]', ErrorCode.FORMAT_VIOLATION, "5", False),
        (b"[3, 5, {}]", ErrorCode.RPC_FRAMEWORK_ERROR, UNKNOWN_ID, False),
    ],
)
def test_malformed_frames_say_how_to_answer(
    data: bytes, code: ErrorCode, unique_id: str, answerable: bool
) -> None:
    with pytest.raises(FrameError) as caught:
        decode(data)
    assert caught.value.code is code
    assert caught.value.unique_id == unique_id
    assert caught.value.answerable is answerable


def test_callerror_with_non_object_details_is_still_read() -> None:
    frame = decode(b'[4, "5", "InternalError", "boom", null]')
    assert isinstance(frame, CallError)
    assert frame.details == {}


def test_text_and_bytes_decode_alike() -> None:
    text = '[2, "9", "Heartbeat", {}]'
    a, b = decode(text), decode(text.encode())
    assert isinstance(a, Call)
    assert isinstance(b, Call)
    assert (a.unique_id, a.action) == (b.unique_id, b.action)
