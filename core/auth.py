"""People: password hashing (argon2, off the event loop), login, JWTs.

Tokens are HS256 JWTs carrying the user id, authority, tenant and customer, like the
reference's, so ``X-Authorization: Bearer <jwt>`` works for existing REST clients.
The signing key comes from ``auth.jwt_secret`` or is generated once into
``data_dir/jwt.secret`` (mode 0600) so logins survive restarts.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gridlinks.core.errors import BadRequest, Conflict, Unauthorized
from gridlinks.core.models import Authority, Customer, Tenant, User

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub

_hasher = PasswordHasher()
# Verifying against this keeps an unknown e-mail as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True)
class Principal:
    """Who is calling the admin API."""

    user_id: uuid.UUID
    email: str
    authority: str
    tenant_id: uuid.UUID | None
    customer_id: uuid.UUID | None

    @property
    def is_tenant_admin(self) -> bool:
        return self.authority in (Authority.TENANT_ADMIN, Authority.SYS_ADMIN)


class AuthService:
    def __init__(self, hub: "Hub"):
        self.hub = hub
        self._key: str | None = None

    def load_signing_key(self) -> None:
        configured = self.hub.settings.auth.jwt_secret
        if configured:
            self._key = configured
            return
        path = self.hub.settings.data_dir / "jwt.secret"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        self._key = path.read_text().strip()

    # -- passwords ----------------------------------------------------------------

    @staticmethod
    async def hash_password(password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(None, _hasher.hash, password)

    @staticmethod
    async def verify_password(password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return _hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.get_running_loop().run_in_executor(None, check)

    async def create_user(self, email: str, password: str, authority: str, tenant: Tenant | None,
                          customer: Customer | None = None) -> User:
        email = (email or "").strip().lower()
        if "@" not in email:
            raise BadRequest("a user needs a valid e-mail address")
        if not password or len(password) < 6:
            raise BadRequest("a password needs at least 6 characters")
        if authority not in Authority.ALL:
            raise BadRequest(f"unknown authority {authority!r}")
        if authority == Authority.CUSTOMER_USER and customer is None:
            raise BadRequest("a customer user needs a customer")
        if await User.filter(email=email).exists():
            raise Conflict(f"a user with e-mail {email} already exists")
        return await User.create(email=email, password_hash=await self.hash_password(password),
                                 authority=authority, tenant=tenant, customer=customer)

    # -- login and tokens ----------------------------------------------------------

    async def login(self, username: str, password: str) -> dict[str, str]:
        user = await User.get_or_none(email=(username or "").strip().lower())
        ok = await self.verify_password(user.password_hash if user else _DUMMY_HASH, password or "")
        if user is None or not ok or not user.enabled:
            raise Unauthorized("Invalid username or password")
        await self.hub.bus.fire("user_login", {"outcome": "SUCCESS", "actor": user.email,
                                               "tenant_id": user.tenant_id})
        return self.issue_tokens(user)

    def issue_tokens(self, user: User) -> dict[str, str]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": user.email, "userId": str(user.id), "scopes": [user.authority],
            "tenantId": str(user.tenant_id) if user.tenant_id else None,
            "customerId": str(user.customer_id) if user.customer_id else None,
            "iat": now, "iss": "gridlinks",
        }
        auth = self.hub.settings.auth
        token = jwt.encode({**claims, "exp": now + auth.token_ttl_s}, self._key, algorithm="HS256")
        refresh = jwt.encode({**claims, "exp": now + auth.refresh_token_ttl_s, "typ": "refresh"},
                             self._key, algorithm="HS256")
        return {"token": token, "refreshToken": refresh}

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            return jwt.decode(token, self._key, algorithms=["HS256"], issuer="gridlinks")
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Token has expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("Authentication failed") from None

    async def principal(self, token: str) -> Principal:
        claims = self._decode(token)
        if claims.get("typ") == "refresh":
            raise Unauthorized("Authentication failed")
        return await self._principal_for(claims)

    async def refresh(self, refresh_token: str) -> dict[str, str]:
        claims = self._decode(refresh_token)
        if claims.get("typ") != "refresh":
            raise Unauthorized("Authentication failed")
        user = await User.get_or_none(id=claims.get("userId"))
        if user is None or not user.enabled:
            raise Unauthorized("Authentication failed")
        return self.issue_tokens(user)

    async def _principal_for(self, claims: dict[str, Any]) -> Principal:
        # The user is re-read so that a disabled or deleted user loses access at once.
        try:
            user = await User.get_or_none(id=uuid.UUID(str(claims.get("userId"))))
        except ValueError:
            user = None
        if user is None or not user.enabled:
            raise Unauthorized("Authentication failed")
        return Principal(user.id, user.email, user.authority, user.tenant_id, user.customer_id)
