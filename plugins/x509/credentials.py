"""X509_CERTIFICATE credentials (entry point ``x509``): the device's certificate, given
as PEM or as its base64 body. It is parsed with ``cryptography`` (off the event loop) so
garbage is refused; the stored id is the SHA3-256 hex of the base64 DER body, which is
also how a certificate presented over TLS is looked up. Provisioned device certificates
are offered to TLS listeners through ``register_tls_trust``."""

from __future__ import annotations

import asyncio
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from gridlinks.core import hookimpl
from gridlinks.core.types import (
    CredentialPair,
    CredentialSpec,
    PresentedCredentials,
    ProvisionRefused,
    ProvisionRequest,
)
from gridlinks.plugins.x509.certificates import CSR_SIGNER, certificate_body, certificate_id, parse_certificate
from gridlinks.plugins.x509.certificates import X509_CERTIFICATE as NAME
from gridlinks.plugins.x509.trust import DeviceCertificateTrust

MAX_PEM = 16384


class X509Issuer:
    """Issues: the certificate a provision request carries in ``hash``, or - when it
    carries a ``csr`` instead - the certificate the CSR signer service (the ``local_ca``
    plugin) signs for it."""

    name = NAME

    def __init__(self, hub=None):
        self.hub = hub

    def _signer(self):
        return self.hub.services.get(CSR_SIGNER) if self.hub is not None else None

    async def from_request(self, request: ProvisionRequest) -> CredentialSpec:
        signer = self._signer()
        if "csr" in request.fields:
            if signer is None:
                raise ProvisionRefused("a CSR needs the local_ca plugin, which is not enabled")
            return await signer.sign_request(request)
        text = request.fields.get("hash") or ""
        if not text:
            raise ProvisionRefused("X509_CERTIFICATE needs the certificate in 'hash'")
        if len(text) > MAX_PEM:
            raise ProvisionRefused("certificate is too large")
        cert = await asyncio.get_running_loop().run_in_executor(None, parse_certificate, text)
        der = cert.public_bytes(Encoding.DER)
        if signer is not None and await signer.is_revoked(der):
            raise ProvisionRefused("this certificate was revoked")
        return certificate_spec(der)

    def response_value(self, credentials) -> Any:
        return credentials.credentials_value


class X509Authenticator:
    """Authenticates: a TLS client whose leaf certificate is a device's credential."""

    name = NAME

    def __init__(self, hub):
        self.hub = hub

    async def authenticate(self, presented: PresentedCredentials):
        if not presented.certificate_der:
            return None
        found = await self.hub.credentials.lookup(NAME, certificate_id(presented.certificate_der))
        if not found:
            return None
        signer = self.hub.services.get(CSR_SIGNER)
        if signer is not None and await signer.is_revoked(presented.certificate_der):
            return None  # a revoked serial is refused even if its credential came back
        return found[0]


def certificate_spec(der: bytes) -> CredentialSpec:
    return CredentialSpec(NAME, certificate_id(der), certificate_body(der))


@hookimpl
def register_credential_types(hub, register):
    register(CredentialPair(X509Issuer(hub), X509Authenticator(hub)))


@hookimpl
def register_tls_trust(hub, register):
    register(DeviceCertificateTrust(hub))
