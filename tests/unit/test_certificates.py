"""Certificate store, hash data, CSRs and the CA (simfleet.protocol.certificates), pure.

Hash data is checked against the `openssl` CLI's own OCSP CertID (RFC 6960, which the security
whitepaper's CertificateHashDataType follows), on certificates openssl made itself.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from certs import DAY, NOW, certificate, name, new_key, pem, root
from conftest import require_program
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from simfleet.protocol.ca_root import SIMULATOR_ROOT_PEM
from simfleet.protocol.certificates import (
    CENTRAL_SYSTEM_ROOT,
    MANUFACTURER_ROOT,
    CertificateAuthority,
    CertificateStore,
    hash_data,
    issued_by,
    parse_certificates,
    same_key,
    simulator_ca,
)
from simfleet.protocol.v16.commands import DEFAULT_PAYLOADS, SIMULATOR_ROOT_HASH_DATA

# -- the simulator's CA ---------------------------------------------------------------------------


def test_simulator_root_constant_is_the_simulator_cas_certificate() -> None:
    ca = simulator_ca()
    (cert,) = parse_certificates(SIMULATOR_ROOT_PEM)
    assert cert == ca.certificate
    assert same_key(cert, ca.key)  # the constant carries the key derived from KEY_LABEL
    assert issued_by(cert, cert)
    assert cert.not_valid_after_utc.year == 2074
    assert hash_data(cert, cert) == SIMULATOR_ROOT_HASH_DATA
    assert DEFAULT_PAYLOADS["InstallCertificate"]["certificate"] == SIMULATOR_ROOT_PEM


# -- hash data against openssl --------------------------------------------------------------------


def openssl(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [require_program("openssl"), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def openssl_cert_id(issuer: str, cert: str, algorithm: str, cwd: Path) -> dict[str, str]:
    """openssl's OCSP CertID of `cert` (files in `cwd`), as CertificateHashDataType."""
    digest = "-" + algorithm.lower()
    openssl(
        "ocsp", digest, "-issuer", issuer, "-cert", cert, "-no_nonce", "-reqout", "r.der", cwd=cwd
    )
    text = openssl("ocsp", "-reqin", "r.der", "-req_text", cwd=cwd).replace("\\\n", "")

    def field(label: str) -> str:
        match = re.search(label + r":\s*([0-9A-Fa-f]+)", text)
        assert match is not None, text
        return match.group(1)

    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": field("Issuer Name Hash").lower(),
        "issuerKeyHash": field("Issuer Key Hash").lower(),
        "serialNumber": field("Serial Number").lstrip("0") or "0",
    }


@pytest.fixture(scope="module")
def openssl_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root (RSA) and a sub-CA (EC) under it, both made by the openssl CLI."""
    d = tmp_path_factory.mktemp("pki")
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key", "-out",
        "root.pem", "-subj", "/CN=OpenSSL Root/O=Test CPO", "-days", "3650", cwd=d,
    )  # fmt: skip
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "sub.key", "-out", "sub.csr", "-subj", "/CN=OpenSSL Sub CA/O=Test CPO", cwd=d,
    )  # fmt: skip
    (d / "ext.cnf").write_text("basicConstraints=critical,CA:TRUE\n")
    openssl(
        "x509", "-req", "-in", "sub.csr", "-CA", "root.pem", "-CAkey", "root.key",
        "-set_serial", "0x00ABCDEF", "-days", "365", "-extfile", "ext.cnf", "-out", "sub.pem",
        cwd=d,
    )  # fmt: skip
    return d


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
def test_hash_data_of_installed_certificates_equals_openssls_cert_id(
    openssl_pki: Path, algorithm: str
) -> None:
    store = CertificateStore()
    now = time.time()  # openssl dated its certificates from the real clock
    root_pem = (openssl_pki / "root.pem").read_text()
    sub_pem = (openssl_pki / "sub.pem").read_text()
    assert store.install(CENTRAL_SYSTEM_ROOT, root_pem, now, 10) == "Accepted"
    assert store.install(CENTRAL_SYSTEM_ROOT, sub_pem, now, 10) == "Accepted"  # issuer installed
    root_id = openssl_cert_id("root.pem", "root.pem", algorithm, openssl_pki)
    sub_id = openssl_cert_id("root.pem", "sub.pem", algorithm, openssl_pki)
    assert sub_id["serialNumber"] == "ABCDEF"  # hex, no leading zeros (whitepaper §6.1)
    assert root_id["issuerKeyHash"] == sub_id["issuerKeyHash"]  # both hash the root's key
    if algorithm == "SHA256":
        assert store.installed_ids(CENTRAL_SYSTEM_ROOT) == [root_id, sub_id]
    (root_cert,) = parse_certificates(root_pem)
    (sub_cert,) = parse_certificates(sub_pem)
    assert hash_data(root_cert, root_cert, algorithm) == root_id
    assert hash_data(sub_cert, root_cert, algorithm) == sub_id
    # ...and the CSMS deletes by the algorithm it installed with (M04.FR.07), any of the three.
    assert store.delete(sub_id, keep_last_root=False) == "Accepted"
    assert store.installed_ids(CENTRAL_SYSTEM_ROOT) == [hash_data(root_cert, root_cert)]


# -- M05 InstallCertificate -----------------------------------------------------------------------


def test_install_accepts_a_root_and_lists_it_by_type() -> None:
    store = CertificateStore()
    cert, _ = root()
    assert store.install(MANUFACTURER_ROOT, pem(cert), NOW, 10) == "Accepted"
    assert store.installed_ids(CENTRAL_SYSTEM_ROOT) == []
    assert store.installed_ids(MANUFACTURER_ROOT) == [hash_data(cert, cert)]
    assert store.installed_ids(MANUFACTURER_ROOT)[0]["serialNumber"] == "FFF"  # 4095


def test_install_rejects_what_is_not_one_valid_ca_certificate() -> None:
    store = CertificateStore()
    good, key = root()
    other, _ = root("Other Root")
    expired, _ = root(start=NOW - 60 * DAY, days=30)
    future, _ = root(start=NOW + DAY)
    leaf_key = new_key()
    leaf = certificate(name("CP-1"), leaf_key.public_key(), good.subject, key, ca=False)
    orphan_key = new_key()  # a sub-CA whose issuer is not installed: no issuerKeyHash possible
    orphan = certificate(name("Sub"), orphan_key.public_key(), other.subject, new_key())
    for text in ("", "not a certificate", pem(good, other), pem(expired), pem(future)):
        assert store.install(CENTRAL_SYSTEM_ROOT, text, NOW, 10) == "Rejected", text[:40]
    assert store.install(CENTRAL_SYSTEM_ROOT, pem(leaf), NOW, 10) == "Rejected"
    assert store.install(CENTRAL_SYSTEM_ROOT, pem(orphan), NOW, 10) == "Rejected"
    assert store.installed_ids(CENTRAL_SYSTEM_ROOT) == []
    v1_style, _ = root("No Extensions", ca=None)  # a root without BasicConstraints is a root
    assert store.install(CENTRAL_SYSTEM_ROOT, pem(v1_style), NOW, 10) == "Accepted"


def test_install_rejects_when_the_store_is_full_and_a_repeat_takes_no_room() -> None:
    store = CertificateStore()
    first, _ = root("Root 1")
    second, _ = root("Root 2")
    assert store.install(CENTRAL_SYSTEM_ROOT, pem(first), NOW, 1) == "Accepted"
    assert store.install(CENTRAL_SYSTEM_ROOT, pem(first), NOW, 1) == "Accepted"  # already there
    assert store.install(MANUFACTURER_ROOT, pem(second), NOW, 1) == "Rejected"  # M05.FR.03
    assert store.count(CENTRAL_SYSTEM_ROOT) == 1
    assert store.count(MANUFACTURER_ROOT) == 0


# -- M04 DeleteCertificate ------------------------------------------------------------------------


def test_delete_accepted_then_not_found_matching_as_ocpp_compares() -> None:
    store = CertificateStore()
    cert, _ = root()
    store.install(CENTRAL_SYSTEM_ROOT, pem(cert), NOW, 10)
    wanted = hash_data(cert, cert)
    shouted = {k: v.upper() for k, v in wanted.items()} | {"serialNumber": "00000FFF"}
    assert store.delete(hash_data(root()[0], root()[0]), keep_last_root=False) == "NotFound"
    assert store.delete(shouted, keep_last_root=False) == "Accepted"  # CiStrings, zero-padded
    assert store.installed_ids(CENTRAL_SYSTEM_ROOT) == []
    assert store.delete(wanted, keep_last_root=False) == "NotFound"


def test_delete_keeps_the_last_central_system_root_when_asked() -> None:
    store = CertificateStore()
    first, _ = root("Root 1")
    second, _ = root("Root 2")
    maker, _ = root("Manufacturer")
    for cert, kind in (
        (first, CENTRAL_SYSTEM_ROOT),
        (second, CENTRAL_SYSTEM_ROOT),
        (maker, MANUFACTURER_ROOT),
    ):
        assert store.install(kind, pem(cert), NOW, 10) == "Accepted"
    assert store.delete(hash_data(first, first), keep_last_root=True) == "Accepted"
    assert store.delete(hash_data(second, second), keep_last_root=True) == "Failed"  # M04.FR.06
    assert store.delete(hash_data(maker, maker), keep_last_root=True) == "Accepted"
    assert store.delete(hash_data(second, second), keep_last_root=False) == "Accepted"


def test_delete_refuses_the_charge_point_certificate() -> None:
    store = CertificateStore()
    ca = simulator_ca()
    chain = ca.sign(store.new_request("CP-1", "Test CPO"), NOW)
    assert chain is not None
    assert store.accept_signed(chain, NOW) == ""
    leaf = store.chain[0]
    assert (
        store.delete(hash_data(leaf, ca.certificate), keep_last_root=False) == "Failed"
    )  # M04.FR.05
    assert store.has_valid_certificate(NOW)


# -- A02: CSR, signing, checking the signed chain --------------------------------------------------


def csr_of(pem_text: str) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(pem_text.encode())


def test_new_request_is_a_valid_pkcs10_csr_with_identity_and_cpo_name() -> None:
    store = CertificateStore()
    text = store.new_request("CP-0001", "Example CPO")
    assert text.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    csr = csr_of(text)
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-0001"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example CPO"
    key = csr.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size >= 224  # A00.FR.503
    assert csr_of(store.new_request("CP-0001", "Example CPO")).public_key() != key  # a new key


def test_ca_signs_the_csr_subject_and_key_from_now() -> None:
    store = CertificateStore()
    chain = simulator_ca().sign(store.new_request("CP-7", "Example CPO"), NOW)
    assert chain is not None
    leaf, top = parse_certificates(chain)
    assert top == simulator_ca().certificate
    assert issued_by(leaf, top)
    assert leaf.subject == name("CP-7", "Example CPO")
    assert leaf.not_valid_before_utc.timestamp() == NOW
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_ca_refuses_what_is_not_a_signed_request_with_a_common_name() -> None:
    no_cn = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example CPO")])
    )
    csr = no_cn.sign(new_key(), hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    assert simulator_ca().sign(csr.decode(), NOW) is None
    assert simulator_ca().sign("garbage", NOW) is None
    assert simulator_ca().sign(pem(simulator_ca().certificate), NOW) is None


def signed_for(store: CertificateStore, ca: CertificateAuthority, now: float = NOW) -> str:
    chain = ca.sign(store.new_request("CP-1", "Test CPO"), now)
    assert chain is not None
    return chain


def other_ca() -> CertificateAuthority:
    cert, key = root("Another CA", days=3650)
    return CertificateAuthority(key, cert)


def test_accepted_chain_becomes_the_charge_point_certificate() -> None:
    store = CertificateStore()
    chain = signed_for(store, simulator_ca())
    assert store.accept_signed(chain, NOW + 10) == ""
    assert [c.subject for c in store.chain] == [
        name("CP-1", "Test CPO"),
        simulator_ca().certificate.subject,
    ]
    assert store.key is not None and same_key(store.chain[0], store.key)
    assert store.accept_signed(chain, NOW + 20) != ""  # the request is used up


def test_a_chain_for_another_key_is_refused() -> None:
    store = CertificateStore()
    other = CertificateStore()
    signed_for(store, simulator_ca())  # our request pending...
    chain = signed_for(other, simulator_ca())  # ...but the certificate is for another key
    assert "key" in store.accept_signed(chain, NOW)
    assert store.chain == []


def test_signed_chain_refusals() -> None:
    no_request = CertificateStore()
    assert "pending" in no_request.accept_signed(pem(simulator_ca().certificate), NOW)

    store = CertificateStore()
    store.new_request("CP-1", "Test CPO")
    assert "PEM" in store.accept_signed("junk", NOW)

    store = CertificateStore()
    chain = signed_for(store, simulator_ca(), now=NOW - 400 * DAY)
    assert "expired" in store.accept_signed(chain, NOW)

    store = CertificateStore()
    leaf = parse_certificates(signed_for(store, simulator_ca()))[0]
    unrelated, _ = root("Unrelated")
    assert "broken" in store.accept_signed(pem(leaf, unrelated), NOW)

    store = CertificateStore()
    csr = x509.load_pem_x509_csr(store.new_request("CP-1", "Test CPO").encode())
    ca_cert, ca_key = root("Sloppy CA")
    wrong_cn = certificate(
        name("CP-2", "Test CPO"), csr.public_key(), ca_cert.subject, ca_key, ca=False
    )
    assert "CN/O" in store.accept_signed(pem(wrong_cn, ca_cert), NOW)


def test_installed_cpo_roots_decide_the_hierarchy() -> None:
    store = CertificateStore()
    assert store.install(CENTRAL_SYSTEM_ROOT, SIMULATOR_ROOT_PEM, NOW, 10) == "Accepted"
    assert "CentralSystemRootCertificate" in store.accept_signed(signed_for(store, other_ca()), NOW)
    assert store.accept_signed(signed_for(store, simulator_ca()), NOW) == ""
    # A chain without the root, its last certificate signed by the installed root, is fine too.
    leaf = parse_certificates(signed_for(store, simulator_ca()))[0]
    assert store.accept_signed(pem(leaf), NOW) == ""


def test_not_yet_valid_certificate_is_kept_for_later() -> None:
    store = CertificateStore()
    assert store.accept_signed(signed_for(store, simulator_ca(), now=NOW + DAY), NOW) == ""
    assert not store.has_valid_certificate(NOW)  # A02.FR.08: used from its 'not before'
    assert store.has_valid_certificate(NOW + DAY)


def mangled(text: str) -> list[str]:
    """Broken variants of a PEM text: cut short, bytes flipped in the base64, framing only."""
    lines = text.splitlines()
    body = [line for line in lines if not line.startswith("-----")]
    flipped = [line[:10] + ("A" if line[10] != "A" else "B") + line[11:] for line in body]
    return [
        text[: len(text) // 2],
        "\n".join([lines[0], *flipped, lines[-1]]),
        "\n".join([lines[0], "AAAA", lines[-1]]),
        "\n".join([lines[0], lines[-1]]),
    ]


def test_broken_pem_is_refused_never_raised() -> None:
    store = CertificateStore()
    request = store.new_request("CP-1", "Test CPO")
    chain = simulator_ca().sign(request, NOW)
    assert chain is not None
    for text in mangled(SIMULATOR_ROOT_PEM):
        assert store.install(CENTRAL_SYSTEM_ROOT, text, NOW, 10) == "Rejected"
        assert store.accept_signed(text, NOW) != ""
    for text in mangled(request):
        assert simulator_ca().sign(text, NOW) is None
    assert store.accept_signed(chain, NOW) == ""  # the intact chain still fits the request
