"""The local CA service (``hub.services["local_ca"]``): signs provision requests' CSRs
with the tenant's CA, keeps the issued serials, revokes, and tells TLS listeners which
CAs to trust. Everything blocking (files, key generation, signing) runs off the loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import ValidationError

from gridlinks.core.errors import BadRequest, NotFound
from gridlinks.core.events import CredentialsRevoked
from gridlinks.core.storage.models import DeviceCredentials, now_ms
from gridlinks.core.storage.writes import Delete, Insert, Update
from gridlinks.core.types import CredentialSpec, ProvisionRefused, ProvisionRequest, TrustChange, TrustListener
from gridlinks.plugins.local_ca.authority import (
    Authority,
    CaFiles,
    checked_csr,
    csr_common_name,
    import_pair,
    new_ca,
    sign_csr,
)
from gridlinks.plugins.local_ca.events import CaChanged, CertificateRevoked, CertificateSigned
from gridlinks.plugins.local_ca.models import IssuedCertificate
from gridlinks.plugins.local_ca.settings import CsrProfileSettings, LocalCaSettings
from gridlinks.plugins.x509.certificates import X509_CERTIFICATE, certificate_id
from gridlinks.plugins.x509.credentials import certificate_spec

log = logging.getLogger(__name__)

CA_FOLDER = "ca"


async def _off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def normal_serial(text: str) -> str:
    """A serial as stored (lower-case hex, no leading zeros), from hex with or without 0x or colons."""
    return text.strip().lower().removeprefix("0x").replace(":", "").lstrip("0") or "0"


class LocalCa:
    def __init__(self, hub, settings: LocalCaSettings):
        self.hub = hub
        self.settings = settings
        self.root: Path = Path(hub.settings.data_dir) / CA_FOLDER
        self._cache: dict[str, Authority] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._listeners: list[TrustListener] = []

    def files(self, tenant_id: Any) -> CaFiles:
        return CaFiles(self.root / str(tenant_id))

    # -- the CA -------------------------------------------------------------------------

    async def authority(self, tenant_id: Any, actor: str = "hub") -> Authority:
        """The tenant's signing CA, generated on first use; reloaded when another process
        (the CLI) rotated or imported one."""
        key = str(tenant_id)
        files = self.files(key)
        cached = self._cache.get(key)
        if cached is not None and cached.generation == files.current_generation():
            return cached
        async with self._locks.setdefault(key, asyncio.Lock()):
            authority, created = await _off_loop(files.ensure, self.settings.ca_common_name,
                                                 self.settings.ca_valid_days)
            if created:
                await self._changed(key, "generated", authority, actor)
            elif cached is None or cached.generation != authority.generation:
                await self._tell(authority)
            self._cache[key] = authority
            return authority

    async def rotate(self, tenant_id: Any, actor: str) -> Authority:
        """A new CA signs from now on; the old one stays trusted (its key is deleted)."""
        await self.authority(tenant_id, actor)
        cert, key = await _off_loop(new_ca, self.settings.ca_common_name, self.settings.ca_valid_days)
        return await self._install(tenant_id, cert, key, "rotated", actor)

    async def import_ca(self, tenant_id: Any, cert_pem: bytes, key_pem: bytes, actor: str) -> Authority:
        cert, key = await _off_loop(import_pair, cert_pem, key_pem)
        return await self._install(tenant_id, cert, key, "imported", actor)

    async def _install(self, tenant_id: Any, cert, key, action: str, actor: str) -> Authority:
        files = self.files(tenant_id)
        await _off_loop(files.install, cert, key)
        authority = await _off_loop(files.load)
        self._cache[str(tenant_id)] = authority
        await self._changed(str(tenant_id), action, authority, actor)
        return authority

    async def _changed(self, tenant_id: str, action: str, authority: Authority, actor: str) -> None:
        log.info("local CA of tenant %s %s (serial %x)", tenant_id, action, authority.cert.serial_number)
        await self.hub.bus.fire(CaChanged(outcome="SUCCESS", tenant_id=tenant_id, action=action,
                                          ca_serial=f"{authority.cert.serial_number:x}", actor=actor))
        await self._tell(authority)

    async def _tell(self, authority: Authority) -> None:
        ders = tuple(c.public_bytes(Encoding.DER) for c in authority.trusted())
        for listener in list(self._listeners):
            await listener(TrustChange(added=ders))

    # -- TLS trust (``register_tls_trust``) ---------------------------------------------

    async def trusted_certificates(self) -> list[bytes]:
        def collect() -> list[bytes]:
            ders = []
            for folder in sorted(self.root.glob("*")) if self.root.is_dir() else ():
                try:
                    authority = CaFiles(folder).load()
                except (OSError, ValueError, BadRequest) as exc:
                    log.warning("local CA in %s cannot be read: %s", folder, exc)
                    continue
                if authority is not None:
                    ders += [c.public_bytes(Encoding.DER) for c in authority.trusted()]
            return ders
        return await _off_loop(collect)

    def subscribe(self, changed: TrustListener) -> Callable[[], None]:
        self._listeners.append(changed)
        return lambda: self._listeners.remove(changed) if changed in self._listeners else None

    # -- signing ------------------------------------------------------------------------

    async def sign_request(self, request: ProvisionRequest) -> CredentialSpec:
        """The X509_CERTIFICATE credential for a provision request carrying ``csr``: a
        certificate signed by the CA of the profile's tenant. Refusals say why (audit)."""
        text = request.fields.get("csr")
        if not isinstance(text, str) or not text.strip():
            raise ProvisionRefused("csr must be a PEM certificate signing request")
        profile = await self.hub.profiles.by_provision_key(request.key)
        if profile is None:
            raise ProvisionRefused("no profile has this provision key")
        try:
            rules = CsrProfileSettings.model_validate(profile.provision_config or {}).rules()
        except ValidationError as exc:
            raise ProvisionRefused(f"the profile's CSR settings are invalid: {exc.errors()[0]['msg']}") from None
        csr = await _off_loop(checked_csr, text, rules)
        name = request.device_name or csr_common_name(csr) or "device"
        authority = await self.authority(profile.tenant_id)
        cert: x509.Certificate = await _off_loop(sign_csr, authority, csr, name, rules.days)
        der = cert.public_bytes(Encoding.DER)
        spec = certificate_spec(der)
        serial = f"{cert.serial_number:x}"
        await self.hub.storage.write([Insert(IssuedCertificate, {
            "tenant_id": profile.tenant_id, "serial": serial, "ca_serial": f"{authority.cert.serial_number:x}",
            "cert_id": spec.id, "device_name": name[:255],
            "not_after_ms": int(cert.not_valid_after_utc.timestamp() * 1000)})])
        await self.hub.bus.fire(CertificateSigned(outcome="SUCCESS", tenant_id=str(profile.tenant_id),
                                                  device_name=name, serial=serial, transport=request.transport))
        return CredentialSpec(spec.type, spec.id, spec.value, response_extra={"caCertificate": authority.pem})

    # -- revocation ---------------------------------------------------------------------

    async def is_revoked(self, der: bytes) -> bool:
        return await IssuedCertificate.filter(cert_id=certificate_id(der), revoked_ms__isnull=False).exists()

    async def issued(self, tenant_id: Any, device_name: str | None = None) -> list[IssuedCertificate]:
        query = IssuedCertificate.filter(tenant_id=tenant_id)
        if device_name is not None:
            query = query.filter(device_name=device_name)
        return await query.order_by("issued_ms")

    async def revoke(self, tenant_id: Any, *, serial: str | None = None, device_name: str | None = None,
                     reason: str = "revoked", actor: str = "hub") -> list[IssuedCertificate]:
        """Revoke by serial, or every unrevoked certificate the CA signed for a device:
        its credential row is deleted (so TLS logins with it fail), the serial is refused
        from then on, and the device's open sessions end."""
        query = IssuedCertificate.filter(tenant_id=tenant_id, revoked_ms__isnull=True)
        if serial is not None:
            query = query.filter(serial=normal_serial(serial))
        elif device_name is not None:
            query = query.filter(device_name=device_name)
        else:
            raise BadRequest("name a serial or a device")
        rows = await query
        if not rows:
            raise NotFound("no unrevoked certificate signed by the local CA matches")
        for row in rows:
            holder = await DeviceCredentials.get_or_none(credentials_type=X509_CERTIFICATE, credentials_id=row.cert_id)
            await self.hub.storage.write([
                Update(IssuedCertificate, {"revoked_ms": now_ms(), "revoked_reason": reason[:255]}, {"id": row.id}),
                Delete(DeviceCredentials, {"credentials_type": X509_CERTIFICATE, "credentials_id": row.cert_id})])
            if holder is not None:
                await self.hub.bus.fire(CredentialsRevoked(device_id=str(holder.device_id)))
            await self.hub.bus.fire(CertificateRevoked(outcome="SUCCESS", tenant_id=str(tenant_id), serial=row.serial,
                                                       device_name=row.device_name, reason=reason, actor=actor))
        return rows



class LocalCaTrust:
    """``TlsTrust``: every tenant's CA and its unexpired retired CAs."""

    name = "LOCAL_CA"

    def __init__(self, service: LocalCa):
        self.service = service

    async def certificates(self) -> list[bytes]:
        return await self.service.trusted_certificates()

    def subscribe(self, changed: TrustListener) -> Callable[[], None]:
        return self.service.subscribe(changed)
