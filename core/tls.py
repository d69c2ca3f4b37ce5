"""The server certificate of every TLS listener (MQTT over TLS, HTTPS): generated once
into ``data_dir/tls/`` so TLS works out of the box, replaceable by the operator's own.

The generated certificate is self-signed and names localhost, 127.0.0.1 and this
machine's host name, so clients that verify the host name (the seed's X.509 script
does) connect when given the certificate as their CA file. An operator who replaces
the files (or points ``mqtt.cert_file`` / ``mqtt.key_file``, ``http.cert_file`` /
``http.key_file`` elsewhere) keeps theirs: nothing is generated while either file exists.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gridlinks.core.errors import StartupError

log = logging.getLogger(__name__)

VALID_DAYS = 3650


def host_names() -> list[str]:
    names = ["localhost"]
    for name in (socket.gethostname(), socket.getfqdn()):
        if name and name not in names:
            names.append(name)
    return names


def _self_signed(names: list[str]) -> tuple[bytes, bytes]:
    """A PEM certificate and key; RSA 2048 because every device TLS stack speaks it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "GridLinks Hub")])
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, content_commitment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_server_certificate(cert_file: Path, key_file: Path) -> bool:
    """Generate the pair if neither file exists; True if it did. One file without the
    other is an operator's half-finished replacement: refuse to guess."""
    if cert_file.exists() and key_file.exists():
        return False
    if cert_file.exists() or key_file.exists():
        missing = key_file if cert_file.exists() else cert_file
        raise StartupError(f"TLS: {missing} is missing (give both cert_file and key_file, "
                           "or remove both to have them generated)")
    cert_pem, key_pem = _self_signed(host_names())
    cert_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_file.write_bytes(cert_pem)
    log.info("TLS: generated a server certificate for %s into %s", ", ".join(host_names()), cert_file)
    return True


def server_certificate_files(data_dir: Path, cert_file: Path | None = None,
                             key_file: Path | None = None) -> tuple[Path, Path]:
    """The certificate and key a listener uses: the configured files, or the generated
    pair every listener shares (``data_dir/tls/server.pem`` and ``server.key``)."""
    return cert_file or data_dir / "tls" / "server.pem", key_file or data_dir / "tls" / "server.key"


def ssl_server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A standard-library server context (TLS 1.2+, no client certificates) on the pair,
    generated first if neither file exists: what HTTPS serves."""
    ensure_server_certificate(cert_file, key_file)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"TLS: cannot load {cert_file} / {key_file}: {exc}") from None
    return ctx
