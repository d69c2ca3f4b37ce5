"""First-run set-up, safe to repeat: the default tenant, a tenant admin, the default
device profile and a demo profile with provisioning switched on."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gridlinks.core.models import Authority, DeviceProfile, Tenant, User
from gridlinks.core.tokens import random_alnum

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub

DEFAULT_TENANT = "Default tenant"
DEFAULT_ADMIN = "admin@gridlinks.local"
DEMO_PROFILE = "Demo profile"
PASSWORD_FILE = "admin-password.txt"


@dataclass
class BootstrapResult:
    tenant: Tenant
    admin_email: str
    admin_password: str | None
    demo_profile: DeviceProfile
    created: bool


async def default_tenant(hub: "Hub") -> Tenant:
    tenant = await Tenant.filter(name=DEFAULT_TENANT).first()
    return tenant or await Tenant.create(name=DEFAULT_TENANT)


async def bootstrap(hub: "Hub", admin_email: str | None = None, admin_password: str | None = None) -> BootstrapResult:
    tenant = await default_tenant(hub)
    created = False
    email = (admin_email or DEFAULT_ADMIN).lower()
    password_file = hub.settings.data_dir / PASSWORD_FILE
    user = await User.get_or_none(email=email)
    if user is None:
        password = admin_password or random_alnum(16)
        await hub.auth.create_user(email, password, Authority.TENANT_ADMIN, tenant)
        if not admin_password:
            # A generated password is kept (owner-only) so `make run` can show it again.
            fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")
        created = True
    else:
        password = admin_password if admin_password else (
            password_file.read_text().strip() if password_file.exists() else None)
        if admin_password and not await hub.auth.verify_password(user.password_hash, admin_password):
            user.password_hash = await hub.auth.hash_password(admin_password)
            await user.save(update_fields=["password_hash"])
    if not await DeviceProfile.filter(tenant=tenant, is_default=True).exists():
        await hub.profiles.create(tenant, "default", is_default=True)
    demo = await DeviceProfile.get_or_none(tenant=tenant, name=DEMO_PROFILE)
    if demo is None:
        demo = await hub.profiles.create(tenant, DEMO_PROFILE, "ALLOW_CREATE_NEW_DEVICES")
    return BootstrapResult(tenant, email, password, demo, created)
