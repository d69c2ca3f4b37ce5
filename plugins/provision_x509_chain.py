"""X509_CERTIFICATE_CHAIN (SPEC.md section 1): a profile holds a CA or intermediate
certificate; a device whose certificate was issued under it is provisioned while it
connects over TLS, with no provision request.

Two parts, both registered here:
- the strategy: the profile key is the SHA3-256 of the profile's first certificate
  (``derive_key``); ``plan`` only accepts requests that carry proof of a verified TLS
  chain (a Python object no JSON request can contain), so knowing the profile's key
  and its public certificate is not enough to create devices by request;
- a credential type that answers X.509 logins: it walks the presented chain leaf
  first; a certificate that is a device's credential authenticates that device; one
  that is a chain profile's certificate provisions the leaf: device name = group 1 of
  ``certificateRegExPattern`` searched in the leaf's CN; an existing device of that
  profile gets the new certificate (rotation), a new one is created only if
  ``allowCreateNewDevicesByX509Certificate``.

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
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from gridlinks.core import hookimpl
from gridlinks.core.errors import BadRequest
from gridlinks.core.events import CertificateRotated, ProvisionFailed
from gridlinks.core.storage.models import Device, DeviceProfile
from gridlinks.core.types import CredentialSpec, PresentedCredentials, ProvisionPlan, ProvisionRefused
from gridlinks.plugins.credentials_x509 import NAME as X509, certificate_body, certificate_id

log = logging.getLogger(__name__)

NAME = "X509_CERTIFICATE_CHAIN"
PROOF = "verifiedChain"
DEFAULT_PATTERN = "(.*)"


@dataclass(frozen=True)
class VerifiedChain:
    """Proof, passed inside a provision request, that a TLS client showed a leaf
    verified up to this profile's certificate."""

    profile_id: Any
    device_name: str


def profile_certificates(secret: str | None) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates((secret or "").encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return []


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

    def derive_key(self, secret: str | None) -> str:
        certs = profile_certificates(secret)
        if not certs:
            raise BadRequest("X509_CERTIFICATE_CHAIN needs the CA or intermediate certificate (PEM) "
                             "as provisionDeviceSecret")
        return certificate_id(certs[0].public_bytes(Encoding.DER))

    async def plan(self, request, profile) -> ProvisionPlan:
        proof = request.fields.get(PROOF)
        if not isinstance(proof, VerifiedChain) or proof.profile_id != profile.id:
            raise ProvisionRefused("X509_CERTIFICATE_CHAIN profiles provision on a TLS connect, not by request")
        if not profile.provision_config.get("allowCreateNewDevicesByX509Certificate"):
            raise ProvisionRefused("profile does not allow creating devices by X.509 certificate")
        if await Device.filter(tenant_id=profile.tenant_id, name=proof.device_name).exists():
            raise ProvisionRefused("a device with this name already exists in another profile")
        return ProvisionPlan(new_device_name=proof.device_name)


class ChainLogin:
    """Answers TLS logins whose certificate chain leads to a device or a chain profile."""

    name = NAME

    def __init__(self, hub):
        self.hub = hub

    async def from_request(self, request):
        raise ProvisionRefused("X509_CERTIFICATE_CHAIN is not requested: devices provision by connecting over TLS")

    def response_value(self, credentials) -> Any:
        return credentials.credentials_value

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
        name = device_name(leaf, profile.provision_config.get("certificateRegExPattern") or DEFAULT_PATTERN)
        if name is None:
            await self._refused(profile, "", transport, "certificate CN does not match certificateRegExPattern")
            return None
        existing = await Device.get_or_none(tenant_id=profile.tenant_id, name=name)
        if existing is not None and existing.profile_id == profile.id:
            if not existing.enabled:
                return None
            await self.hub.credentials.replace(existing, CredentialSpec(X509, certificate_id(leaf_der),
                                                                        certificate_body(leaf_der)))
            await self.hub.bus.fire(CertificateRotated(
                outcome="SUCCESS", tenant_id=str(profile.tenant_id), device_id=str(existing.id),
                device_name=name, profile=profile.name, transport=transport))
            return existing
        body = {"provisionDeviceKey": profile.provision_key, "provisionDeviceSecret": profile.provision_secret,
                "deviceName": name, "credentialsType": X509, "hash": certificate_body(leaf_der),
                PROOF: VerifiedChain(profile.id, name)}
        result = await self.hub.provisioning.provision(body, transport)
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
    register(ChainLogin(hub))
