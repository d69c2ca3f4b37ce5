"""Device provisioning, the same on every transport (SPEC.md section 1).

A transport decodes its wire format and calls :meth:`ProvisioningService.provision`
with the decoded JSON; it gets back the response body to encode. The rules:
blank name -> FAILURE; unknown key, wrong secret or a DISABLED profile -> NOT_FOUND;
then the profile's strategy plugin decides, and the device, its credentials and the
``provisionState`` attribute are written in one transaction, so a failure leaves
nothing behind. Why a request failed goes to the audit log, never to the device.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from gridlinks.core.errors import BadRequest
from gridlinks.core.events import DeviceProvisioned, ProvisionFailed
from gridlinks.core.services.conflicts import provision_reason
from gridlinks.core.services.credentials import credentials_insert
from gridlinks.core.services.devices import attribute_upsert
from gridlinks.core.services.profiles import DISABLED, allows_gateways
from gridlinks.core.services.tokens import random_alnum, secrets_equal
from gridlinks.core.storage.models import Attribute, Device, DeviceProfile, Scope
from gridlinks.core.storage.writes import Insert
from gridlinks.core.types import CredentialSpec, IssuedCredentials, ProvisionPlan, ProvisionRefused, ProvisionRequest

if TYPE_CHECKING:
    from gridlinks.core.bus import EventBus
    from gridlinks.core.registry import Registry
    from gridlinks.core.services.audit import AuditLog
    from gridlinks.core.services.credentials import CredentialService
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


def parse_provision_request(body: Any, transport: str) -> ProvisionRequest:
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
    return ProvisionRequest(
        device_name=fields.get("deviceName"),
        key=fields["provisionDeviceKey"],
        secret=fields["provisionDeviceSecret"],
        credentials_type=fields.get("credentialsType") or "ACCESS_TOKEN",
        fields=fields,
        gateway=gateway,
        transport=transport,
    )


class ProvisioningService:
    def __init__(self, storage: Storage, bus: EventBus, provision_strategies: Registry[ProvisionStrategy],
                 profiles: ProfileService, credentials: CredentialService, audit: AuditLog):
        self.storage = storage
        self.bus = bus
        self.provision_strategies = provision_strategies
        self.profiles = profiles
        self.credentials = credentials
        self.audit = audit

    async def provision(self, body: Any, transport: str) -> dict[str, Any]:
        """Decoded request in, response body out. Raises BadRequest only for malformed input."""
        request = parse_provision_request(body, transport)
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
            plan = await strategy.plan(request, profile)
            return await self._execute(request, profile, plan)
        except ProvisionRefused as refused:
            await self._failed(request, profile, str(refused))
            return dict(FAILURE_BODY)

    async def provision_verified(self, profile: DeviceProfile, name: str, credentials: CredentialSpec,
                                 transport: str) -> dict[str, Any]:
        """Create device ``name`` in ``profile`` with ``credentials``, for a caller that has
        already verified the device itself (the X.509 chain login: a TLS chain up to the
        profile's certificate). No key, secret or strategy is consulted: the caller is the
        profile's strategy and has decided. Written as one unit, audited and announced like
        :meth:`provision`; returns the same response body."""
        request = ProvisionRequest(device_name=name, key=profile.provision_key or "", secret="",
                                   credentials_type=credentials.type, fields={}, transport=transport)
        try:
            if not name.strip():
                raise ProvisionRefused("device name is blank")
            return await self._execute(request, profile, ProvisionPlan(new_device_name=name), credentials)
        except ProvisionRefused as refused:
            await self._failed(request, profile, str(refused))
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
            elif not secrets_equal(request.secret, profile.provision_secret):
                reason = "provision secret does not match"
            elif profile.provision_type == DISABLED:
                reason = "provisioning is disabled in this profile"
        if reason is not None:
            await self._failed(request, profile, reason, status="NOT_FOUND")
            return None
        return profile

    async def _execute(self, request: ProvisionRequest, profile: DeviceProfile, plan: ProvisionPlan,
                       verified: CredentialSpec | None = None) -> dict[str, Any]:
        creds_service = self.credentials
        credentials = None
        if verified is not None:
            spec = verified
        elif plan.existing_device is None:
            spec = await creds_service.spec_for_request(request)
        else:
            credentials = await creds_service.for_device(plan.existing_device)
            spec = None if credentials is not None else await creds_service.default_spec()
        # Device, credentials and provisionState: one atomic unit, acknowledged after commit.
        ops: list = []
        if plan.existing_device is not None:
            device_id, device_name = plan.existing_device.id, plan.existing_device.name
        else:
            device_id, device_name = uuid.uuid4(), plan.new_device_name or random_alnum()
            ops.append(Insert(Device, {"id": device_id, "tenant_id": profile.tenant_id, "profile_id": profile.id,
                                       "name": device_name, "type": profile.name,
                                       "is_gateway": request.gateway and allows_gateways(profile)}))
        if spec is not None:
            ops.append(credentials_insert(device_id, spec))
            credentials = IssuedCredentials(spec.type, spec.id, spec.value)
        ops.append(attribute_upsert(device_id, Scope.SERVER, PROVISION_STATE, PROVISIONED, insert_only=True))
        assert credentials is not None  # existing ones, or the spec just added to the unit
        gateway = None
        if request.gateway and plan.existing_device is None:
            # Honoured only where the profile allows gateways; otherwise ignored, as the
            # reference ignores fields it does not know, and the audit row says so.
            gateway = "created" if allows_gateways(profile) else "ignored: profile does not allow gateways"
        event = DeviceProvisioned(outcome="SUCCESS", tenant_id=str(profile.tenant_id), device_id=str(device_id),
                                  device_name=device_name, transport=request.transport, profile=profile.name,
                                  credentials_type=credentials.credentials_type, gateway=gateway, audited=True)
        ops.append(self.audit.row_op(event))
        try:
            await self.storage.write(ops)
        except IntegrityError as exc:
            raise ProvisionRefused(self._integrity_reason(plan, exc)) from None
        except BadRequest as exc:  # a value the schema cannot hold (an over-long name)
            raise ProvisionRefused(str(exc)) from None
        await self.bus.fire(event)
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
                      status: str = "FAILURE") -> None:
        await self.bus.fire(ProvisionFailed(
            outcome=status, reason=reason, transport=request.transport,
            tenant_id=str(profile.tenant_id) if profile else None,
            device_name=request.device_name or "", profile=profile.name if profile else None,
        ))


async def is_provisioned(device: Device) -> bool:
    return await Attribute.filter(device_id=device.id, scope=Scope.SERVER, key=PROVISION_STATE).exists()
