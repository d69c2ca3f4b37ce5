"""Latency of HTTP provisioning at half the hub's peak rate (issue 18): new devices with
server-generated tokens, the request of ``http_provisioning``.

One hub: wrk (closed loop, 32 connections, as ``http_provisioning``) finds its peak rate;
then bench/load/open_loop.py, pinned on the load core, sends the same request at a
constant 50 % of that rate for the same duration, each latency measured from the time the
request was *due* (no coordinated omission). The row's figure is the p99 in ms."""

from __future__ import annotations

from bench.common import hub
from bench.load import wrk
from bench.load.proc import run_load
from bench.rows import absolute

SHARE = 0.5
AT_MOST_MS = 20.0


def run(seconds: float, quick: bool = False) -> dict:
    wrk.require_wrk()
    seconds = max(1.0, seconds)  # wrk runs whole seconds; the open loop runs as long
    with hub() as h:
        env = {"PKEY": h.key, "PSECRET": h.secret}
        if not quick:
            wrk.run(h.http, "provision.lua", 1, env={**env, "PREFIX": "warm"})
        peak = wrk.run(h.http, "provision.lua", seconds, env=env)
        rate = round(peak.rate * SHARE, 1)
        result = run_load("bench.load.open_loop", ["--port", h.ports["http"], "--rate", rate, "--seconds", seconds,
                                                   "--key", h.key, "--secret", h.secret],
                          timeout=seconds + 150)
    figure = {"rate": result["p99_ms"], "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"],
              "p999_ms": result["p999_ms"], "max_ms": result["max_ms"], "errors": result["errors"],
              "count": result["count"], "achieved_rate": result["rate"], "target_rate": rate,
              "peak_rate": round(peak.rate, 1), "peak_p50_ms": peak.p50_ms, "peak_p99_ms": peak.p99_ms,
              "peak_errors": peak.errors, "send_lag_p99_ms": result["send_lag_p99_ms"],
              "connections_opened": result["connections_opened"],
              **({"error_kinds": result["error_kinds"]} if "error_kinds" in result else {})}
    return absolute("HTTP provisioning p99 latency at 50% of peak rate", "ms", figure, at_most=AT_MOST_MS,
                    notes=[f"peak {peak.rate:,.0f}/s (wrk, 32 connections, {seconds:g} s), then a constant "
                           f"{rate:,.0f}/s open loop for {seconds:g} s (bench/load/open_loop.py, pinned on the load "
                           f"core; latency from each request's scheduled send time): p50 {result['p50_ms']} ms, "
                           f"p99 {result['p99_ms']} ms, p99.9 {result['p999_ms']} ms, max {result['max_ms']} ms, "
                           f"{result['rate']:,.0f}/s achieved; the generator's own p99 send lag "
                           f"{result['send_lag_p99_ms']} ms"])
