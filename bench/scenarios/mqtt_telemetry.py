"""MQTT telemetry ingest, persisted, against bare amqtt QoS 0 publish throughput.

The hub's figure counts the time until every message is committed: the load process
reads the hub's database (read-only) after its last window and waits for the rows (see
bench/load/mqtt_load.py); a message the hub took but never committed is an error."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import free_port, hub, python_server
from bench.load.proc import run_load
from bench.rows import compare
from bench.seed_db import init_data_dir, seed_devices

BASELINES = Path(__file__).resolve().parent.parent / "baselines"
LOAD = "bench.load.mqtt_load"
SESSIONS, WINDOW = 8, 50


def _telemetry(port: int, seconds: float, extra: list, warm: bool) -> dict:
    args = ["telemetry", "--port", port, "--sessions", SESSIONS, "--window", WINDOW, *extra]
    if warm:
        run_load(LOAD, [*args, "--seconds", 1, "--prefix", "warm"], 120)
    return run_load(LOAD, [*args, "--seconds", seconds], seconds + 120)


def run(seconds: float, quick: bool = False) -> dict:
    port = free_port()
    with python_server(BASELINES / "bare_mqtt.py", str(port)):
        baseline = _telemetry(port, seconds, ["--bare"], warm=not quick)
    with tempfile.TemporaryDirectory(prefix="gridlinks-bench-") as tmp:
        db = init_data_dir(Path(tmp))
        seed_devices(db, SESSIONS, prefix="tele-", token_prefix="teletok")
        with hub(data_dir=Path(tmp)) as h:
            measured = _telemetry(h.ports["mqtt"], seconds, ["--token-prefix", "teletok", "--db", db],
                                  warm=not quick)
    return compare("MQTT telemetry ingest, persisted", "messages/s", measured, baseline,
                   "bare amqtt 0.12 broker, QoS 0 publishes", target=0.5,
                   notes=[f"{SESSIONS} device sessions, windows of {WINDOW} QoS 0 publishes (2 keys each) closed by a "
                          "round trip; the hub's time runs until its last message is committed; p50/p99 are per "
                          f"window (hub: until handled and queued); {measured.get('committed_rows')} rows committed"])
