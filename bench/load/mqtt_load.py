"""MQTT load generator, run as its own process on the load core (see bench/load/proc.py).

    python -m bench.load.mqtt_load connect   --port P --seconds S [--concurrency C]
    python -m bench.load.mqtt_load provision --port P --seconds S --key K --secret X [--prefix N]
    python -m bench.load.mqtt_load telemetry --port P --seconds S --sessions N --token-prefix T [--window W]
    python -m bench.load.mqtt_load telemetry --port P --seconds S --sessions N --bare [--window W]
    python -m bench.load.mqtt_load hold      --port P --sessions N --token-prefix T [--hold-seconds H]
                                             [--first F] [--sources 127.0.0.2,...] [--ping-seconds S]

connect / provision: C workers each loop over whole sessions (connect, [subscribe,
request, reply,] DISCONNECT, server closes) until the time is up; one latency per session.
telemetry (hub): each device session publishes W QoS 0 telemetry messages, then a
``getSessionLimits`` RPC request; the hub handles a session's publishes in order, so
the reply marks the window as handled (validated and queued for the group commit; the
hub does not wait for the commit before the next publish), and keeps each session under
``mqtt.max_pending_messages``. With ``--db`` (the hub's SQLite file, read-only) the
run then waits, bounded, until every handled message is in ``ts_kv``: the rate counts
the time to *commit*, and a message handled but never committed is an error.
telemetry --bare (bare broker): W QoS 0 publishes to a topic nobody subscribed, then
one to the session's own subscribed topic; its echo marks the window as handled.
hold: opens N device sessions, prints a ``HOLDING`` line, keeps them (pinging) until a line
on stdin (or --hold-seconds), then reports how many were still open and disconnects.

Every loop ends by the deadline; every wait is bounded (mqtt_client.TIMEOUT_S).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
from dataclasses import dataclass

from bench.common import raise_open_files
from bench.load.mqtt_client import TIMEOUT_S, MqttClient
from bench.load.tally import Tally, emit

TELEMETRY = "v1/devices/me/telemetry"
RPC_REQUEST = "v1/devices/me/rpc/request/"
RPC_RESPONSE = "v1/devices/me/rpc/response/"
LIMITS_REQUEST = b'{"method":"getSessionLimits","params":{}}'
KEYS_PER_MESSAGE = 2  # {"temperature": .., "humidity": ..}: two time-series rows each
PERSIST_WAIT_S = 60.0


class Refused(Exception):
    pass


@dataclass(frozen=True)
class Topics:
    """A telemetry session's topics ({i}: the session, {n}: the window's first message)."""

    data: str
    barrier: str
    barrier_payload: bytes
    reply: str  # what the session subscribes to; the barrier's answer arrives there


HUB_TOPICS = Topics(TELEMETRY, RPC_REQUEST + "{n}", LIMITS_REQUEST, RPC_RESPONSE + "+")
BARE_TOPICS = Topics("bench/data/{i}", "bench/echo/{i}", b"{}", "bench/echo/{i}")


async def _open(port: int, client_id: str, username: str | None, on_message=None) -> MqttClient:
    client, rc = await MqttClient.open(port, client_id, username, on_message=on_message)
    if rc != 0:
        raise Refused(f"CONNACK {rc}")
    return client


async def _loop(seconds: float, concurrency: int, once) -> dict:
    """``concurrency`` workers calling ``once(n)`` until the deadline; one latency each."""
    tally = Tally()
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await once(next(counter))
            except (TimeoutError, OSError, Refused, ValueError) as exc:
                tally.fail(exc)
            else:
                tally.ok(started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally.measurement().to_json()


async def connect(args) -> dict:
    async def once(n: int) -> None:
        client = await _open(args.port, f"bench-{args.prefix}-{n}", args.username)
        await client.disconnect()

    return await _loop(args.seconds, args.concurrency, once)


async def provision(args) -> dict:
    async def once(n: int) -> None:
        reply = asyncio.get_running_loop().create_future()
        client = await _open(args.port, f"prov-{args.prefix}-{n}", "provision",
                             lambda topic, payload: reply.done() or reply.set_result(payload))
        try:
            if await client.subscribe("/provision/response", 1) != 1:
                raise Refused("SUBACK refused")
            body = json.dumps({"deviceName": f"{args.prefix}-{n}", "provisionDeviceKey": args.key,
                               "provisionDeviceSecret": args.secret}).encode()
            ack = client.publish("/provision/request", body, 1)
            await asyncio.wait_for(asyncio.gather(ack, reply), TIMEOUT_S)
            status = json.loads(reply.result()).get("status")
            if status != "SUCCESS":
                raise Refused(f"provisioning answered {status}")
        finally:
            await client.disconnect()

    return await _loop(args.seconds, args.concurrency, once)


class _Window:
    """Counts what came back on one session and wakes the sender at the target."""

    def __init__(self) -> None:
        self.received = 0
        self.target = 0
        self.done: asyncio.Future | None = None

    def arm(self, target: int) -> asyncio.Future:
        self.target = target
        self.done = asyncio.get_running_loop().create_future()
        if self.received >= target:
            self.done.set_result(None)
        return self.done

    def on_message(self, topic: str, payload: bytes) -> None:
        self.received += 1
        if self.done is not None and not self.done.done() and self.received >= self.target:
            self.done.set_result(None)


async def _windows(args, session_name, username, setup, send_window) -> Tally:
    """One task per session: opened (``username(i)`` as its login) and ``setup``, then
    windows until the deadline."""
    tally = Tally()
    deadline = time.perf_counter() + args.seconds

    async def session(i: int) -> None:
        window = _Window()
        try:
            client = await _open(args.port, session_name(i), username(i), window.on_message)
            await setup(client, i)
        except (TimeoutError, OSError, Refused) as exc:
            tally.fail(exc)
            return
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    await asyncio.wait_for(send_window(client, i, window), TIMEOUT_S)
                except (TimeoutError, OSError) as exc:
                    tally.fail(exc)
                    return
                tally.ok(started, args.window)
        finally:
            await client.disconnect()

    await asyncio.gather(*(session(i) for i in range(args.sessions)))
    return tally


async def telemetry(args) -> dict:
    """Hub: telemetry, then a ``getSessionLimits`` RPC as the barrier. Bare broker
    (``--bare``): publishes to a topic nobody subscribed, then one to the session's own
    subscribed topic as the barrier (a broker handles a client's publishes in order)."""
    topics = BARE_TOPICS if args.bare else HUB_TOPICS
    sent: dict[int, int] = {}

    async def setup(client: MqttClient, i: int) -> None:
        if await client.subscribe(topics.reply.format(i=i), 0) == 0x80:
            raise Refused("SUBACK refused")

    async def send_window(client: MqttClient, i: int, window: _Window) -> None:
        base = sent.get(i, 0)
        topic = topics.data.format(i=i)
        for k in range(args.window):
            client.publish(topic, b'{"temperature":%d.5,"humidity":%d}' % (base + k, k % 100))
        sent[i] = base + args.window
        done = window.arm(window.received + 1)
        client.publish(topics.barrier.format(i=i, n=base), topics.barrier_payload)
        await done

    before = _stored_rows(args.db) if args.db else 0
    login = (lambda i: None) if args.bare else (lambda i: f"{args.token_prefix}{i:07d}")
    tally = await _windows(args, lambda i: f"tele-{args.prefix}-{i}", login, setup, send_window)
    if not args.db:
        return tally.measurement().to_json()
    expected = tally.items * KEYS_PER_MESSAGE
    stored = await _wait_for_rows(args.db, before + expected) - before
    result = tally.measurement()  # its time now runs to the last commit
    result.errors += max(0, expected - stored) // KEYS_PER_MESSAGE
    result.extra["committed_rows"] = stored
    return result.to_json()


def _stored_rows(db: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM ts_kv").fetchone()[0]
    finally:
        conn.close()


async def _wait_for_rows(db: str, expected: int) -> int:
    """Polls the table until it holds ``expected`` rows or PERSIST_WAIT_S passed; the count."""
    deadline = time.perf_counter() + PERSIST_WAIT_S
    while True:
        rows = _stored_rows(db)
        if rows >= expected or time.perf_counter() > deadline:
            return rows
        await asyncio.sleep(0.01)


async def hold(args) -> dict:
    """Sessions ``first`` .. ``first + sessions - 1`` (device tokens by number), connected
    from the ``--sources`` addresses in turn, kept alive by a PINGREQ every
    ``--ping-seconds`` while held (idle devices ping too; the hub enforces keep-alive)."""
    tally = Tally()
    clients: list[MqttClient] = []
    gate = asyncio.Semaphore(args.concurrency)
    sources = [s for s in (args.sources or "").split(",") if s] or [None]

    async def one(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                client, rc = await MqttClient.open(args.port, f"hold-{i}", f"{args.token_prefix}{i:07d}",
                                                   source=sources[i % len(sources)])
                if rc != 0:
                    raise Refused(f"CONNACK {rc}")
                clients.append(client)
            except (TimeoutError, OSError, Refused) as exc:
                tally.fail(exc)
            else:
                tally.ok(started)

    async def keep_alive() -> None:
        while True:
            await asyncio.sleep(args.ping_seconds)
            for n, client in enumerate(list(clients)):
                client.ping()
                if n % 1000 == 999:
                    await asyncio.sleep(0)

    pinger = asyncio.create_task(keep_alive()) if args.ping_seconds > 0 else None
    await asyncio.gather(*(one(i) for i in range(args.first, args.first + args.sessions)))
    opened = tally.measurement().to_json()
    emit({"held": len(clients), **opened}, prefix="HOLDING ")
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), args.hold_seconds)
    except TimeoutError:
        pass
    except OSError:  # no stdin to read (run in-process by a test): hold for the time given
        await asyncio.sleep(args.hold_seconds)
    if pinger is not None:
        pinger.cancel()
    still_open = sum(1 for c in clients if not c.lost.done())

    async def close(client: MqttClient) -> None:
        async with gate:
            await client.disconnect(timeout=2)

    await asyncio.gather(*(close(c) for c in clients))
    return {**opened, "held": len(clients), "still_open": still_open}


MODES = {"connect": connect, "provision": provision, "telemetry": telemetry, "hold": hold}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="MQTT load generator for the benchmarks")
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--prefix", default="m")
    parser.add_argument("--username", default=None, help="connect: CONNECT user name (none by default)")
    parser.add_argument("--key", default="")
    parser.add_argument("--secret", default="")
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--token-prefix", default="seedtok")
    parser.add_argument("--bare", action="store_true", help="telemetry against a bare broker (no hub topics)")
    parser.add_argument("--db", help="telemetry: the hub's SQLite file, to wait for the commits")
    parser.add_argument("--hold-seconds", type=float, default=120.0)
    parser.add_argument("--first", type=int, default=0, help="hold: number of the first device token")
    parser.add_argument("--sources", default="",
                        help="hold: comma-separated local addresses (127.0.0.x) to use in turn")
    parser.add_argument("--ping-seconds", type=float, default=30.0, help="hold: PINGREQ interval (0: none)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    raise_open_files(args.sessions + 1024)
    limit = args.seconds + args.hold_seconds + 120
    emit(asyncio.run(asyncio.wait_for(MODES[args.mode](args), limit)))


if __name__ == "__main__":
    main()
