"""Locust-shaped statistics, aggregated in the engine and shipped every ~100 ms.

Locust's own process must never see one event per message (PERFORMANCE.md: ~6 µs each in the
Locust process). Instead the engine child keeps, per OCPP action, exactly the fields of
`locust.stats.StatsEntry` (response times bucketed the way `locust.stats.bucket_response_time`
buckets them) and hands out the deltas since the last drain; the Locust side merges them with
`StatsEntry.unserialize` + `extend`, as a Locust master merges its workers' reports.
This module imports nothing from Locust (engine processes never import gevent).
"""

from __future__ import annotations

from typing import Any


def bucket_ms(ms: float) -> int:
    """The same rounding as locust.stats.bucket_response_time (~2 significant digits)."""
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return int(round(ms, -1))
    if ms < 10000:
        return int(round(ms, -2))
    return int(round(ms, -3))


#: Failure texts are cut here: Locust keys its Failures table by them.
MAX_FAILURE_CHARS = 120


class _Entry:
    __slots__ = ("failures", "max_ms", "min_ms", "requests", "response_times", "total_ms")

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0
        # Float milliseconds, as Locust's own StatsEntry.log keeps them: a CSMS command's
        # sub-millisecond handling time must not read as 0 ms.
        self.total_ms = 0.0
        self.max_ms = 0.0
        self.min_ms: float | None = None
        self.response_times: dict[int, int] = {}


class LocustTally:
    """Per (OCPP version, action): what happened since the last `drain`."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._errors: dict[tuple[str, str, str], int] = {}

    def record(self, version: str, action: str, latency_s: float, failure: str | None) -> None:
        key = (version, action)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        ms = latency_s * 1000.0
        entry.requests += 1
        entry.total_ms += ms
        if ms > entry.max_ms:
            entry.max_ms = ms
        if entry.min_ms is None or ms < entry.min_ms:
            entry.min_ms = ms
        bucket = bucket_ms(ms)
        entry.response_times[bucket] = entry.response_times.get(bucket, 0) + 1
        if failure is not None:
            entry.failures += 1
            error = (version, action, failure)
            self._errors[error] = self._errors.get(error, 0) + 1

    def error(self, version: str, action: str, failure: str) -> None:
        """A failure that is no request of its own (a schema violation in strict mode): it
        shows in Locust's Failures tab only."""
        key = (version, action, failure[:MAX_FAILURE_CHARS])
        self._errors[key] = self._errors.get(key, 0) + 1

    def drain(self, now: float) -> dict[str, Any] | None:
        """The deltas as Locust StatsEntry dicts (method = "OCPP <version>", name = action)
        and error counts; None if nothing happened."""
        if not self._entries and not self._errors:
            return None
        second = int(now)
        entries = []
        for (version, action), e in self._entries.items():
            entries.append(
                {
                    "name": action,
                    "method": f"OCPP {version}",
                    "last_request_timestamp": now,
                    "start_time": now,
                    "num_requests": e.requests,
                    "num_none_requests": 0,
                    "num_failures": e.failures,
                    "total_response_time": e.total_ms,
                    "max_response_time": e.max_ms,
                    "min_response_time": e.min_ms,
                    "total_content_length": 0,
                    "response_times": e.response_times,
                    "num_reqs_per_sec": {second: e.requests},
                    "num_fail_per_sec": {second: e.failures} if e.failures else {},
                }
            )
        errors = [
            {"method": f"OCPP {v}", "name": a, "error": f, "occurrences": n}
            for (v, a, f), n in self._errors.items()
        ]
        self._entries = {}
        self._errors = {}
        return {"entries": entries, "errors": errors}


__all__ = ["LocustTally", "bucket_ms"]
