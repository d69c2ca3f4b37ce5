"""Device profiles: where provisioning is configured (strategy, key, secret).

Key and secret are 20 random alphanumerics unless given. The key is unique across all
profiles, enforced by the database; a duplicate gets the reference's message.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from gridlinks.core.errors import BadRequest, Conflict, NotFound
from gridlinks.core.events import ClusterResynced, ProfileDeleted, ProfileSaved, ProfileSecretRotated
from gridlinks.core.services.conflicts import DUPLICATE_PROFILE_KEY, DUPLICATE_PROFILE_NAME
from gridlinks.core.services.provision_policy import SECRET_ROTATION, normalize, public_config, rotation_config
from gridlinks.core.services.tokens import random_alnum
from gridlinks.core.storage.models import Device, DeviceProfile, Tenant
from gridlinks.core.storage.paging import Page, page_of

if TYPE_CHECKING:
    from gridlinks.core.bus import EventBus
    from gridlinks.core.registry import Registry
    from gridlinks.core.types import ProvisionStrategy

DUPLICATE_KEY = DUPLICATE_PROFILE_KEY
DUPLICATE_NAME = DUPLICATE_PROFILE_NAME
DISABLED = "DISABLED"
PROVISION_KEY_MAX = DeviceProfile._meta.fields_map["provision_key"].max_length
# provisionConfiguration member: may a provision request create a gateway in this profile?
ALLOW_GATEWAYS = "allowGateways"


def allows_gateways(profile: DeviceProfile) -> bool:
    """Whether ``"gateway": true`` in a provision request through ``profile`` is honoured.

    A gateway may register claim info for the devices bound to it, so being one is a
    privilege the tenant grants per profile (off by default), not something any holder
    of a provision key may ask for. Only an explicit JSON ``true`` counts."""
    return (profile.provision_config or {}).get(ALLOW_GATEWAYS) is True


class ProfileService:
    def __init__(self, provision_strategies: Registry[ProvisionStrategy], bus: EventBus, cache_s: float):
        self.provision_strategies = provision_strategies
        self.bus = bus
        self.cache_s = cache_s
        # provision key -> (expiry, profile). Every provisioning request starts with this
        # lookup; changes made by this process drop the cache at once, and so do changes
        # made on another hub node (its ProfileSaved arrives over the cluster bus); a
        # process with no bus link (the CLI) is seen within ``profile_cache_s``.
        self._by_key: dict[str, tuple[float, DeviceProfile]] = {}
        bus.listen(ProfileSaved, lambda _event: self._forget())
        bus.listen(ClusterResynced, lambda _event: self._forget())  # changes this node may have missed

    async def by_provision_key(self, key: str) -> DeviceProfile | None:
        if len(key) > PROVISION_KEY_MAX:
            return None  # longer than the column: no profile has it (and the query would be refused)
        now = time.monotonic()
        hit = self._by_key.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        profile = await DeviceProfile.get_or_none(provision_key=key)
        ttl = self.cache_s
        if profile is not None and ttl > 0:
            if len(self._by_key) > 10_000:
                self._by_key.clear()
            self._by_key[key] = (now + ttl, profile)
        return profile

    def _forget(self) -> None:
        self._by_key.clear()

    def _check_type(self, provision_type: str) -> None:
        if provision_type not in self.provision_strategies:
            raise BadRequest(f"unknown provisionType {provision_type!r} "
                             f"(enabled: {', '.join(self.provision_strategies.names())})")

    def _derive(self, provision_type: str, key: str | None, secret: str | None) -> tuple[str | None, str | None]:
        """Fill in key/secret: generated when absent, or derived by the strategy
        (the X.509 chain strategy's key is the hash of its certificate)."""
        strategy = self.provision_strategies.get(provision_type)
        derive = getattr(strategy, "derive_key", None)
        if derive is not None:
            key = derive(secret)
        if provision_type == DISABLED:
            return key or None, secret or None
        return key or random_alnum(), secret or random_alnum()

    async def create(self, tenant: Tenant, name: str, provision_type: str = DISABLED, key: str | None = None,
                     secret: str | None = None, config: dict[str, Any] | None = None,
                     description: str = "", is_default: bool = False) -> DeviceProfile:
        name = (name or "").strip()
        if not name:
            raise BadRequest("a device profile needs a name")
        self._check_type(provision_type)
        config = normalize(dict(config or {}))
        key, secret = self._derive(provision_type, key, secret)
        if await DeviceProfile.filter(tenant=tenant, name=name).exists():
            raise Conflict(DUPLICATE_NAME)
        try:
            profile = await DeviceProfile.create(tenant=tenant, name=name, provision_type=provision_type,
                                                 provision_key=key, provision_secret=secret,
                                                 provision_config=config, description=description,
                                                 is_default=is_default)
        except IntegrityError:
            raise Conflict(self._which_duplicate(key)) from None
        self._forget()
        await self.bus.fire(ProfileSaved(profile_id=str(profile.id), profile=profile.name,
                                         tenant_id=str(profile.tenant_id)))
        return profile

    @staticmethod
    def _which_duplicate(key: str | None) -> str:
        return DUPLICATE_KEY if key else DUPLICATE_NAME

    async def update(self, profile: DeviceProfile, *, name: str | None = None, provision_type: str | None = None,
                     key: str | None = None, secret: str | None = None, config: dict[str, Any] | None = None,
                     description: str | None = None) -> DeviceProfile:
        if provision_type is not None:
            self._check_type(provision_type)
            profile.provision_type = provision_type
        if name is not None:
            if not name.strip():
                raise BadRequest("a device profile needs a name")
            profile.name = name.strip()
        if description is not None:
            profile.description = description
        if config is not None:
            profile.provision_config = normalize(dict(config), profile.provision_config)
        before = profile.provision_secret
        profile.provision_key, profile.provision_secret = self._derive(
            profile.provision_type, key or profile.provision_key, secret or profile.provision_secret)
        if profile.provision_secret != before and SECRET_ROTATION in (profile.provision_config or {}):
            # A secret replaced outright (not rotated): the rotation's old secret stops too.
            profile.provision_config = {k: v for k, v in profile.provision_config.items() if k != SECRET_ROTATION}
        try:
            await profile.save()
        except IntegrityError:
            raise Conflict(DUPLICATE_KEY if await DeviceProfile.filter(
                provision_key=profile.provision_key).exclude(id=profile.id).exists() else DUPLICATE_NAME) from None
        self._forget()
        await self.bus.fire(ProfileSaved(profile_id=str(profile.id), profile=profile.name,
                                         tenant_id=str(profile.tenant_id)))
        return profile

    async def rotate_secret(self, profile: DeviceProfile, *, finish: bool = False, expire_after_ms: int | None = None,
                            new_secret: str | None = None, actor: str = "") -> DeviceProfile:
        """A secret rotation step (provision_policy.rotation_config): start one (a new
        secret; the old one keeps working beside it), set when the old one expires, or
        finish it. Audited as ``profile_secret_rotated``."""
        secret, config = rotation_config(profile, finish=finish, expire_after_ms=expire_after_ms,
                                         new_secret=new_secret)
        started = secret != profile.provision_secret
        profile.provision_secret, profile.provision_config = secret, config
        await profile.save(update_fields=["provision_secret", "provision_config"])
        self._forget()
        rotation = config.get(SECRET_ROTATION) or {}
        step = "finished" if finish else "started" if started else "expiry"
        await self.bus.fire(ProfileSecretRotated(outcome="SUCCESS", tenant_id=str(profile.tenant_id),
                                                 profile_id=str(profile.id), profile=profile.name, step=step,
                                                 actor=actor, previous_expires_ms=rotation.get("expiresAt")))
        await self.bus.fire(ProfileSaved(profile_id=str(profile.id), profile=profile.name,
                                         tenant_id=str(profile.tenant_id)))
        return profile

    async def get(self, tenant_id: uuid.UUID | None, profile_id: Any) -> DeviceProfile:
        try:
            pid = uuid.UUID(str(profile_id))
        except ValueError:
            raise NotFound("Requested item wasn't found!") from None
        q = DeviceProfile.filter(id=pid)
        if tenant_id is not None:
            q = q.filter(tenant_id=tenant_id)
        profile = await q.first()
        if profile is None:
            raise NotFound("Requested item wasn't found!")
        return profile

    async def by_name(self, tenant: Tenant, name: str) -> DeviceProfile:
        profile = await DeviceProfile.get_or_none(tenant=tenant, name=name)
        if profile is None:
            raise NotFound(f"no device profile named {name!r}")
        return profile

    async def delete(self, profile: DeviceProfile) -> None:
        if await Device.filter(profile_id=profile.id).exists():
            raise BadRequest("The device profile referenced by the devices cannot be deleted!")
        await profile.delete()
        self._forget()
        await self.bus.fire(ProfileDeleted(profile_id=str(profile.id), profile=profile.name,
                                           tenant_id=str(profile.tenant_id)))

    async def page(self, tenant_id: uuid.UUID, page: int, page_size: int, text_search: str | None) -> Page:
        q = DeviceProfile.filter(tenant_id=tenant_id)
        if text_search:
            q = q.filter(name__icontains=text_search)
        return await page_of(q.order_by("name"), page, page_size)

    @staticmethod
    def to_json(profile: DeviceProfile) -> dict[str, Any]:
        provision_configuration = {"type": profile.provision_type,
                                   "provisionDeviceSecret": profile.provision_secret,
                                   **public_config(profile.provision_config or {})}
        return {
            "id": {"entityType": "DEVICE_PROFILE", "id": str(profile.id)},
            "createdTime": profile.created_ms,
            "tenantId": {"entityType": "TENANT", "id": str(profile.tenant_id)},
            "name": profile.name,
            "description": profile.description,
            "type": "DEFAULT",
            "transportType": "DEFAULT",
            "provisionType": profile.provision_type,
            "provisionDeviceKey": profile.provision_key,
            "default": profile.is_default,
            "profileData": {
                "configuration": {"type": "DEFAULT"},
                "transportConfiguration": {"type": "DEFAULT"},
                "provisionConfiguration": provision_configuration,
            },
        }

    @staticmethod
    def from_json(body: Any) -> dict[str, Any]:
        """The create/update arguments a reference-shaped profile JSON asks for."""
        if not isinstance(body, dict):
            raise BadRequest("device profile must be a JSON object")
        prov = ((body.get("profileData") or {}).get("provisionConfiguration") or {})
        if not isinstance(prov, dict):
            raise BadRequest("profileData.provisionConfiguration must be an object")
        provision_type = body.get("provisionType") or prov.get("type") or DISABLED
        extra = {k: v for k, v in prov.items() if k not in ("type", "provisionDeviceSecret", SECRET_ROTATION)}
        for field in ("name", "provisionDeviceKey", "description"):
            if body.get(field) is not None and not isinstance(body[field], str):
                raise BadRequest(f"{field} must be a string")
        secret = prov.get("provisionDeviceSecret")
        if secret is not None and not isinstance(secret, str):
            raise BadRequest("provisionDeviceSecret must be a string")
        if extra.get(ALLOW_GATEWAYS) is None:
            extra.pop(ALLOW_GATEWAYS, None)
        elif not isinstance(extra[ALLOW_GATEWAYS], bool):
            raise BadRequest(f"{ALLOW_GATEWAYS} must be true or false")
        return {"name": body.get("name"), "provision_type": provision_type, "key": body.get("provisionDeviceKey"),
                "secret": secret, "config": extra, "description": body.get("description")}
