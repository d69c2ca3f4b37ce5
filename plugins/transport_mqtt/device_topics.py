"""The device API over MQTT (SPEC.md section 1): the topics a device session may use.

``TOPICS`` is the whole API: a topic filter and the handler for publishes on it. Adding
a device topic (the claim topics, say) is one handler and one row; a topic in the table
is also what the session's ACL allows. Subscriptions are allowed anywhere under
``v1/devices/me/``: every topic name is the same for every device, and the hub sends to
one session at a time, never fans a publish out, so a subscription can only ever
receive this device's own messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gridlinks.core.errors import HubError
from gridlinks.core.services.claiming import device_reply
from gridlinks.core.services.device_payloads import decode_json
from gridlinks.plugins.transport_mqtt.provisioning import TRANSPORT
from gridlinks.plugins.transport_mqtt.sessions import Connection, topic_matches

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub
    from gridlinks.core.storage.models import Device

log = logging.getLogger(__name__)

ME = "v1/devices/me/"
ATTRIBUTES = ME + "attributes"
ATTRIBUTES_RESPONSE = ME + "attributes/response/"
RPC_RESPONSE = ME + "rpc/response/"
CLAIM_RESPONSE = ME + "claim/response"


@dataclass
class DeviceMessage:
    """One publish from an authenticated device, handed to a topic handler."""

    hub: Hub
    session: Connection
    device: Device
    topic: str
    payload: bytes

    def json(self) -> Any:
        return decode_json(self.payload)

    @property
    def request_id(self) -> str:
        """The last topic level (``.../request/{id}``)."""
        return self.topic.rsplit("/", 1)[-1]

    async def reply(self, topic: str, body: Any) -> None:
        await self.session.send(topic, json.dumps(body).encode())


# A handler returns a coroutine (async def) or, for the hot path, a commit future.
Handler = Callable[[DeviceMessage], "Awaitable[None] | asyncio.Future"]


def telemetry(msg: DeviceMessage) -> asyncio.Future:
    """Validated at once (a bad payload raises BadRequest), then queued: the commit future
    is returned, not awaited, so the session reads its next publishes while this one
    commits (one fast publisher rides group commit instead of paying a commit per
    message). The server acknowledges (PUBACK/PUBREC) only when the future resolves;
    order is kept: the writer commits in queue order."""
    return msg.hub.device_api.post_telemetry(msg.device, msg.payload)


async def client_attributes(msg: DeviceMessage) -> None:
    await msg.hub.device_api.post_attributes(msg.device, msg.payload)


async def attribute_request(msg: DeviceMessage) -> None:
    """``{"clientKeys": "a,b", "sharedKeys": "c"}`` (both optional: none means all),
    answered with the reference's ``{"client": {...}, "shared": {...}}``."""
    result = await msg.hub.device_api.attribute_request(msg.device, msg.payload)
    await msg.reply(ATTRIBUTES_RESPONSE + msg.request_id, result)


async def device_rpc(msg: DeviceMessage) -> None:
    """Client-side RPC. Only ``getSessionLimits`` is served (tb-mqtt-client 1.9+ asks for
    it on connect and waits for the answer); other methods are ignored, as a hub without
    a rule engine has nothing to route them to."""
    body = msg.json()
    if isinstance(body, dict) and body.get("method") == "getSessionLimits":
        await msg.reply(RPC_RESPONSE + msg.request_id, msg.hub.device_api.session_limits(msg.session.max_pending))


async def accepted(msg: DeviceMessage) -> None:
    """Allowed, nothing to do (answers to server-side RPC, which the hub does not send)."""


async def claim(msg: DeviceMessage) -> None:
    """Claim info (SPEC.md section 2). A refusal does not end the session (a device that
    announces itself on every boot would be cut off once owned); the device learns the
    outcome on ``claim/response`` if it subscribed there, and the audit log keeps it."""
    error = None
    try:
        await msg.hub.device_api.post_claim(msg.device, msg.payload, TRANSPORT)
    except HubError as exc:
        error = exc
    if msg.session.subscription_qos(CLAIM_RESPONSE) is not None:
        await msg.reply(CLAIM_RESPONSE, device_reply(error))


async def gateway_claim(msg: DeviceMessage) -> None:
    """``{"Device A": {claim info}, ...}`` from a gateway; each device's outcome is audited.
    A device that is not a gateway, or a payload that is no such map, ends the session."""
    await msg.hub.device_api.gateway_claim(msg.device, msg.payload, TRANSPORT)


TOPICS: list[tuple[str, Handler]] = [
    (ME + "telemetry", telemetry),
    (ATTRIBUTES, client_attributes),
    (ME + "attributes/request/+", attribute_request),
    (ME + "rpc/request/+", device_rpc),
    (ME + "rpc/response/+", accepted),
    (ME + "claim", claim),
    ("v1/gateway/claim", gateway_claim),
]


def route(topic: str) -> Handler | None:
    for topic_filter, handler in TOPICS:
        if topic_matches(topic_filter, topic):
            return handler
    return None


class DevicePolicy:
    """An authenticated device's session: the device API and nothing else."""

    strict = False

    def __init__(self, hub: Hub, device: Device):
        self.hub = hub
        self.device = device
        self.name = f"device {device.name}"

    def may_subscribe(self, topic_filter: str) -> bool:
        return topic_filter.startswith(ME)

    def may_publish(self, topic: str) -> bool:
        return route(topic) is not None

    def handle(self, conn: Connection, topic: str, payload: bytes) -> Any:
        handler = route(topic)
        if handler is not None:
            return handler(DeviceMessage(self.hub, conn, self.device, topic, payload))
        return None
