"""CoAP load generator: provisioning requests over raw UDP, as its own process on the load core.

    python -m bench.load.coap_load --port P --seconds S --key K --secret X [--concurrency C] [--prefix N]

Why raw UDP: aiocoap's client spends more CPU per request than its server (FACTS.md), so
with it the figure would be the client's. Here each of C workers owns a socket and sends
one confirmable POST at a time (its own message ids, so the server's duplicate detection
never sees a reused id), and takes the answer either piggybacked on the ACK or as a
separate response after an empty ACK (which it acknowledges). A request counts as done
on 2.01 with a SUCCESS body; anything else, or no answer within the timeout, is an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import time

from bench.load.tally import Tally, emit

CON, NON, ACK, RST = 0, 1, 2, 3
POST = 2
CREATED = (2 << 5) | 1
URI_PATH, CONTENT_FORMAT = 11, 12
JSON_FORMAT = 50
TIMEOUT_S = 5.0


def _option(delta: int, value: bytes) -> bytes:
    assert delta < 13 and len(value) < 13, "short options only"
    return bytes([(delta << 4) | len(value)]) + value


def request(mid: int, token: bytes, path: list[str], payload: bytes) -> bytes:
    head = struct.pack("!BBH", (1 << 6) | (CON << 4) | len(token), POST, mid) + token
    options, last = b"", 0
    for segment in path:
        options += _option(URI_PATH - last, segment.encode())
        last = URI_PATH
    options += _option(CONTENT_FORMAT - last, bytes([JSON_FORMAT]))
    return head + options + b"\xff" + payload


def parse_message(data: bytes) -> tuple[int, int, int, bytes, bytes]:
    """(type, code, message id, token, payload)."""
    first, code, mid = struct.unpack_from("!BBH", data)
    tkl = first & 0x0F
    token = data[4:4 + tkl]
    marker = data.find(b"\xff", 4 + tkl)
    payload = data[marker + 1:] if marker >= 0 else b""
    return (first >> 4) & 3, code, mid, token, payload


class Endpoint(asyncio.DatagramProtocol):
    """One socket, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.mid = 0
        self.token = b""
        self.answer: asyncio.Future | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        kind, code, mid, token, payload = parse_message(data)
        if kind == CON:  # a separate response: acknowledge it whatever it is
            self.transport.sendto(struct.pack("!BBH", (1 << 6) | (ACK << 4), 0, mid))
        if kind == RST and mid == self.mid:
            self._resolve(RuntimeError("RST"))
        elif code != 0 and token == self.token:
            self._resolve((code, payload))

    def _resolve(self, value) -> None:
        if self.answer is not None and not self.answer.done():
            if isinstance(value, Exception):
                self.answer.set_exception(value)
            else:
                self.answer.set_result(value)

    async def post(self, path: list[str], payload: bytes, token: bytes) -> tuple[int, bytes]:
        self.mid = (self.mid + 1) % 65536
        self.token = token
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.sendto(request(self.mid, token, path, payload))
        return await asyncio.wait_for(self.answer, TIMEOUT_S)


async def provision(args) -> dict:
    loop = asyncio.get_running_loop()
    tally = Tally()
    deadline = time.perf_counter() + args.seconds
    counter = iter(range(10**9))
    path = ["api", "v1", "provision"]

    async def worker() -> None:
        transport, endpoint = await loop.create_datagram_endpoint(Endpoint, remote_addr=("127.0.0.1", args.port))
        try:
            while time.perf_counter() < deadline:
                n = next(counter)
                body = json.dumps({"deviceName": f"{args.prefix}-{n}", "provisionDeviceKey": args.key,
                                   "provisionDeviceSecret": args.secret}).encode()
                started = time.perf_counter()
                try:
                    code, payload = await endpoint.post(path, body, struct.pack("!I", n))
                except (TimeoutError, OSError, RuntimeError) as exc:
                    tally.fail(exc)
                    continue
                if code == CREATED and b'"SUCCESS"' in payload:
                    tally.ok(started)
                else:
                    tally.fail(f"{code >> 5}.{code & 31:02d}")
        finally:
            transport.close()

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return tally.measurement().to_json()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="CoAP provisioning load over raw UDP")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--key", default="k")
    parser.add_argument("--secret", default="s")
    parser.add_argument("--prefix", default="c")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    emit(asyncio.run(asyncio.wait_for(provision(args), args.seconds + 60)))


if __name__ == "__main__":
    main()
