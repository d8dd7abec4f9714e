"""The Locust web UI in a real browser (Debian's chromium, driven by playwright's client).

Open the UI, start 20 chargers, see the OCPP rows and the Fleet tab fill, shrink the fleet to 8
from the Edit dialog, stop; a screenshot is kept in test-artifacts/.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT, SIMFLEET, require_program, small_scenario, stop_process
from playwright.sync_api import sync_playwright  # the client only: the browser is Debian's

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"the Locust web UI did not listen on {port}")


def fleet_cell(page: object, column: int) -> str:
    """The Total row's cell in the Fleet table (0 = the label)."""
    row = page.locator("tr", has_text="Total").last  # type: ignore[attr-defined]
    return str(row.locator("td").nth(column).inner_text())


@pytest.mark.timeout(120)
def test_web_ui_start_fleet_tab_resize_stop(tmp_path: Path) -> None:
    chromium = require_program("chromium")
    port = free_port()
    scenario = small_scenario(tmp_path, duration=600)
    with (tmp_path / "locust.log").open("wb") as log:
        locust = subprocess.Popen(
            [*SIMFLEET, "locust", str(scenario), "--web-port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=ROOT,
        )
    try:
        wait_for_port(port, 30)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                page.fill("input[name=userCount]", "20")
                page.fill("input[name=spawnRate]", "20")
                page.click("button:has-text('Start')")
                page.wait_for_selector("text=BootNotification", timeout=30_000)
                page.wait_for_selector("text=StartTransaction", timeout=30_000)
                assert page.locator("text=OCPP 1.6").count() > 0

                page.click("[role=tab]:has-text('Fleet')")
                page.wait_for_function(
                    "() => [...document.querySelectorAll('tr')].some("
                    "r => r.innerText.startsWith('Total') && r.innerText.includes('\\t20\\t20'))",
                    timeout=30_000,
                )
                assert int(fleet_cell(page, 3)) == 20  # connected

                page.click("button:has-text('Edit')")
                dialog = page.locator(".MuiModal-root form")
                dialog.locator("input[name=userCount]").fill("8")
                dialog.locator("input[name=spawnRate]").fill("20")
                dialog.locator("button[type=submit]").click()
                page.wait_for_function(
                    "() => [...document.querySelectorAll('tr')].some("
                    "r => r.innerText.startsWith('Total') && r.innerText.includes('\\t8\\t8'))",
                    timeout=30_000,
                )
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "locust-fleet-tab.png"), full_page=True)

                page.click("button:has-text('Stop')")
                page.wait_for_selector("text=STOPPED", timeout=30_000)
            finally:
                browser.close()
    finally:
        stop_process(locust)
