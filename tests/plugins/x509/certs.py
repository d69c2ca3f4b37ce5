"""Certificates and TLS logins for the X.509 tests (real keys, real TLS on loopback)."""

from __future__ import annotations

import datetime
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.mqtt_wire import MqttWire

NOT_AUTHORISED = 5


class Cert:
    """A certificate and key on disk, issued by ``issuer`` (None: self-signed)."""

    def __init__(self, tmp_path, cn: str, issuer: Cert | None = None, ca: bool = False):
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        self.cert = (x509.CertificateBuilder().subject_name(subject)
                     .issuer_name(issuer.cert.subject if issuer else subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                     .sign(issuer.key if issuer else self.key, hashes.SHA256()))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
        self.body = "".join(self.pem.strip().splitlines()[1:-1])
        name = f"{cn}-{self.cert.serial_number}"
        self.cert_file, self.key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
        self.cert_file.write_text(self.pem + (issuer.pem if issuer and not ca and issuer.issuer else ""))
        self.key_file.write_bytes(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
        self.issuer = issuer


def with_tls(running):
    """Note where the hub's MQTT TLS listener is and which certificate it shows."""
    running.tls_port = running.hub.transports.get("mqtt").settings.tls_port
    running.server_cert = running.hub.settings.data_dir / "tls" / "server.pem"
    return running


def client_context(hub, cert: Cert | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(hub.server_cert))
    if cert is not None:
        ctx.load_cert_chain(cert.cert_file, cert.key_file)
    return ctx


async def tls_login(hub, cert: Cert | None = None, **kwargs):
    """(client, CONNACK code); code -1 when the TLS handshake itself refused the certificate."""
    try:
        return await MqttWire.connect(hub.tls_port, ssl=client_context(hub, cert), server_hostname="localhost",
                                      **kwargs)
    except (ssl.SSLError, ConnectionError):
        return None, -1


async def chain_profile(hub, ca: Cert, name: str = "chain", pattern: str = "(.*)", allow_create: bool = True) -> dict:
    status, body = await hub.admin("POST", "/api/deviceProfile", {
        "name": name, "provisionType": "X509_CERTIFICATE_CHAIN",
        "profileData": {"provisionConfiguration": {
            "type": "X509_CERTIFICATE_CHAIN", "provisionDeviceSecret": ca.pem,
            "certificateRegExPattern": pattern, "allowCreateNewDevicesByX509Certificate": allow_create}}})
    assert status == 200, body
    return body


async def device_named(hub, name: str):
    status, body = await hub.admin("GET", f"/api/tenant/devices?deviceName={name}")
    return body if status == 200 else None


async def credentials(hub, device_id: str) -> dict:
    return (await hub.admin("GET", f"/api/device/{device_id}/credentials"))[1]
