"""A charger refused with HTTP 401 reports FailedToAuthenticationAtCentralSystem once it gets in.

Real sockets on 127.0.0.1: a websockets server that refuses the first two upgrade requests
with 401, then serves the embedded CSMS's protocol core; the engine's own `run_connection`
drives one simulated charger against it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from simfleet.engine.connection import Link, Slot, Stopping, run_connection
from simfleet.engine.scheduler import Scheduler
from simfleet.protocol.v16.csms import CsmsConnection16, CsmsSettings
from simfleet.scenario import parse
from simfleet.scenario.model import ChargerModel
from simfleet.sim.fleet import build_agents
from simfleet.sim.stats import Recorder

SCENARIO = """
name = "auth-refused"
[fleet]
chargers = 1
[target]
security_profile = 1
password_env = "UNUSED_HERE"  # the Link below carries the password
[behaviour]
model = "fixed"
"""


async def refuse_twice_then_serve() -> tuple[list[str], list[dict[str, Any]], Recorder]:
    refusals = 2
    actions: list[str] = []
    events: list[dict[str, Any]] = []

    def check(_conn: ServerConnection, _request: Request) -> Response | None:
        nonlocal refusals
        if refusals:
            refusals -= 1
            return _conn.respond(401, "wrong credentials\n")
        return None

    async def handle(ws: ServerConnection) -> None:
        csms = CsmsConnection16("CP", CsmsSettings(), itertools.count(1))
        async for data in ws:
            action = csms.receive(data, time.time())
            if action is not None:
                actions.append(action)
            if action == "SecurityEventNotification":
                events.append(orjson.loads(data)[3])
            for frame in csms.take_outbox():
                await ws.send(frame.decode())

    recorder = Recorder()
    agent = build_agents(parse(SCENARIO, "auth.toml"), [1], recorder, time.time())[0]
    slot = Slot(agent, recorder)
    async with serve(
        handle, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")], process_request=check
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        link = Link(
            f"ws://127.0.0.1:{port}/ocpp", ChargerModel(), 0, 5.0, "a-wrong-password-1", None
        )
        scheduler = Scheduler(asyncio.get_running_loop(), time.time)
        stopping = Stopping()
        task = asyncio.create_task(
            run_connection(
                slot, link, scheduler, time.time, stopping, lambda _agent: itertools.repeat(0.05)
            )
        )
        deadline = time.monotonic() + 20
        while not events and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stopping.set = True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        scheduler.close()
    return actions, events, recorder


def test_refused_twice_then_connected_reports_one_security_event() -> None:
    started = time.time()
    actions, events, recorder = asyncio.run(refuse_twice_then_serve())
    assert recorder.failure_reasons == {"http_401": 2}
    assert actions[0] == "BootNotification"
    assert [e["type"] for e in events] == ["FailedToAuthenticationAtCentralSystem"]  # once
    assert events[0]["techInfo"] == "HTTP 401"
    assert events[0]["timestamp"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started))
