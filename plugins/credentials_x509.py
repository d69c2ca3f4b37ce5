"""X509_CERTIFICATE credentials: the device's certificate, given as PEM or as its base64
body. It is parsed with ``cryptography`` (off the event loop) so garbage is refused; the
stored id is the SHA3-256 hex of the base64 DER body, which is also how a certificate
presented over TLS is looked up."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from typing import Any

from cryptography import x509

from gridlinks.core import hookimpl
from gridlinks.core.types import CredentialSpec, PresentedCredentials, ProvisionRefused, ProvisionRequest

NAME = "X509_CERTIFICATE"
MAX_PEM = 16384


def certificate_body(der: bytes) -> str:
    """The base64 body of a certificate, one line, no BEGIN/END."""
    return base64.b64encode(der).decode("ascii")


def certificate_id(der: bytes) -> str:
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


class X509Credentials:
    name = NAME

    def __init__(self, hub):
        self.hub = hub

    async def from_request(self, request: ProvisionRequest) -> CredentialSpec:
        text = request.fields.get("hash") or ""
        if not text:
            raise ProvisionRefused("X509_CERTIFICATE needs the certificate in 'hash'")
        if len(text) > MAX_PEM:
            raise ProvisionRefused("certificate is too large")
        cert = await asyncio.get_running_loop().run_in_executor(None, parse_certificate, text)
        from cryptography.hazmat.primitives.serialization import Encoding

        der = cert.public_bytes(Encoding.DER)
        return CredentialSpec(NAME, certificate_id(der), certificate_body(der))

    def response_value(self, credentials) -> Any:
        return credentials.credentials_value

    async def authenticate(self, presented: PresentedCredentials):
        if not presented.certificate_der:
            return None
        found = await self.hub.credentials.lookup(NAME, certificate_id(presented.certificate_der))
        return found[0] if found else None


@hookimpl
def register_credential_types(hub, register):
    register(X509Credentials(hub))
