"""The plugin's service, registered in ``hub.services`` as ``dynamic_registration``
(its admin API and CLI find it there), and its credential type ``DYNAMIC_REGISTRATION``,
through which MQTT logins reach the same :class:`DynamicLogin`. What people do
(switch, show, set, reset) and what devices present are separate objects.

It is not a provisioning credentials type: a provision request asking for it fails,
since device secrets are issued only over the password request or by an admin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridlinks.core.events import CredentialsRevoked
from gridlinks.core.storage.models import Device, DeviceProfile
from gridlinks.core.types import PresentedCredentials, ProvisionRefused, ProvisionRequest, RestrictedSession
from gridlinks.plugins.dynamic_registration import products
from gridlinks.plugins.dynamic_registration.events import (
    DeviceRegistrationReset,
    DeviceSecretSet,
    DynamicRegistrationSwitched,
)
from gridlinks.plugins.dynamic_registration.login import DynamicLogin
from gridlinks.plugins.dynamic_registration.store import SecretStore

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub

NAME = "DYNAMIC_REGISTRATION"
SERVICE = "dynamic_registration"


class RegistrationCredentials:
    """The credential type: MQTT logins with authmode 1 (device secret) and 2 (the
    password request). It issues nothing through provisioning."""

    name = NAME

    def __init__(self, login: DynamicLogin):
        self.login = login

    async def from_request(self, request: ProvisionRequest):
        raise ProvisionRefused("DYNAMIC_REGISTRATION secrets are not issued by provisioning")

    def response_value(self, credentials) -> Any:
        return None

    async def authenticate(self, presented: PresentedCredentials) -> Device | RestrictedSession | None:
        return await self.login.authenticate(presented)


class DynamicRegistration:
    """The service for people (admin API, CLI, dashboard)."""

    def __init__(self, hub: Hub, close_delay_s: float):
        self.hub = hub
        self.store = SecretStore(hub)
        self.login = DynamicLogin(hub, self.store, close_delay_s)

    async def product(self, profile: DeviceProfile) -> dict[str, Any]:
        """ProductSN, ProductSecret, the switch and how many devices got how far."""
        return {**products.product_json(profile), **await self.store.counts(profile.id)}

    async def switch(self, profile: DeviceProfile, on: bool, actor: str) -> DeviceProfile:
        profile = await products.switch(self.hub, profile, on)
        await self.hub.bus.fire(DynamicRegistrationSwitched(
            outcome="SUCCESS", tenant_id=str(profile.tenant_id), profile=profile.name, on=on,
            actor=actor))
        return profile

    async def device(self, device: Device) -> dict[str, Any]:
        """The device's registration: its MQTT identity and state (never its secret)."""
        profile = await DeviceProfile.get(id=device.profile_id)
        sn = profile.provision_key or ""
        return {"deviceId": {"entityType": "DEVICE", "id": str(device.id)}, "deviceSN": device.name,
                "productSN": profile.provision_key, "dynamicRegistration": products.switched_on(profile),
                "clientId": f"{sn}.{device.name}", "userName": f"{sn}|{device.name}|1",
                **await self.store.state(device)}

    async def set_secret(self, device: Device, secret: str | None, actor: str) -> str:
        """Static registration: the device logs in with authmode 1 and this secret
        (generated when None); returned once, never readable again."""
        secret = await self.store.set_static(device, secret)
        await self._fire_admin(DeviceSecretSet, device, actor)
        return secret

    async def reset(self, device: Device, actor: str) -> bool:
        """Forget the device's secret (dynamic or static): it may register again."""
        existed = await self.store.reset(device)
        await self._fire_admin(DeviceRegistrationReset, device, actor)
        return existed

    async def _fire_admin(self, event: type[DeviceSecretSet | DeviceRegistrationReset], device: Device,
                          actor: str) -> None:
        await self.hub.bus.fire(event(outcome="SUCCESS", tenant_id=str(device.tenant_id),
                                      device_id=str(device.id), device_name=device.name, actor=actor))
        # Sessions opened with the old secret end now, not at their next reconnect.
        await self.hub.bus.fire(CredentialsRevoked(device_id=str(device.id)))
