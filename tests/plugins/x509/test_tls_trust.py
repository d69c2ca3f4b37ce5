"""The TLS trust the x509 plugins give the MQTT listener through ``register_tls_trust``:
a certificate provisioned is trusted by the next handshake; one removed (device
deleted, credentials replaced, a chain profile's CA replaced) is refused by the
handshake itself, without a restart. Before the hook, a removed certificate stayed in
the listener's store until restart (the handshake passed and only authentication
refused it: CONNACK 5 instead of a failed handshake)."""

from __future__ import annotations

import asyncio

from gridlinks.core import hookimpl
from gridlinks.core.config import DEFAULT_PLUGINS
from gridlinks.core.types import TlsTrust, TrustChange
from gridlinks.plugins.x509.trust import ChainAnchorTrust, DeviceCertificateTrust
from tests.plugins.x509.certs import Cert, chain_profile, tls_login, with_tls
from tests.support import hub_config, start_hub, stop_hub

HANDSHAKE_REFUSED = -1


async def login_code_becomes(hub, cert, wanted: int, attempts: int = 50) -> int:
    """The login code, retried a bounded number of times until it is ``wanted`` (trust
    changes follow the hub's events, which need not finish before the admin call returns)."""
    code = None
    for _ in range(attempts):
        client, code = await tls_login(hub, cert)
        if client is not None:
            await client.close()
        if code == wanted:
            return code
        await asyncio.sleep(0.1)
    return code


async def provision_certificate(hub, name: str, cert: Cert) -> str:
    status, reply = await hub.provision(deviceName=name, credentialsType="X509_CERTIFICATE", hash=cert.pem,
                                        provisionDeviceKey=hub.key, provisionDeviceSecret=hub.secret)
    assert status == 200 and reply["status"] == "SUCCESS", reply
    return reply["deviceId"]


def test_x509_providers_meet_the_contract():
    assert isinstance(DeviceCertificateTrust(None), TlsTrust) and isinstance(ChainAnchorTrust(None), TlsTrust)


async def test_provisioned_certificate_is_trusted_then_deleted_device_is_not(hub, tmp_path):
    own = Cert(tmp_path, "self-signed", ca=True)
    assert (await tls_login(hub, own))[1] == HANDSHAKE_REFUSED  # unknown: the handshake refuses it
    device_id = await provision_certificate(hub, "trusted-1", own)
    assert await login_code_becomes(hub, own, 0) == 0
    status, _ = await hub.admin("DELETE", f"/api/device/{device_id}")
    assert status == 200
    assert await login_code_becomes(hub, own, HANDSHAKE_REFUSED) == HANDSHAKE_REFUSED


async def test_replaced_credentials_are_no_longer_trusted(hub, tmp_path):
    own = Cert(tmp_path, "self-signed", ca=True)
    other = Cert(tmp_path, "kept", ca=True)
    device_id = await provision_certificate(hub, "rotated-1", own)
    await provision_certificate(hub, "kept-1", other)
    assert await login_code_becomes(hub, own, 0) == 0
    from gridlinks.core.storage.models import Device
    from gridlinks.core.types import CredentialSpec
    device = await Device.get(id=device_id)
    await hub.hub.credentials.replace(device, CredentialSpec("ACCESS_TOKEN", "rotated-token", ""))
    assert await login_code_becomes(hub, own, HANDSHAKE_REFUSED) == HANDSHAKE_REFUSED
    assert await login_code_becomes(hub, other, 0) == 0  # the others stay trusted


async def test_chain_profile_ca_replaced_is_no_longer_trusted(hub, tmp_path):
    old_ca, new_ca = Cert(tmp_path, "Old CA", ca=True), Cert(tmp_path, "New CA", ca=True)
    body = await chain_profile(hub, old_ca, name="factory")
    assert await login_code_becomes(hub, Cert(tmp_path, "unit-1", issuer=old_ca), 0) == 0
    profile = await hub.hub.profiles.get(None, body["id"]["id"])
    await hub.hub.profiles.update(profile, secret=new_ca.pem)
    assert await login_code_becomes(hub, Cert(tmp_path, "unit-2", issuer=old_ca), HANDSHAKE_REFUSED) \
        == HANDSHAKE_REFUSED
    assert await login_code_becomes(hub, Cert(tmp_path, "unit-3", issuer=new_ca), 0) == 0


class StaticTrust:
    """A third-party provider: trusts one certificate it was given, nothing from the tables."""

    name = "static"

    def __init__(self, der: bytes):
        self.der = der
        self.listeners = []

    async def certificates(self) -> list[bytes]:
        return [self.der]

    def subscribe(self, changed):
        self.listeners.append(changed)
        return lambda: self.listeners.remove(changed)


async def test_a_plugin_registers_its_own_trust(tmp_path):
    """Any plugin may add what the listener trusts; the handshake then passes and
    authentication (no device has this certificate) decides: CONNACK 5."""
    from cryptography.hazmat.primitives.serialization import Encoding
    outsider = Cert(tmp_path, "outsider", ca=True)
    provider = StaticTrust(outsider.cert.public_bytes(Encoding.DER))

    class Plugin:
        @hookimpl
        def register_tls_trust(self, hub, register):
            register(provider)

    config = hub_config(tmp_path / "data", plugins=[*DEFAULT_PLUGINS, "static_trust"])
    running = with_tls(await start_hub(config, extra_plugins={"static_trust": Plugin()}))
    try:
        assert isinstance(provider, TlsTrust) and len(provider.listeners) == 1
        assert (await tls_login(running, outsider))[1] == 5
        late = Cert(tmp_path, "late", ca=True)
        assert (await tls_login(running, late))[1] == HANDSHAKE_REFUSED
        await provider.listeners[0](TrustChange(added=(late.cert.public_bytes(Encoding.DER),)))
        assert (await tls_login(running, late))[1] == 5
    finally:
        await stop_hub(running)
    assert provider.listeners == []  # the transport unsubscribed when it stopped
