"""Debian's mosquitto-clients (mosquitto_pub, mosquitto_sub, mosquitto_rr; installed by
tests/setup_clients.sh) against the hub, each with -V mqttv311 and -V mqttv5: telemetry with
a token, a shared-attribute push to a subscriber, provisioning and attribute requests with
mosquitto_rr (v5: Response Topic + Correlation Data; v3.1.1: the fixed reply topics)."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from tests.plugins.transport_mqtt.client_process import ClientProcess

VERSIONS = pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
WAIT_S = "20"  # mosquitto_sub / mosquitto_rr -W: give up (exit non-zero) after this


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} missing: install Debian's mosquitto-clients (tests/setup_clients.sh does as root)")
    return path


def line_buffered() -> list[str]:
    stdbuf = shutil.which("stdbuf")
    if stdbuf is None:
        pytest.skip("stdbuf (coreutils) missing: mosquitto_sub's output would arrive only when it exits")
    return [stdbuf, "-oL"]


async def run(*argv: str, timeout: float = 40.0) -> tuple[int, str]:
    """Run a tool to the end (bounded); exit status and output."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
    return proc.returncode, out.decode("utf-8", "replace")


def common(hub, version: str, user: str) -> list[str]:
    return ["-h", "127.0.0.1", "-p", str(hub.mqtt_port), "-V", version, "-u", user]


async def _device(hub, name: str) -> tuple[str, str]:
    status, body = await hub.provision(deviceName=name, provisionDeviceKey=hub.key, provisionDeviceSecret=hub.secret)
    assert status == 200 and body["status"] == "SUCCESS", body
    return body["deviceId"], body["credentialsValue"]


@VERSIONS
async def test_mosquitto_pub_telemetry_with_token(mqtt_hub, version):
    pub = tool("mosquitto_pub")
    hub = mqtt_hub
    device_id, token = await _device(hub, f"mosq-pub-{version}")
    for qos in ("0", "1", "2"):
        code, out = await run(pub, *common(hub, version, token), "-t", "v1/devices/me/telemetry", "-q", qos,
                              "-m", json.dumps({f"mosq_q{qos}": int(qos) + 0.5}))
        assert code == 0, out
    for _ in range(100):  # QoS 0 is fire-and-forget; 1 and 2 were committed before their ack
        status, series = await hub.admin("GET", f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries")
        if {"mosq_q0", "mosq_q1", "mosq_q2"} <= set(series):
            break
        await asyncio.sleep(0.1)
    assert {k: series[k][0]["value"] for k in ("mosq_q0", "mosq_q1", "mosq_q2")} == {
        "mosq_q0": 0.5, "mosq_q1": 1.5, "mosq_q2": 2.5}, series


@VERSIONS
async def test_mosquitto_pub_wrong_token_refused(mqtt_hub, version):
    pub = tool("mosquitto_pub")
    code, out = await run(pub, *common(mqtt_hub, version, "no-such-token"), "-t", "v1/devices/me/telemetry",
                          "-m", "{}")
    assert code != 0, out
    expected = "bad user name or password" if version == "mqttv5" else "not authorised"
    assert expected in out.lower(), out


@VERSIONS
async def test_mosquitto_sub_receives_shared_attribute_push(mqtt_hub, version):
    sub = tool("mosquitto_sub")
    hub = mqtt_hub
    device_id, token = await _device(hub, f"mosq-sub-{version}")
    # -d prints the SUBACK, after which the push is sure to find the subscription; stdbuf
    # makes it print each line at once (a pipe would hold them until it exits).
    async with await ClientProcess.start(*line_buffered(), sub, *common(hub, version, token),
                                         "-t", "v1/devices/me/attributes",
                                         "-q", "1", "-C", "1", "-W", WAIT_S, "-d", "-F", "PAYLOAD %p") as client:
        await _wait_for_line(client, "SUBACK")
        status, _ = await hub.admin("POST", f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE",
                                    {"setpoint": 21})
        assert status == 200
        line = await _wait_for_line(client, "PAYLOAD ")
        assert json.loads(line.split("PAYLOAD ", 1)[1]) == {"setpoint": 21}, client.output
        assert await client.finish() == 0, client.output


async def _wait_for_line(client: ClientProcess, marker: str, timeout: float = 30.0) -> str:
    async def read() -> str:
        while True:
            raw = await client.proc.stdout.readline()
            if not raw:
                raise AssertionError(f"exited before {marker!r}:\n{client.output}")
            line = raw.decode("utf-8", "replace")
            client.lines.append(line)
            if marker in line:
                return line.strip()

    try:
        return await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        raise AssertionError(f"no {marker!r} within {timeout} s:\n{client.output}") from None


@VERSIONS
async def test_mosquitto_rr_provisioning(mqtt_hub, version):
    rr = tool("mosquitto_rr")
    hub = mqtt_hub
    body = {"deviceName": f"mosq-rr-{version}", "provisionDeviceKey": hub.key, "provisionDeviceSecret": hub.secret}
    code, out = await run(rr, *common(hub, version, "provision"), "-t", "/provision/request",
                          "-e", "/provision/response", "-m", json.dumps(body), "-W", WAIT_S)
    assert code == 0, out
    reply = json.loads(out.strip().splitlines()[-1])
    assert reply["status"] == "SUCCESS" and reply["credentialsType"] == "ACCESS_TOKEN", reply
    status, device = await hub.admin("GET", f"/api/device/{reply['deviceId']}")
    assert status == 200 and device["name"] == f"mosq-rr-{version}"
    # The new token works at once.
    pub = tool("mosquitto_pub")
    code, out = await run(pub, *common(hub, version, reply["credentialsValue"]), "-t", "v1/devices/me/telemetry",
                          "-q", "1", "-m", '{"first": 1}')
    assert code == 0, out


@VERSIONS
async def test_mosquitto_rr_refused_provisioning_still_answers(mqtt_hub, version):
    rr = tool("mosquitto_rr")
    hub = mqtt_hub
    body = {"deviceName": "mosq-rr-nope", "provisionDeviceKey": hub.key, "provisionDeviceSecret": "wrong"}
    code, out = await run(rr, *common(hub, version, "provision"), "-t", "/provision/request",
                          "-e", "/provision/response", "-m", json.dumps(body), "-W", WAIT_S)
    assert code == 0, out
    assert json.loads(out.strip().splitlines()[-1]) == {"errorMsg": "Provision data was not found!",
                                                        "status": "NOT_FOUND"}


@VERSIONS
async def test_mosquitto_rr_attribute_request(mqtt_hub, version):
    rr = tool("mosquitto_rr")
    hub = mqtt_hub
    device_id, token = await _device(hub, f"mosq-attr-{version}")
    await hub.admin("POST", f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE", {"target": 5})
    # v5: any response topic the session may subscribe to; 3.1.1: the fixed reply topic.
    reply_topic = ("v1/devices/me/inbox/rr" if version == "mqttv5" else "v1/devices/me/attributes/response/1")
    code, out = await run(rr, *common(hub, version, token), "-t", "v1/devices/me/attributes/request/1",
                          "-e", reply_topic, "-m", '{"sharedKeys": "target"}', "-W", WAIT_S)
    assert code == 0, out
    assert json.loads(out.strip().splitlines()[-1]) == {"shared": {"target": 5}}, out


@VERSIONS
async def test_mosquitto_pub_over_tls_with_token(mqtt_hub, version):
    """The TLS listener with the hub's own server certificate as the client's CA file."""
    pub = tool("mosquitto_pub")
    hub = mqtt_hub
    device_id, token = await _device(hub, f"mosq-tls-{version}")
    cafile = hub.hub.settings.data_dir / "tls" / "server.pem"
    code, out = await run(pub, "-h", "127.0.0.1", "-p", str(hub.mqtts_port), "--cafile", str(cafile), "-V", version,
                          "-u", token, "-t", "v1/devices/me/telemetry", "-q", "1", "-m", '{"over_tls": 1}')
    assert code == 0, out
    status, series = await hub.admin("GET", f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries")
    assert status == 200 and series["over_tls"][0]["value"] == 1, series
