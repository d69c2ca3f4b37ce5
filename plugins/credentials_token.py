"""ACCESS_TOKEN credentials: a device-supplied or server-generated token that the
device presents as the MQTT user name, or in the HTTP / CoAP URL path."""

from __future__ import annotations

import re
from typing import Any

from gridlinks.core import hookimpl
from gridlinks.core.services.tokens import random_alnum
from gridlinks.core.types import (
    CredentialPair,
    CredentialSpec,
    PresentedCredentials,
    ProvisionRefused,
    ProvisionRequest,
)

NAME = "ACCESS_TOKEN"
# A token travels in URL paths and MQTT user names: no separators, no whitespace.
_VALID = re.compile(r"^[A-Za-z0-9._~\-]{1,255}$")


class AccessTokenIssuer:
    """Issues: the token a request asks for, or a generated one."""

    name = NAME

    async def from_request(self, request: ProvisionRequest) -> CredentialSpec:
        token = request.fields.get("token")
        if token is None or token == "":
            token = random_alnum(20)
        elif not _VALID.match(token):
            raise ProvisionRefused("access token must be 1-255 characters of A-Z a-z 0-9 . _ ~ -")
        return CredentialSpec(NAME, token, "")

    def response_value(self, credentials) -> Any:
        return credentials.credentials_id


class AccessTokenAuthenticator:
    """Authenticates: the device whose token was presented."""

    name = NAME

    def __init__(self, hub):
        self.hub = hub

    async def authenticate(self, presented: PresentedCredentials):
        if not presented.token or not _VALID.match(presented.token):
            return None
        found = await self.hub.credentials.lookup(NAME, presented.token)
        return found[0] if found else None


@hookimpl
def register_credential_types(hub, register):
    register(CredentialPair(AccessTokenIssuer(), AccessTokenAuthenticator(hub)))
