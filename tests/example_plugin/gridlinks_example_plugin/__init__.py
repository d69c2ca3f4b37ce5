"""A third-party plugin: adds the PRE_SHARED_KEY credential type, exactly as an outside
package would (entry point ``example_psk`` in the ``gridlinks`` group)."""

from __future__ import annotations

import hashlib

from gridlinks.core import hookimpl
from gridlinks.core.types import CredentialSpec, PresentedCredentials, ProvisionRefused

NAME = "PRE_SHARED_KEY"


class PreSharedKey:
    name = NAME

    def __init__(self, hub):
        self.hub = hub

    async def from_request(self, request):
        psk = request.fields.get("psk") or ""
        if len(psk) < 8:
            raise ProvisionRefused("psk needs at least 8 characters")
        return CredentialSpec(NAME, "psk:" + hashlib.sha256(psk.encode()).hexdigest(), "")

    def response_value(self, credentials):
        return {"pskId": credentials.credentials_id}

    async def authenticate(self, presented: PresentedCredentials):
        if not presented.password or presented.username != "psk":
            return None
        found = await self.hub.credentials.lookup(NAME, "psk:" + hashlib.sha256(presented.password.encode()).hexdigest())
        return found[0] if found else None


@hookimpl
def register_credential_types(hub, register):
    register(PreSharedKey(hub))
