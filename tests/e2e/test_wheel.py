"""The wheel `python -m build` makes, installed into a fresh virtualenv outside the
repository: `gridlinks init && gridlinks run` there serves the dashboard's login page with
its templates and static files (which come only from the wheel), the API docs page, and the
Server header without the framework's version.

The dependencies are not downloaded again (minutes on a slow link): the fresh venv gets the
wheel with ``--no-deps`` and sees this test's own site-packages through a ``.pth`` line,
after its own. That directory's ``.pth`` files (the editable install of this checkout) are
not processed there, so ``gridlinks`` is imported from the wheel; the test checks it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import aiohttp
import pytest

from tests.support import REPO, port_env

SOURCES = ("pyproject.toml", "README.md", "core", "plugins", "web")


def _run(*cmd: str | Path, cwd: Path, env: dict | None = None, timeout: float = 180) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def _build_wheel(tmp: Path) -> Path:
    """Built from a copy of the tree, so nothing (build/, egg-info) lands in the checkout."""
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    out = _run(sys.executable, "-m", "build", "--wheel", "--outdir", tmp / "dist", src, cwd=tmp)
    assert "absent from the `packages` configuration" not in out, out[-3000:]
    (wheel,) = (tmp / "dist").glob("gridlinks-*.whl")
    return wheel


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, bytes]:
    async with session.get(url, allow_redirects=False) as r:
        return r.status, r.headers.get("Server", ""), await r.read()


@pytest.mark.timeout(300)
async def test_wheel_in_a_fresh_venv_serves_the_dashboard(tmp_path):
    pytest.importorskip("build")
    wheel = await asyncio.to_thread(_build_wheel, tmp_path)
    venv = tmp_path / "venv"
    await asyncio.to_thread(_run, sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip())
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    await asyncio.to_thread(_run, sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
                            wheel, cwd=tmp_path)
    where = _run(python, "-c", "import gridlinks.web, os; print(os.path.dirname(gridlinks.web.__file__))",
                 cwd=tmp_path).strip()
    assert Path(where).is_relative_to(site), where  # the wheel's copy, not this checkout
    assert (Path(where) / "templates" / "login.html").exists() and (Path(where) / "static").is_dir()

    run_dir = tmp_path / "site"  # outside the repository; no config file: the defaults
    run_dir.mkdir()
    env = {**os.environ, **port_env(), "GRIDLINKS_DATA_DIR": str(run_dir / "data"), "PYTHONUNBUFFERED": "1"}
    env.pop("GRIDLINKS_CONFIG", None)
    gridlinks = venv / "bin" / "gridlinks"
    out = await asyncio.to_thread(_run, gridlinks, "init", cwd=run_dir, env=env)
    assert "password" in out.lower(), out
    log = (tmp_path / "hub.log").open("wb")
    hub = subprocess.Popen([str(gridlinks), "run"], cwd=run_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{env['GRIDLINKS_HTTP_PORT']}"
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 60
            while True:
                try:
                    status, server, page = await _get(session, base + "/ui/login")
                    break
                except aiohttp.ClientConnectionError:
                    assert hub.poll() is None and time.monotonic() < deadline, (tmp_path / "hub.log").read_text()
                    await asyncio.sleep(0.3)
            assert status == 200 and b"<form" in page, page[:500]
            assert server == "GridLinks"
            status, _, css = await _get(session, base + "/ui/static/dashboard.css")
            assert status == 200 and len(css) > 100
            status, _, docs = await _get(session, base + "/api/docs")
            assert status == 200
            status, _, js = await _get(session, base + "/api/docs/static/swagger-ui-bundle.js")
            assert status == 200 and len(js) > 100_000
    finally:
        hub.send_signal(signal.SIGINT)
        try:
            hub.wait(20)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()
        log.close()
