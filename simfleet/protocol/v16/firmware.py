"""Firmware updates: UpdateFirmware (OCPP 1.6 §5.19, FirmwareStatusNotification §4.5) and
SignedUpdateFirmware (1.6 security whitepaper, Secure Firmware Update; SignedFirmwareStatus-
Notification with the requestId).

The download and the installation are simulated: they take `[firmware]` durations and fail at
`[firmware]` rates, drawn from the charger's own seeded stream. From the retrieve date:

    Downloading -> Downloaded -> Installing -> (reboot) -> Installed
    signed:  [DownloadScheduled] -> Downloading -> Downloaded -> SignatureVerified
             -> [InstallScheduled] -> Installing -> InstallRebooting -> (reboot) -> Installed

A failed download is retried `retries` times, `retryInterval` apart, then DownloadFailed; an
installation fails (InstallationFailed) at `install_failure_rate` and the old firmware stays.
§5.19 recommends waiting for charging sessions to end before installing and setting connectors
that are not in use Unavailable meanwhile: the charger does both (a connector whose session
ends becomes Unavailable too), so a busy charger is not starved by new sessions. After a
successful installation it reboots (offline `reboot_s`) and boots with the new
firmwareVersion, then reports Installed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from simfleet.protocol.frames import Call
from simfleet.protocol.timefmt import iso_utc, parse_iso_utc
from simfleet.protocol.v16.answers import reject_payload
from simfleet.protocol.v16.core_profile import RESET_GRACE_S
from simfleet.protocol.v16.maintenance import FirmwareJob, Maintenance
from simfleet.protocol.v16.signing import signature_fits, signing_key
from simfleet.protocol.v16.state import Status

if TYPE_CHECKING:
    from simfleet.protocol.v16.answers import Handler
    from simfleet.protocol.v16.charger import Charger16

#: How often an installation waiting for sessions to end looks at the connectors again.
INSTALL_POLL_S: Final = 5.0
#: `retryInterval` when the CSMS gives retries without one.
DEFAULT_RETRY_INTERVAL_S: Final = 60.0
#: At most this many retries, whatever the CSMS asks: a charger does not retry forever.
MAX_RETRIES: Final = 20
#: Stages after which a new update can no longer cancel the one under way.
_COMMITTED: Final = frozenset({"Installing", "Rebooting"})


def location_and_retry(payload: dict[str, Any]) -> tuple[str, int, float] | None:
    """`location` (a non-empty string), `retries` and `retryInterval` of an UpdateFirmware or
    GetDiagnostics request (§6.19, §6.29); None when one of them is unusable."""
    location = payload.get("location")
    retry = retry_fields(payload)
    if type(location) is not str or not location or retry is None:
        return None
    return location, retry[0], retry[1]


#: What `reject_payload` says when `location_and_retry` finds nothing usable.
LOCATION_AND_RETRY: Final = "location (a URI), retries and retryInterval (integers)"


def retry_fields(payload: dict[str, Any]) -> tuple[int, float] | None:
    """`retries` (absent: none) and `retryInterval` of a request; None if not integers."""
    retries = payload.get("retries", 0)
    interval = payload.get("retryInterval", DEFAULT_RETRY_INTERVAL_S)
    if type(retries) is not int or type(interval) not in (int, float):
        return None
    return min(max(retries, 0), MAX_RETRIES), max(float(interval), 0.0)


# -- §5.19 UpdateFirmware ------------------------------------------------------------------------


def update_firmware(ch: Charger16, call: Call, now: float) -> str:
    p = call.payload
    fields = location_and_retry(p)
    if fields is None:
        return reject_payload(ch, call, LOCATION_AND_RETRY)
    location, retries, retry_interval = fields
    try:
        retrieve = parse_iso_utc(p.get("retrieveDate"))
    except ValueError as error:
        return reject_payload(ch, call, f"retrieveDate: {error}")
    ch.session.answer(call, {})  # §6.51: UpdateFirmware.conf has no fields
    m = ch.maintenance
    if m.firmware is not None and m.firmware.stage in _COMMITTED:
        # The confirmation cannot refuse: an installation under way finishes, this is dropped.
        m.note(now, f"UpdateFirmware {location} ignored: an installation is under way")
        return "Answered"
    job = FirmwareJob(location, None, retries, retry_interval, 0.0, True)
    _start(ch, job, max(now, retrieve), now)  # §5.19: a retrieveDate in the past means now
    return "Answered"


# -- Security whitepaper: SignedUpdateFirmware ---------------------------------------------------


def signed_update_firmware(ch: Charger16, call: Call, now: float) -> str:
    p = call.payload
    request_id, firmware = p.get("requestId"), p.get("firmware")
    retry = retry_fields(p)
    if type(request_id) is not int or not isinstance(firmware, dict) or retry is None:
        return reject_payload(ch, call, "requestId (integer), firmware (object), retries")
    location = firmware.get("location")
    certificate, signature = firmware.get("signingCertificate"), firmware.get("signature")
    if not all(type(v) is str for v in (location, certificate, signature)):
        return reject_payload(ch, call, "firmware: location, signingCertificate, signature")
    try:
        retrieve = parse_iso_utc(firmware.get("retrieveDateTime"))
        install = firmware.get("installDateTime")
        install_at = parse_iso_utc(install) if install is not None else 0.0
    except ValueError as error:
        return reject_payload(ch, call, f"firmware: {error}")
    key = signing_key(certificate)
    if key is None:
        ch.session.answer(call, {"status": "InvalidCertificate"})
        return "InvalidCertificate"
    m = ch.maintenance
    under_way = m.firmware
    if under_way is not None and under_way.stage in _COMMITTED:
        # As OCPP 2.0.1 L01.FR.27 (the whitepaper's source): an installation that cannot be
        # cancelled any more makes the charger refuse.
        ch.session.answer(call, {"status": "Rejected"})
        return "Rejected"
    # An update under way is cancelled for this one (2.0.1 L01.FR.24): AcceptedCanceled.
    status = "Accepted" if under_way is None else "AcceptedCanceled"
    ch.session.answer(call, {"status": status})
    job = FirmwareJob(
        str(location), request_id, retry[0], retry[1], install_at, signature_fits(key, signature)
    )
    _start(ch, job, max(now, retrieve), now)
    return status


# -- the steps ---------------------------------------------------------------------------------


def _start(ch: Charger16, job: FirmwareJob, at: float, now: float) -> None:
    m = ch.maintenance
    if m.firmware is not None:
        m.note(now, f"firmware update from {m.firmware.location} cancelled")
        _release(ch, m, now, report=True)
    m.firmware = job
    m.note(now, f"firmware update from {job.location}, download at {iso_utc(at)}")
    if at <= now:
        _download(ch, job, now)
        return
    if job.signed:
        _notify(ch, job, "DownloadScheduled", now)
    ch.schedule(at, functools.partial(_download, ch, job))


def _download(ch: Charger16, job: FirmwareJob, now: float) -> None:
    m = ch.maintenance
    if m.firmware is not job:
        return  # cancelled by a newer update
    settings = ch.settings.firmware_settings
    rate = settings.download_failure_rate
    _timed_step(ch, job, "Downloading", settings.download_s, rate, _downloaded, now)


def _timed_step(
    ch: Charger16,
    job: FirmwareJob,
    stage: str,
    span: tuple[float, float],
    failure_rate: float,
    end: Callable[[Charger16, FirmwareJob, bool, float], None],
    now: float,
) -> None:
    """Announce `stage`, draw how long it takes and whether it fails, then call `end`."""
    job.stage = stage
    _notify(ch, job, stage, now)
    draws = ch.maintenance.draws
    took = draws.between(span)
    ok = not draws.chance(failure_rate)
    ch.schedule(now + took, functools.partial(end, ch, job, ok))


def _downloaded(ch: Charger16, job: FirmwareJob, ok: bool, now: float) -> None:
    m = ch.maintenance
    if m.firmware is not job:
        return
    if not ok:
        if job.retries_left > 0:
            job.retries_left -= 1
            m.note(now, f"download failed, retry in {job.retry_interval:.0f} s")
            ch.schedule(now + job.retry_interval, functools.partial(_download, ch, job))
        else:
            _finish(ch, m, job, "DownloadFailed", now)
        return
    job.stage = "Downloaded"
    _notify(ch, job, "Downloaded", now)
    if job.signed:
        if not job.signature_ok:
            _finish(ch, m, job, "InvalidSignature", now)
            return
        _notify(ch, job, "SignatureVerified", now)
        if job.install_at > now:
            _notify(ch, job, "InstallScheduled", now)
            ch.schedule(job.install_at, functools.partial(_install, ch, job))
            return
    _install(ch, job, now)


def _install(ch: Charger16, job: FirmwareJob, now: float) -> None:
    m = ch.maintenance
    if m.firmware is not job:
        return
    _hold(ch, m, now)
    if any(c.in_transaction or c.status is Status.PREPARING for c in ch.connectors):
        job.stage = "Waiting"  # §5.19: for the sessions under way to end
        ch.schedule(now + INSTALL_POLL_S, functools.partial(_install, ch, job))
        return
    settings = ch.settings.firmware_settings
    rate = settings.install_failure_rate
    _timed_step(ch, job, "Installing", settings.install_s, rate, _installed, now)


def _installed(ch: Charger16, job: FirmwareJob, ok: bool, now: float) -> None:
    m = ch.maintenance
    if m.firmware is not job:
        return
    if not ok:
        _release(ch, m, now, report=True)
        _finish(ch, m, job, "InstallationFailed", now)
        return
    m.updates += 1
    m.version = new_version(ch.settings.firmware, m.version, job.location, m.updates)
    m.note(now, f"firmware {m.version} installed, rebooting")
    if job.signed:
        _notify(ch, job, "InstallRebooting", now)
    job.stage = "Rebooting"
    job.reboot_s = m.draws.between(ch.settings.firmware_settings.reboot_s)
    # Availability as before; the connectors report it when the charger is back (§4.9).
    _release(ch, m, now, report=False)
    ch.reset_pending = "Hard"  # the driver reboots it once the notification is answered
    ch.reset_deadline = now + RESET_GRACE_S


def booted(ch: Charger16, now: float) -> None:
    """The CSMS accepted a BootNotification: an update that rebooted the charger is done."""
    m = ch._maintenance
    if m is not None and m.firmware is not None and m.firmware.stage == "Rebooting":
        _finish(ch, m, m.firmware, "Installed", now)


def reboot_duration(ch: Charger16) -> float:
    """How long the next reboot keeps the charger offline (wall seconds)."""
    m = ch._maintenance
    job = m.firmware if m is not None else None
    if job is not None and job.stage == "Rebooting":
        return job.reboot_s
    return ch.settings.reboot_s


def signed_firmware_status_payload(ch: Charger16) -> dict[str, Any]:
    """What a triggered SignedFirmwareStatusNotification says (ExtendedTriggerMessage): the
    status now, with the update's requestId while one is under way (Idle has none)."""
    m = ch._maintenance
    job = m.firmware if m is not None else None
    if job is not None and job.signed:
        return {"status": ch.signed_firmware_status, "requestId": job.request_id}
    return {"status": ch.signed_firmware_status}


def firmware_version(ch: Charger16) -> str:
    m = ch._maintenance
    return m.version if m is not None else ch.settings.firmware


def new_version(original: str, current: str, location: str, updates: int) -> str:
    """The version after installing from `location`: the file's name without its extensions
    when it looks like a version ("acme-2.1.0.bin" -> "acme-2.1.0"), else the original
    version with a counter ("simfleet-0.1-u2"): either way a CSMS sees it change."""
    name = urlsplit(location).path.rsplit("/", 1)[-1]
    while "." in name and name.rsplit(".", 1)[1].isalpha():
        name = name.rsplit(".", 1)[0]
    if any(ch.isdigit() for ch in name) and name[:50] != current:
        return name[:50]
    suffix = f"-u{updates}"
    return original[: 50 - len(suffix)] + suffix


# -- connectors and notifications ----------------------------------------------------------------


def _hold(ch: Charger16, m: Maintenance, now: float) -> None:
    """§5.19: connectors not in use become Unavailable while the installation waits and runs;
    one in use becomes Unavailable when its session ends (as a scheduled ChangeAvailability)."""
    for connector in ch.connectors:
        cid = connector.connector_id
        if cid in m.held:
            continue
        m.held[cid] = connector.inoperative
        connector.inoperative = True
        if connector.status is Status.AVAILABLE:
            ch._set_status(connector, Status.UNAVAILABLE, now)


def _release(ch: Charger16, m: Maintenance, now: float, report: bool) -> None:
    """Give the connectors back the availability they had before the installation."""
    for cid, inoperative in m.held.items():
        connector = ch.connectors[cid - 1]
        connector.inoperative = inoperative
        if report and connector.status is Status.UNAVAILABLE and not inoperative:
            ch._set_status(connector, Status.AVAILABLE, now)
    m.held.clear()


def _finish(ch: Charger16, m: Maintenance, job: FirmwareJob, status: str, now: float) -> None:
    """The last notification of an update; then the charger is Idle again (§4.5: what a
    triggered status notification reports when no update is under way)."""
    _notify(ch, job, status, now)
    m.firmware = None
    if job.signed:
        ch.signed_firmware_status = "Idle"
    else:
        ch.firmware_status = "Idle"


def _notify(ch: Charger16, job: FirmwareJob, status: str, now: float) -> None:
    action = "SignedFirmwareStatusNotification" if job.signed else "FirmwareStatusNotification"
    ch.maintenance.note(now, f"{action} {status}")
    if job.signed:
        ch.signed_firmware_status = status
        payload: dict[str, Any] = {"status": status, "requestId": job.request_id}
    else:
        ch.firmware_status = status
        payload = {"status": status}
    ch._call(action, payload, now, now, keep_offline=False)


HANDLERS: Final[dict[str, Handler]] = {
    "SignedUpdateFirmware": signed_update_firmware,
    "UpdateFirmware": update_firmware,
}
