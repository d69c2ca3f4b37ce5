"""People: password hashing (argon2, off the event loop), login, JWTs.

Tokens are HS256 JWTs carrying the user id, authority, tenant and customer, like the
reference's, so ``X-Authorization: Bearer <jwt>`` works for existing REST clients. Each
also names its sign-in session, a database row: signing out deletes the row, and every
token of that session stops working at once (see :mod:`gridlinks.core.storage.session_models`).
The signing key comes from ``auth.jwt_secret`` or is generated once into the database
(``hub_secret``), so logins survive restarts and every node of a hub signs and checks with
the same key; a ``data_dir/jwt.secret`` left by an older hub is taken over, so its tokens
stay valid.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.exceptions import IntegrityError

from gridlinks.core.bus import EventBus
from gridlinks.core.config import AuthSettings
from gridlinks.core.errors import BadRequest, Conflict, ServiceUnavailable, TokenExpired, Unauthorized
from gridlinks.core.events import SessionsRevoked, UserCreated, UserLogin, UserLogout, set_actor
from gridlinks.core.storage.database import Storage
from gridlinks.core.storage.models import Authority, Customer, HubSecret, Tenant, User
from gridlinks.core.storage.session_models import AuthSession
from gridlinks.core.storage.writes import Insert

log = logging.getLogger(__name__)

JWT_KEY = "jwt_signing_key"
LEGACY_KEY_FILE = "jwt.secret"  # where hubs before the shared key kept it

# The reference's message for an expired token (errorCode 11); a signed-out or revoked
# token gets the same answer, which tells a client to refresh or sign in again.
TOKEN_EXPIRED = "Token has expired"

# How many verified access tokens AuthService keeps decoded (~1 kB each); dropped all at once when full.
VERIFIED_TOKENS_MAX = 4096

_hasher = PasswordHasher()
# Verifying against this keeps an unknown e-mail as slow as a wrong password.
# Computed on first use, not at import: every `gridlinks` command would pay ~0.15 s for it.
_dummy_hash: str | None = None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("not-a-real-password")
    return _dummy_hash


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
    def __init__(self, settings: AuthSettings, data_dir: Path, storage: Storage, bus: EventBus):
        self.settings = settings
        self.data_dir = data_dir  # where a generated signing key is kept
        self.storage = storage
        self.bus = bus
        self._key: str | None = None
        # Access tokens whose signature and issuer were verified -> their claims. Pure CPU saved
        # (a token that verified once always verifies with the same key); whether its session is
        # still alive is read from the database on every request, so sign-out ends it at once.
        self._verified: dict[str, dict[str, Any]] = {}
        self._last_purge = float("-inf")
        self._session_sql: str | None = None

    def _signing_key(self) -> str:
        if self._key is None:
            raise ServiceUnavailable("the signing key is not loaded (the hub is not open)")
        return self._key

    async def load_signing_key(self) -> None:
        configured = self.settings.jwt_secret
        if configured:
            self._key = configured
            self._verified.clear()
            return
        row = await HubSecret.get_or_none(name=JWT_KEY)
        if row is None:
            legacy = self.data_dir / LEGACY_KEY_FILE
            value = legacy.read_text().strip() if legacy.exists() else secrets.token_urlsafe(48)
            try:
                await self.storage.write([Insert(HubSecret, {"name": JWT_KEY, "value": value})])
            except IntegrityError:
                pass  # another node stored one first: every node uses that one
            row = await HubSecret.get(name=JWT_KEY)
            if legacy.exists():
                legacy.unlink()  # the database holds it now; no second copy of a secret on disk
        self._key = row.value
        self._verified.clear()

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
        user = await User.create(email=email, password_hash=await self.hash_password(password),
                                 authority=authority, tenant=tenant, customer=customer)
        await self.bus.fire(UserCreated(tenant_id=str(tenant.id) if tenant else None, user=email,
                                        authority=authority, customer_id=str(customer.id) if customer else None))
        return user

    # -- sign-in sessions and tokens -------------------------------------------------
    #
    # Every token names its session (``sid``, a row of AuthSession) and itself (``jti``).
    # A token is accepted only while its session row exists; the refresh token only while
    # its jti is the session's current ``refresh_jti``. See gridlinks.core.storage.session_models.

    async def login(self, username: str, password: str) -> dict[str, str]:
        user = await User.get_or_none(email=(username or "").strip().lower())
        ok = await self.verify_password(user.password_hash if user else _dummy(), password or "")
        if user is None or not ok or not user.enabled:
            raise Unauthorized("Invalid username or password")
        tokens = await self.start_session(user)
        await self.bus.fire(UserLogin(outcome="SUCCESS", actor=user.email, tenant_id=user.tenant_id))
        return tokens

    async def start_session(self, user: User) -> dict[str, str]:
        """A new sign-in. Its row is committed before any token naming it is handed out."""
        await self._purge_expired_sessions()
        now = int(time.time())
        refresh_jti = _new_jti()
        session = await AuthSession.create(id=uuid.uuid4(), user_id=user.id, refresh_jti=refresh_jti,
                                           expires_ms=(now + self.settings.refresh_token_ttl_s) * 1000)
        return self._tokens(user, session.id, refresh_jti, now)

    def _tokens(self, user: User, sid: uuid.UUID, refresh_jti: str, now: int) -> dict[str, str]:
        claims: dict[str, Any] = {
            "sub": user.email, "userId": str(user.id), "scopes": [user.authority],
            "tenantId": str(user.tenant_id) if user.tenant_id else None,
            "customerId": str(user.customer_id) if user.customer_id else None,
            "sid": str(sid), "iat": now, "iss": "gridlinks",
        }
        auth, key = self.settings, self._signing_key()
        token = jwt.encode({**claims, "jti": _new_jti(), "exp": now + auth.token_ttl_s}, key, algorithm="HS256")
        refresh = jwt.encode({**claims, "jti": refresh_jti, "exp": now + auth.refresh_token_ttl_s, "typ": "refresh"},
                             key, algorithm="HS256")
        return {"token": token, "refreshToken": refresh}

    def _decode(self, token: str, verify_exp: bool = True) -> dict[str, Any]:
        try:
            return jwt.decode(token, self._signing_key(), algorithms=["HS256"], issuer="gridlinks",
                              options={"verify_exp": verify_exp})
        except jwt.ExpiredSignatureError:
            raise TokenExpired(TOKEN_EXPIRED) from None
        except jwt.PyJWTError:
            raise Unauthorized("Authentication failed") from None

    async def principal(self, token: str) -> Principal:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if claims.get("typ") == "refresh":
                raise Unauthorized("Authentication failed")
            if isinstance(claims.get("exp"), int):
                if len(self._verified) >= VERIFIED_TOKENS_MAX:
                    self._verified.clear()
                self._verified[token] = claims
        elif claims["exp"] <= time.time():
            del self._verified[token]
            raise TokenExpired(TOKEN_EXPIRED)
        who = await self._principal_for(claims)
        set_actor(who.email)  # what this request changes is audited as done by this user
        return who

    async def refresh(self, refresh_token: str) -> dict[str, str]:
        """New tokens for a refresh token, which is used up: the session's ``refresh_jti``
        is swapped in one conditional UPDATE, so of two uses of the same token at most one
        succeeds. A refresh token that was already used means it was copied (RFC 9700,
        4.14.2): the whole session ends, so the copy and the original both stop working."""
        claims = self._decode(refresh_token)
        if claims.get("typ") != "refresh":
            raise Unauthorized("Authentication failed")
        user_id, sid, jti = _uuid(claims.get("userId")), _uuid(claims.get("sid")), claims.get("jti")
        if user_id is None or sid is None or not isinstance(jti, str):
            raise TokenExpired(TOKEN_EXPIRED)  # issued before sessions existed
        now = int(time.time())
        new_jti = _new_jti()
        rotated = await AuthSession.filter(id=sid, user_id=user_id, refresh_jti=jti, expires_ms__gt=now * 1000).update(
            refresh_jti=new_jti, expires_ms=(now + self.settings.refresh_token_ttl_s) * 1000)
        if not rotated:
            if await AuthSession.filter(id=sid).delete():
                log.warning("a used refresh token was presented again; session %s of user %s ended", sid, user_id)
            raise TokenExpired(TOKEN_EXPIRED)
        user = await User.get_or_none(id=user_id)
        if user is None or not user.enabled:
            raise Unauthorized("Authentication failed")
        return self._tokens(user, sid, new_jti, now)

    async def sign_out(self, token: str) -> bool:
        """End the session ``token`` (access or refresh, even expired) belongs to, with all
        its tokens. True if a session ended; a token that is no longer valid is no error."""
        try:
            claims = self._decode(token, verify_exp=False)
        except Unauthorized:
            return False
        sid = _uuid(claims.get("sid"))
        if sid is None or not await AuthSession.filter(id=sid).delete():
            return False
        await self.bus.fire(UserLogout(outcome="SUCCESS", actor=claims.get("sub"),
                                       tenant_id=claims.get("tenantId")))
        return True

    async def revoke_sessions(self, user: User, actor: str | None = None) -> int:
        """Sign ``user`` out everywhere: every session, access and refresh token ends.
        ``actor``: who did it (the user themself when None). Returns how many ended."""
        ended = await AuthSession.filter(user_id=user.id).delete()
        await self.bus.fire(SessionsRevoked(outcome="SUCCESS", actor=actor or user.email,
                                            tenant_id=user.tenant_id, user=user.email, sessions=ended))
        return ended

    async def _purge_expired_sessions(self) -> None:
        """Rows whose refresh token has expired serve no purpose; removed at most once a
        minute, on sign-in, so the table stays as small as the live sessions."""
        now = time.monotonic()
        if now - self._last_purge < 60.0:
            return
        self._last_purge = now
        await AuthSession.filter(expires_ms__lt=int(time.time() * 1000)).delete()

    async def _principal_for(self, claims: dict[str, Any]) -> Principal:
        user_id, sid = _uuid(claims.get("userId")), _uuid(claims.get("sid"))
        if user_id is None:
            raise Unauthorized("Authentication failed")
        if sid is None:
            raise TokenExpired(TOKEN_EXPIRED)  # issued before sessions existed
        row = await self._session_user(user_id, sid)
        if row is None:
            raise TokenExpired(TOKEN_EXPIRED)
        if not row["enabled"]:
            raise Unauthorized("Authentication failed")
        user_uuid = _uuid(row["id"])
        if user_uuid is None:
            raise Unauthorized("Authentication failed")
        return Principal(user_uuid, row["email"], row["authority"], _uuid(row["tenant_id"]),
                         _uuid(row["customer_id"]))

    async def _session_user(self, user_id: uuid.UUID, sid: uuid.UUID) -> dict[str, Any] | None:
        """The user of a live session, or None: the check every REST and dashboard request
        makes. The user is re-read every time so that a disabled or deleted user loses
        access at once; joined with the session row, the same single indexed query is the
        revocation check, with the database as the only truth (shared by every hub
        process, no cache to go stale). Plain SQL built from the models' metadata: through
        the ORM the join cost more than the bare user read it replaces; this costs less."""
        if self._session_sql is None:
            users, sessions = User._meta, AuthSession._meta
            uc, sc = users.fields_db_projection, sessions.fields_db_projection
            wanted = ", ".join(f'u."{uc[name]}" AS {name}'
                               for name in ("id", "email", "authority", "tenant_id", "customer_id", "enabled"))
            first, second = ("$1", "$2") if self.storage.dialect == "postgres" else ("?", "?")
            self._session_sql = (f'SELECT {wanted} FROM "{users.db_table}" u JOIN "{sessions.db_table}" s '
                                 f'ON s."{sc["user_id"]}" = u."{uc["id"]}" '
                                 f'WHERE s."{sc["id"]}" = {first} AND u."{uc["id"]}" = {second}')
        rows = await self.storage.connection().execute_query_dict(self._session_sql, [str(sid), str(user_id)])
        return rows[0] if rows else None


def _new_jti() -> str:
    return secrets.token_urlsafe(18)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None
