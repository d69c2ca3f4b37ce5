"""Starts a load generator as its own process on the load core and reads its result line.

Load generators are separate processes so that the server's core does none of the
client's work; each prints one ``RESULT {json}`` line (bench/load/tally.py)."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from contextlib import contextmanager

from bench.common import LOAD_CPU, REPO, pinned, stop
from bench.load.tally import RESULT_PREFIX


def _command(module: str, args: list, cpu: str = LOAD_CPU) -> list[str]:
    return pinned([sys.executable, "-m", module, *map(str, args)], cpu)


def _result(output: str, prefix: str = RESULT_PREFIX) -> dict | None:
    for line in reversed(output.splitlines()):
        if line.startswith(prefix):
            return json.loads(line[len(prefix):])
    return None


def run_command(cmd: list[str], timeout: float) -> dict:
    """Run ``cmd`` (from the repository) to completion, at most ``timeout`` s; its result line."""
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    result = _result(done.stdout)
    if result is None:
        raise RuntimeError(f"{' '.join(cmd[-6:])[:200]} gave no result (exit {done.returncode}): "
                           f"{done.stderr.strip()[-800:]}")
    return result


def run_load(module: str, args: list, timeout: float, cpu: str = LOAD_CPU) -> dict:
    """``python -m module args`` on core ``cpu`` (baselines that are not servers run this
    way on the server core); its result."""
    return run_command(_command(module, args, cpu), timeout)


class Interactive:
    """A load process that reports in stages: wait for a line, then let it go on."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self._selector = selectors.DefaultSelector()
        self._selector.register(proc.stdout, selectors.EVENT_READ)
        self.output: list[str] = []

    def wait_for(self, prefix: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._selector.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if line.startswith(prefix):
                return json.loads(line[len(prefix):])
        raise RuntimeError(f"load process gave no {prefix.strip()} line within {timeout} s "
                           f"(exit {self.proc.poll()}): {''.join(self.output)[-800:]}")

    def release(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()


@contextmanager
def interactive_load(module: str, args: list):
    proc = subprocess.Popen(_command(module, args), cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        yield Interactive(proc)
    finally:
        stop(proc)
