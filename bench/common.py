"""What every benchmark scenario needs: free loopback ports, a hub (or a bare baseline
server) in its own process pinned to one core, the load generator pinned to the other,
and memory readings. Nothing here talks to anything but 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SERVER_CPU = "0"
LOAD_CPU = "1" if (os.cpu_count() or 1) > 1 else "0"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cmd: list[str], cpu: str) -> list[str]:
    """Pin a process to one core when taskset exists, so server and load do not share."""
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpu, *cmd] if taskset else cmd


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@dataclass
class HubProcess:
    proc: subprocess.Popen
    data_dir: Path
    ports: dict[str, int]
    key: str
    secret: str
    admin_password: str
    log: Path
    admin_email: str

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)


def hub_env(ports: dict[str, int], data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLINKS_")}
    env.update({"GRIDLINKS_BIND": "127.0.0.1", "GRIDLINKS_DATA_DIR": str(data_dir),
                "GRIDLINKS_HTTP_PORT": str(ports["http"]), "GRIDLINKS_MQTT_PORT": str(ports["mqtt"]),
                "GRIDLINKS_MQTTS_PORT": str(ports["mqtts"]), "GRIDLINKS_COAP_PORT": str(ports["coap"]),
                "GRIDLINKS_LOG_LEVEL": "WARNING",
                # Benchmarks measure plain HTTP and must not multicast on the LAN.
                "GRIDLINKS_HTTP_TLS_PORT": "0", "GRIDLINKS_DISCOVERY_ENABLED": "false"})
    env.update(extra or {})
    return env


def raise_open_files(limit: int) -> None:
    """Raise this process's open-file soft limit toward ``limit``, within the hard limit
    (10k held MQTT sessions need more than the usual 1024)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


START_ATTEMPTS = 3  # a free port can be taken by someone else before the hub binds it


def _start(gridlinks: Path, data_dir: Path, extra_env: dict[str, str] | None, open_files: int | None,
           log: Path, cpu: str = SERVER_CPU) -> tuple[subprocess.Popen, dict[str, int]]:
    """Start `gridlinks run` on free ports and wait until it answers; when another process
    took one of the ports in between (a shared machine), try again on new ones. The log
    keeps every attempt."""
    for attempt in range(1, START_ATTEMPTS + 1):
        ports = {"http": free_port(), "mqtt": free_port(), "mqtts": free_port(), "coap": free_port(socket.SOCK_DGRAM)}
        logged_before = log.stat().st_size if attempt > 1 else 0
        with open(log, "w" if attempt == 1 else "a") as fh:
            proc = subprocess.Popen(pinned([str(gridlinks), "run"], cpu),
                                    env=hub_env(ports, data_dir, extra_env),
                                    stdout=fh, stderr=subprocess.STDOUT,
                                    preexec_fn=partial(raise_open_files, open_files) if open_files else None)
        try:
            wait_http(f"http://127.0.0.1:{ports['http']}/api/health", proc)
            return proc, ports
        except RuntimeError as exc:
            stop(proc)
            text = log.read_text()
            if "already in use" not in text[logged_before:] or attempt == START_ATTEMPTS:
                raise RuntimeError(f"hub did not start ({exc}): {text[-1500:]}") from None
    raise AssertionError("unreachable")


@contextmanager
def hub(extra_env: dict[str, str] | None = None, data_dir: Path | None = None, open_files: int | None = None,
        gridlinks: Path | None = None):
    """A hub started by `gridlinks run` on free ports, pinned to the server core, on
    ``data_dir`` (made by bench.seed_db.init_data_dir) or a fresh one like it.
    ``open_files``: raise its open-file limit that far (for many held sessions).
    ``gridlinks``: another installation's executable (an earlier version, measured in the
    same run for comparison; see ``before_gridlinks``)."""
    from bench.seed_db import ADMIN_EMAIL, ADMIN_PASSWORD, PROVISION_KEY, PROVISION_SECRET, init_data_dir

    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="gridlinks-bench-")
        data_dir = Path(tmp.name)
        init_data_dir(data_dir, gridlinks)  # a copy of one `gridlinks init` per run and installation
    log = data_dir / "hub.log"
    proc, ports = _start(gridlinks or VENV_BIN / "gridlinks", data_dir, extra_env, open_files, log)
    try:
        yield HubProcess(proc, data_dir, ports, PROVISION_KEY, PROVISION_SECRET, ADMIN_PASSWORD, log, ADMIN_EMAIL)
    finally:
        stop(proc)
        if tmp is not None:
            tmp.cleanup()


def before_gridlinks() -> Path | None:
    """``BENCH_BEFORE_GRIDLINKS``: the `gridlinks` executable of an earlier installation (a
    checkout of main before a rewrite, with its own venv), for rows that compare the hub with
    its previous version in the same run; None when unset or missing."""
    path = os.environ.get("BENCH_BEFORE_GRIDLINKS")
    return Path(path) if path and Path(path).is_file() else None


def installation(gridlinks: Path) -> str:
    """``<checkout> at <commit>`` for a `gridlinks` in ``<checkout>/.venv/bin/`` (its name
    in the results), else the path."""
    checkout = gridlinks.resolve().parent.parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return f"{checkout.name} at {commit}" if commit else str(gridlinks)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def python_server(script: Path, *args: str):
    """A baseline server script run by this interpreter, pinned to the server core.
    The script prints 'ready' once listening."""
    proc = subprocess.Popen(pinned([sys.executable, str(script), *args], SERVER_CPU), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        if "ready" not in line:
            raise RuntimeError(f"{script.name} did not start: {line}{proc.stdout.read()}")
        yield proc
    finally:
        stop(proc)


@dataclass
class Measurement:
    """One scenario's figures: throughput and latency percentiles (ms)."""

    rate: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    count: int = 0
    errors: int = 0
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"rate": round(self.rate, 1), "p50_ms": _r(self.p50_ms), "p99_ms": _r(self.p99_ms),
                "count": self.count, "errors": self.errors, **self.extra}


def _r(v):
    return None if v is None else round(v, 2)


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[index]
