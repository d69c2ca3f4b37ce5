"""A `gridlinks run` process on a temporary data directory, for CLI tests that need a hub
serving next to the command under test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gridlinks.core.cli.main import main
from tests.cli_support import GRIDLINKS, wait_for_health


def hub_env(ports: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLINKS_")}
    env.update(ports)
    return env


@contextmanager
def running_hub(data_dir: Path, ports: dict[str, str]) -> Iterator[str]:
    """Start a hub on ``data_dir`` with ``ports`` (``port_env()``); yield its HTTP base URL;
    stop it with SIGTERM (it must exit 0)."""
    proc = subprocess.Popen([str(GRIDLINKS), "run", "--data-dir", str(data_dir)], env=hub_env(ports),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{ports['GRIDLINKS_HTTP_PORT']}"
    try:
        wait_for_health(f"{base}/api/health", proc)
        yield base
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def post_json(url: str, body: Any, timeout: float = 10) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def gridlinks_here(capsys, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The command run in this process (for set-up steps and the many refusals; what a
    test is about runs as a real process): exit code, stdout, stderr. The environment is
    the test's without GRIDLINKS_* variables, plus ``env``."""
    saved = dict(os.environ)
    for name in [k for k in os.environ if k.startswith("GRIDLINKS_")]:
        del os.environ[name]
    os.environ.update(env or {})
    try:
        code = main([*args, "--data-dir", str(data_dir)])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
