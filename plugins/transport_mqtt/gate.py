"""The hub's side of the MQTT server: who a CONNECT is, what its session may do, and
what the hub pushes to devices. No wire types here: the server (``protocol.py``) calls
these methods with :class:`Connection` objects.

Decisions:
- ``provision`` logins get the provision-only session (``provisioning.py``);
- everything else goes to ``hub.credentials.authenticate_session``: a device gets the
  device API (``device_topics.py``), a :class:`RestrictedSession` gets its own topics;
  nothing known: refused (CONNACK 5 in 3.1.1; 0x86 or 0x87 in MQTT 5);
- publishes are never fanned out: the hub handles each one, in order per session
  (the server does that), and answers the sender alone;
- errors while pushing end the session: :func:`_end_on_error`.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from gridlinks.core.errors import HubError
from gridlinks.core.events import (
    AttributesDeleted,
    AttributesUpdated,
    CredentialsRevoked,
    DeviceConnected,
    DeviceDeleted,
)
from gridlinks.core.storage.models import Device, Scope
from gridlinks.core.types import PresentedCredentials, RestrictedSession
from gridlinks.plugins.transport_mqtt.device_topics import ATTRIBUTES, DevicePolicy
from gridlinks.plugins.transport_mqtt.provisioning import TRANSPORT, is_provision_login, provision_session
from gridlinks.plugins.transport_mqtt.sessions import (
    ADMINISTRATIVE_ACTION,
    NOT_AUTHORIZED,
    PACKET_TOO_LARGE,
    Connection,
    RestrictedPolicy,
)

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub
    from gridlinks.plugins.transport_mqtt.settings import MqttSettings

log = logging.getLogger(__name__)


class MqttGate:
    def __init__(self, hub: Hub, settings: MqttSettings):
        self.hub = hub
        self.settings = settings
        self.by_device: dict[str, set[Connection]] = defaultdict(set)
        self._unlisten: list = []

    def attach(self) -> None:
        # Pushes are observers: the admin's answer does not wait for a device's PUBACK
        # (the bus keeps each device's pushes in order). Ending sessions blocks: once a
        # device is deleted or its credentials reset, its old session is gone.
        self._unlisten = [self.hub.bus.listen(AttributesUpdated, self._push_shared_attributes, blocking=False),
                          self.hub.bus.listen(AttributesDeleted, self._push_shared_attributes, blocking=False),
                          self.hub.bus.listen(DeviceDeleted, self._end_device_sessions),
                          self.hub.bus.listen(CredentialsRevoked, self._end_device_sessions)]

    def detach(self) -> None:
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten = []

    # -- CONNECT -------------------------------------------------------------------

    async def authenticate(self, conn: Connection) -> bool:
        conn.max_pending = self.settings.receive_maximum
        leaf, chain = conn.certificates()
        if is_provision_login(conn.client_id, conn.username):
            conn.policy = RestrictedPolicy(provision_session(self.hub, self.settings.provision_close_delay_s, leaf))
            return True
        presented = PresentedCredentials(TRANSPORT, token=conn.username, client_id=conn.client_id,
                                         username=conn.username, password=conn.password,
                                         certificate_der=leaf, chain_der=chain)
        result = await self.hub.credentials.authenticate_session(presented)
        if isinstance(result, RestrictedSession):
            conn.policy = RestrictedPolicy(result)
        elif isinstance(result, Device):
            conn.policy = DevicePolicy(self.hub, result)
            self.by_device[str(result.id)].add(conn)
            await self.hub.bus.fire(DeviceConnected(device_id=str(result.id), device_name=result.name,
                                                    transport=TRANSPORT))
        else:
            what = "certificate" if leaf else "user name" if conn.username else "no credentials"
            log.info("MQTT login refused from %s (%s)", conn.describe(), what)
            reason = "no credentials" if what == "no credentials" else f"unknown {what}"
            await self.hub.rejections.auth_failed(TRANSPORT, "CONNACK not authorized", reason,
                                                  None if leaf else conn.username)
            return False
        return True

    def closed(self, conn: Connection) -> None:
        conn.closed = True
        device = conn.device
        if isinstance(conn.policy, DevicePolicy) and device is not None:
            sessions = self.by_device.get(str(device.id))
            if sessions is not None:
                sessions.discard(conn)
                if not sessions:
                    del self.by_device[str(device.id)]

    # -- ACL and publishes -----------------------------------------------------------

    def refuse_publish(self, conn: Connection, topic: str, payload: bytes) -> tuple[int, str] | None:
        """Why this publish may not be handled, as (MQTT 5 reason code, reason); None if it may."""
        policy = conn.policy
        if policy is None:
            return NOT_AUTHORIZED, "not logged in"
        if not policy.may_publish(topic):
            return NOT_AUTHORIZED, f"publish to {topic!r} is not allowed in a {policy.name} session"
        if len(payload) > self.hub.settings.max_payload_bytes:
            return PACKET_TOO_LARGE, f"payload of {len(payload)} bytes is over max_payload_bytes"
        return None

    # -- pushes ------------------------------------------------------------------------

    async def _push_shared_attributes(self, event: AttributesUpdated | AttributesDeleted) -> None:
        """Changed shared attributes as ``{"key": value}``, removed ones as the
        reference's ``{"deleted": [keys]}``, to the device's subscribed sessions."""
        if event.scope != Scope.SHARED:
            return
        if isinstance(event, AttributesDeleted):
            payload = json.dumps({"deleted": list(event.keys or [])}).encode()
        else:
            payload = json.dumps(event.values or {}).encode()
        for conn in list(self.by_device.get(str(event.device_id), ())):
            qos = conn.subscription_qos(ATTRIBUTES)
            if qos is not None:
                await _end_on_error(conn, conn.send(ATTRIBUTES, payload, qos))

    async def _end_device_sessions(self, event: DeviceDeleted | CredentialsRevoked) -> None:
        """A deleted device, or one whose credentials were reset, loses its open sessions:
        it must log in again with whatever credentials are valid now."""
        for conn in list(self.by_device.get(str(event.device_id), ())):
            conn.close(event.name.replace("_", " "), ADMINISTRATIVE_ACTION)


async def _end_on_error(conn: Connection, work) -> None:
    """A push that fails ends the session (there is no request to answer with an error)."""
    try:
        await work
    except HubError as exc:
        conn.close(f"{type(exc).__name__}: {exc}")
    except Exception:
        log.exception("MQTT session %s: unexpected error", conn.describe())
        conn.close("internal error")
