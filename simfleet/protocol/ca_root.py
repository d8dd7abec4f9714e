"""The simulator's own CA root certificate, as a constant (no work at import, no crypto import).

The embedded CSMS signs chargers' certificates with this CA (`certificates.simulator_ca`), and
the default InstallCertificate payload installs this root, so the two agree in every process.
Its private key is derived from `KEY_LABEL`, a public string: anybody can rebuild it. It is a
test CA for simulated chargers; never trust it anywhere else.

`tests/unit/test_certificates.py` checks that this certificate carries the derived key.
"""

from __future__ import annotations

from typing import Final

#: The private key is SHA-256(KEY_LABEL) reduced into the P-256 scalar range.
KEY_LABEL: Final = b"simfleet simulator CA"

#: CN=simfleet simulator CA, O=simfleet; EC P-256; serial 5F1EE7; 2024-01-01 to 2074-01-01;
#: BasicConstraints CA:TRUE (critical). Self-signed, ECDSA with SHA-256.
SIMULATOR_ROOT_PEM: Final = """-----BEGIN CERTIFICATE-----
MIIBbDCCARKgAwIBAgIDXx7nMAoGCCqGSM49BAMCMDMxHjAcBgNVBAMMFXNpbWZs
ZWV0IHNpbXVsYXRvciBDQTERMA8GA1UECgwIc2ltZmxlZXQwIBcNMjQwMTAxMDAw
MDAwWhgPMjA3NDAxMDEwMDAwMDBaMDMxHjAcBgNVBAMMFXNpbWZsZWV0IHNpbXVs
YXRvciBDQTERMA8GA1UECgwIc2ltZmxlZXQwWTATBgcqhkjOPQIBBggqhkjOPQMB
BwNCAAQceB1bOijIcUdBjqedaMwsv8C6faGYeYuoYJ045HmmvnSbPvbgIu9xfrhx
QcaAuZTE8WrWHR+/4LT5ABecaZaeoxMwETAPBgNVHRMBAf8EBTADAQH/MAoGCCqG
SM49BAMCA0gAMEUCIQDtk7bPTs9s06nYxpwU36lewW4aD1IG1nJKwOdGB+jgkgIg
flPQTkxJXnbuzc7AE5L4huMSXhGVM+3VhgPDQhNiy/8=
-----END CERTIFICATE-----
"""
