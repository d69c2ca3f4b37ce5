"""HTTP connection limits on real sockets (issue 11, finding 3): a slowloris connection is
closed by the header timeout, a stalled body by the body timeout, an idle keep-alive
connection by the keep-alive timeout, and connections over ``http.max_connections`` are
refused while the open ones keep working.

The timeouts are configured small (1 s) and every other one large, so a close can only
come from the timeout under test; the waits allow 30 s (far below the 60/75 s defaults)
and assert only that the close happens, never how fast.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support import hub_config, start_hub, stop_hub

LONG = 600.0
WAIT = 30.0
REQUEST = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"


async def _hub(tmp_path, **http):
    return await start_hub(hub_config(tmp_path / "data", http=http))


def _port(running) -> int:
    return int(running.base_url.rsplit(":", 1)[1])


async def _closed(reader: asyncio.StreamReader) -> bool:
    """Read until the server closes (EOF or reset); False if it is still open after WAIT."""
    try:
        async with asyncio.timeout(WAIT):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return head + await asyncio.wait_for(reader.readexactly(length), WAIT)


async def test_slowloris_headers_are_cut_off_by_the_header_timeout(tmp_path, no_tracebacks):
    running = await _hub(tmp_path, header_timeout_s=1.0, body_timeout_s=LONG, keepalive_timeout_s=LONG)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", _port(running))

        async def trickle():  # headers a byte at a time, never finished
            for byte in b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000:
                writer.write(bytes([byte]))
                await asyncio.sleep(0.2)

        sender = asyncio.create_task(trickle())
        try:
            assert await _closed(reader), "a slowloris connection outlived the header timeout"
        finally:
            sender.cancel()
            writer.close()
    finally:
        await stop_hub(running)


async def test_a_connection_that_sends_nothing_is_closed(tmp_path, no_tracebacks):
    running = await _hub(tmp_path, header_timeout_s=1.0, body_timeout_s=LONG, keepalive_timeout_s=LONG)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", _port(running))
        assert await _closed(reader)
        writer.close()
    finally:
        await stop_hub(running)


async def test_a_stalled_body_is_cut_off_by_the_body_timeout(tmp_path, no_tracebacks):
    running = await _hub(tmp_path, header_timeout_s=LONG, body_timeout_s=1.0, keepalive_timeout_s=LONG)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", _port(running))
        writer.write(b"POST /api/v1/provision HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"deviceName\": ")
        await writer.drain()
        assert await _closed(reader), "a stalled body held its connection past the body timeout"
        writer.close()
    finally:
        await stop_hub(running)


async def test_an_idle_keep_alive_connection_is_closed(tmp_path, no_tracebacks):
    running = await _hub(tmp_path, header_timeout_s=LONG, body_timeout_s=LONG, keepalive_timeout_s=1.0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", _port(running))
        writer.write(REQUEST)
        assert b" 200 " in (await _read_response(reader)).split(b"\r\n")[0] + b" "
        assert await _closed(reader), "an idle keep-alive connection was never closed"
        writer.close()
    finally:
        await stop_hub(running)


async def test_a_slow_but_moving_request_is_served(tmp_path, no_tracebacks):
    """The header timeout bounds the whole header, the body timeout only the gaps."""
    running = await _hub(tmp_path, header_timeout_s=LONG, body_timeout_s=1.5, keepalive_timeout_s=LONG)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", _port(running))
        body = b'{"username": "nobody@test.local", "password": "wrong-password"}'
        writer.write(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 16):
            writer.write(body[i:i + 16])
            await asyncio.sleep(0.3)
        assert b" 401 " in await _read_response(reader)
        writer.close()
    finally:
        await stop_hub(running)


async def test_connections_over_the_cap_are_refused_and_the_open_ones_keep_working(tmp_path, no_tracebacks):
    cap = 4
    running = await _hub(tmp_path, max_connections=cap, header_timeout_s=LONG, keepalive_timeout_s=LONG)
    await running.session.close()  # its pooled keep-alive connection would count against the cap
    held = []
    try:
        refused = None
        for _ in range(cap + 1):
            reader, writer = await asyncio.open_connection("127.0.0.1", _port(running))
            writer.write(REQUEST)
            response = await _read_response(reader)
            if b" 503 " in response.split(b"\r\n")[0] + b" ":
                refused = response
                writer.close()
                break
            held.append((reader, writer))
        assert refused is not None and b'"Too many connections"' in refused, "no connection was refused"
        assert len(held) <= cap
        for reader, writer in held:  # the connections that were in keep working
            writer.write(REQUEST)
            assert b" 200 " in (await _read_response(reader)).split(b"\r\n")[0] + b" "
        reader, writer = held.pop()
        writer.close()
        await writer.wait_closed()
        for _ in range(100):  # the freed slot is given to the next connection
            reader, writer = await asyncio.open_connection("127.0.0.1", _port(running))
            writer.write(REQUEST)
            if b" 200 " in (await _read_response(reader)).split(b"\r\n")[0] + b" ":
                held.append((reader, writer))
                break
            writer.close()
            await asyncio.sleep(0.1)
        else:
            pytest.fail("a freed connection slot was never reused")
    finally:
        for _, writer in held:
            writer.close()
        import aiohttp

        running.session = aiohttp.ClientSession()
        await stop_hub(running)
