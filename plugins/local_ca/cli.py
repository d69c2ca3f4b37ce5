"""``gridlinks ca show|rotate|import|revoke|issued``: the default tenant's device CA."""

from __future__ import annotations

import argparse
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from rich.console import Console

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.core.storage.models import DeviceCredentials
from gridlinks.plugins.local_ca.authority import Authority
from gridlinks.plugins.x509.certificates import CSR_SIGNER, X509_CERTIFICATE

ACTOR = "cli"
out = Console()


def _say(text: str) -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def _describe(authority: Authority, pem: bool) -> None:
    cert = authority.cert
    _say(f"subject:     {cert.subject.rfc4514_string()}")
    _say(f"serial:      {cert.serial_number:x}")
    _say(f"valid until: {cert.not_valid_after_utc.isoformat()}")
    _say(f"sha256:      {cert.fingerprint(hashes.SHA256()).hex(':')}")
    for old in authority.retired:
        _say(f"retired:     serial {old.serial_number:x}, trusted until {old.not_valid_after_utc.isoformat()}")
    if pem:
        _say(authority.pem.rstrip())


async def cmd_show(hub, args) -> int:
    tenant = await default_tenant(hub)
    _describe(await hub.services[CSR_SIGNER].authority(tenant.id, ACTOR), args.pem)
    return 0


async def cmd_rotate(hub, args) -> int:
    tenant = await default_tenant(hub)
    authority = await hub.services[CSR_SIGNER].rotate(tenant.id, ACTOR)
    _say("rotated: new certificates are signed by this CA; the previous one stays trusted until it expires")
    _describe(authority, args.pem)
    return 0


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise BadRequest(f"cannot read {path}: {exc.strerror}") from None


async def cmd_import(hub, args) -> int:
    tenant = await default_tenant(hub)
    authority = await hub.services[CSR_SIGNER].import_ca(tenant.id, _read(args.cert), _read(args.key), ACTOR)
    _say("imported: new certificates are signed by this CA")
    _describe(authority, False)
    return 0


async def cmd_revoke(hub, args) -> int:
    tenant = await default_tenant(hub)
    rows = await hub.services[CSR_SIGNER].revoke(tenant.id, serial=args.serial, device_name=args.device,
                                                 reason=args.reason, actor=ACTOR)
    for row in rows:
        _say(f"revoked serial {row.serial} ({row.device_name})")
    return 0


async def cmd_issued(hub, args) -> int:
    tenant = await default_tenant(hub)
    rows = await hub.services[CSR_SIGNER].issued(tenant.id, args.device)
    held = set(await DeviceCredentials.filter(credentials_type=X509_CERTIFICATE,
                                              credentials_id__in=[r.cert_id for r in rows]).values_list(
        "credentials_id", flat=True)) if rows else set()
    for row in rows:
        # "not held": signed, but no device holds it (its provision request failed after signing, or it was replaced)
        state = "revoked" if row.revoked_ms else "held by a device" if row.cert_id in held else "not held"
        _say(f"{row.serial}  {row.device_name}  CA {row.ca_serial}  {state}")
    return 0


def _pem(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pem", action="store_true", help="also print the CA certificate (PEM)")


def _import(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cert", required=True, help="the CA certificate (PEM, basicConstraints CA:TRUE)")
    p.add_argument("--key", required=True, help="its private key (PEM, unencrypted); copied with mode 0600")


def _revoke(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--serial", help="the certificate's serial (hex)")
    which.add_argument("--device", help="every certificate signed for this device name")
    p.add_argument("--reason", default="revoked by an operator")


def register(register) -> None:
    register("show", cmd_show, group="ca", configure=_pem, help="the device CA (generated on first use)")
    register("rotate", cmd_rotate, group="ca", configure=_pem,
             help="a new device CA; certificates of the old one stay valid until they expire")
    register("import", cmd_import, group="ca", configure=_import, help="use your own CA certificate and key")
    register("revoke", cmd_revoke, group="ca", configure=_revoke,
             help="revoke a certificate the CA signed (its credential is deleted, the serial refused)")
    register("issued", cmd_issued, group="ca", configure=lambda p: p.add_argument("--device"),
             help="certificates the CA signed")
