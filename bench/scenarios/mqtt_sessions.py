"""50,000 idle MQTT device sessions held by one hub (issue 13), each logged in with its own
access token and kept alive by a PINGREQ every 30 s, with the hub's resident memory.

Tens of thousands of sockets need more than the usual limits: the hub and each load
process raise their open-file limit (up to the hard limit; raising that needs
CAP_SYS_RESOURCE), the load is split over several processes (each under the hard limit),
and each process connects from its own 127.0.0.x address, so that no address runs out of
ephemeral ports (about 28k each). When the hard limit is below what 50,000 sessions need,
the scenario holds as many as the limit allows and says so: the row is not judged then
(the machine, not the hub, is the limit)."""

from __future__ import annotations

import resource
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench.common import Measurement, hub
from bench.load.proc import interactive_load
from bench.rows import absolute
from bench.seed_db import init_data_dir, seed_devices

TARGET = 50_000
QUICK = 2_000
FD_MARGIN = 1_024      # the hub's own files (database, listeners, logs) and some slack
PER_PROCESS = 15_000   # sessions per load process: under the hard limit, and under one address's ports
CONCURRENCY = 64       # CONNECTs in flight per load process
SETTLE_S = 3.0


def _hard_limit() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 30 if hard == resource.RLIM_INFINITY else hard


def run(seconds: float, quick: bool = False) -> dict:
    hard = _hard_limit()
    wanted = QUICK if quick else TARGET
    sessions = min(wanted, (hard - FD_MARGIN) // 1000 * 1000)
    per_process = min(PER_PROCESS, hard - FD_MARGIN)
    with tempfile.TemporaryDirectory(prefix="gridlinks-bench-") as tmp:
        seed_devices(init_data_dir(Path(tmp)), sessions, prefix="idle-", token_prefix="idletok")
        with hub(data_dir=Path(tmp), open_files=sessions + FD_MARGIN,
                 extra_env={"GRIDLINKS_MQTT_MAX_CONNECTIONS": str(max(100_000, sessions + 1000))}) as h:
            time.sleep(SETTLE_S)
            idle = h.rss_mb()
            started = time.monotonic()
            with ExitStack() as stack:
                loads = []
                for n, first in enumerate(range(0, sessions, per_process)):
                    count = min(per_process, sessions - first)
                    args = ["hold", "--port", h.ports["mqtt"], "--sessions", count, "--first", first,
                            "--token-prefix", "idletok", "--concurrency", CONCURRENCY, "--hold-seconds", 900,
                            "--sources", f"127.0.0.{2 + n}", "--ping-seconds", 30]
                    loads.append(stack.enter_context(interactive_load("bench.load.mqtt_load", args)))
                opened = [load.wait_for("HOLDING ", timeout=900) for load in loads]
                open_s = time.monotonic() - started
                time.sleep(SETTLE_S)
                held_rss = h.rss_mb()
                alive = h.proc.poll() is None
                for load in loads:
                    load.release()
                finals = [load.wait_for("RESULT ", timeout=300) for load in loads]
    still_open = sum(f["still_open"] for f in finals)
    errors = sum(o["errors"] for o in opened)
    kinds: dict[str, int] = {}
    for o in opened:
        for kind, count in (o.get("error_kinds") or {}).items():
            kinds[kind] = kinds.get(kind, 0) + count
    per_session_kb = (held_rss - idle) * 1024 / max(1, still_open)
    figure = Measurement(still_open, max(o["p50_ms"] or 0 for o in opened), max(o["p99_ms"] or 0 for o in opened),
                         still_open, sessions - still_open,
                         {"rss_mb": round(held_rss, 1), "idle_rss_mb": round(idle, 1),
                          "kb_per_session": round(per_session_kb, 1), "connect_rate": round(sessions / open_s, 1),
                          "connect_errors": errors, "load_processes": len(loads), "hub_alive": alive,
                          "open_files_hard_limit": hard, **({"error_kinds": kinds} if kinds else {})}).to_json()
    notes = [f"held {still_open:,} of {sessions:,} at once over {len(loads)} load processes (one 127.0.0.x "
             f"address each), opened {CONCURRENCY} at a time per process at {sessions / open_s:.0f} sessions/s; "
             f"hub RSS {held_rss:.0f} MB ({per_session_kb:.1f} kB per session over the idle {idle:.0f} MB); "
             "every session pings every 30 s; p50/p99: the slowest process's CONNECT to CONNACK"]
    row = absolute(f"{wanted:,} idle MQTT device sessions held", "sessions", figure, at_least=wanted, notes=notes)
    if sessions < wanted:
        row["met"] = None
        row["notes"].append(f"not judged: this machine's hard open-file limit is {hard:,} (raising it needs "
                            f"CAP_SYS_RESOURCE, which the bench does not have), so one hub process can hold at "
                            f"most ~{hard - FD_MARGIN:,} sockets; {sessions:,} were tried")
    return row
