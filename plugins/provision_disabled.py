"""DISABLED: the default strategy. The core answers NOT_FOUND for such profiles before
any strategy runs; registering it makes "DISABLED" a valid ``provisionType``."""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.core.types import KeyAndSecret, ProvisionRefused


class DisabledStrategy:
    name = "DISABLED"
    config_model = KeyAndSecret

    async def plan(self, request, profile):
        raise ProvisionRefused("provisioning is disabled in this profile")


@hookimpl
def register_provision_strategies(hub, register):
    register(DisabledStrategy())
