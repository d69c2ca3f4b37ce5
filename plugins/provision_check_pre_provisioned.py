"""CHECK_PRE_PROVISIONED_DEVICES: only devices already created in this profile (the
whitelist, e.g. from a bulk import) may provision, once each. Success returns the
device's existing credentials; credentials in the request are ignored."""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.core.services.provisioning import is_provisioned
from gridlinks.core.storage.models import Device
from gridlinks.core.types import KeyAndSecret, ProvisionPlan, ProvisionRefused


class CheckPreProvisionedStrategy:
    name = "CHECK_PRE_PROVISIONED_DEVICES"
    config_model = KeyAndSecret

    async def plan(self, request, profile):
        name = (request.device_name or "").strip()
        if not name:
            raise ProvisionRefused("pre-provisioned devices must send their name")
        device = await Device.get_or_none(tenant_id=profile.tenant_id, profile_id=profile.id, name=name)
        if device is None:
            raise ProvisionRefused("device is not pre-provisioned in this profile")
        if not device.enabled:
            raise ProvisionRefused("device is disabled")
        if await is_provisioned(device):
            raise ProvisionRefused("device is already provisioned")
        return ProvisionPlan(existing_device=device, use_existing_credentials=True)


@hookimpl
def register_provision_strategies(hub, register):
    register(CheckPreProvisionedStrategy())
