"""An independent OCPP 2.0.1 + 1.6 CSMS for interop tests, in a process of its own on 127.0.0.1.

Built on the `ocpp` package only: a charger that negotiates ``ocpp2.0.1`` talks to an
``ocpp.v201.ChargePoint`` subclass written here, one that negotiates ``ocpp1.6`` to the 1.6
ChargePoint of `ocpp_csms` (imported, unchanged). The library validates every incoming CALL,
and every answer to a CSMS-initiated CALL, against the official JSON schemas of the version
spoken; an invalid CALL is answered with a CALLERROR, which the recording keeps.

The subprotocol is chosen as OCPP-J 2.0.1 Part 4 §3.1.2 describes: the first of the charger's
offered subprotocols (in its order of preference) that this CSMS speaks; none: the handshake
goes without a subprotocol and the connection is closed (1002).

After a 2.0.1 station's BootNotification is accepted, the CSMS asks it a GetVariables
(OCPPCommCtrlr.HeartbeatInterval, B06) and a GetBaseReport SummaryInventory (B07), so the
station's answers and its NotifyReport pages cross the library's validation too.

Every frame both ways is recorded with its connection (identity, offered and negotiated
subprotocol). As a script (what `start_csms201` runs)::

    python tests/integration/ocpp_csms201.py --record FILE [--heartbeat S]

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result, datatypes
from ocpp.v201.enums import (
    Action,
    AuthorizationStatusEnumType,
    DataTransferStatusEnumType,
    GenericStatusEnumType,
    RegistrationStatusEnumType,
    ReportBaseEnumType,
)
from ocpp_csms import (
    CALL,
    CALLERROR,
    CALLRESULT,
    OcppCsmsChargePoint,
    Recorder,
    RecordingCsms,
    identity_of,
    now_iso,
)
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parents[2]
#: Subprotocol -> OCPP version, what this CSMS speaks.
SPOKEN = {"ocpp2.0.1": "2.0.1", "ocpp1.6": "1.6"}
#: The CSMS-initiated CALLs' answers are awaited this long (the library raises after).
COMMAND_TIMEOUT_S = 10


# -- the recording (in the CSMS process) --------------------------------------------------------


class Recorder201(Recorder):
    """`Recorder` (charger CALLs with their answers) plus every raw frame, the CSMS's own CALLs
    with their answers, and per connection the offered and negotiated subprotocols."""

    def __init__(self) -> None:
        super().__init__("ocpp201")
        self.frames: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []  # CSMS-initiated CALLs
        self._commands_open: dict[tuple[int, str], dict[str, Any]] = {}

    def open(self, identity: str, path: str, offered: list[str], chosen: str | None) -> int:
        conn = self.connection(identity, path, chosen)
        self.connections[conn]["offered"] = offered
        self.connections[conn]["version"] = SPOKEN.get(chosen or "")
        return conn

    def _frame(self, conn: int, direction: str, raw: str | bytes) -> tuple[str, Any]:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        at = time.time()
        self.frames.append({"connection": conn, "direction": direction, "raw": text, "at": at})
        try:
            return text, json.loads(text)
        except ValueError:
            return text, None

    def received(self, conn: int, raw: str | bytes) -> None:
        text, message = self._frame(conn, "received", raw)
        if type(message) is list and len(message) >= 3 and message[0] in (CALLRESULT, CALLERROR):
            command = self._commands_open.pop((conn, str(message[1])), None)
            if command is not None:
                key = "response" if message[0] == CALLRESULT else "error"
                command[key] = message[2] if message[0] == CALLRESULT else message[2:]
                command["answered_at"] = time.time()
                return
        before = len(self.calls)
        super().received(conn, text)
        if len(self.calls) > before:
            self.calls[-1]["version"] = self.connections[conn]["version"]

    def sent(self, conn: int, raw: str | bytes) -> None:
        text, message = self._frame(conn, "sent", raw)
        if type(message) is list and len(message) == 4 and message[0] == CALL:
            record = {
                "identity": self.connections[conn]["identity"],
                "connection": conn,
                "unique_id": message[1],
                "action": message[2],
                "payload": message[3],
                "at": time.time(),
            }
            self.commands.append(record)
            self._commands_open[(conn, message[1])] = record
            return
        super().sent(conn, text)

    def outcome(self, conn: int, unique_id: str, outcome: str) -> None:
        """What the library made of the answer: "ok", or why it refused it."""
        for command in reversed(self.commands):
            if command["connection"] == conn and command["unique_id"] == unique_id:
                command["outcome"] = outcome
                return

    def dump(self) -> dict[str, Any]:
        return {**super().dump(), "frames": self.frames, "commands": self.commands}


# -- the 2.0.1 CSMS: the ocpp package's v201 ChargePoint ----------------------------------------


def accepted() -> datatypes.IdTokenInfoType:
    return datatypes.IdTokenInfoType(status=AuthorizationStatusEnumType.accepted)


class Csms201ChargePoint(ChargePoint):
    """The CSMS's view of one 2.0.1 station, written against the ocpp package's API only."""

    heartbeat_s = 3
    request_ids = itertools.count(1)

    def __init__(self, identity: str, connection: Any, recorder: Recorder201, conn: int) -> None:
        super().__init__(identity, connection, response_timeout=COMMAND_TIMEOUT_S)
        self._recorder = recorder
        self._conn = conn
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)

    async def route_message(self, raw_msg: str) -> None:  # type: ignore[override]
        self._recorder.received(self._conn, raw_msg)
        await super().route_message(raw_msg)

    async def _send(self, message: str) -> None:  # type: ignore[override]
        self._recorder.sent(self._conn, message)
        await super()._send(message)

    # B01: registration; the interval is deliberately not the scenario's heartbeat.
    @on(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=now_iso(),
            interval=self.heartbeat_s,
            status=RegistrationStatusEnumType.accepted,
        )

    @after(Action.boot_notification)
    def after_boot_notification(self, **_: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._ask_after_boot())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ask_after_boot(self) -> None:
        """B06 GetVariables, then B07 GetBaseReport (answered, then NotifyReport pages)."""
        heartbeat = datatypes.GetVariableDataType(
            component=datatypes.ComponentType(name="OCPPCommCtrlr"),
            variable=datatypes.VariableType(name="HeartbeatInterval"),
        )
        await self._command(call.GetVariables(get_variable_data=[heartbeat]))
        report = call.GetBaseReport(
            request_id=next(self.request_ids), report_base=ReportBaseEnumType.summary_inventory
        )
        await self._command(report)

    async def _command(self, payload: Any) -> None:
        # Readable ids, unique per connection: the recording pairs answers by them.
        unique_id = f"csms-{type(payload).__name__}-{next(self._ids)}"
        try:
            await self.call(payload, suppress=False, unique_id=unique_id)
        except ConnectionClosed:
            outcome = "connection closed"
        except Exception as error:  # the library's verdict on the answer, kept for the tests
            outcome = f"{type(error).__name__}: {error}"
        else:
            outcome = "ok"
        self._recorder.outcome(self._conn, unique_id, outcome)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_token_info=accepted())

    @on(Action.transaction_event)
    def on_transaction_event(
        self, id_token: dict[str, Any] | None = None, **_: Any
    ) -> call_result.TransactionEvent:
        # E01/E05: an event carrying an idToken gets its idTokenInfo.
        if id_token is None:
            return call_result.TransactionEvent()
        return call_result.TransactionEvent(id_token_info=accepted())

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.notify_report)
    def on_notify_report(self, **_: Any) -> call_result.NotifyReport:
        return call_result.NotifyReport()

    @on(Action.notify_event)
    def on_notify_event(self, **_: Any) -> call_result.NotifyEvent:
        return call_result.NotifyEvent()

    @on(Action.security_event_notification)
    def on_security_event(self, **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status(self, **_: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, **_: Any) -> call_result.SignCertificate:
        return call_result.SignCertificate(status=GenericStatusEnumType.rejected)

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status=DataTransferStatusEnumType.unknown_vendor_id)

    async def finish(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


# -- the server ----------------------------------------------------------------------------------


def offered_of(ws: ServerConnection) -> list[str]:
    if ws.request is None:
        return []
    values = ws.request.headers.get_all("Sec-WebSocket-Protocol")
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


def choose(_: ServerConnection, offered: Sequence[str]) -> Subprotocol | None:
    """OCPP-J §3.1.2: the charger's first preference this CSMS speaks, else none."""
    return next((Subprotocol(p) for p in offered if p in SPOKEN), None)


async def serve_both(recorder: Recorder201, stop: asyncio.Event, ready: Any) -> None:
    async def handler(ws: ServerConnection) -> None:
        identity, path = identity_of(ws)
        conn = recorder.open(identity, path, offered_of(ws), ws.subprotocol)
        if ws.subprotocol == "ocpp2.0.1":
            station = Csms201ChargePoint(identity, ws, recorder, conn)
            try:
                with contextlib.suppress(ConnectionClosed):
                    await station.start()
            finally:
                await station.finish()
        elif ws.subprotocol == "ocpp1.6":
            with contextlib.suppress(ConnectionClosed):
                await OcppCsmsChargePoint(identity, ws, recorder, conn).start()
        else:
            await ws.close(1002, "no common OCPP version")

    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol(p) for p in SPOKEN],
        select_subprotocol=choose,
        ping_interval=None,
        backlog=1024,
    ) as server:
        ready(next(iter(server.sockets)).getsockname()[1])
        await stop.wait()
        server.close()
        await server.wait_closed()


async def amain(record: Path, heartbeat_s: int) -> None:
    recorder = Recorder201()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    Csms201ChargePoint.heartbeat_s = heartbeat_s
    OcppCsmsChargePoint.heartbeat_s = heartbeat_s

    def ready(port: int) -> None:
        print(f"ocpp_csms: listening on ws://127.0.0.1:{port}/ocpp (2.0.1, 1.6)", flush=True)

    await serve_both(recorder, stop, ready)
    partial = record.with_suffix(".partial")
    partial.write_text(json.dumps(recorder.dump()), encoding="utf-8")
    partial.replace(record)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--heartbeat", type=int, default=3)
    args = parser.parse_args(argv)
    # The ocpp library logs every CALLERROR it answers with (schema violations included).
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(amain(args.record, args.heartbeat))


# -- the test side -------------------------------------------------------------------------------


@dataclass
class Recording201:
    """What the CSMS saw, loaded from its JSON file."""

    connections: list[dict[str, Any]]
    calls: list[dict[str, Any]]  # charger-initiated, with "response" or "error"
    commands: list[dict[str, Any]]  # CSMS-initiated, with "response" or "error", "outcome"
    frames: list[dict[str, Any]]
    unexpected: list[dict[str, Any]]

    def versions(self) -> Counter[str | None]:
        return Counter(c["version"] for c in self.connections)

    def calls_of(self, version: str, action: str | None = None) -> list[dict[str, Any]]:
        return [
            c
            for c in self.calls
            if c["version"] == version and (action is None or c["action"] == action)
        ]

    def call_errors(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if "error" in c]


class Csms201Process(RecordingCsms):
    def stop201(self, timeout_s: float = 20) -> Recording201:
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
        return Recording201(
            data["connections"], data["calls"], data["commands"], data["frames"], data["unexpected"]
        )


def start_csms201(tmp_path: Path, heartbeat_s: int = 3, startup_s: float = 30) -> Csms201Process:
    """The 2.0.1 + 1.6 CSMS in a child process; returns once it listens (on a port of its own)."""
    record = tmp_path / "csms-201.json"
    log_path = tmp_path / "csms-201.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
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
    server = Csms201Process(process, 0, record, log_path)
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
class MixedRun:
    """One bounded `simfleet run` of a mixed fleet against this CSMS: both sides' outcome."""

    chargers: int
    heartbeat_s: int
    result: subprocess.CompletedProcess[str]
    report: dict[str, Any]
    recording: Recording201

    def output(self) -> str:
        """For assertion messages."""
        return f"exit {self.result.returncode}\n{self.result.stdout}\n{self.result.stderr[-4000:]}"


def run_mixed(
    tmp_path: Path, scenario: Path, chargers: int, duration_s: float, heartbeat_s: int
) -> MixedRun:
    """`simfleet run SCENARIO` against this CSMS, both ended here."""
    # Here, not at the top: the CSMS process runs this file as a script, without tests/ on its path.
    from conftest import run_simfleet

    report_path = tmp_path / "report.json"
    csms = start_csms201(tmp_path, heartbeat_s)
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
        recording = csms.stop201()
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    return MixedRun(chargers, heartbeat_s, result, report, recording)


if __name__ == "__main__":
    main()
