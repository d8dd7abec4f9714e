"""Checks a charger makes on a SignedUpdateFirmware (OCPP 1.6 security whitepaper, Secure
Firmware Update): the signing certificate and the shape of the firmware signature.

What is checked, and what cannot be: the certificate must be a PEM X.509 certificate (else the
answer is InvalidCertificate). The signature must be base64 and fit the certificate's key: an
RSA signature as long as the modulus, a DER ECDSA signature, a 64-byte Ed25519 one (else
InvalidSignature once downloaded). The signature is over the firmware image, which simfleet
does not download (the download is simulated), so it is never verified cryptographically; and
the certificate is not checked against a manufacturer root (no root certificates are installed
on the simulated chargers). `cryptography` is imported only when a SignedUpdateFirmware arrives.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any


def signing_key(pem: object) -> Any | None:
    """The public key of a PEM X.509 certificate, or None if `pem` is not one."""
    from cryptography import x509  # noqa: PLC0415 - only chargers asked to update pay for it

    if not isinstance(pem, str) or "-----BEGIN CERTIFICATE-----" not in pem:
        return None
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
        return certificate.public_key()
    except (ValueError, TypeError, UnicodeEncodeError):
        return None


def signature_fits(key: Any, signature: object) -> bool:
    """Whether `signature` (base64) has the form a signature by `key` must have."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: PLC0415
        decode_dss_signature,
    )

    if not isinstance(signature, str):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    if isinstance(key, rsa.RSAPublicKey):
        return len(raw) == (key.key_size + 7) // 8
    if isinstance(key, ec.EllipticCurvePublicKey):
        try:
            decode_dss_signature(raw)
        except ValueError:
            return False
        return True
    if isinstance(key, ed25519.Ed25519PublicKey):
        return len(raw) == 64
    return len(raw) > 0  # another key type: only the encoding can be checked
