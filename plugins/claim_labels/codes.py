"""The claim code printed in a label's QR code: ``GLC1.<payload>.<signature>``, both
base64url without padding; the payload is compact JSON ``{"b": batch, "d": device
name, "s": claim secret, "u": valid until (epoch seconds)}`` and the signature is the
hub's Ed25519 signature of the payload bytes. Anyone with the hub's public key
(``gridlinks claim-labels key``) can check a label; the hub accepts it once."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "GLC1"
MAX_CODE = 2048


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class LabelCode:
    batch: str
    device_name: str
    secret: str
    valid_until_s: int


def make_code(key: Ed25519PrivateKey, batch: str, device_name: str, valid_until_s: int) -> str:
    payload = json.dumps({"b": batch, "d": device_name, "s": secrets.token_urlsafe(16), "u": valid_until_s},
                         separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return f"{PREFIX}.{_b64(payload)}.{_b64(key.sign(payload))}"


def read_code(public_key: Ed25519PublicKey, code: str) -> LabelCode | None:
    """The code's content if its signature verifies, else None (never raises)."""
    if not isinstance(code, str) or len(code) > MAX_CODE:
        return None
    parts = code.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    try:
        payload, signature = _unb64(parts[1]), _unb64(parts[2])
        if _b64(payload) != parts[1] or _b64(signature) != parts[2]:
            return None  # one spelling per code: no second string with the same signature
        public_key.verify(signature, payload)
        data = json.loads(payload)
        return LabelCode(str(data["b"]), str(data["d"]), str(data["s"]), int(data["u"]))
    except (ValueError, binascii.Error, InvalidSignature, KeyError, TypeError):
        return None
