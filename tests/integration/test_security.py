"""Security profiles 1 and 2 on real sockets: Basic auth over ws:// and wss://."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import (
    ROOT,
    SIMFLEET,
    require_program,
    run_simfleet,
    small_scenario,
    start_csms,
    stop_process,
)

PASSWORD = "s3cret-AuthorizationKey-0123"


def scenario_with_auth(tmp_path: Path, profile: int, ca_file: str = "") -> Path:
    path = small_scenario(tmp_path, chargers=10, duration=5)
    extra = f'\n[target]\nsecurity_profile = {profile}\npassword_env = "SIMFLEET_TEST_PW"\n'
    if ca_file:
        extra += f'ca_file = "{ca_file}"\n'
    path.write_text(path.read_text() + extra)
    return path


def run_with_password(scenario: Path, target: str, password: str, report: Path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "SIMFLEET_TEST_PW": password}
    return subprocess.run(
        [*SIMFLEET, "run", str(scenario), "--target", target, "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
        env=env,
    )


def start_auth_csms(*args: str):  # type: ignore[no-untyped-def]
    os.environ["SIMFLEET_TEST_CSMS_PW"] = PASSWORD
    return start_csms("--password-env", "SIMFLEET_TEST_CSMS_PW", *args)


@pytest.mark.timeout(120)
def test_profile_1_right_password_connects_and_is_never_shown(tmp_path: Path) -> None:
    server = start_auth_csms()
    try:
        report_path = tmp_path / "report.json"
        result = run_with_password(
            scenario_with_auth(tmp_path, 1), server.url, PASSWORD, report_path
        )
    finally:
        stop_process(server.process)
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["chargers"]["booted"] == 10
    for text in (result.stdout, result.stderr, report_path.read_text()):
        assert PASSWORD not in text


@pytest.mark.timeout(120)
def test_profile_1_wrong_password_is_refused_and_reported(tmp_path: Path) -> None:
    server = start_auth_csms()
    try:
        report_path = tmp_path / "report.json"
        path = scenario_with_auth(tmp_path, 1)
        path.write_text(path.read_text().replace("unreachable_s = 5", "unreachable_s = 3"))
        result = run_with_password(path, server.url, "wrong-password-123456", report_path)
    finally:
        stop_process(server.process)
    assert result.returncode == 3, result.stderr
    assert "cannot reach" in result.stderr
    report = json.loads(report_path.read_text())
    assert report["connection_failures"].get("http_401", 0) > 0
    assert report["connections"]["opened"] == 0


def make_certificate(tmp_path: Path) -> tuple[Path, Path]:
    openssl = require_program("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.mark.timeout(120)
def test_profile_2_basic_auth_over_wss(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    server = start_auth_csms("--tls-cert", str(cert), "--tls-key", str(key))
    target = f"wss://127.0.0.1:{server.port}/ocpp"
    try:
        trusted = tmp_path / "trusted"
        trusted.mkdir()
        ok_report = trusted / "report.json"
        ok = run_with_password(
            scenario_with_auth(trusted, 2, ca_file=str(cert)), target, PASSWORD, ok_report
        )
        untrusted = tmp_path / "untrusted"
        untrusted.mkdir()
        bad_path = scenario_with_auth(untrusted, 2)
        bad_path.write_text(bad_path.read_text().replace("unreachable_s = 5", "unreachable_s = 3"))
        bad_report = untrusted / "report.json"
        bad = run_with_password(bad_path, target, PASSWORD, bad_report)
    finally:
        stop_process(server.process)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok_report.read_text())["chargers"]["booted"] == 10
    # Without the CA the self-signed certificate is refused: a TLS failure, exit 3.
    assert bad.returncode == 3, bad.stderr
    assert json.loads(bad_report.read_text())["connection_failures"].get("tls", 0) > 0


def test_profile_2_needs_wss(tmp_path: Path) -> None:
    path = scenario_with_auth(tmp_path, 2)
    result = run_simfleet("run", str(path), "--target", "ws://127.0.0.1:1/ocpp")
    assert result.returncode == 2
    assert "target.url" in result.stderr
    assert "wss://" in result.stderr
