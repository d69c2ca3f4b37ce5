"""X509_CERTIFICATE_CHAIN (SPEC.md section 1, entry point ``provision_x509_chain``): a
profile holds a CA or intermediate certificate; a device whose certificate was issued
under it is provisioned while it connects over TLS, with no provision request.

Registered here:
- the strategy: its settings (:class:`ChainSettings`), the profile key = SHA3-256 of the
  profile's first certificate (``derive_key``); ``plan`` refuses every provision request,
  since knowing the profile's key and its public certificate proves nothing;
- a login (authenticator only: it issues nothing) that walks the presented chain leaf
  first; a certificate that is a device's credential authenticates that device; one
  that is a chain profile's certificate provisions the leaf: device name = group 1 of
  ``certificateRegExPattern`` searched in the leaf's CN; an existing device of that
  profile gets the new certificate (rotation), a new one is created, through
  :meth:`ProvisioningService.provision_verified`, only if
  ``allowCreateNewDevicesByX509Certificate``;
- the TLS trust of the profiles' certificates (``trust.ChainAnchorTrust``).

The chain is verified cryptographically up to the profile certificate: the TLS layer
verifies it against the trust store (which holds the profile certificates) and hands
over the verified chain (the MQTT transport's pyOpenSSL layer, on every Python), and
every link is checked again here, so any depth works. A transport that shows only the
leaf still works when the leaf is issued directly by the profile certificate.
"""

from __future__ import annotations

import asyncio
import logging
import re

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pydantic import ConfigDict, Field

from gridlinks.core import hookimpl
from gridlinks.core.errors import BadRequest
from gridlinks.core.events import CertificateRotated, ProvisionFailed
from gridlinks.core.storage.models import Device, DeviceProfile
from gridlinks.core.types import (
    PROVISION_SECRET,
    CredentialPair,
    PresentedCredentials,
    ProfileSettings,
    ProvisionPlan,
    ProvisionRefused,
)
from gridlinks.plugins.x509.certificates import X509_CERTIFICATE as X509
from gridlinks.plugins.x509.certificates import X509_CERTIFICATE_CHAIN as NAME
from gridlinks.plugins.x509.certificates import certificate_id, chain_verifies, issued_by, profile_certificates
from gridlinks.plugins.x509.credentials import X509Issuer, certificate_spec
from gridlinks.plugins.x509.trust import ChainAnchorTrust

log = logging.getLogger(__name__)

DEFAULT_PATTERN = "(.*)"


class ChainSettings(ProfileSettings):
    """What an X509_CERTIFICATE_CHAIN profile holds (the REST profile's provisionConfiguration)."""

    model_config = ConfigDict(title="X.509 certificate chain")

    certificate: str = Field("", alias=PROVISION_SECRET, title="CA or intermediate certificate (PEM)",
                             description="The profile key becomes this certificate's SHA3-256 hash.",
                             json_schema_extra={"form": "certificate", "textarea": True,
                                                "placeholder": "-----BEGIN CERTIFICATE-----"})
    certificate_pattern: str = Field(DEFAULT_PATTERN, alias="certificateRegExPattern", title="Certificate CN pattern",
                                     description="Group 1 of this regular expression, searched in the leaf's CN, "
                                                 "is the device name.",
                                     json_schema_extra={"form": "regex", "mono": True})
    allow_create: bool = Field(True, alias="allowCreateNewDevicesByX509Certificate",
                               title="Create new devices from certificates",
                               json_schema_extra={"form": "allow_create_x509"})


def device_name(leaf: x509.Certificate, pattern: str) -> str | None:
    """Group 1 of ``pattern`` searched in the leaf's CN (the whole match if no group)."""
    cns = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else ""
    try:
        match = re.search(pattern, cn)
    except re.error as exc:
        log.warning("certificateRegExPattern %r is not a valid regular expression: %s", pattern, exc)
        return None
    if match is None:
        return None
    name = match.group(1) if match.groups() else match.group(0)
    return (name or "").strip() or None


class ChainStrategy:
    name = NAME
    config_model = ChainSettings

    def derive_key(self, secret: str | None) -> str:
        certs = profile_certificates(secret)
        if not certs:
            raise BadRequest("X509_CERTIFICATE_CHAIN needs the CA or intermediate certificate (PEM) "
                             "as provisionDeviceSecret")
        return certificate_id(certs[0].public_bytes(Encoding.DER))

    async def plan(self, request, profile) -> ProvisionPlan:
        raise ProvisionRefused("X509_CERTIFICATE_CHAIN profiles provision on a TLS connect, not by request")


class ChainIssuer(X509Issuer):
    """Nothing is issued under this name: a chain profile's devices get X509_CERTIFICATE credentials."""

    name = NAME

    async def from_request(self, request):
        raise ProvisionRefused("X509_CERTIFICATE_CHAIN is not requested: devices provision by connecting over TLS")


class ChainLogin:
    """Answers TLS logins whose certificate chain leads to a device or a chain profile."""

    name = NAME

    def __init__(self, hub):
        self.hub = hub

    async def authenticate(self, presented: PresentedCredentials):
        if not presented.certificate_der:
            return None
        ders = list(presented.chain_der or (presented.certificate_der,))
        loop = asyncio.get_running_loop()
        try:
            chain = await loop.run_in_executor(None, lambda: [x509.load_der_x509_certificate(d) for d in ders])
        except ValueError:
            return None
        for depth, der in enumerate(ders):
            found = await self.hub.credentials.lookup(X509, certificate_id(der))
            if found is not None:
                return found[0]
            profile = await DeviceProfile.get_or_none(provision_key=certificate_id(der), provision_type=NAME)
            if profile is not None and await loop.run_in_executor(None, chain_verifies, chain[:depth + 1]):
                return await self._provision(profile, chain[0], ders[0], presented.transport)
        if len(chain) == 1:  # only the leaf is visible: find the profile that issued it
            for profile in await DeviceProfile.filter(provision_type=NAME):
                anchors = profile_certificates(profile.provision_secret)
                if anchors and await loop.run_in_executor(None, issued_by, chain[0], anchors[0]):
                    return await self._provision(profile, chain[0], ders[0], presented.transport)
        return None

    async def _provision(self, profile: DeviceProfile, leaf: x509.Certificate, leaf_der: bytes,
                         transport: str) -> Device | None:
        settings = ChainSettings.model_validate(profile.provision_config or {})
        name = device_name(leaf, settings.certificate_pattern or DEFAULT_PATTERN)
        if name is None:
            await self._refused(profile, "", transport, "certificate CN does not match certificateRegExPattern")
            return None
        existing = await Device.get_or_none(tenant_id=profile.tenant_id, name=name)
        if existing is not None and existing.profile_id == profile.id:
            if not existing.enabled:
                return None
            await self.hub.credentials.replace(existing, certificate_spec(leaf_der))
            await self.hub.bus.fire(CertificateRotated(
                outcome="SUCCESS", tenant_id=str(profile.tenant_id), device_id=str(existing.id),
                device_name=name, profile=profile.name, transport=transport))
            return existing
        if not (profile.provision_config or {}).get("allowCreateNewDevicesByX509Certificate"):
            await self._refused(profile, name, transport,
                                "profile does not allow creating devices by X.509 certificate")
            return None
        if existing is not None:
            await self._refused(profile, name, transport, "a device with this name already exists in another profile")
            return None
        result = await self.hub.provisioning.provision_verified(profile, name, certificate_spec(leaf_der), transport)
        if result.get("status") != "SUCCESS":
            return None
        return await Device.get_or_none(id=result["deviceId"])

    async def _refused(self, profile: DeviceProfile, name: str, transport: str, reason: str) -> None:
        await self.hub.bus.fire(ProvisionFailed(
            outcome="FAILURE", reason=reason, transport=transport, tenant_id=str(profile.tenant_id),
            device_name=name, profile=profile.name))


@hookimpl
def register_provision_strategies(hub, register):
    register(ChainStrategy())


@hookimpl
def register_credential_types(hub, register):
    register(CredentialPair(ChainIssuer(), ChainLogin(hub)))


@hookimpl
def register_tls_trust(hub, register):
    register(ChainAnchorTrust(hub))
