"""HTTP load for a fixed batch: exactly N requests (device i = 0..N-1), as its own process.

    python -m bench.load.http_batch KIND --port P --count N [--concurrency C] [--prefix X]
        [--key K --secret S] [--jwt TOKEN]

KIND: ``provision`` (ALLOW_CREATE_NEW_DEVICES with a device-supplied token, so later
phases know each device's token), ``claim-info`` (the device posts its claim secret),
``claim`` (a customer user claims the device). The claim scenario runs the three on
the same batch, which wrk cannot do: it runs for a time, not over a given set.

Why not aiohttp's client: it costs more CPU per request than the server under test.
This is HTTP/1.1 keep-alive over asyncio's Protocol API, one request in flight per
connection; a response is read by its Content-Length (every reply here has one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from bench.load.tally import Tally, emit

TIMEOUT_S = 10.0


def device_name(prefix: str, i: int) -> str:
    return f"{prefix}-{i:07d}"


def device_token(prefix: str, i: int) -> str:
    return f"{prefix}tok{i:07d}"


def _provision(args, i: int) -> tuple[str, dict, dict]:
    return "/api/v1/provision", {}, {"deviceName": device_name(args.prefix, i), "provisionDeviceKey": args.key,
                                     "provisionDeviceSecret": args.secret, "credentialsType": "ACCESS_TOKEN",
                                     "token": device_token(args.prefix, i)}


def _claim_info(args, i: int) -> tuple[str, dict, dict]:
    return f"/api/v1/{device_token(args.prefix, i)}/claim", {}, {"secretKey": f"s{i}", "durationMs": 3600000}


def _claim(args, i: int, worker: int = 0) -> tuple[str, dict, dict]:
    # One customer user per group of connections (``--jwt a,b,...``, connection w uses jwt w mod n): the
    # claim limiter counts each caller's in-flight attempts, so one user's burst stays below its threshold.
    jwts = args.jwt.split(",")
    return (f"/api/customer/device/{device_name(args.prefix, i)}/claim",
            {"X-Authorization": f"Bearer {jwts[worker % len(jwts)]}"}, {"secretKey": f"s{i}"})


# kind: (request builder, what a successful reply looks like)
KINDS = {
    "provision": (_provision, lambda status, body: status == 200 and b'"SUCCESS"' in body),
    "claim-info": (_claim_info, lambda status, body: status == 200),
    "claim": (_claim, lambda status, body: status == 200 and b'"SUCCESS"' in body),
}


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport = None
        self._buf = bytearray()
        self._reply: asyncio.Future | None = None
        self._head: tuple[int, int, int] | None = None  # status, body start, body length

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(ConnectionResetError("server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._head is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self._buf[:end]).split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            self._head = (status, end + 4, length)
        status, start, length = self._head
        if len(self._buf) >= start + length:
            body = bytes(self._buf[start:start + length])
            del self._buf[:start + length]
            self._head = None
            if self._reply is not None and not self._reply.done():
                self._reply.set_result((status, body))

    async def request(self, host: str, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._reply = asyncio.get_running_loop().create_future()
        self.transport.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n{head}\r\n".encode() + body)
        return await asyncio.wait_for(self._reply, TIMEOUT_S)


async def batch(args) -> dict:
    build, succeeded = KINDS[args.kind]
    loop = asyncio.get_running_loop()
    tally = Tally()
    todo = iter(range(args.count))
    host = f"127.0.0.1:{args.port}"

    async def worker(w: int) -> None:
        transport, conn = await loop.create_connection(Connection, "127.0.0.1", args.port)
        try:
            for i in todo:
                path, headers, body = build(args, i, w) if build is _claim else build(args, i)
                started = time.perf_counter()
                try:
                    status, reply = await conn.request(host, path, headers, json.dumps(body).encode())
                except (TimeoutError, OSError) as exc:
                    tally.fail(exc)
                    transport.close()
                    transport, conn = await loop.create_connection(Connection, "127.0.0.1", args.port)
                    continue
                if succeeded(status, reply):
                    tally.ok(started)
                else:
                    tally.fail(f"HTTP {status} {reply[:60].decode(errors='replace')}")
        finally:
            transport.close()

    await asyncio.gather(*(worker(w) for w in range(args.concurrency)))
    return tally.measurement().to_json()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="a fixed batch of HTTP requests against the hub")
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--prefix", default="claim")
    parser.add_argument("--key", default="")
    parser.add_argument("--secret", default="")
    parser.add_argument("--jwt", default="", help="a customer user's JWT, or several separated by commas")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    emit(asyncio.run(asyncio.wait_for(batch(parse(argv)), 600)))


if __name__ == "__main__":
    main()
