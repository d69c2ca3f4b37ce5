"""What the dynamic registration tests share: the seed's product and device, a hub that
has them, and the MQTT steps of the password exchange."""

from __future__ import annotations

import contextlib
import json

from gridlinks.core.services.bootstrap import default_tenant
from tests.mqtt_wire import MqttWire
from tests.support import hub_config, start_hub, stop_hub

# The seed's own example values.
PRODUCT_SN, PRODUCT_SECRET, DEVICE_SN = "70ly1tvowt696r15", "sqx0cltqba402z7z", "112233445566"
NOT_AUTHORISED = 5
SUBACK_FAILURE = 0x80


@contextlib.asynccontextmanager
async def product_hub(tmp_path, db_url=None):
    """A hub with the seed's product (switch on) and its one whitelisted DeviceSN."""
    running = await start_hub(hub_config(tmp_path / "data", db_url=db_url, dynamic_registration={"close_delay_s": 0.3},
                                         mqtt={"connect_timeout_s": 2.0}))
    try:
        running.mqtt_port = running.hub.transports.get("mqtt").settings.port
        running.tenant = await default_tenant(running.hub)
        running.product = await running.hub.profiles.create(running.tenant, "Thermostat",
                                                            "CHECK_PRE_PROVISIONED_DEVICES", PRODUCT_SN,
                                                            PRODUCT_SECRET, {"dynamicRegistration": True})
        running.device = await running.hub.devices.create(running.tenant, running.product, DEVICE_SN)
        yield running
    finally:
        await stop_hub(running)


def topics(device_sn: str = DEVICE_SN, product_sn: str = PRODUCT_SN) -> tuple[str, str]:
    prefix = f"/$system/{product_sn}/{device_sn}/"
    return prefix + "password", prefix + "password_reply"


async def login(hub, authmode: int, password: str, device_sn: str = DEVICE_SN, client_id: str | None = None,
                product_sn: str = PRODUCT_SN) -> tuple[MqttWire | None, int]:
    return await MqttWire.connect(hub.mqtt_port,
                                  client_id=f"{product_sn}.{device_sn}" if client_id is None else client_id,
                                  username=f"{product_sn}|{device_sn}|{authmode}", password=password)


async def ask(hub, device_sn: str = DEVICE_SN, payload: str | bytes | None = None) -> tuple[dict, MqttWire]:
    """Restricted login, subscribe, one password request: (the reply, the still-open client)."""
    client, rc = await login(hub, 2, PRODUCT_SECRET, device_sn)
    assert rc == 0
    request, reply = topics(device_sn)
    assert await client.subscribe(reply, qos=1) == 1
    await client.publish(request, payload if payload is not None else json.dumps({"RequestID": "100"}), qos=1)
    topic, body, qos = await client.message()
    assert (topic, qos) == (reply, 1)
    return json.loads(body), client


async def password_of(hub, device_sn: str = DEVICE_SN) -> str:
    reply, client = await ask(hub, device_sn)
    await client.close()
    assert reply["RetCode"] == "0", reply
    return reply["Password"]
