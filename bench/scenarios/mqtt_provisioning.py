"""MQTT provisioning round trips (connect as ``provision``, subscribe, request, reply,
DISCONNECT) against bare amqtt connect + disconnect; Mosquitto's connect + disconnect is
a reference row, since it is what a box like this can do with a C broker."""

from __future__ import annotations

from pathlib import Path

from bench.common import free_port, hub, python_server
from bench.load.proc import run_load
from bench.mosquitto import mosquitto
from bench.rows import compare, skipped

BASELINES = Path(__file__).resolve().parent.parent / "baselines"
LOAD = "bench.load.mqtt_load"
CONCURRENCY = 32
SCENARIO = "MQTT provisioning round trip (connect, request, reply, disconnect)"
REFERENCE = "Mosquitto connect + disconnect (reference, not a target)"


def _connects(port: int, seconds: float, prefix: str, warm: bool) -> dict:
    if warm:
        run_load(LOAD, ["connect", "--port", port, "--seconds", 1, "--prefix", f"{prefix}w"], 60)
    return run_load(LOAD, ["connect", "--port", port, "--seconds", seconds, "--concurrency", CONCURRENCY,
                           "--prefix", prefix], seconds + 90)


def run(seconds: float, quick: bool = False) -> list[dict]:
    port = free_port()
    with python_server(BASELINES / "bare_mqtt.py", str(port)):
        baseline = _connects(port, seconds, "amqtt", warm=not quick)
    with hub() as h:
        args = ["provision", "--port", h.ports["mqtt"], "--key", h.key, "--secret", h.secret]
        if not quick:
            run_load(LOAD, [*args, "--seconds", 1, "--prefix", "warm"], 60)
        measured = run_load(LOAD, [*args, "--seconds", seconds, "--concurrency", CONCURRENCY, "--prefix", "m"],
                            seconds + 90)
    rows = [compare(SCENARIO, "sessions/s", measured, baseline, "bare amqtt 0.12 broker, connect + disconnect",
                    target=0.6, notes=[f"{CONCURRENCY} concurrent clients; one latency per whole session"])]
    with mosquitto() as mport:
        if mport is None:
            rows.append(skipped(REFERENCE, "mosquitto is not installed (apt-get install mosquitto)"))
        else:
            reference = _connects(mport, seconds, "mosq", warm=not quick)
            rows.append(compare(REFERENCE, "sessions/s", measured, reference, "Mosquitto, connect + disconnect",
                                notes=["the Python load generator, not Mosquitto, is likely the limit of this row"]))
    return rows
