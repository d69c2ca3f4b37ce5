"""MQTT transport (SPEC.md section 1): an embedded amqtt broker on ``mqtt.port`` and,
with TLS, on ``mqtt.tls_port``; provisioning over MQTT, token / MQTT_BASIC / X.509
device sessions. MQTT 3.1.1 only (amqtt refuses MQTT 5 CONNECTs).

Modules: ``settings`` (the ``mqtt:`` section), ``certs`` (server certificate), ``trust``
(which client certificates pass TLS), ``sessions`` (a connection and its topic policy),
``gate`` (the hub's decisions), ``device_topics`` (the device API table),
``provisioning`` (the ``provision`` login), ``engine`` (amqtt, and only there),
``transport`` (start/stop).
"""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.plugins.transport_mqtt.settings import MqttSettings
from gridlinks.plugins.transport_mqtt.transport import MqttTransport


@hookimpl
def register_transports(hub, register):
    register(MqttTransport(hub, hub.config.section("mqtt", MqttSettings)))
