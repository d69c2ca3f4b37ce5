"""The webhook call: one signed POST per new device, answered within ``timeout_s``.

Headers: ``X-GridLinks-Timestamp`` (unix seconds), ``X-GridLinks-Signature:
sha256=<hex>`` = HMAC-SHA256(secret, ``<timestamp>.<raw body>``), ``X-GridLinks-Delivery``
(a UUID), ``X-GridLinks-Event: pre_provision``. The receiver checks the signature in
constant time and refuses stale timestamps (docs/pre-provision-hook.md has a receiver).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import aiohttp
from pydantic import Field

from gridlinks.core.config import Settings
from gridlinks.core.services.pre_provision import PreProvisionDecision, PreProvisionError, public_request
from gridlinks.core.storage.models import DeviceProfile
from gridlinks.core.types import ProvisionPlan, ProvisionRequest

SECTION = "provision_webhook"
SERVICE = "provision_webhook"
SIGNATURE_HEADER = "X-GridLinks-Signature"
TIMESTAMP_HEADER = "X-GridLinks-Timestamp"
DELIVERY_HEADER = "X-GridLinks-Delivery"
EVENT_HEADER = "X-GridLinks-Event"
MAX_ANSWER_BYTES = 65536


class WebhookSettings(Settings):
    url: str | None = Field(None, description="where to POST; empty: the webhook is off")
    secret: str | None = Field(None, description="HMAC-SHA256 key; write $env:NAME to read it from the environment")
    timeout_s: float = Field(5.0, gt=0, le=120)
    profiles: list[str] = Field(default_factory=list, description="profile names it applies to; empty: all")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-GridLinks-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class ProvisionWebhook:
    def __init__(self, settings: WebhookSettings):
        self.settings = settings

    def applies_to(self, profile: DeviceProfile) -> bool:
        return bool(self.settings.url) and (not self.settings.profiles or profile.name in self.settings.profiles)

    @staticmethod
    def payload(request: ProvisionRequest, profile: DeviceProfile, plan: ProvisionPlan) -> dict[str, Any]:
        public = public_request(request, plan)
        return {"event": "pre_provision", "tenantId": str(profile.tenant_id),
                "profile": {"id": str(profile.id), "name": profile.name, "provisionType": profile.provision_type},
                "transport": request.transport, "deviceName": public.get("deviceName"), "request": public}

    async def ask(self, request: ProvisionRequest, profile: DeviceProfile,
                  plan: ProvisionPlan) -> PreProvisionDecision:
        settings = self.settings
        assert settings.url and settings.secret
        delivery = str(uuid.uuid4())
        body = json.dumps({**self.payload(request, profile, plan), "deliveryId": delivery},
                          separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp, DELIVERY_HEADER: delivery,
                   EVENT_HEADER: "pre_provision", SIGNATURE_HEADER: signature(settings.secret, timestamp, body)}
        timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.post(settings.url, data=body, headers=headers, allow_redirects=False) as response:
                raw = await response.content.read(MAX_ANSWER_BYTES + 1)
                status = response.status
        except TimeoutError:
            raise PreProvisionError(f"webhook: no answer within {settings.timeout_s:g} s") from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise PreProvisionError(f"webhook: {type(exc).__name__}: {exc}") from None
        if not 200 <= status < 300:
            raise PreProvisionError(f"webhook answered HTTP {status}")
        if len(raw) > MAX_ANSWER_BYTES:
            raise PreProvisionError("webhook answer is too large")
        try:
            answer = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise PreProvisionError("webhook answer is not JSON") from None
        return PreProvisionDecision.from_json(answer, source="webhook")
