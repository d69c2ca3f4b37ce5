"""A reference client run as a subprocess in its own virtualenv (or a system tool), talked
to line by line: the test waits for a JSON step line, acts on the hub (an admin push, say),
then waits for the next. Every wait is bounded, and the process is killed on the way out."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.support import REPO

STEP_TIMEOUT_S = 75.0
TB_NEW_PYTHON = REPO / ".venv-tbmqtt-new" / "bin" / "python"


def venv_python_or_skip(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} missing: run `make test` (tests/setup_clients.sh builds it)")
    return path


class ClientProcess:
    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.lines: list[str] = []

    @classmethod
    async def start(cls, *argv: str) -> ClientProcess:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return cls(proc)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    async def step(self, name: str, timeout: float = STEP_TIMEOUT_S) -> dict:
        """The next JSON line whose ``step`` is ``name`` (other output is kept for messages)."""

        async def read() -> dict:
            while True:
                line = (await self.proc.stdout.readline()).decode("utf-8", "replace")
                if not line:
                    raise AssertionError(f"client exited before step {name!r}:\n{self.output}")
                self.lines.append(line)
                if line.startswith("{"):
                    try:
                        data = json.loads(line)
                    except ValueError:
                        continue
                    if data.get("step") == name:
                        return data

        try:
            return await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            raise AssertionError(f"no step {name!r} within {timeout} s:\n{self.output}") from None

    def send(self, line: str) -> None:
        self.proc.stdin.write((line + "\n").encode())

    async def finish(self, timeout: float = STEP_TIMEOUT_S) -> int:
        """Its exit status (killed, -9, if it does not end within ``timeout``); the rest of
        its output is kept."""
        try:
            rest, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
            self.lines.append(rest.decode("utf-8", "replace"))
        except TimeoutError:
            self.kill()
            await self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()

    async def __aenter__(self) -> ClientProcess:
        return self

    async def __aexit__(self, *exc) -> None:
        self.kill()
        await self.proc.wait()
