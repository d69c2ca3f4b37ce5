"""Issue 11, finding 4, over real UDP on 127.0.0.1: every confirmable request is answered
in CoAP's own terms (RST for a message format error, 4.02 / 4.06 / 4.15 / 4.xx for what the
hub cannot or will not do), a refused observation is a plain answer with no traceback,
hub errors map to their codes in one place, and values the database cannot store are 4.00
with the hub still writing afterwards."""

from __future__ import annotations

import asyncio
import json
import logging
import struct

import pytest
from aiocoap import Code, Context, Message
from aiocoap.numbers import ContentFormat
from aiocoap.optiontypes import OpaqueOption, StringOption, UintOption

from gridlinks.core import errors
from gridlinks.core.storage.models import Device, LatestValue
from gridlinks.plugins.transport_coap.errors import code_for
from gridlinks.plugins.transport_coap.routes import empty_response
from tests.coap_client import CoapClient, coap_port
from tests.plugins.transport_coap.log_records import LogRecords
from tests.support import hub_config, start_hub, stop_hub

TIMEOUT = 5
CON, NON, ACK, RST = 0, 1, 2, 3


# -- a plain UDP socket, as a fuzzer or a broken device would send ---------------------

class _Socket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data, addr) -> None:
        self.received.put_nowait(data)

    def error_received(self, exc) -> None:
        pass


async def raw_exchange(port: int, datagram: bytes, timeout: float = TIMEOUT) -> bytes | None:
    """Send one datagram from a fresh socket; the first reply, or None if there is none."""
    transport, sock = await asyncio.get_running_loop().create_datagram_endpoint(
        _Socket, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(datagram)
        return await asyncio.wait_for(sock.received.get(), timeout)
    except TimeoutError:
        return None
    finally:
        transport.close()


def header(mtype: int, code: int, mid: int, token: bytes = b"") -> bytes:
    return struct.pack("!BBH", (1 << 6) | (mtype << 4) | len(token), code, mid) + token


def uri_path_option(value: bytes) -> bytes:
    """A Uri-Path option (11) with raw value bytes, as the first option."""
    assert len(value) < 13
    return bytes([(11 << 4) | len(value)]) + value


@pytest.fixture
def log_records():
    handler = LogRecords()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


# -- datagrams aiocoap cannot parse ----------------------------------------------------

async def test_confirmable_message_format_errors_get_rst(running, coap, log_records):
    """aiocoap drops these silently; RFC 7252 4.2 rejects a confirmable one with RST."""
    port = coap_port(running.hub)
    cases = {
        "option announced but absent": header(CON, Code.POST, 0x0101, b"t") + bytes([0xB9]) + b"api",
        "option ended prematurely": header(CON, Code.GET, 0x0102) + bytes([0xD1]),
        "reserved option delta 15": header(CON, Code.GET, 0x0103) + bytes([0xF1, 0x00]),
        "token length 9 (reserved)": struct.pack("!BBH", 0x49, Code.GET, 0x0104) + b"123456789",
        "token longer than the datagram": struct.pack("!BBH", 0x48, Code.GET, 0x0105) + b"12",
        "reserved code class 7": header(CON, (7 << 5) | 1, 0x0106),
        "reserved code class 1": header(CON, (1 << 5) | 3, 0x0107, b"x"),
    }
    for what, datagram in cases.items():
        reply = await raw_exchange(port, datagram)
        assert reply is not None, f"{what}: no answer"
        assert reply == header(RST, 0, struct.unpack_from("!H", datagram, 2)[0]), (what, reply.hex())
    assert not log_records.at_least(logging.INFO), [r.getMessage() for r in log_records.at_least(logging.INFO)]
    # Still serving.
    assert (await coap.provision(running, deviceName="after")).code == Code.CREATED


async def test_non_confirmable_junk_is_ignored(running, coap, log_records):
    port = coap_port(running.hub)
    for datagram in [b"", b"\x40", b"\x80\x01\x00\x01", header(NON, Code.GET, 1) + bytes([0xB9]) + b"a",
                     header(NON, Code.GET, 2) + uri_path_option(b"\xff\xfe"), header(NON, 0, 3),
                     header(ACK, Code.POST, 4), header(RST, Code.CONTENT, 5), header(NON, (7 << 5) | 1, 6)]:
        assert await raw_exchange(port, datagram, timeout=0.3) is None, datagram.hex()
    # Junk off the network does not write to the log above DEBUG.
    assert not log_records.at_least(logging.INFO), [r.getMessage() for r in log_records.at_least(logging.INFO)]
    assert (await coap.provision(running, deviceName="after")).code == Code.CREATED


async def test_request_with_an_option_that_is_not_utf8_gets_4_02(running, coap, log_records):
    """Uri-Path / Uri-Query bytes that are not UTF-8 made aiocoap raise UnicodeDecodeError
    out of its receive callback: a traceback per datagram and no answer."""
    port = coap_port(running.hub)
    for mid, option in [(0x0201, uri_path_option(b"\xff\xfe")),
                        (0x0202, uri_path_option(b"api") + bytes([0x03]) + b"\xc3\x28\x80"
                         + bytes([0x42]) + b"\xe2\x82")]:
        datagram = header(CON, Code.POST, mid, b"tok") + option + b"\xff{}"
        reply = await raw_exchange(port, datagram)
        assert reply is not None, option.hex()
        message = Message.decode(reply)
        assert message.code == Code.BAD_OPTION and message.mtype == ACK
        assert message.mid == mid and message.token == b"tok"
    assert not log_records.tracebacks, log_records.tracebacks


# -- options the hub does not implement ------------------------------------------------

async def test_unrecognised_critical_options_are_4_02(running, coap):
    """RFC 7252 5.4.1; the request is not acted on (no device is provisioned)."""
    body = json.dumps({"provisionDeviceKey": running.key, "provisionDeviceSecret": running.secret,
                       "deviceName": "never"}).encode()
    for option in [OpaqueOption(1, b"etag"),  # If-Match
                   OpaqueOption(5, b""),  # If-None-Match
                   StringOption(35, "coap://example.invalid/x"),  # Proxy-Uri
                   OpaqueOption(9, b""),  # OSCORE
                   UintOption(2049, 1)]:  # unassigned, odd: critical
        message = coap.message(Code.POST, "/api/v1/provision", body)
        message.opt.add_option(option)
        response = await asyncio.wait_for(coap.context.request(message).response, TIMEOUT)
        assert response.code == Code.BAD_OPTION, (option.number, response)
    assert await Device.all().count() == 0
    # An unknown elective option (even number) is ignored, as RFC 7252 says.
    message = coap.message(Code.POST, "/api/v1/provision", body)
    message.opt.add_option(UintOption(2050, 1))
    assert (await asyncio.wait_for(coap.context.request(message).response, TIMEOUT)).code == Code.CREATED


async def test_accept_other_than_json_is_4_06(running, coap):
    token = await coap.device(running, "dev")
    response = await coap.get(f"/api/v1/{token}/attributes", accept=ContentFormat.TEXT)
    assert response.code == Code.NOT_ACCEPTABLE
    response = await coap.get(f"/api/v1/{token}/attributes", accept=ContentFormat.JSON)
    assert response.code == Code.CONTENT
    response = await coap.post("/api/v1/provision", {"provisionDeviceKey": running.key,
                                                      "provisionDeviceSecret": running.secret,
                                                      "deviceName": "not-made"}, accept=ContentFormat.CBOR)
    assert response.code == Code.NOT_ACCEPTABLE
    assert not await Device.filter(name="not-made").exists()


async def test_body_in_a_format_that_is_not_json_is_4_15(running, coap):
    token = await coap.device(running, "dev")
    response = await coap.post(f"/api/v1/{token}/telemetry", {"t": 1}, content_format=ContentFormat.CBOR)
    assert response.code == Code.UNSUPPORTED_CONTENT_FORMAT
    assert await LatestValue.all().count() == 0
    for readable in (ContentFormat.JSON, ContentFormat.TEXT, ContentFormat.OCTETSTREAM):
        response = await coap.post(f"/api/v1/{token}/telemetry", {"t": 1}, content_format=readable)
        assert response.code == Code.CREATED, readable


# -- observations ----------------------------------------------------------------------

async def test_refused_observation_is_a_plain_answer_without_traceback(tmp_path, log_records):
    """Past coap.max_observers_per_device the GET is answered as a plain read (RFC 7641
    allows it); aiocoap used to raise AttributeError twice per refusal."""
    running = await start_hub(hub_config(tmp_path / "data", coap={"max_observers_per_device": 1}))
    context = await Context.create_client_context(transports=["udp6"])
    try:
        coap = CoapClient(context, coap_port(running.hub))
        token = await coap.device(running, "capped")
        first = context.request(coap.message(Code.GET, f"/api/v1/{token}/attributes", observe=0))
        assert (await asyncio.wait_for(first.response, TIMEOUT)).opt.observe is not None
        log_records.records.clear()
        for _ in range(3):
            refused = await coap.get(f"/api/v1/{token}/attributes", observe=0)
            assert refused.code == Code.CONTENT and refused.opt.observe is None
        assert not log_records.tracebacks, log_records.tracebacks
        ours = [r for r in log_records.at_least(logging.INFO) if r.name.startswith("gridlinks")]
        assert len(ours) == 3, [r.getMessage() for r in ours]  # one line per refusal
        assert running.hub.transports.get("coap").observers.count() == 1
        first.observation.cancel()
    finally:
        await context.shutdown()
        await stop_hub(running)


async def test_observe_that_cannot_be_registered_is_answered_without_traceback(running, coap, log_records):
    token = await coap.device(running, "dev")
    for path, code in [("/api/v1/nosuchtoken/attributes", Code.UNAUTHORIZED), ("/api/v1/nosuch", Code.NOT_FOUND),
                       (f"/api/v1/{token}/telemetry", Code.METHOD_NOT_ALLOWED)]:
        response = await coap.get(path, observe=0)
        assert response.code == code and response.opt.observe is None, path
    assert not log_records.tracebacks, log_records.tracebacks
    assert running.hub.transports.get("coap").observers.count() == 0


# -- hub errors, and the unexpected ----------------------------------------------------

def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


EXPECTED_CODES = {
    errors.BadRequest: Code.BAD_REQUEST, errors.PayloadTooLarge: Code.REQUEST_ENTITY_TOO_LARGE,
    errors.Unauthorized: Code.UNAUTHORIZED, errors.Forbidden: Code.FORBIDDEN, errors.NotFound: Code.NOT_FOUND,
    errors.Conflict: Code.BAD_REQUEST, errors.TooManyAttempts: Code.TOO_MANY_REQUESTS,
    errors.ServiceUnavailable: Code.SERVICE_UNAVAILABLE, errors.ConfigError: Code.INTERNAL_SERVER_ERROR,
    errors.StartupError: Code.INTERNAL_SERVER_ERROR,
}


def test_every_hub_error_has_its_coap_code():
    """A new family of HubError must be given its code in transport_coap/errors.py; a
    subclass of a family (TokenExpired is an Unauthorized) answers as its family does."""
    families = {cls for cls in errors.HubError.__subclasses__() if cls.__module__ == errors.__name__}
    assert families <= set(EXPECTED_CODES), families - set(EXPECTED_CODES)
    for cls in _all_subclasses(errors.HubError):
        if cls.__module__ != errors.__name__:
            continue
        nearest = next(base for base in cls.__mro__ if base in EXPECTED_CODES)
        exc = cls("x", 1.0) if issubclass(cls, errors.TooManyAttempts) else cls("x")
        assert code_for(exc) == EXPECTED_CODES[nearest], cls


async def test_unexpected_exception_is_5_00_with_one_log_line(running, coap, log_records):
    async def broken(call):
        raise ZeroDivisionError("a bug")

    running.hub.transports.get("coap").router.add("POST", "/test/broken", broken)
    response = await coap.post("/test/broken", b"{}")
    assert response.code == Code.INTERNAL_SERVER_ERROR and response.payload == b""
    assert [r for r in log_records.records if r.exc_info] == []
    errors_logged = log_records.at_least(logging.ERROR)
    assert len(errors_logged) == 1 and "ZeroDivisionError" in errors_logged[0].getMessage()


async def test_hub_errors_on_the_wire(running, coap):
    async def too_many(call):
        raise errors.TooManyAttempts("slow down", retry_after_s=30)

    async def fine(call):
        return empty_response(Code.CHANGED)

    router = running.hub.transports.get("coap").router
    router.add("POST", "/test/locked", too_many)
    router.add("POST", "/test/fine", fine)
    response = await coap.post("/test/locked", b"{}")
    assert response.code == Code.TOO_MANY_REQUESTS and response.opt.max_age == 31
    assert response.payload == b"slow down"
    assert (await coap.post("/test/fine")).code == Code.CHANGED


# -- values the database cannot store ------------------------------------------------

def _ascii_json(value) -> bytes:
    """JSON with \\uXXXX escapes, so a lone surrogate travels as valid UTF-8."""
    return json.dumps(value, ensure_ascii=True).encode()


async def test_lone_surrogate_device_name_with_a_wrong_key_is_4_00(running, coap):
    response = await coap.post("/api/v1/provision", _ascii_json(
        {"deviceName": "\ud800", "provisionDeviceKey": "wrong", "provisionDeviceSecret": "wrong"}))
    assert response.code == Code.BAD_REQUEST
    response = await coap.post("/api/v1/provision", _ascii_json(
        {"deviceName": "\ud800", "provisionDeviceKey": running.key, "provisionDeviceSecret": running.secret}))
    assert response.code == Code.BAD_REQUEST
    # The writer is not stuck in a transaction: the next device is provisioned.
    assert (await coap.provision(running, deviceName="next")).code == Code.CREATED


@pytest.mark.parametrize("payload", [
    {"ts": 9223372036854775808, "values": {"t": 1}},
    [{"ts": -9223372036854775809, "values": {"t": 1}}],
    {"\ud800": 1},
])
async def test_telemetry_the_database_cannot_store_is_4_00(running, coap, payload):
    token = await coap.device(running, "dev")
    response = await coap.post(f"/api/v1/{token}/telemetry", _ascii_json(payload))
    assert response.code == Code.BAD_REQUEST, response
    assert (await coap.post(f"/api/v1/{token}/telemetry", {"ok": 1})).code == Code.CREATED
    assert (await coap.post(f"/api/v1/{token}/attributes", _ascii_json({"\ud800": 1}))).code == Code.BAD_REQUEST
    assert (await coap.post(f"/api/v1/{token}/attributes", {"fw": "1"})).code == Code.CREATED


@pytest.mark.parametrize("payload", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 3000 + b"1" + b"}" * 3000,
                                     b'{"t": NaN}', b'{"t": Infinity}', b'{"t": -Infinity}', b'{"t": 1e999}',
                                     b'{"t": "\\udfff"}'])
async def test_hostile_json_is_4_00(running, coap, payload, log_records):
    """Depends on the hardened decode_json (core/services/device_payloads.py): depth limit, no NaN/Infinity,
    no lone surrogates."""
    token = await coap.device(running, "dev")
    limit = running.hub.settings.max_payload_bytes
    for path in ("/api/v1/provision", f"/api/v1/{token}/telemetry", f"/api/v1/{token}/attributes",
                 f"/api/v1/{token}/claim"):
        response = await coap.post(path, payload)
        expected = Code.REQUEST_ENTITY_TOO_LARGE if len(payload) > limit else Code.BAD_REQUEST
        assert response.code == expected, (path, response, response.payload[:200])
    assert not log_records.tracebacks, log_records.tracebacks
    assert await LatestValue.all().count() == 0
