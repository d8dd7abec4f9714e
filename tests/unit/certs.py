"""Test certificates made with `cryptography` directly (not with the code under test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

NOW = 1_750_000_000.0  # 2025-06-15
DAY = 86_400.0


def name(common_name: str, organization: str = "Test CPO") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def certificate(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool | None = True,
    start: float = NOW - DAY,
    days: float = 30,
    serial: int = 0x0FFF,
) -> x509.Certificate:
    """`ca` None: no BasicConstraints at all."""
    begin = datetime.fromtimestamp(start, UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(begin)
        .not_valid_after(begin + timedelta(days=days))
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    return builder.sign(issuer_key, hashes.SHA256())


def root(
    common_name: str = "Test Root",
    ca: bool | None = True,
    start: float = NOW - DAY,
    days: float = 30,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = new_key()
    subject = name(common_name)
    return certificate(subject, key.public_key(), subject, key, ca, start, days), key


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)
