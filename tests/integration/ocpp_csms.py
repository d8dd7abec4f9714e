"""Recording CSMSs for interop tests, each run in a process of its own on 127.0.0.1.

Two modes, both recording every frame that crosses the wire:

* ``ocpp``: an independent CSMS built on the `ocpp` package's own ``ocpp.v16.ChargePoint``
  (server side). The library validates every incoming CALL against the official OCPP 1.6 JSON
  schemas and answers a violation with a CALLERROR, which the recording keeps.
* ``embedded``: simfleet's own embedded CSMS (`EmbeddedCsms.handle`, answers from
  `CsmsConnection16`) behind a thin recording wrapper of the connection: the same answers
  `simfleet csms` gives, with the frames kept for the tests.

As a script (what `start_recording_csms` runs)::

    python tests/integration/ocpp_csms.py --mode ocpp|embedded --record FILE [--heartbeat S]

It binds 127.0.0.1 port 0, prints ``ocpp_csms: listening on ws://127.0.0.1:PORT/ocpp`` on
stdout, serves until SIGTERM or SIGINT, then writes the recording to FILE as JSON and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result, datatypes
from ocpp.v16.enums import Action, AuthorizationStatus, DataTransferStatus, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from simfleet.engine.csms_server import EmbeddedCsms
from simfleet.engine.transport import MAX_MESSAGE
from simfleet.protocol.v16.csms import CsmsSettings

SUBPROTOCOL = "ocpp1.6"
ROOT = Path(__file__).resolve().parents[2]
CALL, CALLRESULT, CALLERROR = 2, 3, 4


# -- the recording (in the CSMS process) --------------------------------------------------------


class Recorder:
    """Every frame received and sent, per connection; answers paired with their CALL."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.unexpected: list[dict[str, Any]] = []  # anything received that is not a CALL
        self._open: dict[tuple[int, str], dict[str, Any]] = {}  # (connection, id) -> call

    def connection(self, identity: str, path: str, subprotocol: str | None) -> int:
        self.connections.append(
            {"identity": identity, "path": path, "subprotocol": subprotocol, "at": time.time()}
        )
        return len(self.connections) - 1

    def received(self, conn: int, raw: str | bytes) -> None:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        identity = self.connections[conn]["identity"]
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if (
            type(message) is list
            and len(message) == 4
            and message[0] == CALL
            and type(message[1]) is str
            and type(message[2]) is str
        ):
            record = {
                "identity": identity,
                "connection": conn,
                "unique_id": message[1],
                "action": message[2],
                "payload": message[3],
                "raw": text,
                "at": time.time(),
            }
            self.calls.append(record)
            self._open[(conn, message[1])] = record
        else:
            self.unexpected.append({"identity": identity, "raw": text, "at": time.time()})

    def sent(self, conn: int, raw: str | bytes) -> None:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        try:
            message = json.loads(text)
        except ValueError:
            return
        if type(message) is not list or len(message) < 3 or message[0] not in (3, 4):
            return
        record = self._open.pop((conn, message[1]), None)
        if record is None:
            self.unexpected.append(
                {"identity": self.connections[conn]["identity"], "sent": text, "at": time.time()}
            )
            return
        if message[0] == CALLRESULT:
            record["response"] = message[2]
        else:
            record["error"] = {"code": message[2], "description": message[3], "raw": text}

    def dump(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "connections": self.connections,
            "calls": self.calls,
            "unexpected": self.unexpected,
        }


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- mode "ocpp": the ocpp package's ChargePoint -------------------------------------------------


class OcppCsmsChargePoint(ChargePoint):
    """The Central System's view of one charger, written against the ocpp package's API only."""

    heartbeat_s = 2
    transaction_ids = itertools.count(1)

    def __init__(self, identity: str, connection: Any, recorder: Recorder, conn: int) -> None:
        super().__init__(identity, connection)
        self._recorder = recorder
        self._conn = conn

    async def route_message(self, raw_msg: str) -> None:  # type: ignore[override]
        self._recorder.received(self._conn, raw_msg)
        await super().route_message(raw_msg)

    async def _send(self, message: str) -> None:  # type: ignore[override]
        self._recorder.sent(self._conn, message)
        await super()._send(message)

    @on(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=now_iso(),
            interval=self.heartbeat_s,
            status=RegistrationStatus.accepted,
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(
            id_tag_info=datatypes.IdTagInfo(status=AuthorizationStatus.accepted)
        )

    @on(Action.start_transaction)
    def on_start_transaction(self, **_: Any) -> call_result.StartTransaction:
        return call_result.StartTransaction(
            transaction_id=next(self.transaction_ids),
            id_tag_info=datatypes.IdTagInfo(status=AuthorizationStatus.accepted),
        )

    @on(Action.stop_transaction)
    def on_stop_transaction(self, **_: Any) -> call_result.StopTransaction:
        return call_result.StopTransaction(
            id_tag_info=datatypes.IdTagInfo(status=AuthorizationStatus.accepted)
        )

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)


def identity_of(ws: ServerConnection) -> tuple[str, str]:
    path = ws.request.path if ws.request is not None else "/"
    return unquote(path.rstrip("/").rsplit("/", 1)[-1]), path


async def serve_ocpp(recorder: Recorder, stop: asyncio.Event, ready: Any) -> None:
    async def handler(ws: ServerConnection) -> None:
        identity, path = identity_of(ws)
        conn = recorder.connection(identity, path, ws.subprotocol)
        if ws.subprotocol != SUBPROTOCOL:
            await ws.close(1002, "subprotocol ocpp1.6 required")
            return
        with contextlib.suppress(ConnectionClosed):
            await OcppCsmsChargePoint(identity, ws, recorder, conn).start()

    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol(SUBPROTOCOL)],
        ping_interval=None,
        backlog=1024,
    ) as server:
        ready(next(iter(server.sockets)).getsockname()[1])
        await stop.wait()
        server.close()
        await server.wait_closed()


# -- mode "embedded": simfleet's embedded CSMS behind a recording connection ---------------------


class RecordingConnection:
    """A `ServerConnection` as `EmbeddedCsms.handle` uses it, recording what passes."""

    def __init__(self, ws: ServerConnection, recorder: Recorder, conn: int) -> None:
        self._ws = ws
        self._recorder = recorder
        self._conn = conn

    @property
    def request(self) -> Any:
        return self._ws.request

    @property
    def subprotocol(self) -> Any:
        return self._ws.subprotocol

    async def recv(self, decode: bool | None = None) -> str | bytes:
        data = await self._ws.recv(decode=decode)
        self._recorder.received(self._conn, data)
        return data

    async def send(self, message: str | bytes, text: bool | None = None) -> None:
        self._recorder.sent(self._conn, message)
        await self._ws.send(message, text=text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)


async def serve_embedded(
    recorder: Recorder, stop: asyncio.Event, ready: Any, heartbeat_s: int
) -> None:
    csms = EmbeddedCsms(CsmsSettings(heartbeat_interval_s=heartbeat_s))

    async def handler(ws: ServerConnection) -> None:
        identity, path = identity_of(ws)
        conn = recorder.connection(identity, path, ws.subprotocol)
        await csms.handle(RecordingConnection(ws, recorder, conn))  # type: ignore[arg-type]

    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol(SUBPROTOCOL)],
        compression=None,
        ping_interval=None,
        max_size=MAX_MESSAGE,
        backlog=4096,
    ) as server:
        ready(next(iter(server.sockets)).getsockname()[1])
        await stop.wait()
        server.close()
        await server.wait_closed()


async def amain(mode: str, record: Path, heartbeat_s: int) -> None:
    recorder = Recorder(mode)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def ready(port: int) -> None:
        print(f"ocpp_csms: listening on ws://127.0.0.1:{port}/ocpp ({mode})", flush=True)

    if mode == "ocpp":
        OcppCsmsChargePoint.heartbeat_s = heartbeat_s
        await serve_ocpp(recorder, stop, ready)
    else:
        await serve_embedded(recorder, stop, ready, heartbeat_s)
    partial = record.with_suffix(".partial")
    partial.write_text(json.dumps(recorder.dump()), encoding="utf-8")
    partial.replace(record)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("ocpp", "embedded"), default="ocpp")
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--heartbeat", type=int, default=2)
    args = parser.parse_args(argv)
    # The ocpp library logs every CALLERROR it answers with (schema violations included).
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(amain(args.mode, args.record, args.heartbeat))


# -- the test side -------------------------------------------------------------------------------


@dataclass
class Recording:
    """What a recording CSMS saw, loaded from its JSON file."""

    mode: str
    connections: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    unexpected: list[dict[str, Any]]

    def counts(self) -> Counter[str]:
        return Counter(call["action"] for call in self.calls)

    def answered(self) -> Counter[str]:
        """CALLs the CSMS answered with a CALLRESULT, per action."""
        return Counter(call["action"] for call in self.calls if "response" in call)

    def call_errors(self) -> list[dict[str, Any]]:
        return [call for call in self.calls if "error" in call]

    def identities(self) -> set[str]:
        return {c["identity"] for c in self.connections}


@dataclass
class RecordingCsms:
    process: subprocess.Popen[str]
    port: int
    record_path: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """End the process if it still runs (idempotent; for `finally` blocks)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self, timeout_s: float = 20) -> Recording:
        """SIGTERM, wait for the recording to be written, load it."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            code = self.process.wait(timeout=timeout_s)
        finally:
            self.kill()
        if code != 0 or not self.record_path.exists():
            raise AssertionError(f"recording CSMS exited {code}:\n{self.log()[-4000:]}")
        data = json.loads(self.record_path.read_text(encoding="utf-8"))
        return Recording(data["mode"], data["connections"], data["calls"], data["unexpected"])


def start_recording_csms(
    tmp_path: Path, mode: str = "ocpp", heartbeat_s: int = 2, startup_s: float = 30
) -> RecordingCsms:
    """The recording CSMS in a child process; returns once it listens (on a port of its own)."""
    record = tmp_path / f"csms-{mode}.json"
    log_path = tmp_path / f"csms-{mode}.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--mode",
                mode,
                "--record",
                str(record),
                "--heartbeat",
                str(heartbeat_s),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    server = RecordingCsms(process, 0, record, log_path)
    try:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], startup_s)
        line = process.stdout.readline() if readable else ""
        prefix = "ocpp_csms: listening on ws://127.0.0.1:"
        if not line.startswith(prefix):
            raise AssertionError(f"recording CSMS did not start: {line!r}\n{server.log()}")
        server.port = int(line[len(prefix) :].split("/", 1)[0])
    except BaseException:
        server.kill()
        raise
    return server


@dataclass
class FleetRun:
    """One bounded `simfleet run` against a recording CSMS: its outcome on both sides."""

    chargers: int
    heartbeat_s: int
    result: subprocess.CompletedProcess[str]
    report: dict[str, Any]
    recording: Recording

    def output(self) -> str:
        """For assertion messages."""
        return f"exit {self.result.returncode}\n{self.result.stdout}\n{self.result.stderr[-4000:]}"


def run_fleet(
    tmp_path: Path,
    mode: str,
    chargers: int,
    duration_s: float,
    workers: int,
    ramp_per_s: float,
    heartbeat_s: int,
) -> FleetRun:
    """`simfleet run` of the small test scenario against a recording CSMS, both ended here."""
    # Here, not at the top: the CSMS process runs this file as a script, without tests/ on its path.
    from conftest import run_simfleet, small_scenario

    scenario = small_scenario(
        tmp_path, chargers=chargers, duration=duration_s, workers=workers, ramp=ramp_per_s
    )
    report_path = tmp_path / "report.json"
    csms = start_recording_csms(tmp_path, mode, heartbeat_s)
    try:
        result = run_simfleet(
            "run",
            str(scenario),
            "--target",
            csms.url,
            "--report",
            str(report_path),
            "--quiet",
            timeout=duration_s + 40,
        )
    finally:
        recording = csms.stop()
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    return FleetRun(chargers, heartbeat_s, result, report, recording)


#: The independent-CSMS run, shared by the interop and the schema tests of one session.
_INDEPENDENT_RUN: list[FleetRun] = []
INDEPENDENT_CHARGERS = 30
#: Deliberately not the scenario's heartbeat_interval_s (2): the boot answer must win.
INDEPENDENT_HEARTBEAT_S = 3


def independent_csms_run(tmp_path_factory: Any) -> FleetRun:
    """30 chargers, 1 worker, 10 s against the ocpp package's CSMS (run once per session).

    The ramp (10/s) is slow enough that later chargers boot after their first EV arrived, so
    both connectors of a charger plug in at the same moment: a case a real CSMS sees too.
    """
    if not _INDEPENDENT_RUN:
        _INDEPENDENT_RUN.append(
            run_fleet(
                tmp_path_factory.mktemp("independent-csms"),
                mode="ocpp",
                chargers=INDEPENDENT_CHARGERS,
                duration_s=10,
                workers=1,
                ramp_per_s=10,
                heartbeat_s=INDEPENDENT_HEARTBEAT_S,
            )
        )
    return _INDEPENDENT_RUN[0]


if __name__ == "__main__":
    main()
