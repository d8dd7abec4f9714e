"""Diagnostics and log uploads: GetDiagnostics (OCPP 1.6 §5.9, DiagnosticsStatusNotification
§4.4) and GetLog (1.6 security whitepaper, LogStatusNotification with the requestId).

The charger writes a small diagnostics file (identity, firmware, state, configuration, recent
events, within the startTime/stopTime or oldest/latestTimestamp window asked for) and leaves an
`UploadRequest` for the engine, which really uploads it (HTTP PUT to location/fileName) and
reports back with `upload_finished`. The charger itself does no I/O.

    GetDiagnostics: Uploading -> Uploaded | UploadFailed
    GetLog:         Uploading -> Uploaded | UploadFailure

Only http:// and https:// locations are uploaded to; any other scheme (ftp:// included) fails
at once (Uploading, then the failure). A failed attempt is retried `retries` times,
`retryInterval` apart. A new GetLog while one is under way cancels it (AcceptedCanceled); a new
GetDiagnostics replaces the one under way.
"""

from __future__ import annotations

import functools
import re
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from simfleet.protocol.frames import Call
from simfleet.protocol.timefmt import iso_utc, parse_iso_utc
from simfleet.protocol.v16.answers import reject_payload
from simfleet.protocol.v16.firmware import (
    LOCATION_AND_RETRY,
    firmware_version,
    location_and_retry,
    retry_fields,
)
from simfleet.protocol.v16.maintenance import UploadJob, UploadRequest

if TYPE_CHECKING:
    from simfleet.protocol.v16.answers import Handler
    from simfleet.protocol.v16.charger import Charger16

#: The schemes the engine uploads to (ftp is not implemented).
UPLOAD_SCHEMES: Final = ("http", "https")
#: The failure status of each kind of upload (their enums differ).
FAILED: Final = {"diagnostics": "UploadFailed", "log": "UploadFailure"}
LOG_TYPES: Final = ("DiagnosticsLog", "SecurityLog")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")


# -- §5.9 GetDiagnostics -------------------------------------------------------------------------


def get_diagnostics(ch: Charger16, call: Call, now: float) -> str:
    p = call.payload
    fields = location_and_retry(p)
    if fields is None:
        return reject_payload(ch, call, LOCATION_AND_RETRY)
    location, retries, retry_interval = fields
    try:
        window = _window(p.get("startTime"), p.get("stopTime"))
    except ValueError as error:
        return reject_payload(ch, call, f"startTime/stopTime: {error}")
    file_name = f"{_safe(ch.settings.identity)}-diagnostics-{_stamp(now)}.log"
    ch.session.answer(call, {"fileName": file_name})
    ch.maintenance.note(now, f"GetDiagnostics: {file_name} to {location}")
    body = diagnostics_file(ch, now, window, security=False)
    job = UploadJob("diagnostics", None, location, file_name, body, retries, retry_interval)
    _begin(ch, job, now)
    return "Answered"


# -- Security whitepaper: GetLog -----------------------------------------------------------------


def get_log(ch: Charger16, call: Call, now: float) -> str:
    p = call.payload
    log_type, request_id, log = p.get("logType"), p.get("requestId"), p.get("log")
    retry = retry_fields(p)
    if log_type not in LOG_TYPES or type(request_id) is not int or retry is None:
        return reject_payload(ch, call, "logType, requestId (integer), retries")
    location = log.get("remoteLocation") if isinstance(log, dict) else None
    if type(location) is not str or not location:
        return reject_payload(ch, call, "log.remoteLocation must be a URL")
    assert isinstance(log, dict)
    try:
        window = _window(log.get("oldestTimestamp"), log.get("latestTimestamp"))
    except ValueError as error:
        return reject_payload(ch, call, f"log: {error}")
    m = ch.maintenance
    status = "AcceptedCanceled" if "log" in m.uploads else "Accepted"
    kind = "security" if log_type == "SecurityLog" else "diagnostics"
    file_name = f"{_safe(ch.settings.identity)}-{kind}-{request_id}-{_stamp(now)}.log"
    ch.session.answer(call, {"status": status, "filename": file_name})
    m.note(now, f"GetLog {log_type} {request_id}: {file_name} to {location}")
    body = diagnostics_file(ch, now, window, security=log_type == "SecurityLog")
    _begin(ch, UploadJob("log", request_id, location, file_name, body, *retry), now)
    return status


# -- the upload ----------------------------------------------------------------------------------


def _begin(ch: Charger16, job: UploadJob, now: float) -> None:
    m = ch.maintenance
    if job.kind in m.uploads:
        m.note(now, f"{job.kind} upload {m.uploads[job.kind].file_name} cancelled")
    m.uploads[job.kind] = job  # the one it replaces is forgotten: its outcome is ignored
    _notify(ch, job, "Uploading", now)
    scheme = urlsplit(job.url).scheme.lower()
    if scheme not in UPLOAD_SCHEMES:
        m.note(now, f"cannot upload to {scheme or 'a location without a scheme'}://")
        _finish(ch, job, FAILED[job.kind], now)
        return
    _attempt(ch, job, now)


def _attempt(ch: Charger16, job: UploadJob, _now: float) -> None:
    m = ch.maintenance
    if m.uploads.get(job.kind) is not job:
        return  # replaced while waiting for its retry
    job.upload_id = m.new_upload_id()
    timeout = ch.settings.firmware_settings.upload_timeout_s
    request = UploadRequest(job.upload_id, job.url, job.file_name, job.body, timeout)
    if ch.pending_uploads is None:
        ch.pending_uploads = [request]
    else:
        ch.pending_uploads.append(request)


def upload_finished(ch: Charger16, upload_id: int, ok: bool, now: float) -> None:
    """The engine's outcome of one upload attempt."""
    m = ch._maintenance
    if m is None:
        return
    job = next((j for j in m.uploads.values() if j.upload_id == upload_id), None)
    if job is None:
        return  # replaced or cancelled meanwhile
    job.upload_id = 0
    if ok:
        _finish(ch, job, "Uploaded", now)
    elif job.retries_left > 0:
        job.retries_left -= 1
        m.note(now, f"upload of {job.file_name} failed, retry in {job.retry_interval:.0f} s")
        ch.schedule(now + job.retry_interval, functools.partial(_attempt, ch, job))
    else:
        _finish(ch, job, FAILED[job.kind], now)


def _finish(ch: Charger16, job: UploadJob, status: str, now: float) -> None:
    """The last notification of an upload; then Idle again (§4.4: what a triggered status
    notification reports when nothing is being uploaded)."""
    _notify(ch, job, status, now)
    m = ch.maintenance
    if m.uploads.get(job.kind) is job:
        del m.uploads[job.kind]
    if job.kind == "log":
        ch.log_status = "Idle"
    else:
        ch.diagnostics_status = "Idle"


def _notify(ch: Charger16, job: UploadJob, status: str, now: float) -> None:
    if job.kind == "log":
        action = "LogStatusNotification"
        ch.log_status = status
        payload: dict[str, Any] = {"status": status, "requestId": job.request_id}
    else:
        action = "DiagnosticsStatusNotification"
        ch.diagnostics_status = status
        payload = {"status": status}
    ch.maintenance.note(now, f"{action} {status} ({job.file_name})")
    ch._call(action, payload, now, now, keep_offline=False)


def log_status_payload(ch: Charger16) -> dict[str, Any]:
    """What a triggered LogStatusNotification says (ExtendedTriggerMessage): the status now,
    with the GetLog's requestId while an upload is under way (Idle has none)."""
    m = ch._maintenance
    job = m.uploads.get("log") if m is not None else None
    if job is not None:
        return {"status": ch.log_status, "requestId": job.request_id}
    return {"status": ch.log_status}


# -- the file ------------------------------------------------------------------------------------


def diagnostics_file(
    ch: Charger16, now: float, window: tuple[float, float], security: bool
) -> bytes:
    """A few KB of plausible text: who the charger is, its state and configuration now, and
    the events it recorded inside `window` (epoch seconds, both ends included)."""
    s = ch.settings
    start, stop = window
    lines = [
        f"# simfleet {'security' if security else 'diagnostics'} log",
        f"chargePointIdentity: {s.identity}",
        f"chargePointVendor: {s.vendor}",
        f"chargePointModel: {s.model}",
        f"chargePointSerialNumber: {s.serial}",
        f"firmwareVersion: {firmware_version(ch)}",
        f"generatedAt: {iso_utc(now)}",
        f"window: {_end(start, 'beginning')} .. {_end(stop, 'now')}",
        "",
    ]
    if not security:
        lines += _state_lines(ch)
    lines.append("[events]")
    # Only what the charger really recorded: its maintenance events (kept from the first
    # maintenance request on), not invented traffic.
    inside = [e for e in ch.maintenance.events if start <= e[0] <= stop]
    lines += [f"{iso_utc(at)} {text}" for at, text in inside] or ["(no events in the window)"]
    return ("\n".join(lines) + "\n").encode()


def _state_lines(ch: Charger16) -> list[str]:
    lines = [
        "[state]",
        f"boot: {ch.boot.value}; online: {str(ch.online).lower()}; "
        f"heartbeatInterval: {ch.heartbeat_interval:.0f} s",
    ]
    for c in ch.connectors:
        tx = "-" if c.transaction_id is None else str(c.transaction_id)
        lines.append(
            f"connector {c.connector_id}: {c.status.value} errorCode={c.error_code} "
            f"transaction={tx}"
        )
    lines += ["", "[configuration]"]
    known, _ = ch.config.get(None)
    lines += [f"{entry['key']}={entry.get('value', '')}" for entry in known]
    lines.append("")
    return lines


def _window(start: object, stop: object) -> tuple[float, float]:
    low = parse_iso_utc(start) if start is not None else 0.0
    high = parse_iso_utc(stop) if stop is not None else float("inf")
    return low, high


def _end(at: float, default: str) -> str:
    return default if at in (0.0, float("inf")) else iso_utc(at)


def _stamp(now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def _safe(identity: str) -> str:
    return _UNSAFE.sub("_", identity)


HANDLERS: Final[dict[str, Handler]] = {
    "GetDiagnostics": get_diagnostics,
    "GetLog": get_log,
}
