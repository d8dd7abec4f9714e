"""OCPP timestamps: ISO-8601 UTC with exactly 3 fractional digits (real CSMSs reject more)."""

from __future__ import annotations

import time


def iso_utc(epoch_s: float) -> str:
    """`1700000000.1234` -> ``"2023-11-14T22:13:20.123Z"``."""
    whole = int(epoch_s)
    millis = int((epoch_s - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"
