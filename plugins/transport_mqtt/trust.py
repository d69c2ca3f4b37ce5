"""Which client certificates the TLS listener (``tls.py``, pyOpenSSL) lets through.

A client certificate passes the handshake only if OpenSSL verifies it up to the
context's trust store. So the store holds every
device certificate the hub knows (X509_CERTIFICATE credentials, e.g. the seed script's
self-signed one) and every X509_CERTIFICATE_CHAIN profile's CA or intermediate
certificate, loaded at start and added as they appear (provisioning, device creation,
credential changes, profile saves; a certificate added to the live context's store takes
effect for the next handshake). Partial chains are allowed, so an intermediate can be
a profile's anchor. A certificate that is removed stays trusted by TLS until restart,
which is harmless: passing the handshake only gets a client to authentication, which
looks the certificate up in the database. Client certificates are optional (the
``provision`` login needs none); a device without one is refused by authentication.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL, crypto

from gridlinks.core.events import CredentialsIssued, DeviceCreated, DeviceProvisioned, ProfileSaved
from gridlinks.core.storage.models import DeviceCredentials, DeviceProfile

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub

log = logging.getLogger(__name__)

X509_CERTIFICATE = "X509_CERTIFICATE"
X509_CERTIFICATE_CHAIN = "X509_CERTIFICATE_CHAIN"
_DEVICE_EVENTS = (DeviceProvisioned, DeviceCreated, CredentialsIssued)


def _pem_certificates_der(text: str) -> list[bytes]:
    try:
        return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(text.encode("ascii"))]
    except (ValueError, UnicodeEncodeError):
        return []


class TrustStore:
    def __init__(self, hub: "Hub", ctx: SSL.Context):
        self.hub = hub
        self.ctx = ctx
        self._known: set[bytes] = set()
        self._unlisten: list = []

    def _add(self, ders: list[bytes]) -> None:
        fresh = [d for d in ders if d not in self._known]
        if not fresh:
            return
        store = self.ctx.get_cert_store()
        for der in fresh:
            try:
                store.add_cert(crypto.X509.from_cryptography(x509.load_der_x509_certificate(der)))
            except (ValueError, crypto.Error) as exc:  # one unparsable certificate must not stop the others
                log.warning("TLS: cannot trust a stored certificate: %s", exc)
                continue
            self._known.add(der)

    async def load_all(self) -> None:
        bodies = await DeviceCredentials.filter(credentials_type=X509_CERTIFICATE).values_list(
            "credentials_value", flat=True)
        secrets = await DeviceProfile.filter(provision_type=X509_CERTIFICATE_CHAIN).values_list(
            "provision_secret", flat=True)

        def decode() -> list[bytes]:
            ders = [base64.b64decode(b) for b in bodies if b]
            for pem in secrets:
                ders.extend(_pem_certificates_der(pem or ""))
            return ders

        self._add(await asyncio.get_running_loop().run_in_executor(None, decode))
        log.info("TLS: trusting %d device and profile certificates", len(self._known))

    def attach(self) -> None:
        self._unlisten = [self.hub.bus.listen(e, self._device_changed) for e in _DEVICE_EVENTS]
        self._unlisten.append(self.hub.bus.listen(ProfileSaved, self._profile_saved))

    def detach(self) -> None:
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten = []

    async def _device_changed(self, event: DeviceProvisioned | DeviceCreated | CredentialsIssued) -> None:
        device_id = event.device_id
        if device_id is None or getattr(event, "credentials_type", X509_CERTIFICATE) != X509_CERTIFICATE:
            return
        row = await DeviceCredentials.get_or_none(device_id=device_id, credentials_type=X509_CERTIFICATE)
        if row is not None and row.credentials_value:
            self._add([base64.b64decode(row.credentials_value)])

    async def _profile_saved(self, event: ProfileSaved) -> None:
        profile = await DeviceProfile.get_or_none(id=event.profile_id)
        if profile is not None and profile.provision_type == X509_CERTIFICATE_CHAIN:
            self._add(_pem_certificates_der(profile.provision_secret or ""))
