"""Server-side key: the tenant sets the server attribute
``claimingData = {"secretKey": "...", "expirationTime": <epoch ms>}`` (by REST, bulk
import or the dashboard), e.g. for devices that cannot show a secret themselves. The
claim service deletes the attribute when the device is claimed."""

from __future__ import annotations

import json

from gridlinks.core import hookimpl
from gridlinks.core.services.claiming import CLAIMING_DATA
from gridlinks.core.storage.models import Scope
from gridlinks.core.types import ClaimInfo

NAME = "SERVER_KEY"


def parse_claiming_data(value) -> ClaimInfo | None:
    """The attribute as an object or as its JSON text (the reference stores text); a
    missing or malformed expirationTime counts as expired, never as "forever"."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    secret = value.get("secretKey", "")
    if secret is None:
        secret = ""
    elif isinstance(secret, (int, float)) and not isinstance(secret, bool):
        secret = str(secret)
    elif not isinstance(secret, str):
        return None  # a secret we cannot read must not turn into "no secret needed"
    expiration = value.get("expirationTime")
    if isinstance(expiration, bool) or not isinstance(expiration, (int, float)):
        expiration = 0
    return ClaimInfo(secret, int(expiration), NAME)


class ServerKeyStrategy:
    name = NAME
    order = 20

    def __init__(self, hub):
        self.hub = hub

    async def find(self, device):
        return parse_claiming_data(await self.hub.devices.attribute_value(device, Scope.SERVER, CLAIMING_DATA))

    async def register(self, device, info):
        return None

    async def discard(self, device):
        """Nothing: the claim deletes ``claimingData`` in its own transaction."""


@hookimpl
def register_claim_strategies(hub, register):
    register(ServerKeyStrategy(hub))
