"""CoAP fuzzing against a real hub on loopback: how many datagrams were answered, how many
confirmable requests were not, how many answers were 5.xx, how many tracebacks the log got.

    .venv/bin/python -m bench.fuzz_coap --count 5000 [--seed 1] [--timeout 3] [--workers 4]

Why a plain socket and not aiocoap's client: the client only sends well-formed messages,
and the point is what the hub does with everything else. Each input goes out from a socket
of its own (a fresh source port), so aiocoap's per-peer duplicate detection (same message
id) and token matching (same token while a request is open) never merge two inputs; those
are RFC 7252 behaviours, not losses. The inputs, from a seeded generator:

- ``random``: random bytes;
- ``header``: a valid 4-byte header (any type, code, token length) and random bytes after it;
- ``valid``: a message built with aiocoap's ``Message.encode()``: any method, a real or a
  random path, random options, a payload that is valid, nearly valid or hostile JSON;
- ``mutated``: a ``valid`` message with bytes flipped, cut, inserted or duplicated.

A confirmable request (version 1, CON, token length <= 8, a code in 0.01..0.31) counts as
answered on a piggy-backed answer, an empty ACK followed by the separate response, or an RST.
The hub runs as ``gridlinks run`` with its log at INFO in a file; tracebacks are counted there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import struct
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from aiocoap import Code, Message
from aiocoap.numbers import CON, ContentFormat
from aiocoap.optiontypes import BlockOption

from bench.common import hub

ACK, RST = 2, 3
MAX_DATAGRAM = 65507  # the most a UDP/IPv4 datagram carries; longer inputs are cut to it
PROVISION = ("api", "v1", "provision")
DEVICE_ENDPOINTS = ("telemetry", "attributes", "claim")


# -- inputs -----------------------------------------------------------------------------------

def hostile_json(rng: random.Random, key: str, secret: str) -> bytes:
    """A payload: valid, nearly valid or hostile JSON, or plain junk."""
    depth = rng.choice([10, 100, 1000, 5000])
    choices = [
        lambda: json.dumps({"temperature": rng.uniform(-40, 40), "humidity": rng.randint(0, 100)}),
        lambda: json.dumps([{"ts": rng.choice([0, 1, 2**31, 2**63 - 1, 2**63, -2**63 - 1, 10**30]),
                             "values": {"k": rng.random()}}]),
        lambda: json.dumps({"deviceName": rng.choice(["d", "\ud800", "x" * 300, ""]), "provisionDeviceKey": key,
                            "provisionDeviceSecret": rng.choice([secret, "wrong", "\udfff"])}),
        lambda: json.dumps({"provisionDeviceKey": rng.choice(["k" * 300, key, "\ud800"]),
                            "provisionDeviceSecret": secret, "credentialsType": rng.choice(
                                ["ACCESS_TOKEN", "MQTT_BASIC", "X509_CERTIFICATE", "NOPE", 5])}),
        lambda: json.dumps({"\ud800": 1, "k" * 300: 2}),
        lambda: json.dumps({"secretKey": rng.choice(["s", "\ud800", "x" * 1000]),
                            "durationMs": rng.choice([1, -1, 2**70, 1e308])}),
        lambda: '{"a": NaN, "b": Infinity, "c": -Infinity}',
        lambda: "[" * depth + "]" * depth,
        lambda: '{"a":' * depth + "1" + "}" * depth,
        lambda: '{"a": 1e999999}',
        lambda: '{"a": ' + "9" * 5000 + "}",
        lambda: '"\\ud800"',
        lambda: json.dumps("x" * rng.randint(0, 2000)),
        lambda: "",
        lambda: "null",
        lambda: "{",
    ]
    text = rng.choice(choices)()
    raw = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.1:
        raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
    return raw


def random_path(rng: random.Random, token: str) -> tuple[str, ...]:
    pick = rng.random()
    if pick < 0.3:
        return PROVISION
    if pick < 0.75:
        return ("api", "v1", rng.choice([token, token, "nosuchtoken", "", "\u00e9\u2603", "x" * 300]),
                rng.choice(DEVICE_ENDPOINTS))
    segments = ["api", "v1", "", ".well-known", "core", token, "telemetry", "\x00", "%2F", "x" * 255]
    return tuple(rng.choice(segments) for _ in range(rng.randint(0, 6)))


def valid_message(rng: random.Random, token: str, key: str, secret: str) -> Message:
    code = rng.choice([Code.GET, Code.POST, Code.POST, Code.POST, Code.PUT, Code.DELETE, Code.FETCH,
                       Code.PATCH, Code.iPATCH, Code(rng.randint(1, 31))])
    message = Message(code=code, mtype=CON, mid=0, token=rng.randbytes(rng.randint(0, 8)),
                      uri_path=random_path(rng, token))
    if code in (Code.POST, Code.PUT, Code.FETCH, Code.PATCH, Code.iPATCH) or rng.random() < 0.2:
        message.payload = hostile_json(rng, key, secret)
    options = message.opt
    if rng.random() < 0.4:
        options.content_format = ContentFormat(rng.choice([0, 50, 60, 42, 11050, 65535]))
    if rng.random() < 0.2:
        options.accept = ContentFormat(rng.choice([0, 50, 60, 65535]))
    if rng.random() < 0.2:
        options.observe = rng.choice([0, 0, 1, 2**24 - 1])
    if rng.random() < 0.2:
        options.uri_query = tuple(rng.choice(["clientKeys=a,b", "sharedKeys=", "x", "=", "sharedKeys=" + "k," * 100])
                                  for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.15:
        options.block1 = BlockOption.BlockwiseTuple(rng.choice([0, 1, 5, 2**19]), rng.random() < 0.5,
                                                    rng.randint(0, 7))
    if rng.random() < 0.1:
        options.block2 = BlockOption.BlockwiseTuple(rng.choice([0, 1, 100]), False, rng.randint(0, 7))
    if rng.random() < 0.1:
        options.size1 = rng.choice([0, 10, 2**32 - 1])
    if rng.random() < 0.05:
        options.if_none_match = True
    if rng.random() < 0.05:
        options.if_match = [rng.randbytes(rng.randint(0, 8))]
    if rng.random() < 0.05:
        options.uri_host = rng.choice(["localhost", "\u2603", "x" * 255])
    if rng.random() < 0.05:
        options.proxy_uri = "coap://example.invalid/x"
    if rng.random() < 0.05:
        options.no_response = rng.choice([0, 2, 26])
    return message


def _unknown_option(rng: random.Random) -> bytes:
    """One option with a random number (often critical, often unknown) and value."""
    delta = rng.choice([1, 2, 9, 13 + rng.randint(0, 255)])
    value = rng.randbytes(rng.randint(0, 12))
    if delta < 13:
        return bytes([(delta << 4) | len(value)]) + value
    return bytes([(13 << 4) | len(value), delta - 13]) + value


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        action = rng.randrange(6)
        where = rng.randrange(4, max(5, len(out))) if len(out) > 4 else 4
        if action == 0 and len(out) > 4:
            out[where % len(out)] ^= 1 << rng.randrange(8)
        elif action == 1:
            del out[where:where + rng.randint(1, 8)]
        elif action == 2:
            out[where:where] = rng.randbytes(rng.randint(1, 8))
        elif action == 3:
            out[where:where] = _unknown_option(rng)
        elif action == 4 and len(out) > 4:
            out[where % len(out)] = rng.choice([0x0D, 0x0E, 0x0F, 0xDD, 0xEE, 0xFF, 0xF0, 0xB5])
        elif action == 5:
            out[where:where] = bytes(out[4:where])
    if rng.random() < 0.2:  # token length nibble, including the reserved 9..15
        out[0] = (out[0] & 0xF0) | rng.randrange(16)
    return bytes(out)


def make_input(rng: random.Random, token: str, key: str, secret: str) -> tuple[str, bytes]:
    pick = rng.random()
    if pick < 0.1:
        return "random", rng.randbytes(rng.randint(0, 80))
    if pick < 0.3:
        first = (1 << 6) | (rng.randrange(4) << 4) | rng.randrange(9)
        head = struct.pack("!BBH", first, rng.choice([rng.randrange(256), rng.randint(1, 31)]), 0)
        return "header", head + rng.randbytes(rng.randint(0, 60))
    message = valid_message(rng, token, key, secret)
    try:
        data = message.encode()
    except Exception:  # a combination aiocoap refuses to encode: mutate a plain one instead
        data = Message(code=Code.POST, mtype=CON, mid=0, uri_path=PROVISION).encode()
    if pick < 0.65:
        return "valid", data[:MAX_DATAGRAM]
    return "mutated", mutate(rng, data)[:MAX_DATAGRAM]


def with_mid(data: bytes, mid: int) -> bytes:
    """The datagram with a message id of ours, where it has a header to carry one."""
    return data[:2] + struct.pack("!H", mid) + data[4:] if len(data) >= 4 else data


def confirmable_request(data: bytes) -> bool:
    """What RFC 7252 says must be answered: version 1, CON, a valid token length, a request code."""
    return len(data) >= 4 and data[0] >> 6 == 1 and (data[0] >> 4) & 3 == CON and data[0] & 0xF <= 8 \
        and 1 <= data[1] <= 31


# -- exchange -----------------------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str
    con_request: bool
    answered: bool
    code: int | None = None  # response code (None for RST / no answer)
    rst: bool = False
    data: bytes = b""


class _Socket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data, addr) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc) -> None:
        pass


async def exchange(port: int, data: bytes, mid: int, timeout: float) -> tuple[bool, int | None, bool]:
    """Send one datagram; (answered, response code, was RST). An empty ACK with no separate
    response after it counts as answered with code 0.00 (the request asked for No-Response)."""
    loop = asyncio.get_running_loop()
    transport, sock = await loop.create_datagram_endpoint(_Socket, remote_addr=("127.0.0.1", port))
    token = data[4:4 + (data[0] & 0xF)] if len(data) >= 4 else b""
    acknowledged = False
    try:
        transport.sendto(data)
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                reply = await asyncio.wait_for(sock.queue.get(), remaining)
            except TimeoutError:
                return (True, 0, False) if acknowledged else (False, None, False)
            if len(reply) < 4:
                continue
            mtype, code, reply_mid = (reply[0] >> 4) & 3, reply[1], struct.unpack_from("!H", reply, 2)[0]
            reply_token = reply[4:4 + (reply[0] & 0xF)]
            if mtype == RST and reply_mid == mid:
                return True, None, True
            if mtype == ACK and reply_mid == mid:
                if code:
                    return True, code, False
                acknowledged = True  # empty ACK: the separate response follows
                continue
            if reply_token == token and code:
                if mtype == CON:  # acknowledge the separate response so it is not retransmitted
                    transport.sendto(struct.pack("!BBH", (1 << 6) | (ACK << 4), 0, reply_mid))
                return True, code, False
    finally:
        transport.close()


async def fuzz(port: int, token: str, key: str, secret: str, count: int, seed: int, timeout: float,
               workers: int) -> list[Outcome]:
    rng = random.Random(seed)
    inputs = [make_input(rng, token, key, secret) for _ in range(count)]
    outcomes: list[Outcome] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(inputs):
            index = next_index
            next_index += 1
            kind, data = inputs[index]
            mid = index & 0xFFFF
            data = with_mid(data, mid)
            # Only a confirmable message must be answered; give the rest a short while.
            wait = timeout if len(data) >= 4 and (data[0] >> 4) & 3 == CON else min(timeout, 0.5)
            answered, code, rst = await exchange(port, data, mid, wait)
            outcomes.append(Outcome(kind, confirmable_request(data), answered, code, rst, data))

    await asyncio.gather(*(worker() for _ in range(workers)))
    return outcomes


async def provision_token(port: int, key: str, secret: str) -> str:
    request = Message(code=Code.POST, mtype=CON, mid=1, token=b"p", uri_path=PROVISION,
                      payload=json.dumps({"deviceName": "fuzz-target", "provisionDeviceKey": key,
                                          "provisionDeviceSecret": secret}).encode())
    answered, code, _ = await exchange(port, request.encode(), 1, 10)
    if not answered or code != Code.CREATED:
        raise RuntimeError(f"could not provision the fuzz target device: {answered} {code}")
    # Read the token through a second exchange that keeps the payload.
    loop = asyncio.get_running_loop()
    transport, sock = await loop.create_datagram_endpoint(_Socket, remote_addr=("127.0.0.1", port))
    try:
        request.mid, request.payload = 2, json.dumps({"deviceName": "fuzz-target-2", "provisionDeviceKey": key,
                                                      "provisionDeviceSecret": secret}).encode()
        transport.sendto(request.encode())
        reply = Message.decode(await asyncio.wait_for(sock.queue.get(), 10))
        return json.loads(reply.payload)["credentialsValue"]
    finally:
        transport.close()


def code_text(code: int) -> str:
    return f"{code >> 5}.{code & 0x1F:02d}"


@dataclass
class Report:
    sent: int
    answered: int
    con_requests: int
    con_unanswered: int
    server_errors: int
    tracebacks: int
    error_lines: int
    seconds: float
    codes: Counter = field(default_factory=Counter)
    unanswered_by_kind: Counter = field(default_factory=Counter)
    suspects: list[Outcome] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"sent {self.sent} datagrams in {self.seconds:.1f} s; answered {self.answered}",
                f"confirmable requests {self.con_requests}, unanswered {self.con_unanswered} "
                f"{dict(self.unanswered_by_kind) or ''}",
                f"5.xx answers {self.server_errors}; tracebacks in the hub log {self.tracebacks}; "
                f"ERROR lines {self.error_lines}",
                "answers: " + ", ".join(f"{k} {v}" for k, v in sorted(self.codes.items()))]


def run(count: int, seed: int, timeout: float, workers: int) -> Report:
    with hub(extra_env={"GRIDLINKS_LOG_LEVEL": "INFO"}) as h:
        port = h.ports["coap"]
        token = asyncio.run(provision_token(port, h.key, h.secret))
        started = time.monotonic()
        outcomes = asyncio.run(fuzz(port, token, h.key, h.secret, count, seed, timeout, workers))
        seconds = time.monotonic() - started
        time.sleep(0.5)  # let the last log lines land
        log = h.log.read_text(errors="replace")
    for block in log.split("Traceback (most recent call last)")[1:4]:
        print("traceback:", " | ".join(block.strip().splitlines()[-3:]))
    for line in [line for line in log.splitlines() if " ERROR " in line][:3]:
        print("error:", line[:300])
    codes = Counter("RST" if o.rst else code_text(o.code) for o in outcomes if o.answered)
    return Report(
        sent=len(outcomes), answered=sum(o.answered for o in outcomes),
        con_requests=sum(o.con_request for o in outcomes),
        con_unanswered=sum(o.con_request and not o.answered for o in outcomes),
        server_errors=sum(1 for o in outcomes if o.code is not None and o.code >> 5 == 5),
        tracebacks=log.count("Traceback (most recent call last)"),
        error_lines=sum(1 for line in log.splitlines() if " ERROR " in line),
        seconds=seconds, codes=codes,
        unanswered_by_kind=Counter(o.kind for o in outcomes if o.con_request and not o.answered),
        suspects=[o for o in outcomes if (o.con_request and not o.answered) or (o.code or 0) >> 5 == 5])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each answer")
    parser.add_argument("--workers", type=int, default=4, help="inputs in flight at once")
    parser.add_argument("--show", type=int, default=0, help="print this many unanswered / 5.xx inputs (hex)")
    args = parser.parse_args(argv)
    report = run(args.count, args.seed, args.timeout, args.workers)
    print("\n".join(report.lines()))
    for outcome in report.suspects[:args.show]:
        answer = code_text(outcome.code) if outcome.code is not None else "no answer"
        print(f"  {outcome.kind:8} {answer:9} {outcome.data.hex()}")
    clean = not (report.con_unanswered or report.server_errors or report.tracebacks)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
