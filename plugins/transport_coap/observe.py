"""CoAP observe on ``GET /api/v1/{token}/attributes``: shared-attribute changes pushed
to the device that observes them, as the reference does.

The registry is keyed by device id. It learns of changes from the bus event
``attributes_updated`` (scope SHARED_SCOPE) and hands each observation of that device
a notification of its own: aiocoap stamps the Observe sequence number onto the message
it is given, so one message object must not be shared between observers. The payload
is the reference's notification shape, the changed keys only: ``{"key": value}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aiocoap import Code, Message

from gridlinks.core.events import AttributesDeleted, AttributesUpdated, CredentialsRevoked, DeviceDeleted
from gridlinks.core.storage.models import Scope
from gridlinks.plugins.transport_coap.routes import json_response

log = logging.getLogger(__name__)

# How many loop turns stop() waits for observation pipes to send their last message.
_DRAIN_TURNS = 50


class AttributeObservers:
    def __init__(self, hub, max_per_device: int):
        self.hub = hub
        self.max_per_device = max_per_device
        self._by_device: dict[str, set[Any]] = defaultdict(set)
        self._unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        # Observers: the device's notification never holds up the answer to whoever
        # changed the attribute (the bus keeps each device's notifications in order).
        # Ending blocks, as the MQTT sessions': once a device's credentials are revoked
        # (re-provisioned, reset) or it is deleted, whoever observed with them hears no more.
        self._unsubscribe = [self.hub.bus.listen(AttributesUpdated, self._on_attributes_updated, blocking=False),
                             self.hub.bus.listen(AttributesDeleted, self._on_attributes_deleted, blocking=False),
                             self.hub.bus.listen(CredentialsRevoked, self._end_device),
                             self.hub.bus.listen(DeviceDeleted, self._end_device)]

    async def stop(self) -> None:
        """End every observation with 5.03 (the reference's answer when it closes a
        session) and let their pipes finish, so no aiocoap task outlives the hub."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        for observations in list(self._by_device.values()):
            for observation in list(observations):
                observation.trigger(Message(code=Code.SERVICE_UNAVAILABLE), is_last=True)
        for _ in range(_DRAIN_TURNS):
            if not self.count():
                break
            await asyncio.sleep(0)

    def add(self, device, observation) -> bool:
        """Accept ``observation`` for ``device``; refuse (plain GET answer) over the cap."""
        key = str(device.id)
        observations = self._by_device[key]
        if len(observations) >= self.max_per_device:
            log.info("device %s: observe refused, %d observations already", device.name, len(observations))
            if not observations:
                del self._by_device[key]
            return False

        def cancelled() -> None:
            observations.discard(observation)
            if not observations and self._by_device.get(key) is observations:
                del self._by_device[key]

        observations.add(observation)
        observation.accept(cancelled)
        return True

    def count(self, device_id: Any = None) -> int:
        if device_id is not None:
            return len(self._by_device.get(str(device_id), ()))
        return sum(len(v) for v in self._by_device.values())

    def _end_device(self, event: CredentialsRevoked | DeviceDeleted) -> None:
        """The device's observations end with 4.01: the token they were made with is no longer valid."""
        for observation in list(self._by_device.get(str(event.device_id), ())):
            observation.trigger(Message(code=Code.UNAUTHORIZED), is_last=True)

    def _on_attributes_updated(self, event: AttributesUpdated) -> None:
        self._notify(event, event.values or {})

    def _on_attributes_deleted(self, event: AttributesDeleted) -> None:
        """The reference's notification for removed shared attributes: ``{"deleted": [keys]}``."""
        self._notify(event, {"deleted": list(event.keys or [])})

    def _notify(self, event: AttributesUpdated | AttributesDeleted, payload: dict[str, Any]) -> None:
        if event.scope != Scope.SHARED:
            return
        for observation in list(self._by_device.get(str(event.device_id), ())):
            observation.trigger(json_response(payload))
