"""The 1.6 security extension on real sockets: `simfleet run` against its embedded CSMS, which
sends ExtendedTriggerMessage SignChargePointCertificate, InstallCertificate and
GetInstalledCertificateIds on its own (`[[csms.commands]]`, default payloads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_simfleet, small_scenario

COMMANDS = """
[[csms.commands]]
action = "ExtendedTriggerMessage"   # default: SignChargePointCertificate
rate_per_s = 1

[[csms.commands]]
action = "InstallCertificate"       # default: the simulator's root, the embedded CSMS's CA
rate_per_s = 2

[[csms.commands]]
action = "GetInstalledCertificateIds"
rate_per_s = 1
"""


@pytest.mark.timeout(120)
def test_certificate_update_and_root_install_against_the_embedded_csms(tmp_path: Path) -> None:
    path = small_scenario(tmp_path, chargers=2, duration=8)
    path.write_text(path.read_text() + COMMANDS)
    report_path = tmp_path / "report.json"
    result = run_simfleet("run", str(path), "--report", str(report_path), timeout=100)
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    commands = report["csms_commands"]
    # A02 end to end: the trigger accepted, the charger's SignCertificate answered Accepted by
    # the CSMS, the CSMS's CertificateSigned (its CA, the installed root) accepted.
    assert commands.get("1.6|ExtendedTriggerMessage|Accepted", 0) > 0, commands
    sign = report["messages"]["SignCertificate"]
    assert sign["ok"] > 0 and sign["errors"] == 0, sign
    assert commands.get("1.6|CertificateSigned|Accepted", 0) > 0, commands
    # M05 then M03: installed roots are listed (NotFound only before a charger's first install).
    assert commands.get("1.6|InstallCertificate|Accepted", 0) > 0, commands
    assert commands.get("1.6|GetInstalledCertificateIds|Accepted", 0) > 0, commands
    assert not [key for key in commands if key.endswith(("NotSupported", "FormationViolation"))]
