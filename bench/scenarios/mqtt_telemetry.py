"""MQTT telemetry ingest, persisted, against Mosquitto's QoS 0 publish throughput on this
machine, the C reference (issue 13: at least 30 %), with the same load generator; the
amqtt-based transport's committed figure stays as a history row (measured in the same run
too when BENCH_BEFORE_GRIDLINKS names an installation of it), and a bare amqtt broker is
measured while amqtt is still installed.

The hub's figure counts the time until every message is committed: the load process
reads the hub's database (read-only) after its last window and waits for the rows (see
bench/load/mqtt_load.py); a message the hub took but never committed is an error."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import before_gridlinks, free_port, hub, installation, python_server
from bench.history import AMQTT_RUN, hub_figure
from bench.load.proc import run_load
from bench.mosquitto import mosquitto
from bench.rows import compare, skipped
from bench.scenarios.mqtt_provisioning import amqtt_installed
from bench.seed_db import init_data_dir, seed_devices

BASELINES = Path(__file__).resolve().parent.parent / "baselines"
LOAD = "bench.load.mqtt_load"
SESSIONS, WINDOW = 8, 50
SCENARIO = "MQTT telemetry ingest, persisted"
HISTORY = "MQTT telemetry ingest vs the amqtt-based transport (history)"
BEFORE = "MQTT telemetry ingest vs the amqtt-based transport (same run)"
BARE_AMQTT = "Bare amqtt QoS 0 publishes (reference, not a target)"


def _telemetry(port: int, seconds: float, extra: list, warm: bool) -> dict:
    args = ["telemetry", "--port", port, "--sessions", SESSIONS, "--window", WINDOW, *extra]
    if warm:
        run_load(LOAD, [*args, "--seconds", 1, "--prefix", "warm"], 120)
    return run_load(LOAD, [*args, "--seconds", seconds], seconds + 120)


def _hub_telemetry(seconds: float, quick: bool, gridlinks=None) -> dict:
    with tempfile.TemporaryDirectory(prefix="gridlinks-bench-") as tmp:
        db = init_data_dir(Path(tmp), gridlinks)  # initialised by the installation that will run on it
        seed_devices(db, SESSIONS, prefix="tele-", token_prefix="teletok")
        with hub(data_dir=Path(tmp), gridlinks=gridlinks) as h:
            return _telemetry(h.ports["mqtt"], seconds, ["--token-prefix", "teletok", "--db", db], warm=not quick)


def run(seconds: float, quick: bool = False) -> list[dict]:
    measured = _hub_telemetry(seconds, quick)
    notes = [f"{SESSIONS} device sessions, windows of {WINDOW} QoS 0 publishes (2 keys each) closed by a round "
             "trip; the hub's time runs until its last message is committed; p50/p99 are per window (hub: until "
             f"handled and queued); {measured.get('committed_rows')} rows committed"]
    with mosquitto() as mport:
        if mport is None:
            row = compare(SCENARIO, "messages/s", measured, None, "Mosquitto, QoS 0 publishes", target=0.3,
                          notes=[*notes, "mosquitto is not installed (apt-get install mosquitto): no reference"])
            row["met"] = None
        else:
            reference = _telemetry(mport, seconds, ["--bare"], warm=not quick)
            row = compare(SCENARIO, "messages/s", measured, reference, "Mosquitto, QoS 0 publishes (not stored)",
                          target=0.3, notes=notes)
    rows = [row]
    earlier = before_gridlinks()
    if earlier is not None:
        then = _hub_telemetry(seconds, quick, gridlinks=earlier)
        rows.append(compare(BEFORE, "messages/s", measured, then, f"the amqtt-based hub, {installation(earlier)}",
                            notes=["an earlier installation's hub (BENCH_BEFORE_GRIDLINKS) under the same load "
                                   "in this run"]))
    history = hub_figure(SCENARIO)
    if history is not None:
        rows.append(compare(HISTORY, "messages/s", measured, history,
                            f"amqtt-based transport, committed run {AMQTT_RUN} ({history['commit']})",
                            notes=[f"the baseline is the figure committed in bench/results/{AMQTT_RUN}.json, "
                                   "not measured in this run"]))
    if amqtt_installed():
        port = free_port()
        with python_server(BASELINES / "bare_mqtt.py", str(port)):
            bare = _telemetry(port, seconds, ["--bare"], warm=not quick)
        rows.append(compare(BARE_AMQTT, "messages/s", measured, bare, "bare amqtt broker, QoS 0 publishes"))
    else:
        rows.append(skipped(BARE_AMQTT, "amqtt is not installed (no longer a dependency)"))
    return rows
