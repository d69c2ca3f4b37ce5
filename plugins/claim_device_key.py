"""Device-side key: the device sends ``{"secretKey", "durationMs"}`` itself (when it
boots, or when a button is pressed) and the info waits in the claim store until it
expires. It is asked before the server-side key, as SPEC.md says it takes precedence."""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.core.storage.models import now_ms
from gridlinks.core.types import ClaimInfo

NAME = "DEVICE_KEY"


def _key(device) -> str:
    return f"claim:info:{device.id}"


class DeviceKeyStrategy:
    name = NAME
    order = 10

    def __init__(self, hub):
        self.hub = hub

    @property
    def store(self):
        return self.hub.claiming.store

    async def find(self, device):
        value = await self.store.get(_key(device))
        if value is None:
            return None
        gateway_id = value.get("gateway_id")
        return ClaimInfo(str(value.get("secret", "")), int(value.get("expiration_ms", 0)), NAME,
                         str(gateway_id) if gateway_id else None)

    async def register(self, device, info):
        # A later message replaces the earlier one: the device is authenticated, and its
        # newest secret is the one it shows (the reference keeps the first until it expires).
        # Who sent it is kept: the claim service lets a gateway replace only its own info.
        ttl_s = max((info.expiration_ms - now_ms()) / 1000, 0.001)
        value = {"secret": info.secret, "expiration_ms": info.expiration_ms}
        if info.gateway_id:
            value["gateway_id"] = info.gateway_id
        await self.store.put(_key(device), value, ttl_s)
        return True

    async def discard(self, device):
        await self.store.delete(_key(device))


@hookimpl
def register_claim_strategies(hub, register):
    register(DeviceKeyStrategy(hub))
