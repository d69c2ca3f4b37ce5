"""ALLOW_CREATE_NEW_DEVICES: any device that knows the profile's key and secret may
create itself, as long as no device of that name exists yet (in any profile). The
uniqueness check here gives a clear audit reason; the database constraint settles races."""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.core.models import Device
from gridlinks.core.types import ProvisionPlan, ProvisionRefused


class AllowCreateStrategy:
    name = "ALLOW_CREATE_NEW_DEVICES"

    async def plan(self, request, profile):
        name = (request.device_name or "").strip() or None
        if name is not None and await Device.filter(tenant_id=profile.tenant_id, name=name).exists():
            raise ProvisionRefused("a device with this name already exists")
        return ProvisionPlan(new_device_name=name)


@hookimpl
def register_provision_strategies(hub, register):
    register(AllowCreateStrategy())
