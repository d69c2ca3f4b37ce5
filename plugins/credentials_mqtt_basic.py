"""MQTT_BASIC credentials: client id / user name / password, with the reference's rules:
at least one of client id and user name; a password needs a user name. The pair
(client id, user name) is unique. A device connecting with both is matched on both,
then on client id alone, then on user name alone; a stored password must match
(constant time)."""

from __future__ import annotations

import json
from typing import Any

from gridlinks.core import hookimpl
from gridlinks.core.services.tokens import secrets_equal
from gridlinks.core.types import (
    CredentialPair,
    CredentialSpec,
    PresentedCredentials,
    ProvisionRefused,
    ProvisionRequest,
)

NAME = "MQTT_BASIC"
MAX_LENGTH = 200


def identity(client_id: str | None, username: str | None) -> str:
    return "mqtt:" + json.dumps([client_id or "", username or ""], separators=(",", ":"))


class MqttBasicIssuer:
    """Issues: the client id / user name / password a request asks for."""

    name = NAME

    async def from_request(self, request: ProvisionRequest) -> CredentialSpec:
        f = request.fields
        client_id, username, password = f.get("clientId") or "", f.get("username") or "", f.get("password") or ""
        if not client_id and not username:
            raise ProvisionRefused("MQTT_BASIC needs a clientId or a username")
        if password and not username:
            raise ProvisionRefused("MQTT_BASIC password needs a username")
        if any(len(v) > MAX_LENGTH for v in (client_id, username, password)):
            raise ProvisionRefused(f"MQTT_BASIC fields are at most {MAX_LENGTH} characters")
        value = json.dumps({"clientId": client_id or None, "userName": username or None,
                            "password": password or None})
        return CredentialSpec(NAME, identity(client_id, username), value)

    def response_value(self, credentials) -> Any:
        stored = json.loads(credentials.credentials_value or "{}")
        return {"clientId": stored.get("clientId"), "userName": stored.get("userName"),
                "password": stored.get("password")}


class MqttBasicAuthenticator:
    """Authenticates: the device an MQTT CONNECT's client id / user name / password belong to."""

    name = NAME

    def __init__(self, hub):
        self.hub = hub

    async def authenticate(self, presented: PresentedCredentials):
        client_id, username = presented.client_id or "", presented.username or ""
        candidates = []
        if client_id and username:
            candidates.append(identity(client_id, username))
        if client_id:
            candidates.append(identity(client_id, None))
        if username:
            candidates.append(identity(None, username))
        for candidate in candidates:
            found = await self.hub.credentials.lookup(NAME, candidate)
            if found is None:
                continue
            device, row = found
            expected = json.loads(row.credentials_value or "{}").get("password")
            if expected and not secrets_equal(presented.password or "", expected):
                return None
            return device
        return None


@hookimpl
def register_credential_types(hub, register):
    register(CredentialPair(MqttBasicIssuer(), MqttBasicAuthenticator(hub)))
