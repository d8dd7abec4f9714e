"""X.509 for OCPP: a charger's certificate store and key, certificate hash data, CSRs, and the
embedded CSMS's certificate authority.

Version-agnostic: the rules are those of "Improved security for OCPP 1.6-J" (edition 3), which
OCPP 2.0.1 shares (same use case numbers: A02, M03-M05). Pure: time comes in as `now`, epoch
seconds. The X.509 and ECDSA work is the `cryptography` package's; nothing here reads ASN.1.

The charger imports this module on its first security operation: it costs a process ~16 MB and
~60 ms to load, which fleets that never use certificates do not pay.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from simfleet.protocol.ca_root import KEY_LABEL, SIMULATOR_ROOT_PEM

#: HashAlgorithmEnumType (whitepaper §6.12).
HASH_ALGORITHMS: Final[Mapping[str, type[hashes.HashAlgorithm]]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}
#: CertificateUseEnumType (§6.4): the root certificates a CSMS installs.
CENTRAL_SYSTEM_ROOT: Final = "CentralSystemRootCertificate"
MANUFACTURER_ROOT: Final = "ManufacturerRootCertificate"
CERTIFICATE_USES: Final = (CENTRAL_SYSTEM_ROOT, MANUFACTURER_ROOT)
#: Days a certificate signed by the embedded CSMS's CA is valid.
LEAF_DAYS: Final = 365
#: The order of the P-256 group: private scalars lie in [1, N - 1].
_P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

HashData = dict[str, str]
#: What `cryptography` raises for input it cannot use: malformed PEM/DER, unknown algorithms.
#: Whatever a CSMS sends, the charger answers; it never fails on it.
BAD_INPUT: Final = (ValueError, TypeError, UnsupportedAlgorithm)


def utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def parse_certificates(pem: str) -> list[x509.Certificate]:
    """Every certificate of a PEM text, in order; ValueError if there is none or it is not PEM."""
    return x509.load_pem_x509_certificates(pem.encode("utf-8", "replace"))


def pem_of(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def hash_data(
    cert: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256"
) -> HashData:
    """CertificateHashDataType (whitepaper §6.1, edition 3): the CertID of OCSP (RFC 6960) -
    hashes of the issuer's DER name and of its public key bits, the serial number in hex
    without leading zeros. A00.FR.506: SHA256 unless asked otherwise."""
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, HASH_ALGORITHMS[algorithm]())
        .build()
    )
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": request.issuer_name_hash.hex(),
        "issuerKeyHash": request.issuer_key_hash.hex(),
        "serialNumber": format(cert.serial_number, "X"),
    }


def same_hash_data(a: Mapping[str, object], b: Mapping[str, object]) -> bool:
    """Equal as OCPP compares them: CiStrings are case-insensitive (§6.5, §6.6); a serial number
    sent with leading zeros (edition 2 habits) still names the same certificate."""

    def norm(data: Mapping[str, object], key: str) -> str:
        return str(data.get(key, "")).lower()

    return (
        norm(a, "hashAlgorithm") == norm(b, "hashAlgorithm")
        and norm(a, "issuerNameHash") == norm(b, "issuerNameHash")
        and norm(a, "issuerKeyHash") == norm(b, "issuerKeyHash")
        and norm(a, "serialNumber").lstrip("0") == norm(b, "serialNumber").lstrip("0")
    )


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """`issuer`'s name is `cert`'s issuer and its key verifies `cert`'s signature."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (*BAD_INPUT, InvalidSignature):
        return False
    return True


def valid_at(cert: x509.Certificate, now: float) -> bool:
    return cert.not_valid_before_utc <= utc(now) <= cert.not_valid_after_utc


def is_ca(cert: x509.Certificate) -> bool:
    """Not a certificate that says it is an end entity (BasicConstraints CA:FALSE): an X.509 v1
    root has no extensions at all."""
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return True
    return constraints.value.ca


def same_key(a: x509.Certificate, b: ec.EllipticCurvePrivateKey) -> bool:
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_key().public_bytes(*der) == b.public_key().public_bytes(*der)


def der_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def from_der(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


class Installed:
    """One root/CA certificate in the store: DER bytes (a parsed certificate and its caches
    cost a few KB a charger would keep for nothing), its SHA256 hash data computed once."""

    __slots__ = ("der", "issuer_der", "kind", "sha256")

    def __init__(self, kind: str, cert: x509.Certificate, issuer: x509.Certificate) -> None:
        self.kind = kind
        self.der = der_of(cert)
        self.issuer_der = self.der if issuer is cert else der_of(issuer)
        self.sha256 = hash_data(cert, issuer)

    @property
    def cert(self) -> x509.Certificate:
        return from_der(self.der)

    def hash_data(self, algorithm: str) -> HashData:
        if algorithm == "SHA256":
            return self.sha256
        return hash_data(self.cert, from_der(self.issuer_der), algorithm)


class CertificateStore:
    """What one charger holds: the root/CA certificates a CSMS installed (M03-M05), the key pair
    of its pending certificate request, and its own certificate chain and key (A02/A03)."""

    __slots__ = ("_chain", "_installed", "_key", "_pending_key", "_pending_subject")

    def __init__(self) -> None:
        self._installed: list[Installed] = []
        self._pending_key: ec.EllipticCurvePrivateKey | None = None
        self._pending_subject: tuple[str, str] = ("", "")
        # The charge point certificate chain (leaf first, DER) and its key (PKCS#8 DER), once a
        # CertificateSigned was accepted. The private key never leaves the charger (A02.FR.05).
        self._chain: tuple[bytes, ...] = ()
        self._key = b""

    @property
    def chain(self) -> list[x509.Certificate]:
        """The charge point certificate, leaf first, then the CA certificates that came with it."""
        return [from_der(der) for der in self._chain]

    @property
    def key(self) -> ec.EllipticCurvePrivateKey | None:
        """The charge point certificate's private key."""
        if not self._key:
            return None
        key = serialization.load_der_private_key(self._key, None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    # -- M05 InstallCertificate, M03 GetInstalledCertificateIds, M04 DeleteCertificate -----------

    def install(self, kind: str, pem: str, now: float, max_length: int) -> str:
        """InstallCertificate.conf status (M05). Rejected: not exactly one PEM certificate, not
        valid now, an end-entity certificate, or an issuer we cannot find (without the issuer's
        key there is no hash data, §6.1) (M05.FR.06); or the store is full (M05.FR.03)."""
        try:
            entry = self._readable(kind, pem, now)
        except BAD_INPUT:
            return "Rejected"
        if entry is None:
            return "Rejected"
        if any(e.kind == kind and e.der == entry.der for e in self._installed):
            return "Accepted"  # installed already: installing it again changes nothing
        if len(self._installed) >= max_length:
            return "Rejected"
        self._installed.append(entry)
        return "Accepted"

    def _readable(self, kind: str, pem: str, now: float) -> Installed | None:
        certs = parse_certificates(pem)
        if len(certs) != 1 or not valid_at(certs[0], now) or not is_ca(certs[0]):
            return None
        issuer = self._issuer_of(certs[0])
        return None if issuer is None else Installed(kind, certs[0], issuer)

    def _issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        if issued_by(cert, cert):
            return cert  # self-signed: a root
        for entry in self._installed:
            if issued_by(cert, entry.cert):
                return entry.cert
        return None

    def installed_ids(self, kind: str) -> list[HashData]:
        """GetInstalledCertificateIds (M03.FR.04): hash data of every certificate of `kind`."""
        return [dict(e.sha256) for e in self._installed if e.kind == kind]

    def count(self, kind: str) -> int:
        return sum(1 for e in self._installed if e.kind == kind)

    def has_valid(self, kind: str, now: float) -> bool:
        return any(e.kind == kind and valid_at(e.cert, now) for e in self._installed)

    def delete(self, wanted: Mapping[str, object], keep_last_root: bool) -> str:
        """DeleteCertificate.conf status (M04). Failed for the charge point certificate
        (M04.FR.05) and, with `keep_last_root`, for the last CentralSystemRootCertificate, the
        one the connection is validated with (M04.FR.06); NotFound if nothing matches."""
        algorithm = str(wanted.get("hashAlgorithm"))
        if self._is_own_certificate(wanted, algorithm):
            return "Failed"
        for i, entry in enumerate(self._installed):
            if same_hash_data(entry.hash_data(algorithm), wanted):
                last_root = entry.kind == CENTRAL_SYSTEM_ROOT and self.count(entry.kind) == 1
                if keep_last_root and last_root:
                    return "Failed"
                del self._installed[i]
                return "Accepted"
        return "NotFound"

    def _is_own_certificate(self, wanted: Mapping[str, object], algorithm: str) -> bool:
        chain = self.chain
        for i, cert in enumerate(chain):
            issuer = chain[i + 1] if i + 1 < len(chain) else self._issuer_of(cert)
            if issuer is not None and same_hash_data(hash_data(cert, issuer, algorithm), wanted):
                return True
        return False

    # -- A02/A03: a new key pair, its CSR, and the signed certificate ----------------------------

    def new_request(self, common_name: str, organization: str) -> str:
        """A new EC P-256 key pair (A00.FR.503: at least 224 bits) and its PKCS#10 request, PEM
        (A02.FR.02/03): CN = the charger's identity (A00.FR.511), O = CpoName (A02.FR.13).
        A newer request replaces one still pending: its certificate would no longer fit."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            ]
        )
        csr = (
            x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        )
        self._pending_key = key
        self._pending_subject = (common_name, organization)
        return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def forget_request(self) -> None:
        """The CSMS refused the request (SignCertificate.conf Rejected): no certificate comes."""
        self._pending_key = None

    def accept_signed(self, chain_pem: str, now: float) -> str:
        """Check CertificateSigned's chain (A02.FR.06) and install it; returns "" when accepted,
        else why not (the techInfo of the InvalidChargePointCertificate event, A02.FR.07)."""
        key = self._pending_key
        if key is None:
            return "no certificate request of ours is pending"
        try:
            chain = parse_certificates(chain_pem)
            problem = self._leaf_problem(chain[0], key, now) or self._hierarchy_problem(chain)
        except BAD_INPUT as error:
            return f"certificateChain is not usable PEM X.509 certificates: {error}"
        if problem:
            return problem
        self._chain = tuple(der_of(cert) for cert in chain)
        self._key = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._pending_key = None
        return ""

    def _leaf_problem(
        self, leaf: x509.Certificate, key: ec.EllipticCurvePrivateKey, now: float
    ) -> str:
        if not same_key(leaf, key):
            return "the certificate is not for the key of our request"
        if leaf.not_valid_after_utc < utc(now):
            return "the certificate has expired"
        # A not-yet-valid certificate is kept: A02.FR.08 switches to it at its 'not before'.
        common_name, organization = self._pending_subject
        subject = leaf.subject
        names = [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        orgs = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        if names != [common_name] or orgs != [organization]:
            return "subject CN/O differ from our request (A00.FR.509, A00.FR.511)"
        return ""

    def _hierarchy_problem(self, chain: list[x509.Certificate]) -> str:
        """Each certificate signed by the next one; and, when the CSMS installed CPO roots, the
        last one is a CentralSystemRootCertificate or signed by one (A02.FR.06: the CPO
        hierarchy, §2.6.2). A charger with no CPO root cannot check that part."""
        for child, parent in itertools.pairwise(chain):
            if not issued_by(child, parent):
                return "the chain is broken: a certificate is not signed by the next one"
        roots = [e.cert for e in self._installed if e.kind == CENTRAL_SYSTEM_ROOT]
        if roots and not any(issued_by(chain[-1], root) for root in roots):
            return "not issued under an installed CentralSystemRootCertificate"
        return ""

    def has_valid_certificate(self, now: float) -> bool:
        """A valid charge point certificate is installed (A05.FR.04)."""
        return bool(self._chain) and valid_at(from_der(self._chain[0]), now)


class CertificateAuthority:
    """The embedded CSMS's CA: signs charge point certificates from CSRs (A02 steps 6-8)."""

    __slots__ = ("certificate", "key")

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self.key = key
        self.certificate = certificate

    def sign(self, csr_pem: str, now: float) -> str | None:
        """The chain (leaf, then this CA's root) for a CSR, valid from `now` for LEAF_DAYS; None
        if the CSR is not a well-signed PKCS#10 request with a CN."""
        try:
            return self._sign(csr_pem, now)
        except BAD_INPUT:
            return None

    def _sign(self, csr_pem: str, now: float) -> str | None:
        csr = x509.load_pem_x509_csr(csr_pem.encode("utf-8", "replace"))
        if not csr.is_signature_valid:
            return None
        if not csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            return None
        start = utc(int(now))
        end = min(start + timedelta(days=LEAF_DAYS), self.certificate.not_valid_after_utc)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_CLIENT_KEY_USAGE, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return pem_of(leaf) + pem_of(self.certificate)


#: A00.FR.512: the key usage restricted to what a TLS client certificate does.
_CLIENT_KEY_USAGE: Final = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


@functools.cache
def simulator_ca() -> CertificateAuthority:
    """The simulator's CA (see `ca_root`): the same in every process, made on first use."""
    secret = int.from_bytes(hashlib.sha256(KEY_LABEL).digest()) % (_P256_ORDER - 1) + 1
    key = ec.derive_private_key(secret, ec.SECP256R1())
    return CertificateAuthority(key, x509.load_pem_x509_certificate(SIMULATOR_ROOT_PEM.encode()))
