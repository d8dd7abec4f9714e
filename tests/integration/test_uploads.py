"""Diagnostics, logs and firmware on real sockets: `simfleet run` (and the Locust engine child)
against a small CSMS in this test that sends GetDiagnostics, GetLog and UpdateFirmware once a
charger has booted, with http://127.0.0.1:PORT/ locations served by a real HTTP server here.

Checked on the wire: the files arrive (HTTP PUT, with a body), the status notifications arrive
in order and validate against the official 1.6 schemas, an ftp:// location and a server
answering 500 end in UploadFailed, and a firmware update reboots the charger onto the new
version. Runs are bounded: a few chargers, under 20 s each.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from conftest import ROOT, run_simfleet, small_scenario, stop_process
from ocpp_schemas import violations
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from simfleet.engine.uploads import http_put

pytestmark = pytest.mark.timeout(90)

#: Short firmware steps, so an update fits in the run; no random failures.
FIRMWARE = """
[firmware]
download_s = 1
install_s = 1
reboot_s = 2
download_failure_rate = 0
install_failure_rate = 0
upload_timeout_s = 5
"""


class UploadServer:
    """A real HTTP server on 127.0.0.1 recording every PUT; paths under /fail/ answer 500."""

    def __init__(self) -> None:
        self.received: list[tuple[float, str, bytes, dict[str, str]]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append((time.time(), unquote(self.path), body, dict(self.headers)))
                self.send_response(500 if self.path.startswith("/fail/") else 201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def uploads(self, prefix: str) -> list[tuple[float, str, bytes, dict[str, str]]]:
        return [u for u in self.received if u[1].startswith(prefix)]


class CommandingCsms:
    """A small OCPP 1.6J CSMS (websockets, in a thread): answers every CALL, sends each
    identity's command once its first BootNotification is answered, records everything."""

    def __init__(self, commands: dict[str, tuple[str, dict[str, Any]]]) -> None:
        self.commands = commands
        self.calls: dict[str, list[tuple[float, str, dict[str, Any]]]] = defaultdict(list)
        self.results: dict[str, list[Any]] = defaultdict(list)
        self.sent: set[str] = set()
        self.port = 0
        self._ids = itertools.count(1)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def start(self) -> None:
        self.thread.start()
        assert self._ready.wait(10), "CSMS did not start"

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)

    def of(self, identity: str, action: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, p) for t, a, p in self.calls[identity] if a == action]

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(
            self._handle, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")], ping_interval=None
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        identity = unquote(ws.request.path.rsplit("/", 1)[-1])
        try:
            async for raw in ws:
                message = json.loads(raw)
                if message[0] != 2:
                    self.results[identity].append(message)
                    continue
                _, uid, action, payload = message
                self.calls[identity].append((time.time(), action, payload))
                await ws.send(json.dumps([3, uid, self._answer(action)]))
                if action == "BootNotification" and identity not in self.sent:
                    command = self.commands.get(identity)
                    if command is not None:
                        self.sent.add(identity)
                        await ws.send(json.dumps([2, "cmd-1", *command]))
        except ConnectionClosed:
            pass

    def _answer(self, action: str) -> dict[str, Any]:
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        accepted = {"status": "Accepted"}
        answers: dict[str, dict[str, Any]] = {
            "BootNotification": {"status": "Accepted", "currentTime": now, "interval": 60},
            "Heartbeat": {"currentTime": now},
            "Authorize": {"idTagInfo": accepted},
            "StartTransaction": {"transactionId": next(self._ids), "idTagInfo": accepted},
        }
        return answers.get(action, {})


@pytest.fixture
def uploads() -> Iterator[UploadServer]:
    server = UploadServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def statuses(csms: CommandingCsms, identity: str, action: str) -> list[Any]:
    return [
        (p["status"], p["requestId"]) if "requestId" in p else p["status"]
        for _, p in csms.of(identity, action)
    ]


def test_diagnostics_logs_and_firmware_through_simfleet_run(
    tmp_path: Path, uploads: UploadServer
) -> None:
    http = uploads.url
    csms = CommandingCsms(
        {
            "SF-000001": ("GetDiagnostics", {"location": f"{http}/diag/"}),
            "SF-000002": (
                "GetLog",
                {
                    "logType": "SecurityLog",
                    "requestId": 7,
                    "log": {"remoteLocation": f"{http}/logs"},
                },
            ),
            "SF-000003": ("GetDiagnostics", {"location": "ftp://127.0.0.1/diag/"}),
            "SF-000004": (
                "GetDiagnostics",
                {"location": f"{http}/fail/", "retries": 1, "retryInterval": 1},
            ),
            "SF-000005": (
                "UpdateFirmware",
                {"location": f"{http}/fw/sf-2.0.bin", "retrieveDate": "2020-01-01T00:00:00Z"},
            ),
        }
    )
    csms.start()
    try:
        scenario = small_scenario(tmp_path, chargers=5, duration=16, workers=1)
        with scenario.open("a", encoding="utf-8") as file:
            file.write(FIRMWARE)
        result = run_simfleet("run", str(scenario), "--target", csms.url, "--quiet", timeout=60)
    finally:
        csms.stop()
    output = f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, output
    assert csms.sent == set(csms.commands), output
    bad = [v for calls in csms.calls.values() for _, a, p in calls for v in violations(a, p, True)]
    assert bad == [], bad[:5]

    # GetDiagnostics to an HTTP directory: the file arrives, then Uploaded.
    (answer,) = csms.results["SF-000001"]
    file_name = answer[2]["fileName"]
    (upload,) = uploads.uploads("/diag/")
    at, path, body, headers = upload
    assert path == f"/diag/{file_name}"
    assert b"chargePointIdentity: SF-000001" in body and b"[configuration]" in body
    assert headers["Content-Type"].startswith("text/plain")
    assert statuses(csms, "SF-000001", "DiagnosticsStatusNotification") == ["Uploading", "Uploaded"]
    assert csms.of("SF-000001", "DiagnosticsStatusNotification")[-1][0] >= at

    # GetLog: the same with its requestId, a security log.
    (answer,) = csms.results["SF-000002"]
    assert answer[2]["status"] == "Accepted"
    (upload,) = uploads.uploads("/logs/")
    assert upload[1] == f"/logs/{answer[2]['filename']}"
    assert b"# simfleet security log" in upload[2]
    assert statuses(csms, "SF-000002", "LogStatusNotification") == [
        ("Uploading", 7),
        ("Uploaded", 7),
    ]

    # ftp:// is not implemented; a server answering 500 fails each attempt (one retry here).
    assert statuses(csms, "SF-000003", "DiagnosticsStatusNotification") == [
        "Uploading",
        "UploadFailed",
    ]
    attempts = uploads.uploads("/fail/")
    assert len(attempts) == 2
    assert attempts[1][0] - attempts[0][0] >= 0.9  # retryInterval = 1 s
    assert statuses(csms, "SF-000004", "DiagnosticsStatusNotification") == [
        "Uploading",
        "UploadFailed",
    ]

    # UpdateFirmware: the charger waits for its sessions, installs, reboots on the new version.
    assert statuses(csms, "SF-000005", "FirmwareStatusNotification") == [
        "Downloading",
        "Downloaded",
        "Installing",
        "Installed",
    ]
    boots = csms.of("SF-000005", "BootNotification")
    assert [p["firmwareVersion"] for _, p in boots] == ["simfleet-0.1", "sf-2.0"]
    installing = csms.of("SF-000005", "FirmwareStatusNotification")[2][0]
    installed = csms.of("SF-000005", "FirmwareStatusNotification")[3][0]
    assert installing < boots[1][0] <= installed
    assert boots[1][0] - installing >= 1.0 + 2.0 - 0.1  # install_s, then offline reboot_s
    during = [
        (t, a)
        for t, a, _ in csms.calls["SF-000005"]
        if installing < t < boots[1][0] and a in ("StartTransaction", "StopTransaction")
    ]
    assert during == []  # no session ran across the installation


def test_the_locust_engine_child_uploads_too(tmp_path: Path, uploads: UploadServer) -> None:
    http = uploads.url
    csms = CommandingCsms({"SF-000001": ("GetDiagnostics", {"location": f"{http}/child/"})})
    csms.start()
    scenario = small_scenario(tmp_path, chargers=1, duration=60)
    job = {"scenario": str(scenario), "target": csms.url, "index_base": 1, "label": "test"}
    log = tmp_path / "child.log"
    with (
        log.open("wb") as sink,
        subprocess.Popen(
            [sys.executable, "-m", "simfleet.engine.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            cwd=ROOT,
        ) as child,
    ):
        try:
            assert child.stdin is not None
            child.stdin.write(json.dumps(job).encode() + b"\n")
            child.stdin.write(b'{"cmd": "spawn", "count": 1, "rate": 10}\n')
            child.stdin.flush()
            deadline = time.monotonic() + 15
            while len(csms.of("SF-000001", "DiagnosticsStatusNotification")) < 2:
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                assert child.poll() is None, log.read_text(errors="replace")
                time.sleep(0.1)
            child.stdin.write(b'{"cmd": "stop"}\n')
            child.stdin.close()
            child.wait(timeout=20)
        finally:
            stop_process(child)
            csms.stop()
    (upload,) = uploads.uploads("/child/")
    assert b"chargePointIdentity: SF-000001" in upload[2]
    assert statuses(csms, "SF-000001", "DiagnosticsStatusNotification") == ["Uploading", "Uploaded"]
    assert child.returncode == 0


def test_an_upload_without_an_answer_gives_up_at_its_timeout() -> None:
    """A server that accepts the connection and never answers: the attempt ends at the
    timeout (0, a failure), and a refused connection fails at once."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel accepts; nobody reads or answers
        port = silent.getsockname()[1]
        start = time.monotonic()
        status = asyncio.run(http_put(f"http://127.0.0.1:{port}/d/", "f.log", b"x" * 100, 0.5))
        took = time.monotonic() - start
    assert status == 0
    assert 0.45 <= took < 3.0
    start = time.monotonic()
    assert asyncio.run(http_put(f"http://127.0.0.1:{port}/d/", "f.log", b"x", 5.0)) == 0
    assert time.monotonic() - start < 3.0  # refused: no wait for the timeout


def test_an_upload_puts_the_file_into_the_location(uploads: UploadServer) -> None:
    location = uploads.url.replace("http://", "http://user:p%40ss@") + "/dir?token=1"
    status = asyncio.run(http_put(location, "CP 1.log", b"hello", 5.0))
    assert status == 201
    ((_, path, body, headers),) = uploads.received
    assert (path, body) == ("/dir/CP 1.log?token=1", b"hello")
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()
