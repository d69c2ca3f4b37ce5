"""Certificate helpers shared by the X.509 credential type, the chain strategy and the
TLS trust: parsing (``cryptography``), the stored id, and chain checks."""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gridlinks.core.types import ProvisionRefused

X509_CERTIFICATE = "X509_CERTIFICATE"
X509_CERTIFICATE_CHAIN = "X509_CERTIFICATE_CHAIN"
# The service (``hub.services``) that signs a provision request's CSR and knows revoked
# serials; the ``local_ca`` plugin registers it. Absent: a CSR is refused.
CSR_SIGNER = "local_ca"


def certificate_body(der: bytes) -> str:
    """The base64 body of a certificate, one line, no BEGIN/END."""
    return base64.b64encode(der).decode("ascii")


def certificate_id(der: bytes) -> str:
    """SHA3-256 hex of the base64 body: the stored credentials id and a chain profile's key."""
    return hashlib.sha3_256(certificate_body(der).encode("ascii")).hexdigest()


def parse_certificate(text: str) -> x509.Certificate:
    """PEM, or the base64 body of one (with or without newlines)."""
    text = text.strip()
    try:
        if "-----BEGIN" in text:
            return x509.load_pem_x509_certificate(text.encode("ascii"))
        return x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise ProvisionRefused(f"certificate cannot be parsed: {exc}") from None


def profile_certificates(secret: str | None) -> list[x509.Certificate]:
    """The PEM certificates a chain profile holds (its provision secret); [] if none parse."""
    try:
        return x509.load_pem_x509_certificates((secret or "").encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return []


def pem_certificates_der(text: str | None) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in profile_certificates(text)]


def issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except Exception:  # InvalidSignature, or a key type that cannot sign
        return False
    return True


def chain_verifies(chain: list[x509.Certificate]) -> bool:
    return all(issued_by(chain[i], chain[i + 1]) for i in range(len(chain) - 1))
