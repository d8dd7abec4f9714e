"""OCPP timestamps: ISO-8601 UTC with exactly 3 fractional digits (real CSMSs reject more),
and the dateTime values a CSMS sends, read back as epoch seconds."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso_utc(epoch_s: float) -> str:
    """`1700000000.1234` -> ``"2023-11-14T22:13:20.123Z"``."""
    whole = int(epoch_s)
    millis = int((epoch_s - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def parse_iso_utc(value: object) -> float:
    """An OCPP dateTime (ISO 8601 / RFC 3339) as epoch seconds.

    "Z", "z" and numeric offsets are honoured; a value without an offset is read as UTC (OCPP
    timestamps are UTC in practice). Anything else raises `ValueError`.
    """
    if not isinstance(value, str):
        raise ValueError(f"date-time must be a string, not {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.strip().upper())
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
