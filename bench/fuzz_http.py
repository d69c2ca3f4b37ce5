"""Fuzz the HTTP API of a real hub and count what should never happen.

    .venv/bin/python -m bench.fuzz_http --count 10000 [--seed 1] [--concurrency 8]

Starts a hub (``gridlinks run``, loopback, fresh data dir), then sends ``--count``
generated inputs: hostile JSON bodies (deep nesting, huge and non-finite numbers, lone
surrogates, wrong types, over-long strings, random bytes) to the device, unauthenticated
and admin endpoints, random query strings, hostile bearer tokens, and raw malformed HTTP
on a socket. Prints the status classes, every 5xx (first few), and the tracebacks and
ERROR lines in the hub's log. Exit status 1 if there was any 5xx or traceback.
Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from urllib.parse import quote

import aiohttp

from bench.common import hub
from bench.rest import admin_login

FIELDS = ["deviceName", "provisionDeviceKey", "provisionDeviceSecret", "credentialsType", "token", "clientId",
          "username", "password", "hash", "gateway", "secretKey", "durationMs", "ts", "values", "name", "title",
          "email", "label", "type", "id", "deviceProfileId", "additionalInfo", "profileData", "provisionType",
          "description", "customerId", "permissions", "authority", "refreshToken", "file", "mapping",
          "dynamicRegistration", "secret", "firstName", "lastName", "provisionConfiguration", "columns", "key"]
STRINGS = ["\ud800", "\udfff", "a\udbffb", "k" * 256, "é" * 300, "x" * 5000, "", " ", "\x00", "null",
           "'; DROP TABLE device;--", "../../../../etc/passwd", "%s%n%x", "NaN", "\u202e", "😀" * 100,
           "ACCESS_TOKEN", "X509_CERTIFICATE", "MQTT_BASIC", "ALLOW_CREATE_NEW_DEVICES", "CUSTOMER_USER",
           "00000000-0000-0000-0000-000000000000", "13814000-1dd2-11b2-8080-808080808080", "fuzz"]
NUMBERS = [2**63, -(2**63) - 1, 2**64, 10**30, 2**70, 10**300, float("inf"), float("-inf"), float("nan"),
           1e308, -0.0, 0, -1, 1, 60000, 1.5]
QUERY_NAMES = ["page", "pageSize", "textSearch", "deviceName", "deviceProfileId", "keys", "clientKeys", "sharedKeys",
               "startTs", "endTs", "limit", "startTime", "endTime", "action", "outcome", "deviceId", "accessToken"]
DEVICE_POSTS = ["/api/v1/provision", "/api/v1/{token}/telemetry", "/api/v1/{token}/attributes",
                "/api/v1/{token}/claim", "/api/v1/not-a-token/telemetry"]
UNAUTHENTICATED = ["/api/auth/login", "/api/auth/token", "/api/v1/provision"]
ADMIN_POSTS = ["/api/deviceProfile", "/api/device", "/api/device/bulk_import", "/api/customer", "/api/user",
               "/api/role", "/api/userGroup", "/api/plugins/telemetry/DEVICE/{id}/attributes/SERVER_SCOPE",
               "/api/plugins/telemetry/DEVICE/{id}/SHARED_SCOPE", "/api/dynamicRegistration/product/{profile}",
               "/api/dynamicRegistration/device/{id}/secret", "/api/customer/device/fuzz/claim",
               "/api/userGroup/00000000-0000-0000-0000-000000000000/addUsers"]
GETS = ["/api/v1/{token}/attributes", "/api/deviceProfiles", "/api/tenant/devices", "/api/customers",
        "/api/audit/logs", "/api/plugins/telemetry/DEVICE/{id}/values/attributes",
        "/api/plugins/telemetry/DEVICE/{id}/values/timeseries", "/api/device/{id}", "/api/deviceProfile/{profile}",
        "/api/auth/user", "/ui/static/" + "a" * 300, "/ui/devices", "/api/health"]
RAW = [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
       b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", b"POST /api/v1/provision HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
       b"POST /api/auth/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
       b"GET /api/health HTTP/9.9\r\n\r\n", b"\r\n\r\n", b"GET /api/health HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n"]


class Generator:
    def __init__(self, seed: int, key: str, secret: str):
        self.r = random.Random(seed)
        self.key, self.secret = key, secret

    def string(self) -> str:
        r = self.r
        if r.random() < 0.5:
            return r.choice(STRINGS)
        return "".join(chr(r.choice([r.randint(32, 126), r.randint(0, 0x10FFFF)])) for _ in range(r.randint(0, 20)))

    def value(self, depth: int = 0):
        r = self.r
        kind = r.randint(0, 7 if depth < 4 else 4)
        if kind == 0:
            return None
        if kind == 1:
            return r.choice([True, False])
        if kind == 2:
            return r.choice(NUMBERS + [r.randint(-(2**70), 2**70), r.uniform(-1e300, 1e300)])
        if kind in (3, 4):
            return self.string()
        if kind == 5:
            return [self.value(depth + 1) for _ in range(r.randint(0, 4))]
        return self.object(depth + 1)

    def object(self, depth: int = 0) -> dict:
        return {(self.r.choice(FIELDS) if self.r.random() < 0.7 else self.string()): self.value(depth)
                for _ in range(self.r.randint(0, 6))}

    def body(self) -> bytes:
        r = self.r
        kind = r.randint(0, 9)
        if kind <= 3:
            value = self.object() if kind <= 2 else self.value()
            return json.dumps(value, ensure_ascii=r.random() < 0.5).encode("utf-8", "surrogatepass")
        if kind == 4:
            n = r.randint(60, 50_000)
            return r.choice([b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n, b"[" * n])
        if kind == 5:
            return bytes(r.randint(0, 255) for _ in range(r.randint(0, 300)))
        if kind == 6:
            return r.choice([b"", b"null", b"NaN", b"[1e999]", b'{"ts": 1e400, "values": {}}', b'"\\ud800"',
                             b'{"values": {"\\udc00": 1}, "ts": 1}', b"1" + b"0" * 5000,
                             b'{"secretKey": "s", "durationMs": Infinity}',
                             b'{"ts": 9223372036854775808, "values": {"a": 1}}'])
        fields = {"provisionDeviceKey": self.key if r.random() < 0.6 else self.string(),
                  "provisionDeviceSecret": self.secret if r.random() < 0.6 else self.string(),
                  "deviceName": self.string(), "username": self.string(), "password": self.string()}
        fields.update(self.object())
        return json.dumps(fields).encode("utf-8", "surrogatepass")

    def query(self) -> str:
        r = self.r
        params = []
        for _ in range(r.randint(0, 4)):
            name = r.choice(QUERY_NAMES) if r.random() < 0.8 else self.string()
            value = r.choice([self.string(), str(r.randint(-(2**80), 2**80)), str(2**70), "9" * 40, "a,b,,c", "-1"])
            quoted_name = quote(name, safe="", errors="surrogatepass")
            quoted_value = quote(value, safe="", errors="surrogatepass")
            params.append(f"{quoted_name}={quoted_value}")
        return "?" + "&".join(params) if params else ""

    def token(self) -> str:
        raw = self.r.choice(["é", "a" * 9000, "a.b.c", "null", self.string()])
        raw = raw.encode("utf-8", "surrogatepass").decode("latin-1")
        return "".join(c for c in raw if 32 <= ord(c) != 127)

    def request(self, admin_token: str) -> tuple[str, str, bytes, str | None] | bytes:
        """(method, path, body, bearer token), or raw bytes for a socket."""
        r = self.r
        kind = r.randint(0, 19)
        if kind == 0:
            return r.choice(RAW) if r.random() < 0.7 else bytes(r.randint(0, 255) for _ in range(r.randint(1, 200)))
        if kind <= 5:
            return "POST", r.choice(DEVICE_POSTS), self.body(), None
        if kind <= 8:
            return "POST", r.choice(UNAUTHENTICATED), self.body(), None
        if kind <= 13:
            return "POST", r.choice(ADMIN_POSTS), self.body(), admin_token
        if kind <= 17:
            path = r.choice(GETS)
            # DELETE only attributes: deleting the fuzz device would turn the rest into 401s.
            method = "DELETE" if path.startswith("/api/plugins") and r.random() < 0.3 else "GET"
            return method, path + self.query(), b"", admin_token
        return "GET", r.choice(GETS), b"", self.token()


async def _raw(port: int, data: bytes) -> int:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return -1
    try:
        writer.write(data)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        parts = line.split(b" ")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    except (TimeoutError, OSError, asyncio.IncompleteReadError):
        return 0  # closed without an answer: fine for garbage
    finally:
        writer.close()


async def fuzz(base: str, port: int, admin_token: str, device_token: str, device_id: str, profile_id: str,
               gen: Generator, count: int, concurrency: int) -> tuple[Counter, list[str]]:
    statuses: Counter = Counter()
    failures: list[str] = []
    queue: asyncio.Queue = asyncio.Queue()
    for _ in range(count):
        queue.put_nowait(gen.request(admin_token))

    async def worker(session: aiohttp.ClientSession):
        while not queue.empty():
            item = queue.get_nowait()
            if isinstance(item, bytes):
                status = await _raw(port, item)
                what = f"raw {item[:40]!r}"
            else:
                method, path, body, token = item
                path = path.format(token=device_token, id=device_id, profile=profile_id)
                headers = {"Content-Type": "application/json"}
                if token:
                    headers["X-Authorization"] = f"Bearer {token}"
                what = f"{method} {path[:80]} {body[:60]!r}"
                try:
                    async with session.request(method, base + path, data=body or None, headers=headers,
                                               timeout=aiohttp.ClientTimeout(total=60)) as response:
                        await response.read()
                        status = response.status
                except (TimeoutError, aiohttp.ClientError) as exc:
                    status = -1
                    what += f" ({type(exc).__name__})"
            statuses[f"{status // 100}xx" if status > 0 else ("no answer" if status == 0 else "client error")] += 1
            if status >= 500 or status == -1:
                failures.append(f"{status} {what}")

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return statuses, failures


async def _setup(base: str, admin: str, key: str, secret: str, name: str) -> tuple[str, str, str]:
    """A provisioned device (its token and id) and the profile's id."""
    async with aiohttp.ClientSession() as s:
        async with s.post(base + "/api/v1/provision", json={"deviceName": name, "provisionDeviceKey": key,
                                                             "provisionDeviceSecret": secret}) as r:
            token = (await r.json())["credentialsValue"]
        auth = {"X-Authorization": f"Bearer {admin}"}
        async with s.get(base + f"/api/tenant/devices?deviceName={name}", headers=auth) as r:
            device_id = (await r.json())["id"]["id"]
        async with s.get(base + "/api/deviceProfiles", headers=auth) as r:
            profile_id = (await r.json())["data"][0]["id"]["id"]
    return token, device_id, profile_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    with hub() as h:
        admin = admin_login(h.http, h.admin_password)
        token, device_id, profile_id = asyncio.run(_setup(h.http, admin, h.key, h.secret, "fuzz"))
        started = time.monotonic()
        statuses, failures = asyncio.run(fuzz(h.http, h.ports["http"], admin, token, device_id, profile_id,
                                              Generator(args.seed, h.key, h.secret), args.count, args.concurrency))
        elapsed = time.monotonic() - started
        try:  # the hub still logs people in and provisions devices
            asyncio.run(_setup(h.http, admin_login(h.http, h.admin_password), h.key, h.secret, "fuzz-after"))
            alive = True
        except Exception:  # noqa: BLE001 - any failure here is the finding
            alive = False
        log = h.log.read_text(errors="replace")
    tracebacks = log.count("Traceback (most recent call last)")
    error_lines = [line for line in log.splitlines() if " ERROR " in line or line.startswith("ERROR")]
    fivexx = sum(1 for f in failures if f.startswith("5"))
    print(f"inputs: {args.count} in {elapsed:.1f} s (seed {args.seed}, {args.concurrency} at a time)")
    print("answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    print(f"5xx: {fivexx}")
    print(f"tracebacks in the hub log: {tracebacks}")
    print(f"ERROR lines in the hub log: {len(error_lines)}")
    print(f"hub still provisioning afterwards: {'yes' if alive else 'no'}")
    for failure in failures[:20]:
        print("  " + failure)
    for line in error_lines[:20]:
        print("  log: " + line[:200])
    return 1 if fivexx or tracebacks or error_lines or not alive else 0


if __name__ == "__main__":
    raise SystemExit(main())
