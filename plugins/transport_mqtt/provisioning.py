"""The ``provision`` login (SPEC.md section 1, MQTT): a session that may only publish
``/provision/request`` and subscribe ``/provision/response``. The reply goes to the
requesting session alone, on the request's MQTT 5 response topic if it named one (every
provisioning device uses the same topic names, so a broker fan-out would hand one device's
credentials to all), and the session is closed
``mqtt.provision_close_delay_s`` after it."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.device_payloads import decode_json
from gridlinks.core.services.provisioning import FAILURE_BODY
from gridlinks.core.types import RestrictedSession, SessionChannel
from gridlinks.plugins.transport_mqtt.sessions import NORMAL

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub

PROVISION = "provision"
REQUEST_TOPIC = "/provision/request"
RESPONSE_TOPIC = "/provision/response"
TRANSPORT = "MQTT"


def is_provision_login(client_id: str | None, username: str | None) -> bool:
    return username == PROVISION or client_id == PROVISION


async def answer(hub: Hub, payload: bytes, peer_certificate: bytes | None = None) -> dict[str, Any]:
    """The response body for one request. Not JSON, or not a well-formed request: the
    FAILURE body (the reference would try its protobuf schema; there is none here).
    ``peer_certificate``: the TLS client certificate, proof for re-provisioning."""
    try:
        return await hub.provisioning.provision(decode_json(payload, "provision request"), TRANSPORT,
                                                peer_certificate=peer_certificate)
    except BadRequest as exc:
        return {**FAILURE_BODY, "errorMsg": f"{FAILURE_BODY['errorMsg']} ({exc})"}


def provision_session(hub: Hub, close_delay_s: float, peer_certificate: bytes | None = None) -> RestrictedSession:
    async def on_publish(channel: SessionChannel, topic: str, payload: bytes) -> None:
        body = await answer(hub, payload, peer_certificate)
        await channel.send(RESPONSE_TOPIC, json.dumps(body).encode())
        hub.create_task(_close_later(channel, close_delay_s), name="mqtt-provision-close")

    return RestrictedSession(PROVISION, publish=(REQUEST_TOPIC,), subscribe=(RESPONSE_TOPIC,), on_publish=on_publish)


async def _close_later(channel: SessionChannel, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    channel.close("provisioning done", NORMAL)
