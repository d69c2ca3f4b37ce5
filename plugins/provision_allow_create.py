"""ALLOW_CREATE_NEW_DEVICES: any device that knows the profile's key and secret may
create itself, as long as no device of that name exists yet (in any profile). That rule
is the database's unique (tenant, name) constraint: checking first would cost a query
per request and still race, so the insert itself decides (audit reason: "a device with
this name already exists")."""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.core.types import ProvisionPlan


class AllowCreateStrategy:
    name = "ALLOW_CREATE_NEW_DEVICES"

    async def plan(self, request, profile):
        return ProvisionPlan(new_device_name=(request.device_name or "").strip() or None)


@hookimpl
def register_provision_strategies(hub, register):
    register(AllowCreateStrategy())
