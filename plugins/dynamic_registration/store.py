"""Device secrets: issuing, checking, setting and forgetting them.

Policy (the seed's, and what deployed clouds do): the first password request of a
whitelisted device generates its secret; until the device first logs in with it
(authmode 1) every request gets that same secret again, since a device that lost the
reply must be able to ask again. From that first login on the plaintext is gone and
requests are refused until an admin resets the device. A STATIC secret, set by an
admin, is for authmode 1 only and is never handed out over MQTT.

Secrets are stored as a salted SHA-256 and compared in constant time. A fast digest is
enough for what the hub generates (20 random alphanumerics, about 119 bits), which is
also why no executor is needed; admin-chosen static secrets must be at least
``MIN_STATIC_LENGTH`` characters. Writes go through the hub's write path
(``hub.storage.write``), so each change is one atomic unit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from gridlinks.core.errors import BadRequest, Conflict
from gridlinks.core.services.tokens import random_alnum, secrets_equal
from gridlinks.core.storage.models import Device, now_ms
from gridlinks.core.storage.writes import Delete, Insert, NoRowMatched, Update, Upsert
from gridlinks.plugins.dynamic_registration.models import DYNAMIC, STATIC, DeviceSecret

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub

SECRET_LENGTH = 20
MIN_STATIC_LENGTH = 8
MAX_SECRET_LENGTH = 255
_SCHEME = "sha256"


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.sha256(salt + secret.encode("utf-8")).hexdigest()
    return f"{_SCHEME}:{salt.hex()}:{digest}"


def secret_matches(secret: str | None, stored: str) -> bool:
    scheme, _, rest = stored.partition(":")
    salt_hex, _, _ = rest.partition(":")
    if secret is None or scheme != _SCHEME:
        return False
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    return secrets_equal(hash_secret(secret, salt), stored)


def check_static_secret(secret: str) -> str:
    if not isinstance(secret, str) or not MIN_STATIC_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        raise BadRequest(f"a device secret must be {MIN_STATIC_LENGTH} to {MAX_SECRET_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in secret):
        raise BadRequest("a device secret may not contain spaces or control characters")
    return secret


class NothingToIssue(Exception):
    """The device has a secret the hub will not send: activated (DYNAMIC) or STATIC."""

    def __init__(self, mode: str):
        super().__init__(mode)
        self.mode = mode


@dataclass(frozen=True)
class Issued:
    secret: str
    resent: bool


class SecretStore:
    def __init__(self, hub: Hub):
        self.hub = hub

    async def issue(self, device: Device) -> Issued:
        """The secret for a password request; raises :class:`NothingToIssue`."""
        row = await DeviceSecret.get_or_none(device_id=device.id)
        if row is None:
            secret = random_alnum(SECRET_LENGTH)
            try:
                await self.hub.storage.write([Insert(DeviceSecret, {
                    "device_id": device.id, "mode": DYNAMIC, "secret_hash": hash_secret(secret),
                    "pending_secret": secret, "issued_ms": now_ms()})])
                return Issued(secret, resent=False)
            except IntegrityError:  # a concurrent request of the same device won: send its secret
                row = await DeviceSecret.get_or_none(device_id=device.id)
                if row is None:
                    raise Conflict("the device's registration changed meanwhile; ask again") from None
        if row.mode != DYNAMIC or row.pending_secret is None:
            raise NothingToIssue(row.mode)
        return Issued(row.pending_secret, resent=True)

    async def verify(self, device: Device, secret: str | None) -> str | None:
        """None if ``secret`` is not the device's; "activated" on the first login with a
        DYNAMIC secret (which drops its plaintext), else "ok"."""
        row = await DeviceSecret.get_or_none(device_id=device.id)
        if row is None or not secret_matches(secret, row.secret_hash):
            return None
        if row.activated_ms is not None:
            return "ok"
        try:  # guarded: of two first logins racing on two nodes, one activates
            await self.hub.storage.write([Update(DeviceSecret, {"pending_secret": None, "activated_ms": now_ms()},
                                                 {"id": row.id}, where_null=("activated_ms",), guard=True)])
        except NoRowMatched:
            return "ok"
        return "activated"

    async def set_static(self, device: Device, secret: str | None) -> str:
        """Give the device an admin-chosen (or generated) secret for authmode 1,
        replacing whatever it had; returns the secret (the only time it is readable)."""
        secret = check_static_secret(secret) if secret is not None else random_alnum(SECRET_LENGTH)
        await self.hub.storage.write([Upsert(
            DeviceSecret, {"device_id": device.id, "mode": STATIC, "secret_hash": hash_secret(secret),
                           "pending_secret": None, "issued_ms": now_ms(), "activated_ms": None},
            conflict=("device_id",), update=("mode", "secret_hash", "pending_secret", "issued_ms", "activated_ms"))])
        return secret

    async def reset(self, device: Device) -> bool:
        """Forget the device's secret, so it may ask for a new one; False if it had none."""
        existed = await DeviceSecret.filter(device_id=device.id).exists()
        await self.hub.storage.write([Delete(DeviceSecret, {"device_id": device.id})])
        return existed

    async def state(self, device: Device) -> dict[str, Any]:
        """Where the device stands, for people (never the secret itself)."""
        row = await DeviceSecret.get_or_none(device_id=device.id)
        if row is None:
            state = "NONE"
        elif row.mode == STATIC:
            state = "STATIC"
        else:
            state = "ACTIVATED" if row.activated_ms is not None else "ISSUED"
        return {"state": state, "issuedTime": row.issued_ms if row else None,
                "activatedTime": row.activated_ms if row else None}

    async def counts(self, profile_id: Any) -> dict[str, int]:
        devices = await Device.filter(profile_id=profile_id).count()
        rows = DeviceSecret.filter(device__profile_id=profile_id)
        return {"whitelisted": devices, "withSecret": await rows.count(),
                "activated": await rows.filter(activated_ms__isnull=False).count()}
