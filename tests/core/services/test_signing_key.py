"""The JWT signing key lives in the database, generated once, so every node of a hub signs
and checks with one key; a key file left by an older hub is taken over (its tokens stay
valid) and removed from disk."""

from __future__ import annotations

import jwt

from tests.support import hub_config, start_hub, stop_hub

OLD_KEY = "key-of-an-older-hub-at-least-32-bytes-long"


async def test_the_key_is_generated_once_and_kept_across_restarts(tmp_path):
    running = await start_hub(hub_config(tmp_path / "data"))
    key, token = running.hub.auth._signing_key(), running.admin_token
    await stop_hub(running)
    assert not (tmp_path / "data" / "jwt.secret").exists()
    running = await start_hub(hub_config(tmp_path / "data"))
    try:
        assert running.hub.auth._signing_key() == key
        assert (await running.get("/api/auth/user", token=token))[0] == 200  # signed before the restart
    finally:
        await stop_hub(running)


async def test_an_older_hubs_key_file_is_taken_over(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "jwt.secret").write_text(OLD_KEY + "\n")
    running = await start_hub(hub_config(data))
    try:
        assert running.hub.auth._signing_key() == OLD_KEY
        claims = jwt.decode(running.admin_token, OLD_KEY, algorithms=["HS256"], issuer="gridlinks")
        assert claims["sub"]
        assert not (data / "jwt.secret").exists()  # one copy of the secret, in the 0600 database
    finally:
        await stop_hub(running)
