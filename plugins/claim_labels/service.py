"""Claim labels (``hub.services["claim_labels"]``): the hub's Ed25519 label key (in the
``hub_secret`` table, so every node of a hub shares it), label batches, their one-time
codes, and the claim strategy that offers a device's code to the claim service."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tortoise.exceptions import IntegrityError

from gridlinks.core.errors import BadRequest, NotFound
from gridlinks.core.services.claiming import lookup_name
from gridlinks.core.storage.models import Device, DeviceProfile, HubSecret, now_ms
from gridlinks.core.storage.writes import Insert, Op, Update
from gridlinks.core.types import ClaimInfo
from gridlinks.plugins.claim_labels.codes import make_code, read_code
from gridlinks.plugins.claim_labels.events import ClaimLabelsIssued, ClaimLabelsRevoked
from gridlinks.plugins.claim_labels.models import ClaimLabel, ClaimLabelBatch

SERVICE = "claim_labels"
KEY_NAME = "claim_label_ed25519"
SOURCE = "CLAIM_LABEL"
MAX_BATCH = 100_000


class ClaimLabels:
    def __init__(self, hub):
        self.hub = hub
        self._key: Ed25519PrivateKey | None = None

    async def key(self) -> Ed25519PrivateKey:
        """Generated once by whichever node needs it first; every node then uses that one."""
        if self._key is None:
            row = await HubSecret.get_or_none(name=KEY_NAME)
            if row is None:
                raw = Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
                try:
                    await self.hub.storage.write([Insert(HubSecret, {"name": KEY_NAME,
                                                                     "value": base64.b64encode(raw).decode()})])
                except IntegrityError:
                    pass  # another node stored one first
                row = await HubSecret.get(name=KEY_NAME)
            self._key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(row.value))
        return self._key

    async def public_key_pem(self) -> str:
        return (await self.key()).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    async def issue(self, profile: DeviceProfile, names: Sequence[str], valid_until_ms: int,
                    actor: str) -> tuple[ClaimLabelBatch, list[tuple[str, str]]]:
        """A batch of one code per device name, written as one unit."""
        if not names:
            raise BadRequest("no device names")
        if len(names) > MAX_BATCH:
            raise BadRequest(f"at most {MAX_BATCH} labels in one batch")
        if valid_until_ms <= now_ms():
            raise BadRequest("the valid-until date has passed")
        key = await self.key()
        batch_id = secrets.token_hex(4)
        codes = [(name, make_code(key, batch_id, name, valid_until_ms // 1000)) for name in names]
        ops: list[Op] = [Insert(ClaimLabelBatch, {"id": batch_id, "tenant_id": profile.tenant_id,
                                                  "profile_name": profile.name, "count": len(codes),
                                                  "valid_until_ms": valid_until_ms})]
        ops += [Insert(ClaimLabel, {"batch_id": batch_id, "tenant_id": profile.tenant_id, "device_name": name,
                                    "code": code, "valid_until_ms": valid_until_ms}) for name, code in codes]
        await self.hub.storage.write(ops)
        await self.hub.bus.fire(ClaimLabelsIssued(outcome="SUCCESS", tenant_id=str(profile.tenant_id),
                                                  batch=batch_id, profile=profile.name, count=len(codes),
                                                  valid_until_ms=valid_until_ms, actor=actor))
        return await ClaimLabelBatch.get(id=batch_id), codes

    async def revoke(self, tenant_id: Any, batch_id: str, actor: str) -> ClaimLabelBatch:
        """Every unused code of the batch is refused from now on."""
        batch = await ClaimLabelBatch.get_or_none(id=batch_id[:16], tenant_id=tenant_id)
        if batch is None:
            raise NotFound(f"no label batch {batch_id!r}")
        await self.hub.storage.write([Update(ClaimLabelBatch, {"revoked_ms": now_ms()}, {"id": batch.id},
                                             where_null=("revoked_ms",))])
        await self.hub.bus.fire(ClaimLabelsRevoked(outcome="SUCCESS", tenant_id=str(tenant_id), batch=batch.id,
                                                   actor=actor))
        return await ClaimLabelBatch.get(id=batch.id)

    async def batches(self, tenant_id: Any) -> list[tuple[ClaimLabelBatch, int]]:
        out = []
        for batch in await ClaimLabelBatch.filter(tenant_id=tenant_id).order_by("created_ms"):
            used = await ClaimLabel.filter(batch_id=batch.id, used_ms__isnull=False).count()
            out.append((batch, used))
        return out

    async def pending(self, device: Device) -> ClaimLabel | None:
        """The device's newest unused label of an unrevoked batch whose signature verifies."""
        labels = await ClaimLabel.filter(tenant_id=device.tenant_id, device_name=device.name,
                                         used_ms__isnull=True).order_by("-id")
        if not labels:
            return None
        live = set(await ClaimLabelBatch.filter(id__in={label.batch_id for label in labels},
                                                revoked_ms__isnull=True).values_list("id", flat=True))
        public = (await self.key()).public_key()
        for label in labels:
            content = read_code(public, label.code) if label.batch_id in live else None
            if content is not None and content.device_name == device.name:
                return label
        return None


class LabelClaimStrategy:
    """A printed label's code is the device's server-side claim secret until it is used
    (or its batch revoked). Asked before the device's own claim info: the label is the
    operator's deliberate choice."""

    name = SOURCE
    order = 5

    def __init__(self, service: ClaimLabels):
        self.service = service

    async def find(self, device: Device) -> ClaimInfo | None:
        label = await self.service.pending(device)
        return None if label is None else ClaimInfo(label.code, label.valid_until_ms, SOURCE)

    async def register(self, device: Device, info: ClaimInfo) -> None:
        return None

    async def discard(self, device: Device) -> None:
        """Nothing: the claim marks the code used in its own unit (``claim_ops``)."""

    def claim_ops(self, device: Device) -> list[Op]:
        """Committed with the claim: the device's unused codes are used up, so a code
        works once even if the device is later released and claimed again."""
        return [Update(ClaimLabel, {"used_ms": now_ms()}, {"tenant_id": device.tenant_id, "device_name": device.name},
                       where_null=("used_ms",))]


def device_names(rows: Sequence[Sequence[str]]) -> list[str]:
    """The first column of a CSV (a header ``name``/``deviceName`` skipped), each name
    once; a name no device could have is an error naming its row."""
    names: list[str] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, 1):
        cell = row[0].strip() if row else ""
        if not cell or (number == 1 and cell.lower() in ("name", "devicename", "device", "device name")):
            continue
        if lookup_name(cell) is None:
            raise BadRequest(f"row {number}: {cell[:40]!r} is not a valid device name")
        if cell not in seen:
            seen.add(cell)
            names.append(cell)
    return names
