"""CPU time of the security extension's certificate work, per operation, in this process.

A charger's CSR (a new EC P-256 key pair and its PKCS#10 request), the check of a CertificateSigned
chain (parse, key, validity, subject, signatures up to an installed root, then install), the
embedded CSMS's signing of a CSR, and an InstallCertificate (parse, checks, hash data).

Usage: python -m benchmarks.certificates [--n 500]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from functools import partial

from simfleet.protocol.ca_root import SIMULATOR_ROOT_PEM
from simfleet.protocol.certificates import CENTRAL_SYSTEM_ROOT, CertificateStore, simulator_ca

NOW = 1_750_000_000.0
IDENTITY, CPO = "SF-000001", "simfleet"


def cpu_us(work: Iterable[Callable[[], object]]) -> float:
    """CPU µs per call of prepared calls (their preparation is not counted)."""
    calls = list(work)
    started = time.process_time()
    for call in calls:
        call()
    return (time.process_time() - started) / len(calls) * 1e6


def csr(n: int) -> list[Callable[[], object]]:
    return [
        partial(CertificateStore.new_request, CertificateStore(), IDENTITY, CPO) for _ in range(n)
    ]


def signed_check(n: int) -> list[Callable[[], object]]:
    ca = simulator_ca()
    calls: list[Callable[[], object]] = []
    for _ in range(n):
        store = CertificateStore()
        store.install(CENTRAL_SYSTEM_ROOT, SIMULATOR_ROOT_PEM, NOW, 10)
        chain = ca.sign(store.new_request(IDENTITY, CPO), NOW) or ""
        calls.append(partial(store.accept_signed, chain, NOW))
    return calls


def sign(n: int) -> list[Callable[[], object]]:
    ca, request = simulator_ca(), CertificateStore().new_request(IDENTITY, CPO)
    return [lambda: ca.sign(request, NOW) for _ in range(n)]


def install(n: int) -> list[Callable[[], object]]:
    root = CENTRAL_SYSTEM_ROOT, SIMULATOR_ROOT_PEM, NOW, 10
    return [partial(CertificateStore.install, CertificateStore(), *root) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--n", type=int, default=500)
    n = parser.parse_args().n
    rows = (
        ("charger: CSR (key pair + PKCS#10)", csr),
        ("charger: CertificateSigned check + install", signed_check),
        ("CSMS: sign a CSR (leaf + chain PEM)", sign),
        ("charger: InstallCertificate (parse, hash data)", install),
    )
    for label, make in rows:
        print(f"{label:48s} {cpu_us(make(n)):7.0f} µs CPU")


if __name__ == "__main__":
    main()
