"""Device credentials: issuing them through the enabled credential-type plugins and
finding the device a connecting client's credentials belong to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridlinks.core.events import CredentialsIssued
from gridlinks.core.storage.ids import new_id
from gridlinks.core.storage.models import Device, DeviceCredentials
from gridlinks.core.storage.writes import Delete, Insert, Op
from gridlinks.core.types import (
    CredentialSpec,
    PresentedCredentials,
    ProvisionRefused,
    ProvisionRequest,
    RestrictedSession,
)

if TYPE_CHECKING:
    from gridlinks.core.bus import EventBus
    from gridlinks.core.registry import Registry
    from gridlinks.core.storage.database import Storage
    from gridlinks.core.types import CredentialType


def credentials_insert(device_id: Any, spec: CredentialSpec) -> Insert:
    """The write that stores ``spec`` for a device (part of a larger atomic unit)."""
    return Insert(DeviceCredentials, {"id": new_id(), "device_id": device_id, "credentials_type": spec.type,
                                      "credentials_id": spec.id, "credentials_value": spec.value})


def replace_credentials_ops(device_id: Any, spec: CredentialSpec) -> list[Op]:
    return [Delete(DeviceCredentials, {"device_id": device_id}), credentials_insert(device_id, spec)]


class CredentialService:
    def __init__(self, credential_types: Registry[CredentialType], storage: Storage, bus: EventBus):
        self.credential_types = credential_types
        self.storage = storage
        self.bus = bus

    async def spec_for_request(self, request: ProvisionRequest) -> CredentialSpec:
        ctype = self.credential_types.get(request.credentials_type)
        if ctype is None:
            raise ProvisionRefused(f"credentials type {request.credentials_type!r} is not enabled")
        return await ctype.from_request(request)

    async def default_spec(self) -> CredentialSpec:
        """Credentials for a device created without any (a server-generated access token)."""
        return await self.spec_for_request(ProvisionRequest(None, "", "", "ACCESS_TOKEN", {}))

    def response_value(self, credentials: DeviceCredentials) -> Any:
        ctype = self.credential_types.get(credentials.credentials_type)
        if ctype is None:
            return credentials.credentials_value
        return ctype.response_value(credentials)

    async def lookup(self, credentials_type: str, credentials_id: str) -> tuple[Device, DeviceCredentials] | None:
        """The enabled device holding exactly these credentials, or None."""
        row = await DeviceCredentials.get_or_none(
            credentials_type=credentials_type, credentials_id=credentials_id).prefetch_related("device")
        if row is None or not row.device.enabled:
            return None
        return row.device, row

    async def authenticate_session(self, presented: PresentedCredentials) -> Device | RestrictedSession | None:
        """Ask each enabled credential type in turn; the first that knows them wins. The
        answer may be a :class:`RestrictedSession`, which only session transports honour."""
        for ctype in self.credential_types:
            result = await ctype.authenticate(presented)
            if result is not None:
                return result
        return None

    async def authenticate(self, presented: PresentedCredentials) -> Device | None:
        """The device these credentials log in as; a restricted-session login is no device login."""
        result = await self.authenticate_session(presented)
        return result if isinstance(result, Device) else None

    async def for_device(self, device: Device) -> DeviceCredentials | None:
        return await DeviceCredentials.get_or_none(device_id=device.id)

    async def replace(self, device: Device, spec: CredentialSpec) -> DeviceCredentials:
        """Swap a device's credentials atomically (certificate rotation, admin reset)."""
        await self.storage.write(replace_credentials_ops(device.id, spec))
        creds = await DeviceCredentials.get(device_id=device.id)
        await self.bus.fire(CredentialsIssued(device_id=str(device.id), device_name=device.name,
                                              credentials_type=spec.type))
        return creds
