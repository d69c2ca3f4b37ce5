"""`device list`, `profile list` at 80 columns, `user add --customer` of a customer that
does not exist, and the audit rows of changes made with the command (actor cli:<user>).
What each test is about runs as a real process; set-up steps run in this process."""

import getpass
import json
import sqlite3

from tests.cli_support import cli
from tests.core.cli.hub_process import gridlinks_here

LONG_NAME = "North building, line seven: the long-named profile"


def _setup(capsys, data_dir, *args):
    code, out, err = gridlinks_here(capsys, data_dir, *args)
    assert code == 0, out + err
    return out


def _audit(data_dir, action):
    with sqlite3.connect(data_dir / "hub.db") as conn:
        return conn.execute("SELECT actor, outcome, device_name, details FROM audit_event WHERE action = ? "
                            "ORDER BY id", (action,)).fetchall()


def test_device_list_filters_and_pages(tmp_path, capsys):
    _setup(capsys, tmp_path, "init")
    _setup(capsys, tmp_path, "profile", "create", "--name", "Meters", "--strategy", "check-pre-provisioned")
    csv = tmp_path / "devices.csv"
    csv.write_text("name\n" + "".join(f"meter-{i:03d}\n" for i in range(60)))
    _setup(capsys, tmp_path, "device", "import", str(csv), "--profile", "Meters")
    _setup(capsys, tmp_path, "profile", "create", "--name", "Pumps", "--strategy", "check-pre-provisioned")
    _setup(capsys, tmp_path, "device", "add", "--name", "pump-meter-x", "--profile", "Pumps")

    page = cli(tmp_path, "device", "list", "--profile", "Meters", "--page-size", "25", "--page", "3",
               env={"COLUMNS": "80"}).stdout
    rows = [line for line in page.splitlines() if "meter-" in line]
    assert len(rows) == 10 and all("Meters" in row for row in rows)
    assert "page 3 of 3 (60 matching device(s))" in page and "pump" not in page

    found = cli(tmp_path, "device", "list", "--search", "PUMP", env={"COLUMNS": "80"}).stdout
    assert "pump-meter-x" in found and "Pumps" in found and "meter-000" not in found
    assert "page 1 of 1 (1 matching device(s))" in found

    first = cli(tmp_path, "device", "list", "--page-size", "50", check=False)
    assert first.returncode == 0 and "page 1 of 2 (61 device(s)); next: --page 2" in first.stdout
    bad = cli(tmp_path, "device", "list", "--profile", "Nope", check=False)
    assert bad.returncode == 1 and bad.stderr == "error: no device profile named 'Nope'\n"


def test_profile_list_keeps_the_strategy_whole_at_80_columns(tmp_path, capsys):
    _setup(capsys, tmp_path, "init")
    out = _setup(capsys, tmp_path, "profile", "create", "--name", LONG_NAME, "--strategy", "check-pre-provisioned")
    key = next(line.split(":", 1)[1].strip() for line in out.splitlines() if "provision key" in line)
    listing = cli(tmp_path, "profile", "list", env={"COLUMNS": "80"}).stdout
    assert max(len(line) for line in listing.splitlines()) <= 80
    assert "CHECK_PRE_PROVISIONED_DEVICES" in listing and key in listing  # each whole, on one line
    assert "…" not in listing
    words = " ".join(line.split("│")[1].strip() for line in listing.splitlines() if line.startswith("│"))
    assert LONG_NAME.replace(" ", "") in words.replace(" ", "")  # the name folds, nothing is cut


def test_user_add_needs_an_existing_customer_and_changes_are_audited(tmp_path, capsys):
    _setup(capsys, tmp_path, "init")
    nope = cli(tmp_path, "user", "add", "--email", "c@acme.test", "--password", "secret-1", "--role", "customer-user",
               "--customer", "Nope", check=False)
    assert nope.returncode == 1
    assert nope.stderr == ("error: no customer titled 'Nope'; create it first with "
                           "`gridlinks customer add --title Nope`\n")
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        assert conn.execute("SELECT count(*) FROM customer").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM hub_user WHERE email = 'c@acme.test'").fetchone() == (0,)

    _setup(capsys, tmp_path, "customer", "add", "--title", "ACME")
    _setup(capsys, tmp_path, "user", "add", "--email", "c@acme.test", "--password", "secret-1",
           "--role", "customer-user", "--customer", "ACME")
    _setup(capsys, tmp_path, "profile", "create", "--name", "Line A")
    _setup(capsys, tmp_path, "device", "add", "--name", "SN-1", "--profile", "Line A")
    gone = cli(tmp_path, "device", "delete", "--name", "SN-1")  # one change made by a real process
    assert "deleted" in gone.stdout

    actor = f"cli:{getpass.getuser()}"
    for action in ("customer_created", "user_created", "profile_saved", "device_created", "device_deleted"):
        rows = _audit(tmp_path, action)
        assert rows and all(row[:2] == (actor, "SUCCESS") for row in rows), (action, rows)
    assert _audit(tmp_path, "device_deleted")[0][2] == "SN-1"
    user = json.loads(_audit(tmp_path, "user_created")[-1][3])
    assert user["user"] == "c@acme.test" and user["authority"] == "CUSTOMER_USER"
    assert "secret-1" not in json.dumps([_audit(tmp_path, a) for a in ("user_created", "customer_created")])
    missing = cli(tmp_path, "device", "delete", "--name", "SN-1", check=False)
    assert missing.returncode == 1 and missing.stderr == "error: no device named 'SN-1'\n"
