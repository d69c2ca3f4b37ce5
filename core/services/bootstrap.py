"""First-run set-up by ``gridlinks init``, safe to repeat: the default tenant and its
default device profile, exactly the tenant admin the operator names, and - only when
asked for - a demo profile with provisioning switched on.

Secrets are shown once: a generated admin password and the demo profile's secret are in
the result only on the run that created them (``gridlinks run`` calls none of this, so
starting the hub never creates an account nor prints a secret). Nothing is kept on disk
to show them again: a lost password is replaced with ``init --admin-email E
--admin-password P``, which also ends that admin's sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.tokens import random_alnum
from gridlinks.core.storage.models import Authority, DeviceProfile, Tenant, User

if TYPE_CHECKING:
    from gridlinks.core.services.auth import AuthService
    from gridlinks.core.services.profiles import ProfileService


class InitServices(Protocol):
    """What init uses of the hub (its callers pass the hub itself): typed here so that
    this module need not import the hub, which would close an import cycle."""

    profiles: ProfileService
    auth: AuthService


DEFAULT_TENANT = "Default tenant"
DEFAULT_ADMIN = "admin@gridlinks.local"
DEMO_PROFILE = "Demo profile"
ADMINS = (Authority.TENANT_ADMIN, Authority.SYS_ADMIN)


@dataclass
class BootstrapResult:
    tenant: Tenant
    # The admin this run created or was given; None when init was re-run without one.
    admin_email: str | None
    # Only a password this run generated (printed once), never one the operator gave.
    admin_password: str | None
    # The demo profile when asked for (``demo=True``), else None.
    demo_profile: DeviceProfile | None
    # True if this run created the admin / the demo profile (its secret is new).
    created: bool
    demo_created: bool = False
    password_changed: bool = False


async def default_tenant(hub: object = None) -> Tenant:
    """The one tenant (``hub`` is accepted for the callers' sake; the database is the truth)."""
    tenant = await Tenant.filter(name=DEFAULT_TENANT).first()
    return tenant or await Tenant.create(name=DEFAULT_TENANT)


async def bootstrap(hub: InitServices, admin_email: str | None = None, admin_password: str | None = None,
                    demo: bool = False) -> BootstrapResult:
    """``admin_email``: that tenant admin is created (with ``admin_password``, or a
    generated one) if missing; given a password that differs, it is reset. Without an
    e-mail, one admin (:data:`DEFAULT_ADMIN`, generated password) is created only if the
    hub has no admin at all - so only the first init ever makes one."""
    tenant = await default_tenant(hub)
    if not await DeviceProfile.filter(tenant=tenant, is_default=True).exists():
        await hub.profiles.create(tenant, "default", is_default=True)
    email, generated, created, changed = await _ensure_admin(hub, tenant, admin_email, admin_password)
    profile, demo_created = None, False
    if demo:
        profile = await DeviceProfile.get_or_none(tenant=tenant, name=DEMO_PROFILE)
        if profile is None:
            profile = await hub.profiles.create(tenant, DEMO_PROFILE, "ALLOW_CREATE_NEW_DEVICES")
            demo_created = True
    return BootstrapResult(tenant, email, generated, profile, created, demo_created, changed)


async def _ensure_admin(hub: InitServices, tenant: Tenant, admin_email: str | None,
                        admin_password: str | None) -> tuple[str | None, str | None, bool, bool]:
    """(e-mail, generated password, created, password changed)."""
    if admin_email is None:
        if await User.filter(authority__in=ADMINS).exists():
            return None, None, False, False
        admin_email = DEFAULT_ADMIN
    email = admin_email.strip().lower()
    user = await User.get_or_none(email=email)
    if user is None:
        password = admin_password or random_alnum(16)
        await hub.auth.create_user(email, password, Authority.TENANT_ADMIN, tenant)
        return email, None if admin_password else password, True, False
    if user.authority not in ADMINS:
        raise BadRequest(f"{email} is a {user.authority}, not a tenant admin")
    if admin_password and not await hub.auth.verify_password(user.password_hash, admin_password):
        user.password_hash = await hub.auth.hash_password(admin_password)
        await user.save(update_fields=["password_hash"])
        # A reset password is how a lost or leaked one is replaced: old sign-ins end too.
        await hub.auth.revoke_sessions(user, actor="gridlinks init")
        return email, None, False, True
    return email, None, False, False
