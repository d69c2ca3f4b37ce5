"""The `gridlinks` command, run as a real process on a temporary data directory."""

import os
import signal
import socket
import subprocess

from tests.cli_support import GRIDLINKS, cli, value_after, wait_for_health
from tests.support import port_env


def test_init_is_idempotent_and_prints_the_demo_secret_once(tmp_path):
    first = cli(tmp_path, "init", "--admin-email", "ops@site.test", "--admin-password", "pw-123456", "--demo")
    again = cli(tmp_path, "init", "--admin-email", "ops@site.test", "--admin-password", "pw-123456", "--demo")
    for out in (first.stdout, again.stdout):
        assert "ops@site.test" in out and "pw-123456" not in out  # a given password is not echoed
    assert value_after(first.stdout, "provision key") == value_after(again.stdout, "provision key")
    secret = value_after(first.stdout, "provision secret")
    assert len(secret) >= 16 and secret not in again.stdout
    listing = cli(tmp_path, "profile", "list").stdout
    assert listing.count("Demo profile") == 1


def test_profile_device_user_and_import_commands(tmp_path):
    cli(tmp_path, "init")
    out = cli(tmp_path, "profile", "create", "--name", "Line A", "--strategy", "check-pre-provisioned",
              "--key", "line-a-key", "--secret", "line-a-secret").stdout
    assert "line-a-key" in out and "line-a-secret" in out
    dup = cli(tmp_path, "profile", "create", "--name", "Line B", "--strategy", "allow-create", "--key", "line-a-key",
              check=False)
    assert dup.returncode == 1
    assert dup.stderr.strip() == "error: Device profile with such provision device key already exists!"
    cli(tmp_path, "device", "add", "--name", "SN-0001", "--profile", "Line A")
    missing = cli(tmp_path, "device", "add", "--name", "SN-2", "--profile", "No such", check=False)
    assert missing.returncode == 1 and "No such" in missing.stderr
    csv = tmp_path / "devices.csv"
    csv.write_text("name,label,server:batch,shared:interval\nSN-0002,a,7,30\nSN-0003,b,7,30\n,c,1,1\n")
    result = cli(tmp_path, "device", "import", str(csv), "--profile", "Line A", check=False)
    assert result.returncode == 1  # one bad line
    assert "Line 4 (column NAME): device name is empty" in result.stderr
    assert "2" in result.stdout  # created count in the summary table
    assert "2 device(s) in profile 'Line A'" in result.stdout
    no_profile = cli(tmp_path, "device", "import", str(csv), check=False)  # no type column, no --profile
    assert no_profile.returncode == 1 and "--profile NAME" in no_profile.stderr and "Line A" in no_profile.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("name,colour\nx,y\n")
    result = cli(tmp_path, "device", "import", str(bad), check=False)
    assert result.returncode == 1 and "unknown CSV column 'colour'" in result.stderr
    cli(tmp_path, "customer", "add", "--title", "ACME")  # user add no longer creates it (test_cli_devices_audit)
    out = cli(tmp_path, "user", "add", "--email", "c@acme.test", "--password", "secret-1",
              "--role", "customer-user", "--customer", "ACME").stdout
    assert "CUSTOMER_USER" in out
    nope = cli(tmp_path, "user", "add", "--email", "d@acme.test", "--password", "secret-1", "--role", "customer-user",
               check=False)
    assert nope.returncode == 1 and "--customer" in nope.stderr


def test_run_serves_health_and_stops_on_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLINKS_")}
    env.update(port_env())
    port = int(env["GRIDLINKS_HTTP_PORT"])
    proc = subprocess.Popen([str(GRIDLINKS), "run", "--data-dir", str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}/api/health", proc) == 200
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert f"HTTP listening on http://127.0.0.1:{port}" in out
        assert "provision" not in out and "password" not in out  # run creates nothing, prints no secret
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_port_in_use_is_one_clear_line(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = cli(tmp_path, "run", env={"GRIDLINKS_HTTP_PORT": str(port), "GRIDLINKS_BIND": "127.0.0.1"},
                     check=False)
    assert result.returncode == 1
    # other transports may have logged that they started before HTTP failed to bind;
    # what matters is one error line, and no traceback
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(port) in lines[0] and "GRIDLINKS_HTTP_PORT" in lines[0] and "http.port" in lines[0]


def test_bad_config_is_one_clear_line(tmp_path):
    config = tmp_path / "hub.yaml"
    config.write_text("claim:\n  duration: 5\n")
    result = cli(tmp_path, "init", "--config", str(config), check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: unknown config key claim.duration"
