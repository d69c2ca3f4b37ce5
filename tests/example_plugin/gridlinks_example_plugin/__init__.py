"""A third-party plugin: adds the PRE_SHARED_KEY credential type and a ``gridlinks
psk-device`` command, exactly as an outside package would (entry point ``example_psk``
in the ``gridlinks`` group)."""

from __future__ import annotations

import hashlib
import sys

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
        digest = hashlib.sha256(presented.password.encode()).hexdigest()
        found = await self.hub.credentials.lookup(NAME, "psk:" + digest)
        return found[0] if found else None


@hookimpl
def register_credential_types(hub, register):
    register(PreSharedKey(hub))


async def psk_device(hub, args) -> int:
    """``gridlinks psk-device --psk KEY``: which device holds this pre-shared key."""
    found = await hub.credentials.lookup(NAME, "psk:" + hashlib.sha256(args.psk.encode()).hexdigest())
    if not found:
        print("no device holds this key", file=sys.stderr)
        return 1
    print(found[0].name)
    return 0


def _psk_argument(parser):
    parser.add_argument("--psk", required=True, help="the pre-shared key")


@hookimpl
def register_commands(register):
    register("psk-device", psk_device, configure=_psk_argument, help="which device holds a pre-shared key")
