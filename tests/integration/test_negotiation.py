"""Subprotocol negotiation with the embedded CSMS on real sockets (OCPP-J 2.0.1 Part 4 §3.1.2),
and a raw 2.0.1 client driving its 2.0.1 side."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import (
    CsmsProcess,
    run_simfleet,
    small_scenario,
    start_csms,
    stop_process,
    write_scenario,
)
from ocpp2_schemas import minimal, violations
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol


@pytest.fixture
def default_csms() -> Iterator[CsmsProcess]:
    server = start_csms()
    try:
        yield server
    finally:
        stop_process(server.process)


@pytest.fixture
def old_csms() -> Iterator[CsmsProcess]:
    server = start_csms("--ocpp-versions", "2.0.1,1.6")
    try:
        yield server
    finally:
        stop_process(server.process)


async def negotiate(port: int, offered: list[str]) -> str | None:
    url = f"ws://127.0.0.1:{port}/ocpp/CP-NEG"
    async with asyncio.timeout(10):
        async with connect(url, subprotocols=[Subprotocol(s) for s in offered]) as ws:
            chosen = ws.subprotocol
            if chosen is None:
                # The CSMS agreed to none: it closes right after the handshake.
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                assert ws.close_code == 1002
            return chosen


def test_picks_the_clients_first_supported_version(default_csms: CsmsProcess) -> None:
    port = default_csms.port
    assert asyncio.run(negotiate(port, ["ocpp2.1", "ocpp2.0.1"])) == "ocpp2.1"
    assert asyncio.run(negotiate(port, ["ocpp2.0.1", "ocpp2.1"])) == "ocpp2.0.1"
    assert asyncio.run(negotiate(port, ["ocpp1.5", "ocpp1.6"])) == "ocpp1.6"


def test_configured_versions_only(old_csms: CsmsProcess) -> None:
    assert asyncio.run(negotiate(old_csms.port, ["ocpp2.1", "ocpp2.0.1"])) == "ocpp2.0.1"
    assert asyncio.run(negotiate(old_csms.port, ["ocpp2.1"])) is None


def test_no_common_version_no_subprotocol_and_closed(default_csms: CsmsProcess) -> None:
    assert asyncio.run(negotiate(default_csms.port, ["ocpp1.5"])) is None


async def drive_201(port: int) -> list[tuple[str, dict[str, Any], Any]]:
    """Boot, heartbeat, a transaction Started then Ended; every (action, request, answer)."""
    url = f"ws://127.0.0.1:{port}/ocpp/CP-201"
    boot = minimal("2.0.1", "BootNotificationRequest")
    event: dict[str, Any] = {
        "timestamp": "2024-05-01T12:00:00.000Z",
        "transactionInfo": {"transactionId": "tx-1"},
        "evse": {"id": 1, "connectorId": 1},
    }
    messages = [
        ("BootNotification", boot),
        ("Heartbeat", {}),
        (
            "TransactionEvent",
            {
                **event,
                "eventType": "Started",
                "triggerReason": "Authorized",
                "seqNo": 0,
                "idToken": {"idToken": "BLK42", "type": "ISO14443"},
            },
        ),
        (
            "TransactionEvent",
            {**event, "eventType": "Ended", "triggerReason": "EVDeparted", "seqNo": 1},
        ),
    ]
    seen = []
    async with asyncio.timeout(10):
        async with connect(url, subprotocols=[Subprotocol("ocpp2.0.1")]) as ws:
            assert ws.subprotocol == "ocpp2.0.1"
            for i, (action, payload) in enumerate(messages):
                await ws.send(orjson.dumps([2, str(i), action, payload]).decode())
                answer = orjson.loads(await ws.recv())
                assert answer[:2] == [3, str(i)], answer
                seen.append((action, payload, answer[2]))
    return seen


def test_a_raw_201_client_gets_schema_valid_answers(default_csms: CsmsProcess) -> None:
    seen = asyncio.run(drive_201(default_csms.port))
    for action, request, answer in seen:
        assert violations("2.0.1", f"{action}Request", request) == []
        assert violations("2.0.1", f"{action}Response", answer) == []
    assert seen[0][2]["status"] == "Accepted"
    assert seen[2][2] == {"idTokenInfo": {"status": "Blocked"}}
    assert seen[3][2] == {}


def test_run_against_a_csms_without_a_common_version_fails_clearly(tmp_path: Path) -> None:
    server = start_csms("--ocpp-versions", "2.0.1,2.1")
    try:
        scenario = small_scenario(tmp_path, chargers=3, duration=30)
        started = time.monotonic()
        done = run_simfleet(
            "run", str(scenario), "--target", f"ws://127.0.0.1:{server.port}/ocpp", timeout=60
        )
        took = time.monotonic() - started
    finally:
        stop_process(server.process)
    assert done.returncode != 0, done.stdout
    assert "no_common_subprotocol" in done.stderr
    assert "agreed to none of the offered OCPP versions (1.6)" in done.stderr
    assert took < 25  # unreachable_s = 5, not the 30 s run


def test_run_offering_versions_in_order_speaks_the_one_agreed(tmp_path: Path) -> None:
    server = start_csms("--ocpp-versions", "1.6")
    report = tmp_path / "report.json"
    try:
        text = small_scenario(tmp_path, chargers=3, duration=4).read_text()
        scenario = write_scenario(
            tmp_path, text.replace("[charger]\n", '[charger]\nocpp_versions = ["1.6"]\n')
        )
        done = run_simfleet(
            "run", str(scenario), "--target", server.url, "--report", str(report), timeout=60
        )
    finally:
        stop_process(server.process)
    assert done.returncode == 0, done.stderr
    result = orjson.loads(report.read_bytes())
    assert result["connections"]["opened"] == 3, result["connections"]
    assert result["connection_failures"] == {}
