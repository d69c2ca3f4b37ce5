"""``gridlinks ca`` as a real process, and importing an operator's CA."""

from __future__ import annotations

import argparse
import contextlib
import io
import stat

import pytest
from cryptography.hazmat.primitives import serialization

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.plugins.local_ca import cli as ca_cli
from tests.cli_support import cli
from tests.plugins.local_ca.support import Device
from tests.plugins.x509.certs import Cert
from tests.support import hub_config, start_hub, stop_hub


def test_ca_show_creates_the_ca_with_a_private_key_file(tmp_path):
    shown = cli(tmp_path / "data", "ca", "show", "--pem").stdout
    assert "serial:" in shown and "-----BEGIN CERTIFICATE-----" in shown and "PRIVATE" not in shown
    keys = list((tmp_path / "data" / "ca").glob("*/gen-*/ca.key"))
    assert len(keys) == 1 and stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    leaf = Cert(tmp_path, "not a CA", ca=False)
    refused = cli(tmp_path / "data", "ca", "import", "--cert", str(leaf.cert_file), "--key", str(leaf.key_file),
                  check=False)
    assert refused.returncode == 1 and "not a CA certificate" in refused.stderr and "Traceback" not in refused.stderr


async def test_imported_ca_signs_and_refuses_a_key_that_does_not_match(tmp_path):
    running = await start_hub(hub_config(tmp_path / "data"))
    try:
        service = running.hub.services["local_ca"]
        tenant = await default_tenant(running.hub)
        own, other = Cert(tmp_path, "Factory CA", ca=True), Cert(tmp_path, "Other CA", ca=True)
        with pytest.raises(BadRequest, match="does not belong"):
            await service.import_ca(tenant.id, own.cert_file.read_bytes(), other.key_file.read_bytes(), "test")
        with pytest.raises(BadRequest, match="cannot read"):
            await service.import_ca(tenant.id, b"junk", b"junk", "test")
        authority = await service.import_ca(tenant.id, own.cert_file.read_bytes(), own.key_file.read_bytes(), "test")
        assert authority.cert == own.cert
        device = Device(tmp_path, "signed-by-import")
        status, reply = await running.provision(**device.request(running))
        assert device.accept(reply) == own.cert
        assert reply["caCertificate"] == own.cert.public_bytes(serialization.Encoding.PEM).decode()
        # A CSR whose device then cannot be created (the name is taken) was signed, but no device holds it.
        status, clash = await running.provision(**Device(tmp_path, "signed-by-import").request(running))
        assert clash["status"] == "FAILURE"
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            assert await ca_cli.cmd_issued(running.hub, argparse.Namespace(device="signed-by-import")) == 0
        lines = printed.getvalue().splitlines()
        assert len(lines) == 2 and "held by a device" in lines[0] and "not held" in lines[1]
        # The hub wrote its own copy of the key, 0600; the operator's file is untouched.
        copies = list((tmp_path / "data" / "ca").glob("*/gen-*/ca.key"))
        assert len(copies) == 1 and stat.S_IMODE(copies[0].stat().st_mode) == 0o600
    finally:
        await stop_hub(running)
