"""Runs every benchmark scenario, each next to its baseline, and writes the results.

    .venv/bin/python -m bench.run            # full run (make bench): about 13 minutes
    .venv/bin/python -m bench.run --quick    # small sizes, short loads (make bench-quick): under a minute
    .venv/bin/python -m bench.run --only mqtt_telemetry,claim

A full run writes bench/results/<date>.json and regenerates docs/benchmarks.md and
docs/benchmarks.png; a quick run writes bench/results/<date>-quick.json and leaves the
docs alone (its small sizes are a smoke check, not figures to publish). A partial run
(--only) leaves them alone too, unless --merge-into names the full run whose rows it
replaces (the docs then say which rows were re-run, when, and on which commit):

    .venv/bin/python -m bench.run --only mqtt_provisioning,mqtt_telemetry \
        --merge-into bench/results/2026-11-22.json A scenario that
cannot run here (no wrk, no Mosquitto) is recorded as skipped with the reason; one that
crashes is recorded as failed, the others still run, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report  # noqa: E402
from bench.common import LOAD_CPU, REPO, SERVER_CPU  # noqa: E402
from bench.rows import failed, skipped, verdict  # noqa: E402

RESULTS = REPO / "bench" / "results"
SCENARIOS = ["http_provisioning", "provision_latency", "mqtt_provisioning", "mqtt_telemetry", "coap_provisioning",
             "claim", "bulk_import", "stored_devices", "memory", "mqtt_sessions", "dashboard_list",
             "scaleout_provisioning"]
FULL_SECONDS, QUICK_SECONDS = 10.0, 0.5  # wrk rounds up to whole seconds


def _first_line(cmd: list[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else None


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    import sqlite3

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
            "server_cpu": SERVER_CPU, "load_cpu": LOAD_CPU,
            "wrk": _first_line(["wrk", "-v"]), "mosquitto": _first_line(["/usr/sbin/mosquitto", "-h"]),
            "commit": _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
            "dirty": bool(_first_line(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"]))}


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def busy_cores(window_s: float) -> float:
    """How many cores' worth of CPU the machine used over a short window while no scenario
    runs: other people's work, which the pinned processes would have to share."""
    busy0, total0 = _cpu_times()
    time.sleep(window_s)
    busy1, total1 = _cpu_times()
    return round((busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1), 2)


def run_scenario(name: str, seconds: float, quick: bool) -> list[dict]:
    """The scenario's rows, each with how long it took and how busy the machine was before."""
    busy_before = busy_cores(0.1 if quick else 1.0)
    started = time.monotonic()
    try:
        module = importlib.import_module(f"bench.scenarios.{name}")
        kwargs = {"quick": quick} if "quick" in inspect.signature(module.run).parameters else {}
        result = module.run(seconds, **kwargs)
        rows = result if isinstance(result, list) else [result]
    except SystemExit as exc:  # a missing tool (wrk.require_wrk): not this run's fault
        rows = [skipped(name, str(exc))]
    except Exception as exc:
        traceback.print_exc()
        rows = [failed(name, f"{type(exc).__name__}: {exc}")]
    for row in rows:
        row.setdefault("notes", [])
        if "met" not in row:
            row["met"] = verdict(row)
        row.update(module=name, elapsed_s=round(time.monotonic() - started, 1), busy_cores_before=busy_before)
    return rows


def merge(full: dict, partial: dict, modules: list[str]) -> dict:
    """``full`` with the rows of ``modules`` replaced by ``partial``'s (in SCENARIOS order),
    and a record of the re-run, so the docs say which rows come from which run."""
    rows = [r for r in full["scenarios"] if r.get("module") not in modules] + partial["scenarios"]
    order = {name: i for i, name in enumerate(SCENARIOS)}
    rows.sort(key=lambda r: order.get(r.get("module"), len(order)))  # stable: keeps each module's own order
    rerun = {"modules": modules, "date": partial["date"], "time": partial["time"], "seconds": partial["seconds"],
             "elapsed_s": partial["elapsed_s"], "commit": partial["machine"]["commit"],
             "dirty": partial["machine"]["dirty"]}
    return {**full, "scenarios": rows, "reruns": [*full.get("reruns", []), rerun]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GridLinks Hub benchmarks")
    parser.add_argument("--quick", action="store_true", help="small sizes and short loads: a smoke run")
    parser.add_argument("--seconds", type=float, help="load duration per measurement")
    parser.add_argument("--only", help="comma-separated scenario modules (default: all)")
    parser.add_argument("--no-docs", action="store_true", help="do not regenerate docs/benchmarks.*")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where the results file goes")
    parser.add_argument("--merge-into", type=Path, metavar="FULL_RESULTS",
                        help="with --only: replace those scenarios' rows in this full run's results, write the "
                             "merged file next to this run's and regenerate the docs from it")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else SCENARIOS
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    seconds = args.seconds or (QUICK_SECONDS if args.quick else FULL_SECONDS)
    started = time.monotonic()
    results = {"date": time.strftime("%Y-%m-%d"), "time": time.strftime("%H:%M:%S %Z"),
               "mode": "quick" if args.quick else "full", "seconds": seconds, "machine": machine(), "scenarios": []}
    for name in names:
        print(f"== {name}", flush=True)
        rows = run_scenario(name, seconds, args.quick)
        results["scenarios"].extend(rows)
        for row in rows:
            print("   " + report.summary(row), flush=True)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{results['date']}{'-quick' if args.quick else ''}{'-partial' if args.only else ''}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out} ({results['elapsed_s']} s)")
    if args.merge_into and args.only and not args.quick:
        merged = merge(json.loads(args.merge_into.read_text()), results, names)
        out = args.results_dir / f"{results['date']}-merged.json"
        out.write_text(json.dumps(merged, indent=2) + "\n")
        print(f"merged into {args.merge_into.name}: {out}")
        results = merged
    if not args.quick and (not args.only or args.merge_into) and not args.no_docs:
        for path in report.write_docs(results, out):
            print(f"wrote {path.relative_to(REPO)}")
    return 1 if any(row.get("error") for row in results["scenarios"]) else 0


if __name__ == "__main__":
    sys.exit(main())
