"""The benchmark harness (bench/): its load generators against a real hub on loopback,
the database seeding the large scenarios rely on, the results table, and the runner
end to end on one small scenario. Short loads (half a second): correctness, not speed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.load import coap_load, http_batch, mqtt_load, open_loop
from bench.report import markdown, shortfalls, table
from bench.rows import absolute, compare, failed, skipped
from bench.seed_db import init_data_dir, seed_devices
from gridlinks.core.hub import Hub
from gridlinks.core.storage.models import Attribute, Device, Scope, TimeseriesValue
from tests.support import REPO, hub_config

SHORT = "0.5"


def _port(running, transport: str) -> str:
    return str(running.hub.transports.get(transport).settings.port)


async def test_mqtt_provisioning_load_counts_every_round_trip(running):
    port = _port(running, "mqtt")
    result = await mqtt_load.provision(mqtt_load.parse(
        ["provision", "--port", port, "--seconds", SHORT, "--concurrency", "4", "--key", running.key,
         "--secret", running.secret, "--prefix", "t"]))
    assert result["count"] > 0 and result["errors"] == 0, result
    assert await Device.filter(name__startswith="t-").count() == result["count"]
    assert result["p50_ms"] is not None and result["p99_ms"] >= result["p50_ms"]


async def test_mqtt_refused_logins_are_errors_not_dropped(running):
    result = await mqtt_load.connect(mqtt_load.parse(
        ["connect", "--port", _port(running, "mqtt"), "--seconds", SHORT, "--concurrency", "2",
         "--username", "no-such-token"]))
    assert result["count"] == 0 and result["errors"] > 0
    assert any("CONNACK 5" in kind for kind in result["error_kinds"])


async def test_mqtt_telemetry_counts_until_committed(running):
    for i in range(2):
        status, body = await running.provision(deviceName=f"tele-{i}", provisionDeviceKey=running.key,
                                               provisionDeviceSecret=running.secret, token=f"bt{i:07d}")
        assert body["status"] == "SUCCESS", body
    result = await mqtt_load.telemetry(mqtt_load.parse(
        ["telemetry", "--port", _port(running, "mqtt"), "--seconds", SHORT, "--sessions", "2", "--window", "10",
         "--token-prefix", "bt", "--db", str(running.hub.storage.sqlite_path)]))
    assert result["count"] > 0 and result["count"] % 10 == 0 and result["errors"] == 0, result
    # Two keys per message; the run ends only once every handled message is committed.
    assert await TimeseriesValue.all().count() == result["committed_rows"] == 2 * result["count"]


async def test_mqtt_hold_takes_its_slice_of_tokens_from_its_source_address(running):
    """The 50k-session scenario splits the devices over load processes (--first) and
    127.0.0.x source addresses (--sources); a refused token is an error, not a held session."""
    for i in range(1, 4):
        status, body = await running.provision(deviceName=f"hold-{i}", provisionDeviceKey=running.key,
                                               provisionDeviceSecret=running.secret, token=f"hd{i:07d}")
        assert body["status"] == "SUCCESS", body
    result = await mqtt_load.hold(mqtt_load.parse(
        ["hold", "--port", _port(running, "mqtt"), "--sessions", "4", "--first", "1", "--token-prefix", "hd",
         "--sources", "127.0.0.2,127.0.0.3", "--hold-seconds", "0.5", "--ping-seconds", "0.1"]))
    assert (result["held"], result["still_open"], result["errors"]) == (3, 3, 1), result  # hd0000004: no such token


async def test_coap_load_reports_refusals(running):
    port = _port(running, "coap")
    good = await coap_load.provision(coap_load.parse(
        ["--port", port, "--seconds", SHORT, "--concurrency", "4", "--key", running.key, "--secret",
         running.secret]))
    assert good["count"] > 0 and good["errors"] == 0, good
    bad = await coap_load.provision(coap_load.parse(
        ["--port", port, "--seconds", SHORT, "--concurrency", "2", "--key", running.key, "--secret", "wrong",
         "--prefix", "bad"]))
    assert bad["count"] == 0 and bad["errors"] > 0 and "4.00" in bad["error_kinds"], bad


async def test_http_batch_runs_exactly_the_batch(running):
    port = running.base_url.rsplit(":", 1)[1]
    common = ["--port", port, "--count", "20", "--concurrency", "4", "--prefix", "hb"]
    keys = ["--key", running.key, "--secret", running.secret]
    first = await http_batch.batch(http_batch.parse(["provision", *common, *keys]))
    assert (first["count"], first["errors"]) == (20, 0), first
    info = await http_batch.batch(http_batch.parse(["claim-info", *common]))
    assert (info["count"], info["errors"]) == (20, 0), info
    again = await http_batch.batch(http_batch.parse(["provision", *common, *keys]))
    assert (again["count"], again["errors"]) == (0, 20), again  # the names are taken: FAILURE each time


async def test_open_loop_sends_on_schedule_and_times_from_it(running):
    port = running.base_url.rsplit(":", 1)[1]
    result = await open_loop.open_loop(open_loop.parse(
        ["--port", port, "--rate", "40", "--seconds", SHORT, "--connections", "2", "--prefix", "ol",
         "--key", running.key, "--secret", running.secret]))
    assert (result["count"], result["errors"]) == (20, 0), result  # 40/s for half a second, every one SUCCESS
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["p999_ms"] <= result["max_ms"], result
    assert result["target_rate"] == 40 and result["connections_opened"] >= 2, result
    again = await open_loop.open_loop(open_loop.parse(
        ["--port", port, "--rate", "40", "--seconds", SHORT, "--connections", "2", "--prefix", "ol",
         "--key", running.key, "--secret", running.secret]))
    assert (again["count"], again["errors"]) == (0, 20), again  # the names are taken: FAILURE, counted as errors


async def test_seeded_database_opens_as_the_hubs_own(tmp_path):
    data_dir = tmp_path / "data"
    db = init_data_dir(data_dir)
    seed_devices(db, 50, prefix="s-", token_prefix="stok")
    hub = Hub(hub_config(data_dir))
    await hub.start()
    try:
        assert await Device.filter(name__startswith="s-").count() == 50
        device = await hub.credentials.lookup("ACCESS_TOKEN", "stok0000042")
        assert device and device[0].name == "s-0000042"
        state = await Attribute.get(device_id=device[0].id, scope=Scope.SERVER, key="provisionState")
        assert state.value == "provisioned"
    finally:
        await hub.stop()


def _results(rows: list[dict]) -> dict:
    return {"date": "2026-01-01", "time": "00:00:00", "mode": "full", "seconds": 10, "elapsed_s": 1.0,
            "machine": {"cpu": "cpu", "cores": 2, "memory_gb": 1, "kernel": "k", "python": "3.11", "sqlite": "3",
                        "server_cpu": "0", "load_cpu": "1", "commit": "abc", "dirty": False},
            "scenarios": rows}


def _figure(rate: float, errors: int = 0) -> dict:
    return {"rate": rate, "p50_ms": 1.0, "p99_ms": 2.0, "count": 10, "errors": errors}


def test_rows_and_table_say_what_was_missed_and_why(tmp_path):
    rows = [compare("fast", "req/s", _figure(60), _figure(100), "bare", target=0.5),
            compare("slow", "req/s", _figure(30), _figure(100), "bare", target=0.6),
            compare("flaky", "req/s", _figure(90, errors=3), _figure(100), "bare", target=0.5),
            absolute("memory", "MB", _figure(130), at_most=120),
            skipped("mosquitto", "not installed"), failed("broken", "RuntimeError: boom")]
    assert [r["met"] for r in rows] == [True, False, False, False, None, False]
    text = table(_results(rows))
    assert "| slow | 30.0 req/s | 100 req/s (bare) | 30% | >= 60% of baseline | **no** |" in text
    assert "skipped: not installed" in text and "failed: RuntimeError: boom" in text
    missed = "\n".join(shortfalls(_results(rows)))
    assert "slow: 30% of the baseline against a target of 60% (100% faster needed)" in missed
    assert "flaky: 3 failed requests" in missed and "memory: 130 MB against at most 120 MB (8% over)" in missed
    assert "broken: the scenario failed" in missed
    assert "WAL" in markdown(_results(rows), tmp_path / "r.json", None)


def test_chart_draws(tmp_path):
    pytest.importorskip("matplotlib")
    from bench.report import chart

    rows = [compare("a", "req/s", _figure(60), _figure(100), "bare", target=0.5),
            absolute("memory", "MB", _figure(80), at_most=120)]
    chart(_results(rows), tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_runner_end_to_end_on_one_scenario(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--only", "dashboard_list",
                           "--results-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = tmp_path.glob("*-quick-partial.json")
    results = json.loads(path.read_text())
    assert results["machine"]["cores"] and results["mode"] == "quick"
    assert results["scenarios"] and all(r["met"] for r in results["scenarios"]), results["scenarios"]
