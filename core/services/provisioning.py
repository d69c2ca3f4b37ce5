"""Device provisioning, the same on every transport (SPEC.md section 1).

A transport decodes its wire format and calls :meth:`ProvisioningService.provision`
with the decoded JSON; it gets back the response body to encode. The rules:
blank name -> FAILURE; unknown key, wrong secret or a DISABLED profile -> NOT_FOUND;
then the profile's strategy plugin decides, and the device, its credentials and the
``provisionState`` attribute are written in one transaction, so a failure leaves
nothing behind. Why a request failed goes to the audit log, never to the device.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from gridlinks.core.errors import BadRequest
from gridlinks.core.events import CredentialsIssued, CredentialsRevoked, DeviceProvisioned, ProvisionFailed
from gridlinks.core.services.conflicts import provision_reason
from gridlinks.core.services.credentials import credentials_insert, replace_credentials_ops
from gridlinks.core.services.devices import attribute_upsert
from gridlinks.core.services.profiles import DISABLED, allows_gateways
from gridlinks.core.services.provision_policy import (
    CURRENT_CREDENTIALS,
    MAX_PER_MINUTE,
    NEVER,
    RESET,
    ROTATE,
    Policy,
    ProvisionPolicyService,
    QuotaExceeded,
    Template,
    check_current_credentials,
    is_slot_clash,
    secret_matches,
)
from gridlinks.core.services.tokens import random_alnum
from gridlinks.core.storage.ids import new_id
from gridlinks.core.storage.models import Attribute, Device, DeviceProfile, Scope, now_ms, wrap
from gridlinks.core.storage.writes import Delete, Insert, NoRowMatched, Op, Update
from gridlinks.core.types import CredentialSpec, IssuedCredentials, ProvisionPlan, ProvisionRefused, ProvisionRequest

if TYPE_CHECKING:
    from gridlinks.core.bus import EventBus
    from gridlinks.core.registry import Registry
    from gridlinks.core.services.audit import AuditLog
    from gridlinks.core.services.credentials import CredentialService
    from gridlinks.core.services.pre_provision import PreProvisionGate
    from gridlinks.core.services.profiles import ProfileService
    from gridlinks.core.storage.database import Storage
    from gridlinks.core.types import ProvisionStrategy

log = logging.getLogger(__name__)

PROVISION_STATE = "provisionState"
PROVISIONED = "provisioned"
NOT_FOUND_BODY = {"errorMsg": "Provision data was not found!", "status": "NOT_FOUND"}
FAILURE_BODY = {"errorMsg": "Failed to provision device!", "status": "FAILURE"}
_STRING_FIELDS = ("deviceName", "provisionDeviceKey", "provisionDeviceSecret", "credentialsType",
                  "token", "clientId", "username", "password", "hash")


def parse_provision_request(body: Any, transport: str, peer_certificate: bytes | None = None) -> ProvisionRequest:
    """Type-check a decoded request. ``null`` members count as absent (tb-mqtt-client
    sends them); a missing key or secret member is a malformed request."""
    if not isinstance(body, dict):
        raise BadRequest("provision request must be a JSON object")
    fields = {k: v for k, v in body.items() if v is not None}
    for name in _STRING_FIELDS:
        if name in fields and not isinstance(fields[name], str):
            raise BadRequest(f"{name} must be a string")
    for required in ("provisionDeviceKey", "provisionDeviceSecret"):
        if required not in fields:
            raise BadRequest(f"{required} is required")
    gateway = fields.get("gateway", False)
    if not isinstance(gateway, bool):
        raise BadRequest("gateway must be true or false")
    check_current_credentials(fields.get(CURRENT_CREDENTIALS))
    return ProvisionRequest(
        device_name=fields.get("deviceName"),
        key=fields["provisionDeviceKey"],
        secret=fields["provisionDeviceSecret"],
        credentials_type=fields.get("credentialsType") or "ACCESS_TOKEN",
        fields=fields,
        gateway=gateway,
        transport=transport,
        peer_certificate=peer_certificate,
    )


class ProvisioningService:
    def __init__(self, storage: Storage, bus: EventBus, provision_strategies: Registry[ProvisionStrategy],
                 profiles: ProfileService, credentials: CredentialService, audit: AuditLog,
                 policy: ProvisionPolicyService, pre_provision: PreProvisionGate | None = None):
        self.storage = storage
        self.bus = bus
        self.provision_strategies = provision_strategies
        self.profiles = profiles
        self.credentials = credentials
        self.audit = audit
        self.policy = policy
        self.pre_provision = pre_provision

    async def provision(self, body: Any, transport: str, peer_certificate: bytes | None = None) -> dict[str, Any]:
        """Decoded request in, response body out. Raises BadRequest only for malformed input.
        ``peer_certificate``: the TLS client certificate (DER) the request came with."""
        request = parse_provision_request(body, transport, peer_certificate)
        profile: DeviceProfile | None = None
        try:
            profile = await self._find_profile(request)
            if profile is None:
                return dict(NOT_FOUND_BODY)
            if request.device_name is not None and not request.device_name.strip():
                raise ProvisionRefused("device name is blank")
            strategy = self.provision_strategies.get(profile.provision_type)
            if strategy is None:
                await self._failed(request, profile, f"no enabled strategy for {profile.provision_type}")
                return dict(NOT_FOUND_BODY)
            policy = Policy.of(profile)
            plan = await self._plan(request, profile, strategy, policy)
            if plan.existing_device is None and self.pre_provision is not None:
                # The pre-provisioning hook (core/services/pre_provision.py): allow, deny, park or override.
                return await self.pre_provision.provision(request, profile, plan,
                                                          functools.partial(self._execute, policy=policy),
                                                          FAILURE_BODY)
            return await self._execute(request, profile, plan, policy)
        except ProvisionRefused as refused:
            await self._failed(request, profile, str(refused), quota=getattr(refused, "quota", None))
            return dict(FAILURE_BODY)

    async def provision_verified(self, profile: DeviceProfile, name: str, credentials: CredentialSpec,
                                 transport: str) -> dict[str, Any]:
        """Create device ``name`` in ``profile`` with ``credentials``, for a caller that has
        already verified the device itself (the X.509 chain login: a TLS chain up to the
        profile's certificate). No key, secret or strategy is consulted: the caller is the
        profile's strategy and has decided. Written as one unit, audited and announced like
        :meth:`provision` (quotas and template included); returns the same response body."""
        request = ProvisionRequest(device_name=name, key=profile.provision_key or "", secret="",
                                   credentials_type=credentials.type, fields={}, transport=transport)
        try:
            if not name.strip():
                raise ProvisionRefused("device name is blank")
            return await self._execute(request, profile, ProvisionPlan(new_device_name=name), Policy.of(profile),
                                       credentials)
        except ProvisionRefused as refused:
            await self._failed(request, profile, str(refused), quota=getattr(refused, "quota", None))
            return dict(FAILURE_BODY)

    async def _find_profile(self, request: ProvisionRequest) -> DeviceProfile | None:
        reason = None
        profile = None
        if not request.key or not request.secret:
            reason = "provision key or secret is empty"
        else:
            profile = await self.profiles.by_provision_key(request.key)
            if profile is None:
                reason = "no profile has this provision key"
            elif not secret_matches(profile, request):
                reason = ("derived secret does not match this device name" if Policy.of(profile).derived_secrets
                          else "provision secret does not match")
            elif profile.provision_type == DISABLED:
                reason = "provisioning is disabled in this profile"
        if reason is not None:
            await self._failed(request, profile, reason, status="NOT_FOUND")
            return None
        return profile

    async def _plan(self, request: ProvisionRequest, profile: DeviceProfile, strategy: ProvisionStrategy,
                    policy: Policy) -> ProvisionPlan:
        """The strategy's plan; where the profile re-provisions (ROTATE, RESET) and the name
        exists but the strategy would not provision it as it is (a new device of that name,
        or a device provisioned already), the re-provisioning of that device, given proof."""
        device = await self.policy.existing(request, profile) if policy.reprovision != NEVER else None
        if device is None:
            return await strategy.plan(request, profile)
        try:
            plan = await strategy.plan(request, profile)
            if plan.existing_device is not None:
                return plan  # e.g. a pre-provisioned device's first provisioning
        except ProvisionRefused:
            pass
        again = await self.policy.reprovision(request, profile, policy, device)
        return ProvisionPlan(existing_device=device, reprovision=again.mode, proof=again.proof,
                             state_ms=again.state_ms)

    async def _execute(self, request: ProvisionRequest, profile: DeviceProfile, plan: ProvisionPlan,
                       policy: Policy, verified: CredentialSpec | None = None) -> dict[str, Any]:
        """Quotas checked, then the unit written; a minute slot another node took first
        (``maxProvisionsPerMinute``) is counted again."""
        for _ in range(_SLOT_ATTEMPTS):
            quota_ops = await self.policy.quota_ops(profile, policy, plan.existing_device is None)
            try:
                return await self._write(request, profile, plan, policy, quota_ops, verified)
            except _SlotTaken:
                continue
        raise QuotaExceeded(MAX_PER_MINUTE, f"quota {MAX_PER_MINUTE}: no free slot after {_SLOT_ATTEMPTS} tries")

    async def _write(self, request: ProvisionRequest, profile: DeviceProfile, plan: ProvisionPlan, policy: Policy,
                     quota_ops: list[Op], verified: CredentialSpec | None) -> dict[str, Any]:
        creds_service = self.credentials
        credentials = None
        existing = plan.existing_device
        if verified is not None:
            spec = verified
        elif existing is None or plan.reprovision:
            spec = await creds_service.spec_for_request(request)
        else:
            credentials = await creds_service.for_device(existing)
            spec = None if credentials is not None else await creds_service.default_spec()
        template = policy.template
        customer_id = await self.policy.customer_id(profile, template) if template else None
        # Device, credentials and provisionState: one atomic unit, acknowledged after commit.
        ops: list[Op] = list(quota_ops)
        gateway = None
        if existing is not None:
            device_id, device_name = existing.id, existing.name
            changes = template_device_changes(template, existing.name, existing, customer_id, plan.reprovision)
            if changes:
                ops.append(Update(Device, changes, {"id": device_id}))
        else:
            # The id as text once: it goes into four rows, the event and the answer.
            device_id, device_name = str(new_id()), plan.new_device_name or random_alnum()
            is_gateway = bool(template and template.gateway) or (request.gateway and allows_gateways(profile))
            ops.append(Insert(Device, {"id": device_id, "tenant_id": profile.tenant_id, "profile_id": profile.id,
                                       "name": device_name, "type": profile.name, "is_gateway": is_gateway,
                                       **template_device_changes(template, device_name, None, customer_id, None)}))
            if request.gateway:
                # Honoured only where the profile allows gateways; otherwise ignored, as the
                # reference ignores fields it does not know, and the audit row says so.
                gateway = "created" if allows_gateways(profile) else "ignored: profile does not allow gateways"
            elif is_gateway:
                gateway = "created: profile template"
        if spec is not None:
            ops.extend(replace_credentials_ops(device_id, spec) if plan.reprovision
                       else [credentials_insert(device_id, spec)])
            credentials = IssuedCredentials(spec.type, spec.id, spec.value)
        ops.extend(provision_state_ops(device_id, plan))
        if template is not None and (existing is None or plan.reprovision != ROTATE):
            ops.extend(template_attribute_ops(device_id, template))
        assert credentials is not None  # existing ones, or the spec just added to the unit
        event = DeviceProvisioned(outcome="SUCCESS", tenant_id=str(profile.tenant_id), device_id=str(device_id),
                                  device_name=device_name, transport=request.transport, profile=profile.name,
                                  credentials_type=credentials.credentials_type, gateway=gateway,
                                  reprovision=plan.reprovision, proof=plan.proof, audited=True)
        ops.append(self.audit.row_op(event))
        try:
            await self.storage.write(ops)
        except NoRowMatched:
            raise ProvisionRefused("device was re-provisioned by another request at the same time") from None
        except IntegrityError as exc:
            if is_slot_clash(exc):
                raise _SlotTaken() from None
            raise ProvisionRefused(self._integrity_reason(plan, exc)) from None
        except BadRequest as exc:  # a value the schema cannot hold (an over-long name)
            raise ProvisionRefused(str(exc)) from None
        await self.bus.fire(event)
        if plan.reprovision:
            # The old credentials are gone: sessions opened with them end (here and, over
            # the cluster bus, on every node), and TLS trust forgets an old certificate.
            await self.bus.fire(CredentialsRevoked(device_id=str(device_id)))
            await self.bus.fire(CredentialsIssued(device_id=str(device_id), device_name=device_name,
                                                  credentials_type=credentials.credentials_type))
        return {
            **(spec.response_extra if spec is not None else {}),  # additive members (a CA certificate)
            "credentialsValue": creds_service.response_value(credentials),
            "credentialsType": credentials.credentials_type,
            "status": "SUCCESS",
            "deviceId": str(device_id),
            "deviceName": device_name,
        }

    @staticmethod
    def _integrity_reason(plan: ProvisionPlan, exc: Exception) -> str:
        return provision_reason(exc, plan.existing_device is not None)

    async def _failed(self, request: ProvisionRequest, profile: DeviceProfile | None, reason: str,
                      status: str = "FAILURE", quota: str | None = None) -> None:
        await self.bus.fire(ProvisionFailed(
            outcome=status, reason=reason, transport=request.transport,
            tenant_id=str(profile.tenant_id) if profile else None,
            device_name=request.device_name or "", profile=profile.name if profile else None, quota=quota,
        ))


class _SlotTaken(Exception):
    """Another request took the minute slot this one counted (maxProvisionsPerMinute)."""


_SLOT_ATTEMPTS = 5


def provision_state_ops(device_id: Any, plan: ProvisionPlan) -> list[Op]:
    """The provisionState marker. First provisioning: inserted, so a second concurrent one
    fails in the database. Re-provisioning: a guarded update of the value this request
    read (a concurrent re-provisioning makes the loser's unit fail); RESET then clears
    every attribute and sets the marker again."""
    insert = attribute_upsert(device_id, Scope.SERVER, PROVISION_STATE, PROVISIONED, insert_only=True)
    if not plan.reprovision:
        return [insert]
    ops: list[Op] = []
    if plan.state_ms is not None:
        ops.append(Update(Attribute, {"boxed": wrap(PROVISIONED), "last_update_ms": max(now_ms(), plan.state_ms + 1)},
                          {"device_id": device_id, "scope": Scope.SERVER, "key": PROVISION_STATE,
                           "last_update_ms": plan.state_ms}, guard=True))
    if plan.reprovision == RESET:
        ops.append(Delete(Attribute, {"device_id": device_id}))
        ops.append(insert)
    elif plan.state_ms is None:
        ops.append(insert)
    return ops


def template_device_changes(template: Template | None, device_name: str, device: Device | None, customer_id: Any,
                            reprovision: str | None) -> dict[str, Any]:
    """Device columns the profile template sets: on a new device all of them; on a
    pre-provisioned device's first provisioning only what is unset (label, customer);
    on RESET the label; on ROTATE nothing."""
    if template is None or reprovision == ROTATE:
        return {}
    changes: dict[str, Any] = {}
    if template.label and (device is None or reprovision == RESET or not device.label):
        changes["label"] = template.label_for(device_name, now_ms())
    if customer_id is not None and (device is None or device.customer_id is None) and reprovision is None:
        changes["customer_id"] = customer_id
    if template.gateway and device is not None and reprovision is None:
        changes["is_gateway"] = True
    return changes


def template_attribute_ops(device_id: Any, template: Template) -> list[Op]:
    scopes = ((Scope.SERVER, template.server_attributes), (Scope.SHARED, template.shared_attributes))
    return [attribute_upsert(device_id, scope, key, value) for scope, values in scopes for key, value in values.items()]


async def is_provisioned(device: Device) -> bool:
    return await Attribute.filter(device_id=device.id, scope=Scope.SERVER, key=PROVISION_STATE).exists()
