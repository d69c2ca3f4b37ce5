"""Start-up accounts and file modes (issue 11, finding 8), with `gridlinks` as real
processes: `run` creates no account and prints no secret, `init` creates exactly the
admin it is given (or one generated, printed once), the demo profile only with --demo,
and the data directory and every secret-holding file are owner-only."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from gridlinks.core.config import HubConfig
from gridlinks.core.hub import Hub
from gridlinks.core.storage.models import Authority, DeviceProfile, User
from tests.cli_support import cli, value_after
from tests.core.cli.hub_process import RunningProcess


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def admins_and_profiles(data_dir: Path) -> tuple[list[str], list[str]]:
    """The admins' e-mails and the profile names in ``data_dir``'s database (hub stopped)."""

    async def read():
        hub = Hub(HubConfig({"data_dir": str(data_dir)}, environ={}))
        await hub.open()
        try:
            admins = await User.filter(authority__in=(Authority.TENANT_ADMIN, Authority.SYS_ADMIN)) \
                .values_list("email", flat=True)
            profiles = await DeviceProfile.all().values_list("name", flat=True)
            return sorted(admins), sorted(profiles)
        finally:
            await hub.stop()

    return asyncio.run(read())


def test_run_after_init_with_an_email_has_exactly_that_admin_and_prints_no_secret(tmp_path):
    init = cli(tmp_path, "init", "--admin-email", "ops@site.test", "--admin-password", "pw-123456")
    assert "pw-123456" not in init.stdout and "provision secret" not in init.stdout
    for _ in range(2):  # every start, not only the first
        with RunningProcess(tmp_path) as hub:
            assert hub.login("ops@site.test", "pw-123456") == 200
            assert hub.login("admin@gridlinks.local", "") == 401
        assert "password" not in hub.output.lower() and "secret" not in hub.output.lower(), hub.output
        assert "provision key" not in hub.output and "gridlinks.local" not in hub.output
    admins, profiles = admins_and_profiles(tmp_path)
    assert admins == ["ops@site.test"]
    assert "Demo profile" not in profiles


def test_run_on_an_empty_data_dir_creates_nothing_and_says_how_to_start(tmp_path):
    with RunningProcess(tmp_path) as hub:
        assert hub.login("admin@gridlinks.local", "") == 401
    assert "gridlinks init" in hub.output and "password" not in hub.output.lower()
    assert admins_and_profiles(tmp_path) == ([], [])


def test_init_without_an_email_prints_a_generated_password_once(tmp_path):
    first = cli(tmp_path, "init").stdout
    password = value_after(first, "password")
    assert value_after(first, "login") == "admin@gridlinks.local" and len(password) >= 16
    again = cli(tmp_path, "init").stdout
    assert password not in again and "admin:" in again
    assert not (tmp_path / "admin-password.txt").exists()  # shown once, not kept on disk
    assert "provision" not in first + again  # no demo profile without --demo
    # a later init naming another admin adds exactly that one; its password is not echoed
    added = cli(tmp_path, "init", "--admin-email", "second@site.test", "--admin-password", "pw-654321").stdout
    assert "pw-654321" not in added and password not in added
    assert admins_and_profiles(tmp_path) == (["admin@gridlinks.local", "second@site.test"], ["default"])
    with RunningProcess(tmp_path) as hub:
        assert hub.login("admin@gridlinks.local", password) == 200
    assert password not in hub.output


def test_init_resets_a_given_password_and_ends_that_admins_sessions(tmp_path):
    cli(tmp_path, "init", "--admin-email", "ops@site.test", "--admin-password", "pw-123456")
    with RunningProcess(tmp_path) as hub:
        status, tokens = hub.post("/api/auth/login", {"username": "ops@site.test", "password": "pw-123456"})
        assert status == 200
        out = cli(tmp_path, "init", "--admin-email", "ops@site.test", "--admin-password", "pw-new-7890").stdout
        assert "reset" in out and "pw-new-7890" not in out
        status, body = hub.post("/api/auth/logout", {}, token=tokens["token"])
        assert status == 401 and body["errorCode"] == 11
        assert hub.login("ops@site.test", "pw-123456") == 401
        assert hub.login("ops@site.test", "pw-new-7890") == 200
    cli(tmp_path, "customer", "add", "--title", "ACME")
    cli(tmp_path, "user", "add", "--email", "c@acme.test", "--password", "secret-1", "--role", "customer-user",
        "--customer", "ACME")
    refused = cli(tmp_path, "init", "--admin-email", "c@acme.test", "--admin-password", "pw-x-123", check=False)
    assert refused.returncode == 1 and "not a tenant admin" in refused.stderr


def test_revoke_sessions_from_the_cli_reaches_a_running_hub(tmp_path):
    """Another process ends the sessions: the database is the truth, not the hub's memory."""
    cli(tmp_path, "init", "--admin-email", "ops@site.test", "--admin-password", "pw-123456")
    with RunningProcess(tmp_path) as hub:
        status, tokens = hub.post("/api/auth/login", {"username": "ops@site.test", "password": "pw-123456"})
        assert status == 200
        out = cli(tmp_path, "user", "revoke-sessions", "--email", "ops@site.test").stdout
        assert "1 session(s)" in out
        status, body = hub.post("/api/auth/token", {"refreshToken": tokens["refreshToken"]})
        assert (status, body) == (401, {"status": 401, "message": "Token has expired", "errorCode": 11})
        assert hub.post("/api/auth/logout", {}, token=tokens["token"])[0] == 401
    missing = cli(tmp_path, "user", "revoke-sessions", "--email", "nobody@site.test", check=False)
    assert missing.returncode == 1 and "nobody@site.test" in missing.stderr


def test_data_dir_is_0700_and_database_and_key_files_0600(tmp_path):
    data = tmp_path / "data"
    first = cli(data, "init", "--demo")
    assert value_after(first.stdout, "provision secret")
    with RunningProcess(data) as hub:
        assert hub.login("nobody@x.test", "x") == 401
        files = {p.name: mode(p) for p in data.iterdir() if p.is_file()}
        assert mode(data) == 0o700
        for name in ("hub.db", "hub.db-wal", "hub.db-shm"):
            assert files.get(name) == 0o600, files
        assert "jwt.secret" not in files  # the signing key lives in the database (0600 above)
        tls_key = data / "tls" / "server.key"
        if tls_key.exists():
            assert mode(tls_key) == 0o600
    # A data dir left loose by an older hub is tightened on the next start.
    data.chmod(0o755)
    (data / "hub.db").chmod(0o644)
    cli(data, "profile", "list")
    assert mode(data) == 0o700
    assert mode(data / "hub.db") == 0o600


async def test_migration_backups_are_owner_only(tmp_path):
    from tests.support import hub_config

    hub = Hub(hub_config(tmp_path / "data"))
    await hub.open()
    try:
        hub.storage._backup_sqlite(1)  # what runs before a schema migration
    finally:
        await hub.stop()
    backups = tmp_path / "data" / "backups"
    (copy,) = backups.iterdir()
    assert mode(backups) == 0o700 and mode(copy) == 0o600 and copy.stat().st_size > 0
