"""The access log (one masked line per request) and ``log_format: json``; no token,
secret or password anywhere in what a hub logs, even at DEBUG."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlinks.core.config import HubConfig
from gridlinks.core.errors import ConfigError
from gridlinks.core.logs import JsonFormatter
from gridlinks.plugins.transport_http.access import masked_target
from tests.cli_support import GRIDLINKS, wait_for_health
from tests.support import ADMIN_PASSWORD, hub_config, port_env, start_hub, stop_hub

METRICS_TOKEN = "metrics-scrape-secret-42"


class Captured(logging.Handler):
    """Every record, formatted as one JSON line (what a log shipper would receive)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured():
    handler, root = Captured(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize("raw, query, shown", [
    ("/api/v1/A1b2C3d4E5/telemetry", "", "/api/v1/***/telemetry"),
    ("/api/v1/A1b2C3d4E5/attributes", "clientKeys=a,b&sharedKeys=c",
     "/api/v1/***/attributes?clientKeys=a,b&sharedKeys=c"),
    ("/api/v1/provision", "", "/api/v1/provision"),
    ("/api/v1/tok%2Fen/claim", "", "/api/v1/***/claim"),
    ("/api/noauth/activate", "activateToken=abc&x=1", "/api/noauth/activate?activateToken=***&x=1"),
    ("/ui/claim", "name=d1&secret=s3cr3t&password=p&api_key=k",
     "/ui/claim?name=d1&secret=***&password=***&api_key=***"),
    ("/x", "provisionDeviceKey=k&monkey=1&X-Auth-Token=t", "/x?provisionDeviceKey=***&monkey=1&X-Auth-Token=***"),
])
def test_targets_are_masked(raw, query, shown):
    assert masked_target(raw, query) == shown


def test_log_format_is_a_config_key_and_an_environment_variable():
    assert HubConfig({}, environ={}).core.log_format == "text"
    assert HubConfig({}, environ={"GRIDLINKS_LOG_FORMAT": "json"}).core.log_format == "json"
    with pytest.raises(ConfigError, match="log_format"):
        HubConfig({"log_format": "xml"}, environ={})


async def test_no_secret_reaches_the_log_and_each_request_has_one_access_line(tmp_path, captured):
    running = await start_hub(hub_config(tmp_path / "data", metrics={"token": METRICS_TOKEN}))
    try:
        status, body = await running.provision(deviceName="log-1", provisionDeviceKey=running.key,
                                               provisionDeviceSecret=running.secret)
        assert status == 200
        token = body["credentialsValue"]
        assert (await running.post(f"/api/v1/{token}/telemetry", json={"t": 21.5}))[0] == 200
        assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "claim-secret-77"}))[0] == 200
        assert (await running.get(f"/api/v1/{token}/attributes?clientKeys=a"))[0] == 200
        assert (await running.post("/api/auth/login", json={"username": "x@y.z", "password": "wrong-pass-99"}))[0] \
            == 401
        assert (await running.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}))[0] == 200
        assert (await running.get(f"/api/health?accessToken={token}"))[0] == 200
    finally:
        await stop_hub(running)
    text = "\n".join(captured.lines)
    for secret in (token, running.key, running.secret, running.admin_token, ADMIN_PASSWORD, "wrong-pass-99",
                   "claim-secret-77", METRICS_TOKEN):
        assert secret not in text, secret
    records = [json.loads(line) for line in captured.lines]  # every line is one JSON object
    access = [r for r in records if r["logger"] == "gridlinks.access"]
    paths = [(r["method"], r["path"], r["status"]) for r in access]
    assert ("POST", "/api/v1/***/telemetry", 200) in paths
    assert ("GET", "/api/v1/***/attributes?clientKeys=a", 200) in paths
    assert ("POST", "/api/v1/provision", 200) in paths
    assert ("POST", "/api/auth/login", 401) in paths
    assert ("GET", "/api/health?accessToken=***", 200) in paths
    assert all(r["level"] == "INFO" and isinstance(r["ms"], float) and r["ts"].endswith("+00:00") for r in access)


@settings(max_examples=100, deadline=None)
@given(token=st.text(st.characters(blacklist_characters="/?%", blacklist_categories=("Cs",)), min_size=4,
                     max_size=40).filter(lambda t: t != "provision"),
       tail=st.sampled_from(["", "/telemetry", "/attributes", "/claim", "/x/y"]),
       query=st.text(max_size=60))
def test_a_device_token_never_survives_masking(token, tail, query):
    """Whatever the token and query, the path part shows no token and nothing raises."""
    shown = masked_target(f"/api/v1/{token}{tail}", query)
    assert shown.startswith("/api/v1/***" + tail)
    assert len(shown) <= 520


def test_gridlinks_run_with_json_log_format_prints_only_json_lines(tmp_path):
    """A real `gridlinks run` with GRIDLINKS_LOG_FORMAT=json: every line it prints is one
    JSON object, the access line of the health probe among them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLINKS_")}
    env.update(port_env(), GRIDLINKS_LOG_FORMAT="json")
    proc = subprocess.Popen([str(GRIDLINKS), "run", "--data-dir", str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for_health(f"http://127.0.0.1:{env['GRIDLINKS_HTTP_PORT']}/api/health", proc) == 200
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert any(r["logger"] == "gridlinks.access" and r["path"] == "/api/health" and r["status"] == 200
               for r in records), out
    assert any("HTTPS on" in r["message"] for r in records), out
