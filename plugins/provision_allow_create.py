"""ALLOW_CREATE_NEW_DEVICES: any device that knows the profile's key and secret may
create itself, as long as no device of that name exists yet (in any profile). That rule
is the database's unique (tenant, name) constraint: checking first would cost a query
per request and still race, so the insert itself decides (audit reason: "a device with
this name already exists")."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from gridlinks.core import hookimpl
from gridlinks.core.types import KeyAndSecret, ProvisionPlan


class AllowCreateSettings(KeyAndSecret):
    """The key and secret, and whether a request may create a gateway (``"gateway": true``)."""

    model_config = ConfigDict(title="Gateways")

    allow_gateways: bool = Field(False, alias="allowGateways", title="Devices may provision themselves as gateways",
                                 description="Honours \"gateway\": true in a provision request; a gateway may "
                                             "register claim info for the devices bound to it.",
                                 json_schema_extra={"form": "allow_gateways"})


class AllowCreateStrategy:
    name = "ALLOW_CREATE_NEW_DEVICES"
    config_model = AllowCreateSettings

    async def plan(self, request, profile):
        return ProvisionPlan(new_device_name=(request.device_name or "").strip() or None)


@hookimpl
def register_provision_strategies(hub, register):
    register(AllowCreateStrategy())
