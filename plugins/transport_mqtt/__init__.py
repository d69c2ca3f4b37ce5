"""MQTT transport (SPEC.md section 1): the hub's own MQTT 3.1.1 and 5.0 server on
``mqtt.port`` and, with TLS, on ``mqtt.tls_port``; provisioning over MQTT, token /
MQTT_BASIC / X.509 device sessions. A device-API server, not a broker: nothing a
device publishes is relayed to other sessions.

Modules: ``settings`` (the ``mqtt:`` section), ``certs`` (server certificate), ``trust``
(the TLS trust store, filled by ``register_tls_trust`` providers), ``codec`` (packets, both versions, sans-IO),
``server`` (listeners and timeouts), ``protocol`` (one connection), ``sessions`` (a
session and its topic policy), ``gate`` (the hub's decisions), ``device_topics`` (the
device API table), ``provisioning`` (the ``provision`` login), ``transport``
(start/stop).
"""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.plugins.transport_mqtt.settings import MqttSettings
from gridlinks.plugins.transport_mqtt.transport import MqttTransport


@hookimpl
def register_transports(hub, register):
    register(MqttTransport(hub, hub.config.section("mqtt", MqttSettings)))
