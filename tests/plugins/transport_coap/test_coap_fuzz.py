"""CoAP fuzzing over a plain UDP socket (issue 11): random bytes, random headers, messages
built with aiocoap's ``Message.encode()`` (any method, real and random paths, random
options, valid / nearly valid / hostile JSON payloads to provisioning and the device
endpoints) and byte-level mutations of those. For every input: a confirmable message with a
CoAP header is answered (ACK or RST), no answer is 5.xx, and the hub logs no ERROR record
and no traceback. bench/fuzz_coap.py runs the same idea at scale against `gridlinks run`."""

from __future__ import annotations

import asyncio
import json
import logging
import struct

import pytest
from aiocoap import Code, Message
from aiocoap.numbers import ContentFormat
from aiocoap.optiontypes import BlockOption
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gridlinks.plugins.transport_coap.server import CoapSettings
from tests.plugins.transport_coap.log_records import LogRecords
from tests.support import hub_config, start_hub, stop_hub

CON, ACK, RST = 0, 2, 3
ANSWER_TIMEOUT = 5.0
QUIET_WAIT = 0.05  # for messages that need no answer: long enough to catch a 5.xx on loopback
EXAMPLES = 400

# -- inputs --------------------------------------------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)


def _provision_body(key: str, secret: str):
    return st.fixed_dictionaries({
        "deviceName": st.one_of(st.text(max_size=30), st.sampled_from(["\ud800", "x" * 300, ""])),
        "provisionDeviceKey": st.sampled_from([key, "wrong", "k" * 300, "\udfff"]),
        "provisionDeviceSecret": st.sampled_from([secret, "wrong", "\ud800"]),
    }, optional={"credentialsType": st.sampled_from(["ACCESS_TOKEN", "MQTT_BASIC", "X509_CERTIFICATE", "NO", 5]),
                 "token": st.text(max_size=40)})


def payloads(key: str, secret: str):
    hostile = st.sampled_from([
        b"[" * 5000 + b"]" * 5000, b"[" * 1100 + b"]" * 1100, b'{"a":' * 500 + b"1" + b"}" * 500,
        b'{"t": NaN}', b'{"t": Infinity}',
        b'{"t": 1e999}', b'{"\\ud800": 1}', b'{"t": "\\udfff"}', b'[{"ts": 9223372036854775808, "values": {"t": 1}}]',
        b'{"ts": -9223372036854775809, "values": {}}', b'{"' + b"k" * 300 + b'": 1}', b"", b"null", b"{",
        b'{"secretKey": "s", "durationMs": 1e308}', b'{"a": ' + b"9" * 5000 + b"}"])
    as_json = lambda strategy: strategy.map(lambda v: json.dumps(v).encode())  # noqa: E731
    return st.one_of(hostile, hostile, as_json(json_value), as_json(_provision_body(key, secret)),
                     as_json(st.lists(st.fixed_dictionaries({"ts": st.integers(-2**64, 2**64), "values": json_value}),
                                      max_size=3)),
                     st.binary(max_size=64))


def paths(token: str):
    segment = st.one_of(st.sampled_from(["api", "v1", "provision", "telemetry", "attributes", "claim", token, "",
                                         "nosuchtoken", ".well-known", "core"]), st.text(max_size=12))
    return st.one_of(
        st.just(("api", "v1", "provision")),
        st.tuples(st.just("api"), st.just("v1"), st.just(token), st.sampled_from(["telemetry", "attributes"])),
        st.tuples(st.just("api"), st.just("v1"), st.just(token), st.sampled_from(["telemetry", "attributes"])),
        st.tuples(st.just("api"), st.just("v1"), st.sampled_from([token, token, "nosuchtoken", "x" * 255]),
                  st.sampled_from(["telemetry", "attributes", "claim"])),
        st.lists(segment, max_size=6).map(tuple))


@st.composite
def valid_messages(draw, token: str, key: str, secret: str) -> bytes:
    code = draw(st.one_of(st.just(Code.POST), st.just(Code.POST), st.just(Code.GET),
                          st.sampled_from([Code.PUT, Code.DELETE, Code.FETCH, Code.iPATCH]),
                          st.integers(1, 31).map(Code)))
    message = Message(code=code, uri_path=draw(paths(token)))
    message.mtype = draw(st.sampled_from([CON, CON, CON, 1]))
    message.mid = 0
    message.token = draw(st.binary(max_size=8))
    if code != Code.GET or draw(st.booleans()):
        message.payload = draw(payloads(key, secret))
    opt = message.opt
    # Each option in about one message of six (sampled_from draws evenly; integers would
    # favour the boundary and add nearly every option).
    sometimes, rarely = st.sampled_from([False] * 5 + [True]), st.sampled_from([False] * 11 + [True])
    if draw(sometimes):
        opt.content_format = ContentFormat(draw(st.sampled_from([0, 42, 50, 60, 11050, 65535])))
    if draw(sometimes):
        opt.accept = ContentFormat(draw(st.sampled_from([0, 50, 60])))
    if draw(sometimes):
        opt.observe = draw(st.sampled_from([0, 1, 2**24 - 1]))
    if draw(sometimes):
        opt.uri_query = tuple(draw(st.lists(st.one_of(st.sampled_from(["clientKeys=a,b", "sharedKeys=", "="]),
                                                       st.text(max_size=20)), min_size=1, max_size=3)))
    if draw(sometimes):
        opt.block1 = BlockOption.BlockwiseTuple(draw(st.integers(0, 2**19)), draw(st.booleans()),
                                                draw(st.integers(0, 7)))
    if draw(sometimes):
        opt.block2 = BlockOption.BlockwiseTuple(draw(st.integers(0, 2**10)), False, draw(st.integers(0, 7)))
    if draw(sometimes):
        opt.size1 = draw(st.integers(0, 2**32 - 1))
    if draw(rarely):
        opt.if_none_match = True
    if draw(rarely):
        opt.uri_host = draw(st.text(min_size=1, max_size=20))
    if draw(rarely):
        opt.proxy_uri = "coap://example.invalid/x"
    try:
        return message.encode()
    except Exception:  # a combination aiocoap will not encode
        return Message(code=code, uri_path=("api",), mtype=CON, mid=0).encode()


@st.composite
def mutated(draw, base) -> bytes:
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(4, max(4, len(data))))
        action = draw(st.integers(0, 4))
        if action == 0 and where < len(data):
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif action == 1:
            del data[where:where + draw(st.integers(1, 8))]
        elif action == 2:
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif action == 3 and where < len(data):
            data[where] = draw(st.sampled_from([0x0D, 0x0E, 0x0F, 0xDD, 0xEE, 0xFF, 0xB2, 0x39]))
        else:
            data[where:where] = bytes([0xB2]) + draw(st.binary(min_size=2, max_size=2))  # a Uri-Path, maybe not UTF-8
    if draw(st.booleans()):
        data[0] = (data[0] & 0xF0) | draw(st.integers(0, 15))  # token length, 9..15 reserved
    return bytes(data[:65507])  # what one UDP datagram can carry


def datagrams(token: str, key: str, secret: str):
    header = st.builds(lambda first, code, rest: struct.pack("!BBH", first, code, 0) + rest,
                       st.integers(0x40, 0x7F), st.integers(0, 255), st.binary(max_size=40))
    valid = valid_messages(token, key, secret)
    return st.one_of(valid, st.binary(max_size=60), valid, header, valid, mutated(valid))


# -- the exchange --------------------------------------------------------------------

class _Socket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data, addr) -> None:
        self.received.put_nowait(data)

    def error_received(self, exc) -> None:
        pass


async def exchange(port: int, data: bytes, mid: int) -> list[int] | None:
    """Send ``data`` with message id ``mid`` from a fresh socket. Returns the codes answered
    (0 for an RST or an empty ACK) once the request is settled, or None if a confirmable
    message got no answer at all within the timeout."""
    if len(data) >= 4:
        data = data[:2] + struct.pack("!H", mid) + data[4:]
    confirmable = len(data) >= 4 and data[0] >> 6 == 1 and (data[0] >> 4) & 3 == CON
    token = data[4:4 + (data[0] & 0x0F)] if len(data) >= 4 else b""
    transport, sock = await asyncio.get_running_loop().create_datagram_endpoint(
        _Socket, remote_addr=("127.0.0.1", port))
    codes: list[int] = []
    acknowledged = False
    try:
        transport.sendto(data)
        while True:
            try:
                reply = await asyncio.wait_for(sock.received.get(), ANSWER_TIMEOUT if confirmable else QUIET_WAIT)
            except TimeoutError:
                return codes if (acknowledged or not confirmable) else None
            if len(reply) < 4:
                continue
            mtype, code, reply_mid = (reply[0] >> 4) & 3, reply[1], struct.unpack_from("!H", reply, 2)[0]
            codes.append(code)
            if mtype in (ACK, RST) and reply_mid == mid:
                if code or mtype == RST:
                    return codes
                acknowledged = True  # empty ACK: a separate response follows
            elif reply[4:4 + (reply[0] & 0x0F)] == token and code:
                if mtype == CON:
                    transport.sendto(struct.pack("!BBH", (1 << 6) | (ACK << 4), 0, reply_mid))
                return codes
    finally:
        transport.close()


@pytest.fixture(scope="module")
def coap_hub(tmp_path_factory):
    """One hub for all examples, on its own loop (hypothesis tests are synchronous)."""
    loop = asyncio.new_event_loop()
    running = loop.run_until_complete(start_hub(hub_config(tmp_path_factory.mktemp("coapfuzz") / "data")))
    status, body = loop.run_until_complete(running.provision(
        deviceName="fuzz", provisionDeviceKey=running.key, provisionDeviceSecret=running.secret))
    assert status == 200, body
    port = running.hub.config.section("coap", CoapSettings).port
    handler = LogRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield loop, running, port, body["credentialsValue"], handler
    finally:
        root.removeHandler(handler)
        loop.run_until_complete(stop_hub(running))
        loop.close()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow,
                                                                         HealthCheck.data_too_large])
@given(st.data())
def test_every_datagram_is_answered_without_5xx_or_traceback(coap_hub, data):
    loop, running, port, token, log = coap_hub
    datagram = data.draw(datagrams(token, running.key, running.secret), label="datagram")
    coap_hub_sent = getattr(running, "fuzz_sent", 0) + 1
    running.fuzz_sent = coap_hub_sent  # a message id of its own per input
    codes = loop.run_until_complete(exchange(port, datagram, coap_hub_sent & 0xFFFF))
    event("answer " + (" ".join(f"{c >> 5}.{c & 31:02d}" for c in codes) if codes else "none"))
    assert codes is not None, f"confirmable message not answered: {datagram.hex()}"
    assert not [c for c in codes if c >> 5 == 5], f"5.xx answer {codes} to {datagram.hex()}"
    bad = [r for r in log.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]
