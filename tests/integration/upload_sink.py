"""A real HTTP server on 127.0.0.1 that receives diagnostics and log files, for tests.

OCPP 1.6 §5.9 gives a location that is a directory; the simulated chargers PUT the file to
`location/fileName` (simfleet/engine/uploads.py). `UploadSink` accepts any PUT, records its
path and body with the time it arrived, and answers 201. A PUT under `/held/` is not answered
until the test calls `release()` (or `HOLD_S` passes): the charger's upload is then under way
for as long as the test needs to look at it (a triggered LogStatusNotification, ...).

Runs in daemon threads of the test process (`ThreadingHTTPServer`: one thread per request, so
a held upload does not stop the others). Use as a context manager.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

#: A held PUT is answered after this at the latest (the chargers' upload_timeout_s is longer
#: in the conformance runs, so a forgotten release shows up as a late upload, not a hang).
HOLD_S = 4.0


@dataclass(frozen=True, slots=True)
class Upload:
    path: str  # unquoted, as the charger named the file
    body: bytes
    at: float  # when the whole body had arrived (epoch seconds)


class UploadSink:
    def __init__(self) -> None:
        self.uploads: list[Upload] = []
        self._changed = threading.Condition()
        self._released = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                path = unquote(self.path)
                sink._arrived(Upload(path, body, time.time()))
                if path.startswith("/held/"):
                    sink._released.wait(HOLD_S)
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: pytest shows the test's own output

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="upload-sink", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> UploadSink:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def hold(self) -> None:
        """PUTs under /held/ wait (until `release`)."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def _arrived(self, upload: Upload) -> None:
        with self._changed:
            self.uploads.append(upload)
            self._changed.notify_all()

    def wait_for(self, path: str, timeout: float = 15) -> Upload:
        """The first upload to `path`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for upload in self.uploads:
                    if upload.path == path:
                        return upload
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [u.path for u in self.uploads]
                    raise AssertionError(f"no upload to {path} within {timeout} s; got {seen}")
                self._changed.wait(left)
