"""`gridlinks doctor` as a real process: OK next to its own running hub, FAIL (exit 1) for
a port another program holds, an expired TLS certificate and an unreachable Redis."""

import datetime
import socket

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridlinks.core.cli.ops import check_database, hub_serves, latest_schema
from gridlinks.core.hub import Hub
from tests.cli_support import cli
from tests.core.cli.hub_process import RunningProcess
from tests.support import free_port, hub_config, port_env


def _lines(out: str, what: str) -> list[str]:
    return [line for line in out.splitlines() if line.split()[1:2] == [what]]


def _expired_certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old hub")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=400))
            .not_valid_after(now - datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_doctor_next_to_its_running_hub_then_with_problems(tmp_path):
    ports = port_env()
    cli(tmp_path, "init")
    with RunningProcess(tmp_path, ports):
        healthy = cli(tmp_path, "doctor", env=ports)
    out = healthy.stdout
    assert healthy.returncode == 0 and "FAIL" not in out, out
    assert _lines(out, "hub") == ["OK    hub         running on this database"]
    port_lines = _lines(out, "ports")
    assert len(port_lines) >= 4 and all("in use by the hub running on this data directory" in x for x in port_lines)
    assert f"http.port {ports['GRIDLINKS_HTTP_PORT']}/tcp" in out
    assert f"coap.port {ports['GRIDLINKS_COAP_PORT']}/udp" in out
    assert "schema version" in _lines(out, "database")[0] and _lines(out, "database")[0].startswith("OK")
    assert _lines(out, "tls")[0].startswith("OK") and "valid until" in out  # the hub generated it on start
    assert _lines(out, "disk")[0].startswith(("OK", "WARN"))
    assert "dashboard" in _lines(out, "plugins")[0] and "installed, not enabled" in out
    assert _lines(out, "files")[0].startswith("OK")

    (tmp_path / "tls" / "server.pem").write_bytes(_expired_certificate())
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the hub's connections may be in TIME_WAIT
        squatter.bind(("127.0.0.1", int(ports["GRIDLINKS_HTTP_PORT"])))
        squatter.listen()
        sick = cli(tmp_path, "doctor", env={**ports, "GRIDLINKS_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
                   check=False)
    out = sick.stdout
    assert sick.returncode == 1, out
    assert _lines(out, "hub") == ["OK    hub         not running"]
    http = [x for x in _lines(out, "ports") if "http.port" in x]
    assert http[0].startswith("FAIL") and "in use by another program" in http[0]
    assert _lines(out, "tls")[0].startswith("FAIL") and "expired on" in out
    assert _lines(out, "redis")[0].startswith("FAIL") and "unreachable" in out
    assert "checks: 3 failed" in out.splitlines()[-1]
    assert "Traceback" not in sick.stderr


async def test_database_and_hub_checks_on_each_backend(tmp_path, db_url):
    config = hub_config(tmp_path / "data", db_url)
    (before,) = await check_database(config)
    assert before.status == "WARN" and "gridlinks init" in before.message  # nothing there yet
    hub = Hub(config)
    await hub.start()
    try:
        assert await hub_serves(config)  # the node lock of SQLite, the advisory lock of PostgreSQL
        (check,) = await check_database(config)
    finally:
        await hub.stop()
    assert check.status == "OK" and f"schema version {latest_schema()} (current)" in check.message, check
    assert not await hub_serves(config)
