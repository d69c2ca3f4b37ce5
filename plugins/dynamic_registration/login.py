"""The MQTT side of dynamic registration (SPEC.md section 3, seeds/004): who a
``${ProductSN}|${DeviceSN}|${authmode}`` login is, and the password request.

- authmode 2 + ProductSecret, ClientID ``${ProductSN}.${DeviceSN}``: a restricted session
  that may only subscribe ``/$system/${ProductSN}/${DeviceSN}/password_reply`` and
  publish ``/$system/${ProductSN}/${DeviceSN}/password`` (the transport closes it on
  anything else). The CONNECT proves only that the device knows the product's secret;
  the switch, the whitelist and the device's state are checked per request, so the
  device learns why it is refused (a RetCode and a message) instead of a bare CONNACK 5.
- authmode 1 + device secret: the device itself (the device API). Independent of the
  switch: turning dynamic registration off stops new registrations, it does not lock
  out devices that already have their secret.
- a wrong ProductSN, ProductSecret or device secret, a ClientID that is not
  ``${ProductSN}.${DeviceSN}``, an unknown or disabled device on authmode 1: refused at
  CONNECT (CONNACK 5), with the reason in the audit log only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.device_payloads import decode_json
from gridlinks.core.services.tokens import secrets_equal
from gridlinks.core.storage.models import Device, DeviceProfile
from gridlinks.core.types import PresentedCredentials, RestrictedSession, SessionChannel
from gridlinks.plugins.dynamic_registration.events import (
    DeviceActivated,
    DevicePasswordIssued,
    DevicePasswordRefused,
    RegistrationLoginRefused,
)
from gridlinks.plugins.dynamic_registration.models import STATIC
from gridlinks.plugins.dynamic_registration.products import is_product, switched_on
from gridlinks.plugins.dynamic_registration.store import NothingToIssue, SecretStore

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub

log = logging.getLogger(__name__)

STATIC_LOGIN, DYNAMIC_LOGIN = "1", "2"


class RetCode:
    """The password reply's ``RetCode`` (a string, as in the seed) and its message."""

    OK = "0"
    BAD_REQUEST = ("1", "the request must be a JSON object such as {\"RequestID\": \"100\"}")
    SWITCHED_OFF = ("2", "dynamic registration is switched off for this product")
    NOT_WHITELISTED = ("3", "DeviceSN is not on this product's whitelist")
    DISABLED = ("4", "the device is disabled")
    ACTIVATED = ("5", "the device is already activated; an admin must reset it before it can register again")
    STATIC_ONLY = ("6", "the device has a secret set by an admin; log in with authmode 1")


@dataclass(frozen=True)
class Login:
    product_sn: str
    device_sn: str
    authmode: str

    @property
    def client_id(self) -> str:
        return f"{self.product_sn}.{self.device_sn}"

    @property
    def topic_prefix(self) -> str:
        return f"/$system/{self.product_sn}/{self.device_sn}/"


def parse_login(username: str | None) -> Login | None:
    """``ProductSN|DeviceSN|authmode`` or None (then it is some other credential type's)."""
    if not username:
        return None
    parts = username.split("|")
    if len(parts) != 3 or not parts[0] or not parts[1] or parts[2] not in (STATIC_LOGIN, DYNAMIC_LOGIN):
        return None
    return Login(*parts)


def parse_request(payload: bytes) -> tuple[Any, bool]:
    """(RequestID to echo, whether the request is well formed). RequestID is whatever
    the device chose (a string in the seed; numbers are echoed as sent)."""
    try:
        body = decode_json(payload, "registration request")
    except BadRequest:
        return "", False
    if not isinstance(body, dict):
        return "", False
    request_id = body.get("RequestID", "")
    if isinstance(request_id, bool) or not isinstance(request_id, (str, int, float)):
        return "", False
    return request_id, True


class DynamicLogin:
    def __init__(self, hub: Hub, store: SecretStore, close_delay_s: float):
        self.hub = hub
        self.store = store
        self.close_delay_s = close_delay_s

    async def authenticate(self, presented: PresentedCredentials) -> Device | RestrictedSession | None:
        login = parse_login(presented.username)
        if login is None:
            return None
        profile = await self.hub.profiles.by_provision_key(login.product_sn)
        if profile is None:
            return await self._refused(login, presented, None, "unknown ProductSN")
        if presented.client_id != login.client_id:
            return await self._refused(login, presented, profile, "ClientID is not ${ProductSN}.${DeviceSN}")
        if login.authmode == DYNAMIC_LOGIN:
            if not is_product(profile) or not secrets_equal(presented.password or "", profile.provision_secret):
                return await self._refused(login, presented, profile, "ProductSecret does not match")
            return self._password_session(login, presented.transport)
        device = await Device.get_or_none(tenant_id=profile.tenant_id, profile_id=profile.id, name=login.device_sn)
        if device is None or not device.enabled:
            reason = "device is disabled" if device is not None else "DeviceSN is not in this product"
            return await self._refused(login, presented, profile, reason)
        outcome = await self.store.verify(device, presented.password)
        if outcome is None:
            return await self._refused(login, presented, profile, "device secret does not match")
        if outcome == "activated":
            await self.hub.bus.fire(DeviceActivated(**_about(profile, device), outcome="SUCCESS",
                                                    transport=presented.transport))
        return device

    async def _refused(self, login: Login, presented: PresentedCredentials, profile: DeviceProfile | None,
                       reason: str) -> None:
        log.info("dynamic registration login %s|%s|%s refused: %s", login.product_sn, login.device_sn,
                 login.authmode, reason)
        await self.hub.bus.fire(RegistrationLoginRefused(
            outcome="FAILURE", reason=reason, authmode=int(login.authmode), transport=presented.transport,
            device_name=login.device_sn, tenant_id=str(profile.tenant_id) if profile else None,
            profile=profile.name if profile else None))
        return None

    # -- authmode 2: the password request -------------------------------------------------

    def _password_session(self, login: Login, transport: str) -> RestrictedSession:
        async def on_publish(channel: SessionChannel, topic: str, payload: bytes) -> None:
            body = await self.answer(login, payload, transport)
            await channel.send(login.topic_prefix + "password_reply", json.dumps(body).encode())
            self.hub.create_task(_close_later(channel, self.close_delay_s), name="dynreg-close")

        return RestrictedSession(
            f"dynamic registration {login.client_id}", publish=(login.topic_prefix + "password",),
            subscribe=(login.topic_prefix + "password_reply",), on_publish=on_publish)

    async def answer(self, login: Login, payload: bytes, transport: str) -> dict[str, Any]:
        """The password reply: the switch, the whitelist and the device's state, checked
        now (not at CONNECT: an admin may have changed them since)."""
        request_id, well_formed = parse_request(payload)
        profile = await self.hub.profiles.by_provision_key(login.product_sn)
        device = None
        if not well_formed:
            refusal = RetCode.BAD_REQUEST
        elif profile is None or not switched_on(profile):
            refusal = RetCode.SWITCHED_OFF
        else:
            device = await Device.get_or_none(tenant_id=profile.tenant_id, profile_id=profile.id,
                                              name=login.device_sn)
            refusal = RetCode.NOT_WHITELISTED if device is None else None if device.enabled else RetCode.DISABLED
        if refusal is None:
            try:
                issued = await self.store.issue(device)
            except NothingToIssue as exc:
                refusal = RetCode.STATIC_ONLY if exc.mode == STATIC else RetCode.ACTIVATED
            else:
                await self.hub.bus.fire(DevicePasswordIssued(
                    **_about(profile, device), outcome="SUCCESS", transport=transport, resent=issued.resent))
                return {"RetCode": RetCode.OK, "RequestID": request_id, "Password": issued.secret}
        code, message = refusal
        await self.hub.bus.fire(DevicePasswordRefused(
            outcome="FAILURE", reason=message, ret_code=code, transport=transport,
            device_name=login.device_sn, device_id=str(device.id) if device else None,
            tenant_id=str(profile.tenant_id) if profile else None, profile=profile.name if profile else None))
        return {"RetCode": code, "RequestID": request_id, "Message": message}


def _about(profile: DeviceProfile, device: Device) -> dict[str, Any]:
    return {"tenant_id": str(profile.tenant_id), "device_id": str(device.id), "device_name": device.name,
            "profile": profile.name}


async def _close_later(channel: SessionChannel, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    channel.close("dynamic registration: password request answered")
