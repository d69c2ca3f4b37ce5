"""What the X.509 plugins ask TLS listeners to trust (the ``TlsTrust`` contract of
``register_tls_trust``): a client certificate passes the handshake only if OpenSSL
verifies it up to the listener's trust store, so the store must hold every device
certificate the hub knows (X509_CERTIFICATE credentials, e.g. the seed script's
self-signed one) and every X509_CERTIFICATE_CHAIN profile's CA or intermediate.

Each provider lists its full set at start and reports changes from the hub's events: a
certificate provisioned is added at once (the next handshake trusts it); when one may
have gone (a device deleted, credentials replaced, a profile saved) it asks for a
rebuild, and the listener stops trusting what no provider lists any more. Passing the
handshake only gets a client to authentication, which looks the certificate up again.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable

from gridlinks.core.events import (
    ClusterResynced,
    CredentialsIssued,
    DeviceCreated,
    DeviceDeleted,
    DeviceProvisioned,
    Event,
    ProfileSaved,
)
from gridlinks.core.storage.models import DeviceCredentials, DeviceProfile
from gridlinks.core.types import TrustChange, TrustListener
from gridlinks.plugins.x509.certificates import X509_CERTIFICATE, X509_CERTIFICATE_CHAIN, pem_certificates_der

log = logging.getLogger(__name__)


class _EventTrust:
    """Subscribes a listener to hub events: ``_added_events`` may add, ``_rebuild_events`` may remove."""

    name = ""
    _added_events: tuple[type[Event], ...] = ()
    _rebuild_events: tuple[type[Event], ...] = ()

    def __init__(self, hub):
        self.hub = hub

    def subscribe(self, changed: TrustListener) -> Callable[[], None]:
        async def added(event: Event) -> None:
            ders = await self._added(event)
            if ders:
                await changed(TrustChange(added=tuple(ders)))

        async def rebuild(event: Event) -> None:
            if await self._concerns(event):
                await changed(TrustChange(rebuild=True))

        unlisten = [self.hub.bus.listen(e, added) for e in self._added_events]
        unlisten += [self.hub.bus.listen(e, rebuild) for e in self._rebuild_events]

        def unsubscribe() -> None:
            for off in unlisten:
                off()
        return unsubscribe

    async def _added(self, event: Event) -> list[bytes]:
        return []

    async def _concerns(self, event: Event) -> bool:
        return True


class DeviceCertificateTrust(_EventTrust):
    """Every stored X509_CERTIFICATE credential."""

    name = X509_CERTIFICATE
    _added_events = (DeviceProvisioned, DeviceCreated)
    _rebuild_events = (CredentialsIssued, DeviceDeleted, ClusterResynced)

    def __init__(self, hub):
        super().__init__(hub)
        # Devices holding a certificate: only their deletion or new credentials need a rebuild.
        self._devices: set[str] = set()

    async def certificates(self) -> list[bytes]:
        rows = await DeviceCredentials.filter(credentials_type=X509_CERTIFICATE).values_list(
            "device_id", "credentials_value")
        self._devices = {str(device_id) for device_id, _ in rows}
        return await asyncio.get_running_loop().run_in_executor(None, _decode_bodies, [v for _, v in rows])

    async def _added(self, event: Event) -> list[bytes]:
        device_id = getattr(event, "device_id", None)
        if device_id is None or getattr(event, "credentials_type", X509_CERTIFICATE) != X509_CERTIFICATE:
            return []
        row = await DeviceCredentials.get_or_none(device_id=device_id, credentials_type=X509_CERTIFICATE)
        if row is None:
            return []
        self._devices.add(str(device_id))
        return _decode_bodies([row.credentials_value])

    async def _concerns(self, event: Event) -> bool:
        """A deleted device that held a certificate; credentials replaced on one that did,
        or replaced by a certificate (rotation)."""
        return (str(getattr(event, "device_id", None)) in self._devices
                or getattr(event, "credentials_type", None) == X509_CERTIFICATE)


class ChainAnchorTrust(_EventTrust):
    """Every X509_CERTIFICATE_CHAIN profile's certificates (partial chains are allowed by
    the listener, so an intermediate can be an anchor)."""

    name = X509_CERTIFICATE_CHAIN
    _rebuild_events = (ProfileSaved, ClusterResynced)

    async def certificates(self) -> list[bytes]:
        secrets = await DeviceProfile.filter(provision_type=X509_CERTIFICATE_CHAIN).values_list(
            "provision_secret", flat=True)

        def decode() -> list[bytes]:
            return [der for pem in secrets for der in pem_certificates_der(pem)]

        return await asyncio.get_running_loop().run_in_executor(None, decode)


def _decode_bodies(bodies) -> list[bytes]:
    ders = []
    for body in bodies:
        try:
            if body:
                ders.append(base64.b64decode(body))
        except ValueError:  # one bad row must not stop the others
            log.warning("TLS: a stored X.509 credential is not base64")
    return ders
