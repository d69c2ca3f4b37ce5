"""A `gridlinks run` process on a temporary data directory, for CLI tests that need a hub
serving next to the command under test, and the command run in the test's own process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from gridlinks.core.cli.main import main
from tests.cli_support import GRIDLINKS, wait_for_health
from tests.support import port_env


class RunningProcess:
    """`gridlinks run` on ``data_dir``, with its whole output once stopped."""

    def __init__(self, data_dir: Path, ports: dict[str, str] | None = None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLINKS_")}
        env.update(ports or port_env())
        self.base = f"http://127.0.0.1:{env['GRIDLINKS_HTTP_PORT']}"
        self.proc = subprocess.Popen([str(GRIDLINKS), "run", "--data-dir", str(data_dir)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output = ""

    def __enter__(self) -> RunningProcess:
        try:
            wait_for_health(self.base + "/api/health", self.proc)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.output, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.output, _ = self.proc.communicate()

    def post(self, path: str, body: dict, token: str | None = None) -> tuple[int, dict | None]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.base + path, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def login(self, email: str, password: str) -> int:
        return self.post("/api/auth/login", {"username": email, "password": password})[0]


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
