"""Acknowledged means committed, proven the hard way: `gridlinks run` as a real process,
8 device sessions publishing telemetry as fast as the hub takes it (each message a unique
sequence number; every acknowledgement recorded), SIGKILL in the middle of the flood,
restart on the same data directory, then every acknowledged message must be in the
database. Once with MQTT 3.1.1 QoS 1 (PUBACK), once with MQTT 5 QoS 2 (PUBREC/PUBCOMP).

The amqtt engine this transport replaced lost most of them (PUBACK went out before the
commit: 76k of 93k acknowledged messages in one run of issue 13)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.load.mqtt_client import MqttClient
from tests.cli_support import GRIDLINKS
from tests.support import port_env

DEVICES = 8
IN_FLIGHT = 64          # QoS 1 publishes outstanding per session (under mqtt.receive_maximum)
FLOOD_S = 1.5           # how long the flood runs before the kill
START_LIMIT_S = 30.0
TELEMETRY = "v1/devices/me/telemetry"


def _env(data_dir: Path, ports: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLINKS_")}
    env.update(ports)
    env["GRIDLINKS_DATA_DIR"] = str(data_dir)
    env["GRIDLINKS_LOG_LEVEL"] = "WARNING"
    return env


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_LIMIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hub exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"hub did not answer {url} within {START_LIMIT_S} s:\n{log.read_text()[-2000:]}")


@contextmanager
def hub_process(data_dir: Path, ports: dict[str, str], log: Path):
    with open(log, "a") as out:
        proc = subprocess.Popen([str(GRIDLINKS), "run", "--data-dir", str(data_dir)], env=_env(data_dir, ports),
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{ports['GRIDLINKS_HTTP_PORT']}/api/health", proc, log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _provision(http_port: str, key: str, secret: str, name: str, token: str) -> None:
    body = json.dumps({"deviceName": name, "provisionDeviceKey": key, "provisionDeviceSecret": secret,
                       "credentialsType": "ACCESS_TOKEN", "token": token}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}/api/v1/provision", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        reply = json.loads(response.read())
    assert reply["status"] == "SUCCESS", reply


async def _flood(port: int, token: str, acked: set[int], stop: asyncio.Event) -> None:
    """Publish {"seq": n} at QoS 1, IN_FLIGHT at a time, until ``stop`` or the connection
    dies (the kill); ``acked`` gets every n whose PUBACK arrived."""
    client, rc = await MqttClient.open(port, f"k9-{token}", token)
    assert rc == 0, f"CONNACK {rc}"
    window = asyncio.Semaphore(IN_FLIGHT)
    seq = 0

    def done(n: int, fut: asyncio.Future) -> None:
        window.release()
        if not fut.cancelled() and fut.exception() is None:
            acked.add(n)

    while not stop.is_set() and not client.lost.done():
        await window.acquire()
        if client.lost.done():
            break
        seq += 1
        client.publish(TELEMETRY, b'{"seq":%d}' % seq, 1).add_done_callback(lambda f, n=seq: done(n, f))
    await asyncio.wait_for(asyncio.shield(client.lost), 30)
    client.abort()


def _stored(db: Path) -> dict[str, set[int]]:
    """Every stored ``seq`` per device name, read-only from the hub's SQLite file."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT d.name, t.value FROM ts_kv t JOIN device d ON d.id = t.device_id "
                            "WHERE t.key = 'seq'").fetchall()
    finally:
        conn.close()
    out: dict[str, set[int]] = {}
    for name, value in rows:
        boxed = json.loads(value)
        out.setdefault(name, set()).add(int(boxed["v"] if isinstance(boxed, dict) else boxed))
    return out


async def _paho_flood(port: int, token: str, acked: set[int], stop: asyncio.Event) -> None:
    """The same with paho-mqtt 2.x in MQTT 5 at QoS 2: a message counts as acknowledged once
    its PUBCOMP is back (which follows the PUBREC the hub sends after the commit)."""
    loop = asyncio.get_running_loop()
    halt, finished = threading.Event(), loop.create_future()
    loop.create_task(stop.wait()).add_done_callback(lambda _: halt.set())

    def run() -> None:  # a thread of its own each: all eight must be publishing before the kill
        try:
            _paho_flood_thread(port, token, acked, halt)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            loop.call_soon_threadsafe(finished.set_exception, exc)
        else:
            loop.call_soon_threadsafe(finished.set_result, None)

    threading.Thread(target=run, name=f"k9-{token}", daemon=True).start()
    await finished


def _paho_flood_thread(port: int, token: str, acked: set[int], halt: threading.Event) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"k9v5-{token}", protocol=mqtt.MQTTv5)
    client.username_pw_set(token)
    client.max_inflight_messages_set(IN_FLIGHT)
    client.max_queued_messages_set(IN_FLIGHT)
    connected = threading.Event()
    client.on_connect = lambda c, u, flags, rc, props: rc == 0 and connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert connected.wait(START_LIMIT_S), "no CONNACK"
        sent: list[tuple[int, mqtt.MQTTMessageInfo]] = []
        seq = 0
        while not halt.is_set() and client.is_connected():
            info = client.publish(TELEMETRY, b'{"seq":%d}' % (seq + 1), qos=2)
            if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:  # window full: let acknowledgements come back
                time.sleep(0.001)
                continue
            seq += 1
            sent.append((seq, info))
        halt.wait(30)
    finally:
        client.loop_stop()  # no reconnecting to the restarted hub: what was acknowledged is settled
    for n, info in sent:
        try:
            if info.is_published():
                acked.add(n)
        except (RuntimeError, ValueError):  # never sent (the connection was gone)
            pass


async def _kill_mid_flood(tmp_path: Path, flood) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "hub.log"
    ports = port_env()
    key, secret = "k9-provision-key", "k9-provision-secret"
    for step in (["init", "--admin-email", "k9@test.local", "--admin-password", "k9-admin-password-1"],
                 ["profile", "create", "--name", "k9", "--strategy", "allow-create", "--key", key, "--secret", secret]):
        done = subprocess.run([str(GRIDLINKS), *step, "--data-dir", str(data_dir)], env=_env(data_dir, ports),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    tokens = {f"k9-dev-{i}": f"k9-token-{i:03d}" for i in range(DEVICES)}
    acked: dict[str, set[int]] = {name: set() for name in tokens}
    mqtt_port = int(ports["GRIDLINKS_MQTT_PORT"])
    with hub_process(data_dir, ports, log) as proc:
        for name, token in tokens.items():
            await asyncio.to_thread(_provision, ports["GRIDLINKS_HTTP_PORT"], key, secret, name, token)
        stop = asyncio.Event()
        floods = [asyncio.create_task(flood(mqtt_port, token, acked[name], stop)) for name, token in tokens.items()]
        await asyncio.sleep(FLOOD_S)
        proc.send_signal(signal.SIGKILL)  # mid-flood: publishes in flight, commits pending
        proc.wait(timeout=10)
        stop.set()
        results = await asyncio.wait_for(asyncio.gather(*floods, return_exceptions=True), 40)
    assert proc.returncode == -signal.SIGKILL
    assert not [r for r in results if isinstance(r, BaseException)], results
    total = sum(len(s) for s in acked.values())
    assert total > DEVICES * 10, f"only {total} messages were acknowledged before the kill: no flood to test"
    with hub_process(data_dir, ports, log):  # restarts on the same data (WAL recovery), then read
        stored = _stored(data_dir / "hub.db")
        lost = {name: sorted(acked[name] - stored.get(name, set()))[:10] for name in tokens
                if acked[name] - stored.get(name, set())}
        assert not lost, f"acknowledged but not stored after kill -9 (first 10 per device): {lost}; " \
                         f"{total} acknowledged in all"
    print(f"kill -9 after {FLOOD_S} s of flood: {total} acknowledged messages, all stored")


async def test_kill9_mid_flood_loses_no_acknowledged_message(tmp_path):
    """MQTT 3.1.1 at QoS 1 from a raw asyncio client: every PUBACKed message is stored."""
    await _kill_mid_flood(tmp_path, _flood)


async def test_kill9_mid_flood_mqtt5_qos2(tmp_path):
    """MQTT 5 at QoS 2 from paho-mqtt 2.x: every message whose flow completed is stored."""
    await _kill_mid_flood(tmp_path, _paho_flood)
