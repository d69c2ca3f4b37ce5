"""CSRs, keys on disk and provision requests for the local CA tests."""

from __future__ import annotations

import base64
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.plugins.x509.certs import tls_login


def csr_pem(key, cn: str = "device") -> str:
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


class Device:
    """A device key, its CSR, and (once signed) its certificate and key files for TLS."""

    def __init__(self, tmp_path, name: str, key=None):
        self.name = name
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.csr = csr_pem(self.key, name)
        self.key_file = tmp_path / f"{name}.key"
        self.key_file.write_bytes(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
        self.cert_file = tmp_path / f"{name}.crt"
        self.cert: x509.Certificate | None = None

    def accept(self, reply: dict) -> x509.Certificate:
        """Keep the certificate a SUCCESS reply carries; checks it is signed by the reply's CA."""
        assert reply["status"] == "SUCCESS", reply
        assert reply["credentialsType"] == "X509_CERTIFICATE"
        body = reply["credentialsValue"]
        assert "-----" not in body and "\n" not in body  # the reference's X.509 answer: base64 body
        self.cert = x509.load_der_x509_certificate(base64.b64decode(body))
        ca = x509.load_pem_x509_certificate(reply["caCertificate"].encode())
        self.cert.verify_directly_issued_by(ca)
        assert self.cert.public_key().public_numbers() == self.key.public_key().public_numbers()
        self.cert_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return ca

    def request(self, hub, **extra) -> dict:
        return {"deviceName": self.name, "provisionDeviceKey": hub.key, "provisionDeviceSecret": hub.secret,
                "credentialsType": "X509_CERTIFICATE", "csr": self.csr, **extra}


async def mqtt_provision(hub, body: dict) -> dict:
    client, rc = await tls_login(hub, username="provision")
    assert rc == 0
    try:
        await client.subscribe("/provision/response")
        await client.publish("/provision/request", json.dumps(body))
        return json.loads((await client.message())[1])
    finally:
        await client.close()


async def telemetry_over_tls(hub, device: Device, values: dict) -> int:
    """Log in over MQTT TLS with the device's certificate; CONNACK code (-1: handshake refused)."""
    client, rc = await tls_login(hub, device)
    if rc == 0:
        await client.publish("v1/devices/me/telemetry", json.dumps(values), qos=1)
        await client.close()
    return rc


def weak_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)
