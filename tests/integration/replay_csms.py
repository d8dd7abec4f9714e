"""A small OCPP 1.6 CSMS for the offline tests: answers plausibly and logs every frame.

Run as a script in a process of its own (the test kills it mid-run and starts another on the same
port, as a CSMS crash and restart)::

    python tests/integration/replay_csms.py --log FILE [--port N] [--first-transaction-id N]
        [--start-errors N] [--retry-interval S]

It binds 127.0.0.1 (`--port 0`: a free port), prints ``replay_csms: listening on
ws://127.0.0.1:PORT/ocpp`` and serves until killed. Every CALL received, every answer sent, every
connection and the CALLs it sends itself are appended to FILE as JSON lines, each written and
flushed before the frame it describes is sent (a line for an answer the kill kept from leaving
is possible: the tests allow for it). `--start-errors N` answers the first N StartTransactions
with a CALLERROR; `--retry-interval S` sends ChangeConfiguration TransactionMessageRetryInterval
= S after each accepted BootNotification.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

SUBPROTOCOL = "ocpp1.6"
CALL, CALLRESULT, CALLERROR = 2, 3, 4


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Csms:
    def __init__(self, log: TextIO, first_tx: int, start_errors: int, retry_s: int | None) -> None:
        self.log = log
        self.transaction_ids = itertools.count(first_tx)
        self.start_errors = start_errors
        self.retry_s = retry_s
        self.own_ids = itertools.count(1)

    def write(self, **line: Any) -> None:
        self.log.write(json.dumps({"at": time.time(), **line}) + "\n")
        self.log.flush()

    def answer(self, action: str) -> list[Any] | dict[str, Any]:
        """The payload of the CALLRESULT, or a CALLERROR [code, description]."""
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": now_iso(), "interval": 2}
        if action == "Heartbeat":
            return {"currentTime": now_iso()}
        if action == "Authorize":
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            if self.start_errors > 0:
                self.start_errors -= 1
                return ["InternalError", "start refused on purpose"]
            return {
                "transactionId": next(self.transaction_ids),
                "idTagInfo": {"status": "Accepted"},
            }
        if action == "StopTransaction":
            return {"idTagInfo": {"status": "Accepted"}}
        if action in ("MeterValues", "StatusNotification"):
            return {}
        return ["NotImplemented", action]

    async def handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else "/"
        identity = unquote(path.rstrip("/").rsplit("/", 1)[-1])
        self.write(kind="connected", identity=identity)
        own: dict[str, str] = {}  # our CALLs' ids -> action
        try:
            async for raw in ws:
                await self.on_frame(ws, identity, json.loads(raw), own)
        except ConnectionClosed:
            pass
        self.write(kind="closed", identity=identity)

    async def on_frame(
        self, ws: ServerConnection, identity: str, frame: list[Any], own: dict[str, str]
    ) -> None:
        if frame[0] != CALL:
            action = own.pop(frame[1], "")
            self.write(kind="answer", identity=identity, action=action, frame=frame)
            return
        _, uid, action, payload = frame
        self.write(kind="call", identity=identity, uid=uid, action=action, payload=payload)
        answer = self.answer(action)
        if isinstance(answer, list):
            reply: list[Any] = [CALLERROR, uid, answer[0], answer[1], {}]
        else:
            reply = [CALLRESULT, uid, answer]
        self.write(kind="reply", identity=identity, uid=uid, action=action, frame=reply)
        await ws.send(json.dumps(reply))
        if action == "BootNotification" and self.retry_s is not None:
            own_id = f"csms-{next(self.own_ids)}"
            own[own_id] = "ChangeConfiguration"
            change = {"key": "TransactionMessageRetryInterval", "value": str(self.retry_s)}
            call = [CALL, own_id, "ChangeConfiguration", change]
            self.write(kind="own_call", identity=identity, frame=call)
            await ws.send(json.dumps(call))


async def amain(args: argparse.Namespace) -> None:
    with args.log.open("a", encoding="utf-8") as log:
        csms = Csms(log, args.first_transaction_id, args.start_errors, args.retry_interval)
        async with serve(
            csms.handle,
            "127.0.0.1",
            args.port,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            ping_interval=None,
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            print(f"replay_csms: listening on ws://127.0.0.1:{port}/ocpp", flush=True)
            await asyncio.Future()  # until killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--first-transaction-id", type=int, default=1)
    parser.add_argument("--start-errors", type=int, default=0)
    parser.add_argument("--retry-interval", type=int, default=None)
    asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    main()
