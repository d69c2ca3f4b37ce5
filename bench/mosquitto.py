"""A private Mosquitto for the reference rows: our own process on a free loopback port,
pinned to the server core like every other server, with a config that allows anonymous
clients on 127.0.0.1 only. The system's Mosquitto on 1883 (if any) is left alone."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from bench.common import SERVER_CPU, free_port, pinned, stop

CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def binary() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"mosquitto did not listen on {port} within {timeout}s")


@contextmanager
def mosquitto():
    """Yields the port of a running Mosquitto, or None when it is not installed."""
    path = binary()
    if path is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="gridlinks-bench-mosquitto-") as tmp:
        port = free_port()
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        f"log_dest none\nmax_keepalive 120\n")
        proc = subprocess.Popen(pinned([path, "-c", str(conf)], SERVER_CPU), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            _wait_listening(port, proc)
            yield port
        finally:
            stop(proc)
