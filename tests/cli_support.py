"""Running the `gridlinks` command as a real process in tests, and reading what it prints."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support import port_env

GRIDLINKS = Path(sys.executable).parent / "gridlinks"


def cli(data_dir, *args, env=None, check=True, timeout=60):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLINKS_")}
    full_env.update(port_env())
    full_env.update(env or {})
    proc = subprocess.run([str(GRIDLINKS), *args, "--data-dir", str(data_dir)], capture_output=True, text=True,
                          env=full_env, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def value_after(text, label):
    for line in text.splitlines():
        if line.strip().startswith(label):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{label} not in {text}")


def wait_for_health(url, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read())
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.status
        except OSError:
            time.sleep(0.2)
    raise AssertionError("hub did not become healthy")
