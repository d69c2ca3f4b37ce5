"""paho-mqtt 2.x (the hub's own test venv) driven from async tests.

paho is a blocking, threaded client and the hub under test runs on the test's event loop,
so every call that waits (connect, publish acknowledgements, the next message) runs in a
worker thread (``asyncio.to_thread``); callbacks land in queues. Every wait is bounded."""

from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

V311, V5 = mqtt.MQTTv311, mqtt.MQTTv5
WAIT_S = 20.0


def properties(packet_type: int, **values: Any) -> Properties:
    """paho Properties of ``packet_type`` with spec names as keywords (TopicAlias=1...)."""
    props = Properties(packet_type)
    for name, value in values.items():
        setattr(props, name, value)
    return props


def publish_properties(**values: Any) -> Properties:
    return properties(PacketTypes.PUBLISH, **values)


@dataclass
class Message:
    topic: str
    payload: bytes
    qos: int
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class Disconnect:
    reason: int
    from_server: bool


class Paho:
    """One paho client. ``reason`` values are the wire reason codes (paho's ReasonCode.value)."""

    def __init__(self, version: int, client_id: str = "", username: str | None = None,
                 password: str | None = None):
        self.version = version
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack: queue.Queue = queue.Queue()
        self.messages: queue.Queue[Message] = queue.Queue()
        self.disconnects: queue.Queue[Disconnect] = queue.Queue()
        self.subacks: dict[int, list[int]] = {}
        self.pubacks: dict[int, int] = {}
        self._acked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = self._on_disconnect
        self.connack_properties: dict[str, Any] = {}

    # -- callbacks (paho's network thread) ----------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, props) -> None:
        self.connack_properties = _props(props)
        self.connack.put(reason_code.value)

    def _on_message(self, client, userdata, message) -> None:
        self.messages.put(Message(message.topic, message.payload, message.qos,
                                  _props(getattr(message, "properties", None))))

    def _on_subscribe(self, client, userdata, mid, reason_codes, props) -> None:
        with self._acked:
            self.subacks[mid] = [rc.value for rc in reason_codes]
            self._acked.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, props) -> None:
        with self._acked:
            self.pubacks[mid] = reason_code.value
            self._acked.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, props) -> None:
        self.disconnects.put(Disconnect(reason_code.value, flags.is_disconnect_packet_from_server))

    # -- blocking calls (run them with asyncio.to_thread) -------------------------------

    def _connect(self, port: int, props: Properties | None, keepalive: int) -> int:
        self.client.connect("127.0.0.1", port, keepalive=keepalive,
                            **({"properties": props} if self.version == V5 else {}))
        self.client.loop_start()
        try:
            return self.connack.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"no CONNACK within {WAIT_S} s") from None

    def _wait_ack(self, table: dict, mid: int) -> Any:
        with self._acked:
            if not self._acked.wait_for(lambda: mid in table, WAIT_S):
                raise AssertionError(f"no acknowledgement of message {mid} within {WAIT_S} s")
            return table[mid]

    def _publish(self, topic: str, payload: bytes | str, qos: int, props: Properties | None) -> int | None:
        info = self.client.publish(topic, payload, qos=qos, properties=props)
        if qos == 0:
            info.wait_for_publish(WAIT_S)  # written to the socket: nothing comes back
            return None
        return self._wait_ack(self.pubacks, info.mid)

    def _subscribe(self, topic: str, qos: int) -> int:
        _, mid = self.client.subscribe(topic, qos)
        return self._wait_ack(self.subacks, mid)[0]

    # -- async API --------------------------------------------------------------------

    async def connect(self, port: int, props: Properties | None = None, keepalive: int = 60) -> int:
        """The CONNACK reason code (3.1.1 return codes are mapped by paho: 5 -> 135)."""
        rc = await asyncio.to_thread(self._connect, port, props, keepalive)
        if rc != 0:
            await self.close()
        return rc

    async def publish(self, topic: str, payload: bytes | str, qos: int = 0,
                      props: Properties | None = None) -> int | None:
        """QoS 1/2: the PUBACK (PUBREC/PUBCOMP) reason code once the flow ended; QoS 0: None."""
        return await asyncio.to_thread(self._publish, topic, payload, qos, props)

    async def subscribe(self, topic: str, qos: int = 1) -> int:
        """The SUBACK reason code (granted QoS, or a refusal code)."""
        return await asyncio.to_thread(self._subscribe, topic, qos)

    async def message(self, timeout: float = WAIT_S) -> Message:
        try:
            return await asyncio.to_thread(self.messages.get, True, timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout} s") from None

    async def disconnected(self, timeout: float = WAIT_S) -> Disconnect:
        try:
            return await asyncio.to_thread(self.disconnects.get, True, timeout)
        except queue.Empty:
            raise AssertionError(f"still connected after {timeout} s") from None

    async def close(self) -> None:
        def stop() -> None:
            self.client.disconnect()
            self.client.loop_stop()

        await asyncio.to_thread(stop)


def _props(props: Properties | None) -> dict[str, Any]:
    if props is None:
        return {}
    names = (name.replace(" ", "") for name in props.names)  # "Topic Alias" -> TopicAlias
    return {name: getattr(props, name) for name in names if hasattr(props, name)}
