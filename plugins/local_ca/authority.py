"""The CA files of one tenant and the certificate work done with them (blocking
functions: callers run them off the event loop).

Layout under ``data_dir/ca/<tenant id>/``: one folder per CA generation,
``gen-<serial hex>/ca.pem`` and ``ca.key`` (0600, PKCS#8 PEM), and the symbolic link
``current`` naming the generation that signs. A new CA (first use, ``rotate``,
``import``) is written into a fresh folder and ``current`` is swapped atomically, so a
reader never sees a certificate with another generation's key. A retired generation
keeps only its certificate (its key is deleted): devices it signed are trusted until
they expire, and nothing new is signed with it.
"""

from __future__ import annotations

import datetime
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gridlinks.core.errors import BadRequest
from gridlinks.core.types import ProvisionRefused

CURRENT = "current"
CERT_FILE = "ca.pem"
KEY_FILE = "ca.key"
MAX_CSR = 16384


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class Authority:
    """The signing CA of a tenant, and the retired CAs still trusted."""

    generation: str
    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes
    retired: tuple[x509.Certificate, ...] = ()

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def trusted(self) -> list[x509.Certificate]:
        """The certificates a TLS listener should trust: this CA and unexpired retired ones."""
        now = _now()
        return [self.cert, *(c for c in self.retired if c.not_valid_after_utc > now)]


def new_ca(common_name: str, days: int) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed EC P-256 CA certificate (path length 0: it signs devices only)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "GridLinks Hub")])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _hash_for(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()


def _same_key(cert: x509.Certificate, key: CertificateIssuerPrivateKeyTypes) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return (cert.public_key().public_bytes(serialization.Encoding.DER, spki)
            == key.public_key().public_bytes(serialization.Encoding.DER, spki))


class CaFiles:
    """One tenant's CA folder."""

    def __init__(self, root: Path):
        self.root = root

    def current_generation(self) -> str | None:
        try:
            return os.readlink(self.root / CURRENT)
        except OSError:
            return None

    def load(self) -> Authority | None:
        generation = self.current_generation()
        if generation is None:
            return None
        folder = self.root / generation
        cert = x509.load_pem_x509_certificate((folder / CERT_FILE).read_bytes())
        key = serialization.load_pem_private_key((folder / KEY_FILE).read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
                          | ed448.Ed448PrivateKey):
            raise BadRequest(f"{folder / KEY_FILE}: a CA key must be RSA, EC, Ed25519 or Ed448")
        return Authority(generation, cert, key, tuple(self._retired(generation)))

    def _retired(self, current: str) -> list[x509.Certificate]:
        found = []
        for folder in sorted(self.root.glob("gen-*")):
            if folder.name != current and (folder / CERT_FILE).exists():
                found.append(x509.load_pem_x509_certificate((folder / CERT_FILE).read_bytes()))
        return found

    def ensure(self, common_name: str, days: int) -> tuple[Authority, bool]:
        """The current CA, generated if there is none (True when generated here)."""
        found = self.load()
        if found is not None:
            return found, False
        cert, key = new_ca(common_name, days)
        created = self.install(cert, key, only_if_none=True)
        loaded = self.load()
        assert loaded is not None
        return loaded, created

    def install(self, cert: x509.Certificate, key: CertificateIssuerPrivateKeyTypes,
                only_if_none: bool = False) -> bool:
        """Make ``cert``/``key`` the signing CA; the previous one is retired (its key
        deleted). ``only_if_none``: keep an existing CA (another process made one first)
        and return False."""
        if not _same_key(cert, key):
            raise BadRequest("the key does not belong to the certificate")
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        generation = f"gen-{cert.serial_number:x}"
        folder = self.root / generation
        if folder.exists():
            raise BadRequest(f"a CA with serial {cert.serial_number:x} is already installed")
        staging = self.root / f".{generation}.{secrets.token_hex(4)}"
        staging.mkdir(mode=0o700)
        fd = os.open(staging / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        (staging / CERT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        staging.rename(folder)
        previous = self.current_generation()
        if only_if_none:
            try:
                os.symlink(generation, self.root / CURRENT)
            except FileExistsError:  # another process installed one first: use that one
                shutil.rmtree(folder)
                return False
        else:
            link = self.root / f".current.{secrets.token_hex(4)}"
            os.symlink(generation, link)
            os.replace(link, self.root / CURRENT)
            if previous is not None and previous != generation:
                (self.root / previous / KEY_FILE).unlink(missing_ok=True)  # retired: it signs nothing more
        return True


def import_pair(cert_pem: bytes, key_pem: bytes) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes]:
    """Parse an operator's CA: it must be a CA certificate and the key must match it."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise BadRequest(f"cannot read the certificate or key (PEM, unencrypted): {exc}") from None
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise BadRequest("the certificate is not a CA certificate (basicConstraints CA:TRUE)")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
                      | ed448.Ed448PrivateKey):
        raise BadRequest("a CA key must be RSA, EC, Ed25519 or Ed448")
    if cert.not_valid_after_utc <= _now():
        raise BadRequest("the certificate has expired")
    if not _same_key(cert, key):
        raise BadRequest("the key does not belong to the certificate")
    return cert, key


# -- CSRs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsrRules:
    key_types: frozenset[str]
    min_rsa_bits: int
    min_ec_bits: int
    days: int


def key_kind(key) -> tuple[str, int]:
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ED25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "ED448", 448
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, 0


def checked_csr(text: str, rules: CsrRules) -> x509.CertificateSigningRequest:
    """The CSR if it parses, its signature verifies and its key is one the profile accepts;
    otherwise ProvisionRefused with the reason (for the audit log)."""
    if len(text) > MAX_CSR:
        raise ProvisionRefused("CSR is too large")
    try:
        csr = x509.load_pem_x509_csr(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ProvisionRefused(f"CSR cannot be parsed: {exc}") from None
    try:
        valid = csr.is_signature_valid
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ProvisionRefused(f"CSR key or signature cannot be read: {exc}") from None
    if not valid:
        raise ProvisionRefused("CSR signature does not verify")
    kind, bits = key_kind(key)
    if kind not in rules.key_types:
        raise ProvisionRefused(f"CSR key type {kind} is not accepted by this profile "
                               f"(accepted: {', '.join(sorted(rules.key_types))})")
    if kind == "RSA":
        assert isinstance(key, rsa.RSAPublicKey)
        if bits < rules.min_rsa_bits or key.public_numbers().e < 65537:
            raise ProvisionRefused(f"CSR key is weak: RSA {bits} bits, exponent {key.public_numbers().e} "
                                   f"(at least {rules.min_rsa_bits} bits and 65537)")
    if kind == "EC" and bits < rules.min_ec_bits:
        raise ProvisionRefused(f"CSR key is weak: EC {bits} bits (at least {rules.min_ec_bits})")
    return csr


def csr_common_name(csr: x509.CertificateSigningRequest) -> str | None:
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value).strip() or None if names else None


def sign_csr(authority: Authority, csr: x509.CertificateSigningRequest, common_name: str,
             days: int) -> x509.Certificate:
    """A TLS client certificate for the CSR's key, never valid past the CA itself."""
    now = _now()
    not_after = min(now + datetime.timedelta(days=days), authority.cert.not_valid_after_utc)
    public_key = csr.public_key()
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    try:
        ski = authority.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key())
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]))
               .issuer_name(authority.cert.subject).public_key(public_key)  # type: ignore[arg-type]
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                            key_encipherment=is_rsa, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=False, crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
               .add_extension(aki, critical=False))
    return builder.sign(authority.key, _hash_for(authority.key))  # type: ignore[arg-type]
