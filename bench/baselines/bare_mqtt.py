"""Baseline: a bare amqtt broker (the engine inside the hub's MQTT transport) with
anonymous access and nothing else: no hub authentication, no topic policy, no storage.
The hub's MQTT figures are reported as a fraction of what this broker does alone.

    python bench/baselines/bare_mqtt.py PORT
"""

import asyncio
import logging
import sys

from amqtt.broker import Broker


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
