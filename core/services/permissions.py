"""Who may do what: operations on resources, granted by authority defaults and by
roles given to user groups (the seeds' PE model: "create a generic role with DEVICE /
CLAIM_DEVICES, assign the role to a user group").

Authority defaults: a tenant admin may do everything in their tenant; a customer user
may claim devices (``claim.customer_users_can_claim``, on by default); a system
administrator manages tenants, not devices. Anything more is a role granted to a
group the user belongs to, always within the user's own tenant.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from gridlinks.core.errors import BadRequest, Conflict, Forbidden, NotFound
from gridlinks.core.services.customers import NOT_FOUND, entity_id, one
from gridlinks.core.storage.models import Authority, Customer, Tenant, User
from gridlinks.core.storage.permission_models import Role, UserGroup

if TYPE_CHECKING:
    from gridlinks.core.config import ClaimSettings
    from gridlinks.core.services.auth import Principal

PERMISSION_DENIED = "You don't have permission to perform this operation!"
ALL = "ALL"


class Resource:
    DEVICE = "DEVICE"
    DEVICE_PROFILE = "DEVICE_PROFILE"
    CUSTOMER = "CUSTOMER"
    USER = "USER"
    KNOWN = (ALL, DEVICE, DEVICE_PROFILE, CUSTOMER, USER)


class Operation:
    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DELETE = "DELETE"
    CLAIM_DEVICES = "CLAIM_DEVICES"
    KNOWN = (ALL, READ, WRITE, CREATE, DELETE, CLAIM_DEVICES)


Grants = dict[str, set[str]]


def parse_permissions(raw: Any) -> dict[str, list[str]]:
    """A role's ``{"RESOURCE": ["OPERATION", ...]}`` checked against the known names, so a
    typo fails loudly instead of granting nothing."""
    if not isinstance(raw, dict):
        raise BadRequest('permissions must be an object like {"DEVICE": ["CLAIM_DEVICES"]}')
    out: dict[str, list[str]] = {}
    for resource, operations in raw.items():
        if resource not in Resource.KNOWN:
            raise BadRequest(f"unknown resource {resource!r} (known: {', '.join(Resource.KNOWN)})")
        if not isinstance(operations, list) or not all(isinstance(op, str) for op in operations):
            raise BadRequest(f"permissions for {resource} must be a list of operation names")
        for op in operations:
            if op not in Operation.KNOWN:
                raise BadRequest(f"unknown operation {op!r} (known: {', '.join(Operation.KNOWN)})")
        out[resource] = sorted(set(operations))
    return out


def _allows(grants: Grants, resource: str, operation: str) -> bool:
    return any(op in grants.get(res, ()) for res in (resource, ALL) for op in (operation, ALL))


class PermissionService:
    def __init__(self, claim_settings: ClaimSettings):
        self.claim_settings = claim_settings

    def defaults(self, authority: str) -> Grants:
        if authority == Authority.TENANT_ADMIN:
            return {ALL: {ALL}}
        if authority == Authority.CUSTOMER_USER and self.claim_settings.customer_users_can_claim:
            return {Resource.DEVICE: {Operation.CLAIM_DEVICES}}
        return {}

    async def grants(self, who: Principal) -> Grants:
        grants = {res: set(ops) for res, ops in self.defaults(who.authority).items()}
        if who.tenant_id is None:
            return grants
        roles = await Role.filter(tenant_id=who.tenant_id, user_groups__users__id=who.user_id).distinct()
        for role in roles:
            for resource, operations in (role.permissions or {}).items():
                grants.setdefault(resource, set()).update(operations)
        return grants

    async def allows(self, who: Principal, resource: str, operation: str) -> bool:
        # Roles only ever add grants: what the authority's defaults allow needs no role look-up
        # (a customer user's claim, everything a tenant admin does), so no read and nothing to go stale.
        if _allows(self.defaults(who.authority), resource, operation):
            return True
        return _allows(await self.grants(who), resource, operation)

    async def require(self, who: Principal, resource: str, operation: str) -> None:
        if not await self.allows(who, resource, operation):
            raise Forbidden(PERMISSION_DENIED)

    # -- roles and groups (tenant admins) ----------------------------------------------

    async def create_role(self, tenant: Tenant, name: str, permissions: Any) -> Role:
        name = (name or "").strip()
        if not name:
            raise BadRequest("a role needs a name")
        try:
            return await Role.create(tenant=tenant, name=name, permissions=parse_permissions(permissions))
        except IntegrityError:
            raise Conflict(f"a role named {name!r} already exists") from None

    async def create_group(self, tenant: Tenant, name: str, customer: Customer | None = None) -> UserGroup:
        name = (name or "").strip()
        if not name:
            raise BadRequest("a user group needs a name")
        if customer is not None and customer.tenant_id != tenant.id:
            raise NotFound(NOT_FOUND)
        try:
            return await UserGroup.create(tenant=tenant, name=name, customer=customer)
        except IntegrityError:
            raise Conflict(f"a user group named {name!r} already exists") from None

    @staticmethod
    async def roles(tenant_id: uuid.UUID) -> list[Role]:
        return list(await Role.filter(tenant_id=tenant_id).order_by("name"))

    @staticmethod
    async def groups(tenant_id: uuid.UUID) -> list[UserGroup]:
        return list(await UserGroup.filter(tenant_id=tenant_id).order_by("name"))

    async def role(self, tenant_id: uuid.UUID, ref: Any) -> Role:
        return await one(Role, id=entity_id(ref), tenant_id=tenant_id)

    async def group(self, tenant_id: uuid.UUID, ref: Any) -> UserGroup:
        return await one(UserGroup, id=entity_id(ref), tenant_id=tenant_id)

    async def role_by_name(self, tenant_id: uuid.UUID, name: str) -> Role:
        return await one(Role, f"no role named {name!r}", tenant_id=tenant_id, name=name)

    async def group_by_name(self, tenant_id: uuid.UUID, name: str) -> UserGroup:
        return await one(UserGroup, f"no user group named {name!r}", tenant_id=tenant_id, name=name)

    async def add_users(self, group: UserGroup, users: list[User]) -> None:
        for user in users:
            if user.tenant_id != group.tenant_id:
                raise NotFound(NOT_FOUND)
            if group.customer_id is not None and user.customer_id != group.customer_id:
                raise BadRequest(f"user {user.email} does not belong to this group's customer")
        new = [u for u in users if not await group.users.filter(id=u.id).exists()]
        if new:
            await group.users.add(*new)

    async def remove_users(self, group: UserGroup, users: list[User]) -> None:
        if users:
            await group.users.remove(*users)

    async def grant(self, group: UserGroup, role: Role) -> None:
        if role.tenant_id != group.tenant_id:
            raise NotFound(NOT_FOUND)
        if not await group.roles.filter(id=role.id).exists():
            await group.roles.add(role)

    async def revoke(self, group: UserGroup, role: Role) -> None:
        await group.roles.remove(role)

    @staticmethod
    def role_json(role: Role) -> dict[str, Any]:
        return {"id": {"entityType": "ROLE", "id": str(role.id)}, "createdTime": role.created_ms,
                "tenantId": {"entityType": "TENANT", "id": str(role.tenant_id)}, "name": role.name,
                "type": "GENERIC", "permissions": role.permissions}

    @staticmethod
    async def group_json(group: UserGroup) -> dict[str, Any]:
        users = await group.users.all().order_by("email")
        roles = await group.roles.all().order_by("name")
        return {"id": {"entityType": "ENTITY_GROUP", "id": str(group.id)}, "createdTime": group.created_ms,
                "name": group.name, "type": "USER",
                "customerId": {"entityType": "CUSTOMER", "id": str(group.customer_id)} if group.customer_id else None,
                "userIds": [str(u.id) for u in users], "roleIds": [str(r.id) for r in roles]}
