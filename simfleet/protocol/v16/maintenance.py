"""What a charger keeps while the CSMS maintains it: firmware updates, diagnostics and log
uploads (OCPP 1.6 §4.4, §4.5, §5.9, §5.19; security whitepaper GetLog, SignedUpdateFirmware).

Made on first use: most chargers of a run are never asked, and pay one empty slot for it.
Pure like the charger: the random draws come from a small generator seeded by the scenario seed
and the charger's index, never from the clock, so a run is the same for the same seed.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from simfleet.protocol.v16.state import FirmwareSettings

_MASK: Final = (1 << 64) - 1
#: Where this stream sits among the fleet's random streams (any constant; only ours uses it).
_STREAM_TAG: Final = 0x6D61696E74656E61  # "maintena"
#: How many recent maintenance events a diagnostics file can show.
EVENTS_KEPT: Final = 64


class Draws:
    """SplitMix64 (Steele, Lea, Flood 2014): 64 bits of state, a few integer operations per
    draw. The protocol layer does not import numpy, and a numpy Generator per charger would
    cost kilobytes where this costs one integer."""

    __slots__ = ("_state",)

    def __init__(self, seed: int, index: int) -> None:
        self._state = (seed * 0x9E3779B97F4A7C15 ^ index * 0xD1B54A32D192ED03 ^ _STREAM_TAG) & _MASK

    def uniform(self) -> float:
        """A float in [0, 1)."""
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        z ^= z >> 31
        return (z >> 11) * (1.0 / (1 << 53))

    def chance(self, rate: float) -> bool:
        """True with probability `rate` (one draw, even for 0 and 1: the stream stays aligned)."""
        return self.uniform() < rate

    def between(self, span: tuple[float, float]) -> float:
        low, high = span
        return low + (high - low) * self.uniform()


class UploadRequest:
    """A file the engine must upload for the charger (the charger itself does no I/O): it
    drains these with `take_uploads()` and answers with `upload_finished(upload_id, ok, now)`."""

    __slots__ = ("body", "file_name", "timeout_s", "upload_id", "url")

    def __init__(
        self, upload_id: int, url: str, file_name: str, body: bytes, timeout_s: float
    ) -> None:
        self.upload_id = upload_id
        self.url = url  # the location (a directory): the file goes to url/file_name
        self.file_name = file_name
        self.body = body
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"UploadRequest({self.upload_id}, {self.url!r}, {self.file_name!r})"


class FirmwareJob:
    """One firmware update under way: UpdateFirmware (§5.19) or SignedUpdateFirmware
    (security whitepaper), from its retrieve date to the boot on the new firmware."""

    __slots__ = (
        "install_at",
        "location",
        "reboot_s",
        "request_id",
        "retries_left",
        "retry_interval",
        "signature_ok",
        "stage",
    )

    def __init__(
        self,
        location: str,
        request_id: int | None,
        retries: int,
        retry_interval: float,
        install_at: float,
        signature_ok: bool,
    ) -> None:
        self.location = location
        self.request_id = request_id  # None for a plain (unsigned) UpdateFirmware
        self.retries_left = retries
        self.retry_interval = retry_interval
        self.install_at = install_at  # signed: installDateTime (0: as soon as possible)
        self.signature_ok = signature_ok
        self.stage = "Scheduled"  # then Downloading, Downloaded, Waiting, Installing, Rebooting
        self.reboot_s = 0.0

    @property
    def signed(self) -> bool:
        return self.request_id is not None


class UploadJob:
    """One diagnostics (§5.9) or log (whitepaper GetLog) upload under way."""

    __slots__ = (
        "body",
        "file_name",
        "kind",
        "request_id",
        "retries_left",
        "retry_interval",
        "upload_id",
        "url",
    )

    def __init__(
        self,
        kind: str,
        request_id: int | None,
        url: str,
        file_name: str,
        body: bytes,
        retries: int,
        retry_interval: float,
    ) -> None:
        self.kind = kind  # "diagnostics" (GetDiagnostics) or "log" (GetLog)
        self.request_id = request_id  # GetLog's requestId
        self.url = url
        self.file_name = file_name
        self.body = body
        self.retries_left = retries
        self.retry_interval = retry_interval
        self.upload_id = 0  # the attempt the engine is running (0: none)


class Maintenance:
    """One charger's firmware job, upload jobs, installed firmware and random draws."""

    __slots__ = (
        "draws",
        "events",
        "firmware",
        "held",
        "next_upload",
        "updates",
        "uploads",
        "version",
    )

    def __init__(self, settings: FirmwareSettings, index: int, version: str) -> None:
        self.draws = Draws(settings.seed, index)
        self.version = version  # the firmware installed now (BootNotification firmwareVersion)
        self.updates = 0  # firmware updates installed since the start of the run
        self.firmware: FirmwareJob | None = None
        self.uploads: dict[str, UploadJob] = {}  # by kind: one of each at a time
        self.next_upload = 0
        #: Connectors set Unavailable while an installation waits or runs (§5.19), with the
        #: `inoperative` flag each had before: restored when the installation is over.
        self.held: dict[int, bool] = {}
        #: (time, text) of recent maintenance events, for the diagnostics file.
        self.events: deque[tuple[float, str]] = deque(maxlen=EVENTS_KEPT)

    def note(self, now: float, text: str) -> None:
        self.events.append((now, text))

    def new_upload_id(self) -> int:
        self.next_upload += 1
        return self.next_upload
