"""Open-loop HTTP provisioning load at a constant rate, as its own process.

    python -m bench.load.open_loop --port P --rate R --seconds S --key K --secret S [--prefix X]

Request ``i`` is due at ``start + i / R`` whatever happened to the ones before it (an
open loop, as devices arriving on their own would behave; wrk is a closed loop: each
connection sends its next request only after the previous answer, so a slow answer
delays the requests behind it and they are never measured as late). Each request's
latency runs from its *scheduled* time to its answer, so time it spent waiting for a
free connection, or for this generator to get round to it, counts as latency (no
coordinated omission). The request is the one bench/load/provision.lua sends: a new
device with a server-generated token.

Connections: ``--connections`` are opened before the clock starts and each carries one
request at a time (HTTP/1.1 keep-alive, no pipelining); when all are busy a further one
is opened (up to ``--max-connections``), beyond that the request waits for a free one.

The result line has p50 / p99 / p99.9 / max from the scheduled time, the achieved rate,
and ``send_lag_p99_ms``: how late this generator itself dispatched (the part of the
latency that is the client's, not the hub's; it should stay well under the latency)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter

from bench.common import Measurement, percentile
from bench.load.http_batch import Connection
from bench.load.tally import emit

TIMEOUT_S = 10.0


async def open_loop(args) -> dict:
    loop = asyncio.get_running_loop()
    host = f"127.0.0.1:{args.port}"
    idle: list[tuple[asyncio.Transport, Connection]] = []
    opened = 0

    async def connect() -> tuple[asyncio.Transport, Connection]:
        nonlocal opened
        opened += 1
        return await loop.create_connection(Connection, "127.0.0.1", args.port)

    for pair in await asyncio.gather(*(connect() for _ in range(args.connections))):
        idle.append(pair)

    latencies: list[float] = []
    lags: list[float] = []
    errors: Counter[str] = Counter()
    pending: set[asyncio.Task] = set()
    free = asyncio.Condition()

    async def one(i: int, due: float) -> None:
        if idle:
            transport, conn = idle.pop()
        elif opened < args.max_connections:
            transport, conn = await connect()
        else:
            async with free:
                await free.wait_for(lambda: bool(idle))
                transport, conn = idle.pop()
        body = json.dumps({"deviceName": f"{args.prefix}-{i}", "provisionDeviceKey": args.key,
                           "provisionDeviceSecret": args.secret}).encode()
        try:
            status, reply = await conn.request(host, "/api/v1/provision", {}, body)
        except (TimeoutError, OSError) as exc:
            errors[type(exc).__name__] += 1
            transport.close()
            try:
                transport, conn = await connect()
            except OSError:
                return
        else:
            if status == 200 and b'"SUCCESS"' in reply:
                latencies.append((loop.time() - due) * 1000)
            else:
                errors[f"HTTP {status} {reply[:60].decode(errors='replace')}"] += 1
        idle.append((transport, conn))
        async with free:
            free.notify()

    interval = 1.0 / args.rate
    total = max(1, int(args.rate * args.seconds))
    start = loop.time() + 0.05
    i = 0
    while i < total:
        now = loop.time()
        # Dispatch everything that is due (after a late wake-up, several at once: open loop).
        while i < total and start + i * interval <= now:
            due = start + i * interval
            lags.append((now - due) * 1000)
            task = loop.create_task(one(i, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
        if i < total:
            await asyncio.sleep(max(0.0, start + i * interval - loop.time()))
    sent_s = loop.time() - start
    if pending:
        await asyncio.wait(pending, timeout=TIMEOUT_S + 5)
    for transport, _ in idle:
        transport.close()
    lat = sorted(latencies)
    lag = sorted(lags)
    extra = {"target_rate": args.rate, "sent_rate": round(total / sent_s, 1) if sent_s > 0 else None,
             "p999_ms": round(percentile(lat, 0.999), 2) if lat else None,
             "max_ms": round(lat[-1], 2) if lat else None,
             "send_lag_p99_ms": round(percentile(lag, 0.99), 2) if lag else None,
             "connections_opened": opened, "seconds": round(sent_s, 2)}
    if errors:
        extra["error_kinds"] = dict(errors.most_common(5))
    return Measurement(len(lat) / sent_s if sent_s > 0 else 0.0, percentile(lat, 0.5), percentile(lat, 0.99),
                       len(lat), sum(errors.values()), extra).to_json()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="constant-rate open-loop HTTP provisioning load")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--connections", type=int, default=32, help="opened before the clock starts")
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--prefix", default="ol")
    parser.add_argument("--key", default="")
    parser.add_argument("--secret", default="")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    emit(asyncio.run(asyncio.wait_for(open_loop(args), args.seconds + 120)))


if __name__ == "__main__":
    main()
