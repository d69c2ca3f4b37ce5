"""Reference: a bare amqtt broker (the engine of the hub's MQTT transport until issue 13)
with anonymous access and nothing else: no hub authentication, no topic policy, no storage.
Optional: amqtt is no longer a dependency, and the MQTT scenarios measure this only when it
is still installed (bench/scenarios/mqtt_provisioning.py ``amqtt_installed``).

    python bench/baselines/bare_mqtt.py PORT
"""

import asyncio
import logging
import sys

try:
    from amqtt.broker import Broker
except ImportError:
    print("amqtt is not installed: no bare amqtt reference", flush=True)
    sys.exit(2)


async def main(port: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.ERROR)
    broker = Broker({
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        "session_expiry_interval": 0,  # as in the hub: disconnected sessions are forgotten
    })
    await broker.start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await broker.shutdown()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
