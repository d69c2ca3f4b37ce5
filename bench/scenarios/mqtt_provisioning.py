"""MQTT provisioning round trips (connect as ``provision``, subscribe, request, reply,
DISCONNECT) against Mosquitto's connect + disconnect on this machine, the C reference
(issue 13: at least 25 %), and against the amqtt-based transport this server replaced
(issue 13: at least 2x), kept as a history row from its last committed run, and measured
in the same run when BENCH_BEFORE_GRIDLINKS names an installation of it (bench/common.py
``before_gridlinks``). When amqtt is still installed, a bare amqtt broker's connect +
disconnect is measured too, for reference."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bench.common import before_gridlinks, free_port, hub, installation, python_server
from bench.history import AMQTT_RUN, hub_figure
from bench.load.proc import run_load
from bench.mosquitto import mosquitto
from bench.rows import compare, skipped

BASELINES = Path(__file__).resolve().parent.parent / "baselines"
LOAD = "bench.load.mqtt_load"
CONCURRENCY = 32
SCENARIO = "MQTT provisioning round trip (connect, request, reply, disconnect)"
HISTORY = "MQTT provisioning round trip vs the amqtt-based transport (history)"
BEFORE = "MQTT provisioning round trip vs the amqtt-based transport (same run)"
BARE_AMQTT = "Bare amqtt connect + disconnect (reference, not a target)"


def _connects(port: int, seconds: float, prefix: str, warm: bool) -> dict:
    if warm:
        run_load(LOAD, ["connect", "--port", port, "--seconds", 1, "--prefix", f"{prefix}w"], 60)
    return run_load(LOAD, ["connect", "--port", port, "--seconds", seconds, "--concurrency", CONCURRENCY,
                           "--prefix", prefix], seconds + 90)


def amqtt_installed() -> bool:
    return importlib.util.find_spec("amqtt") is not None


def _provisioning(seconds: float, quick: bool, gridlinks=None) -> dict:
    with hub(gridlinks=gridlinks) as h:
        args = ["provision", "--port", h.ports["mqtt"], "--key", h.key, "--secret", h.secret]
        if not quick:
            run_load(LOAD, [*args, "--seconds", 1, "--prefix", "warm"], 60)
        return run_load(LOAD, [*args, "--seconds", seconds, "--concurrency", CONCURRENCY, "--prefix", "m"],
                        seconds + 90)


def run(seconds: float, quick: bool = False) -> list[dict]:
    measured = _provisioning(seconds, quick)
    notes = [f"{CONCURRENCY} concurrent clients; one latency per whole session; a provisioning session is four "
             "more packets than the reference's connect + disconnect, and a committed device"]
    with mosquitto() as mport:
        if mport is None:
            row = compare(SCENARIO, "sessions/s", measured, None, "Mosquitto, connect + disconnect", target=0.25,
                          notes=[*notes, "mosquitto is not installed (apt-get install mosquitto): no reference"])
            row["met"] = None
        else:
            reference = _connects(mport, seconds, "mosq", warm=not quick)
            row = compare(SCENARIO, "sessions/s", measured, reference, "Mosquitto, connect + disconnect",
                          target=0.25, notes=notes)
    rows = [row]
    earlier = before_gridlinks()
    if earlier is not None:
        then = _provisioning(seconds, quick, gridlinks=earlier)
        rows.append(compare(BEFORE, "sessions/s", measured, then, f"the amqtt-based hub, {installation(earlier)}",
                            target=2.0,
                            notes=["an earlier installation's hub (BENCH_BEFORE_GRIDLINKS) under the same load "
                                   "in this run"]))
    history = hub_figure(SCENARIO)
    if history is not None:
        rows.append(compare(HISTORY, "sessions/s", measured, history,
                            f"amqtt-based transport, committed run {AMQTT_RUN} ({history['commit']})",
                            target=None if earlier else 2.0,
                            notes=[f"the baseline is the figure committed in bench/results/{AMQTT_RUN}.json, "
                                   "not measured in this run (amqtt is no longer a dependency)"]))
    if amqtt_installed():
        port = free_port()
        with python_server(BASELINES / "bare_mqtt.py", str(port)):
            bare = _connects(port, seconds, "amqtt", warm=not quick)
        rows.append(compare(BARE_AMQTT, "sessions/s", measured, bare, "bare amqtt broker, connect + disconnect"))
    else:
        rows.append(skipped(BARE_AMQTT, "amqtt is not installed (no longer a dependency)"))
    return rows
