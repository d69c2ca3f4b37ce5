"""`gridlinks backup` / `restore` as real processes: a backup taken while a hub serves and
devices are being provisioned restores into a fresh data directory with the same devices
and credentials; restore refuses while a hub runs; bad files are refused in one line."""

import os
import sqlite3
import stat
import threading
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlinks.core.cli.ops import SQLITE_MAGIC, validate_backup
from gridlinks.core.errors import BadRequest
from tests.cli_support import cli, value_after
from tests.core.cli.hub_process import RunningProcess, gridlinks_here


def _devices(db: Path) -> dict[str, str]:
    """device name -> its credentials id (the access token), read from a database file."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT d.name, c.credentials_id FROM device d "
                            "LEFT JOIN device_credentials c ON c.device_id = d.id").fetchall()
    return dict(rows)


def _provision_until(hub: RunningProcess, key: str, secret: str, stop: threading.Event,
                     issued: dict[str, str]) -> None:
    n = 0
    while not stop.is_set():
        name = f"live-{n:04d}"
        status, body = hub.post("/api/v1/provision", {"deviceName": name, "provisionDeviceKey": key,
                                                      "provisionDeviceSecret": secret})
        assert status == 200 and body["status"] == "SUCCESS", body
        issued[name] = body["credentialsValue"]
        n += 1


def test_online_backup_restores_the_same_devices_and_credentials(tmp_path, capsys):
    live, fresh = tmp_path / "live", tmp_path / "fresh"
    code, init, _ = gridlinks_here(capsys, live, "init", "--demo")
    assert code == 0
    key, secret = value_after(init, "provision key"), value_after(init, "provision secret")
    backup = tmp_path / "site.db"
    issued: dict[str, str] = {}
    with RunningProcess(live) as hub:
        stop = threading.Event()
        worker = threading.Thread(target=_provision_until, args=(hub, key, secret, stop, issued))
        worker.start()
        try:
            while len(issued) < 20:  # provisioning is well under way
                stop.wait(0.05)
            before = dict(issued)  # acknowledged before the backup started
            result = cli(live, "backup", str(backup))
            assert "backup written" in result.stdout
            refused = cli(live, "restore", str(backup), check=False)
            while len(issued) < len(before) + 10:  # and carries on after it
                stop.wait(0.05)
        finally:
            stop.set()
            worker.join(timeout=30)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: a hub is running on") and "stop it first" in refused.stderr
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600

    saved = _devices(backup)
    assert before.items() <= saved.items()  # everything acknowledged before the backup, with its token
    assert saved.items() <= issued.items()  # nothing half-written: each device whole, with its credentials

    result = cli(fresh, "restore", str(backup))
    assert f"{len(saved)} device(s)" in result.stdout
    assert stat.S_IMODE(os.stat(fresh / "hub.db").st_mode) == 0o600
    assert _devices(fresh / "hub.db") == saved
    with RunningProcess(fresh) as hub:
        name, token = sorted(saved.items())[-1]
        status, _ = hub.post(f"/api/v1/{token}/telemetry", {"t": 21.5})
        assert status == 200
        status, body = hub.post("/api/v1/provision", {"deviceName": "after-restore", "provisionDeviceKey": key,
                                                      "provisionDeviceSecret": secret})
        assert status == 200 and body["status"] == "SUCCESS"  # the profile and its secret came back too


def test_restore_keeps_the_replaced_database_aside(tmp_path, capsys):
    for data_dir, *args in ((tmp_path / "a", "init", "--demo"), (tmp_path / "a", "backup", str(tmp_path / "a.db")),
                            (tmp_path / "b", "init"), (tmp_path / "b", "profile", "create", "--name", "Only in B")):
        assert gridlinks_here(capsys, data_dir, *args)[0] == 0  # set-up, in this process
    result = cli(tmp_path / "b", "restore", str(tmp_path / "a.db"))
    line = next(x for x in result.stdout.splitlines() if x.startswith("the database it replaced is kept as "))
    aside = Path(line.rsplit(" ", 1)[1])
    assert aside.parent == tmp_path / "b" / "backups" and stat.S_IMODE(aside.stat().st_mode) == 0o600

    def profiles(db):
        with sqlite3.connect(db) as conn:
            return {name for (name,) in conn.execute("SELECT name FROM device_profile")}

    assert "Only in B" in profiles(aside) and "Demo profile" not in profiles(aside)
    restored = profiles(tmp_path / "b" / "hub.db")
    assert "Demo profile" in restored and "Only in B" not in restored


def test_backup_and_restore_refuse_in_one_line(tmp_path, capsys):
    assert gridlinks_here(capsys, tmp_path, "init")[0] == 0
    target = tmp_path / "copy.db"
    assert gridlinks_here(capsys, tmp_path, "backup", str(target))[0] == 0
    code, _, err = gridlinks_here(capsys, tmp_path, "backup", str(target))
    assert code == 1 and "--force" in err
    assert gridlinks_here(capsys, tmp_path, "backup", str(target), "--force")[0] == 0
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database\n")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    for path, why in ((other, "not a GridLinks one"), (tmp_path / "missing.db", "does not exist")):
        code, _, err = gridlinks_here(capsys, tmp_path, "restore", str(path))
        assert code == 1 and why in err and err.count("\n") == 1, err
    pg = {"GRIDLINKS_DB_URL": "postgres://127.0.0.1:5432/gridlinks"}
    for command, tool in (("backup", "pg_dump"), ("restore", "pg_restore")):
        code, _, err = gridlinks_here(capsys, tmp_path, command, str(target), env=pg)
        assert code == 1 and err.count("\n") == 1 and tool in err, err
    result = cli(tmp_path, "restore", str(junk), check=False)  # and once as the real command
    assert result.returncode == 1
    assert result.stderr == f"error: {junk} is not a SQLite database (not a GridLinks backup)\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096), magic=st.booleans())
def test_any_file_is_a_backup_or_one_bad_request(tmp_path, data, magic):
    path = tmp_path / "fuzz.db"
    path.write_bytes((SQLITE_MAGIC if magic else b"") + data)
    try:
        validate_backup(path)
    except BadRequest as exc:
        assert str(path) in str(exc)
