"""Verified access tokens are kept decoded (CPU only): what ends a session still ends it at
once for a token that is in that cache, and an expired cached token is refused."""

from __future__ import annotations

import time

import pytest

from gridlinks.core.errors import TokenExpired, Unauthorized
from gridlinks.core.storage.models import User
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD, hub_config, start_hub, stop_hub


@pytest.fixture
async def running(tmp_path):
    hub = await start_hub(hub_config(tmp_path / "data"))
    yield hub
    await stop_hub(hub)


async def test_a_cached_token_ends_with_its_session(running):
    auth, token = running.hub.auth, running.admin_token
    assert (await running.get("/api/auth/user", token=token))[0] == 200
    assert token in auth._verified  # decoded once, kept
    assert await auth.sign_out(token)
    assert (await running.get("/api/auth/user", token=token))[0] == 401


async def test_a_cached_token_ends_when_the_users_sessions_are_revoked(running):
    auth, token = running.hub.auth, running.admin_token
    who = await auth.principal(token)
    assert token in auth._verified
    await auth.revoke_sessions(await User.get(id=who.user_id))
    with pytest.raises(TokenExpired):
        await auth.principal(token)


async def test_a_cached_token_past_its_expiry_is_refused(running):
    auth, token = running.hub.auth, running.admin_token
    await auth.principal(token)
    auth._verified[token] = {**auth._verified[token], "exp": int(time.time()) - 1}
    with pytest.raises(TokenExpired):
        await auth.principal(token)
    assert token not in auth._verified


async def test_a_refresh_token_is_never_cached_as_an_access_token(running):
    auth = running.hub.auth
    tokens = await auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    with pytest.raises(Unauthorized):
        await auth.principal(tokens["refreshToken"])
    assert tokens["refreshToken"] not in auth._verified
