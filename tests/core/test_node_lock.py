"""Guard rails (issue 14): a second `gridlinks run` on one SQLite file, or a second node
on one PostgreSQL database without redis_url, refuses to start with one line saying why."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.plugins.test_claim_store_redis import REDIS_URL
from tests.support import hub_config, port_env, start_hub, stop_hub

GRIDLINKS = Path(sys.executable).parent / "gridlinks"


async def _second_node(data_dir: Path, **env: str) -> tuple[int, str]:
    """Exit status and output of `gridlinks run` that is expected to refuse at once."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLINKS_")}
    full.update(port_env(), GRIDLINKS_DATA_DIR=str(data_dir), **env)
    proc = await asyncio.create_subprocess_exec(str(GRIDLINKS), "run", env=full, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("the second node started instead of refusing") from None
    return proc.returncode, out.decode()


async def test_a_second_node_on_one_sqlite_file_refuses(tmp_path):
    running = await start_hub(hub_config(tmp_path / "data"))
    try:
        code, out = await _second_node(tmp_path / "data")
        assert code != 0 and "another hub is already running on" in out, out
        assert "Traceback" not in out
    finally:
        await stop_hub(running)
    # stopped: the lock is gone, and the same data directory serves again
    running = await start_hub(hub_config(tmp_path / "data"))
    await stop_hub(running)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_nodes_on_postgres_need_redis_url_on_every_node(tmp_path, db_url):
    running = await start_hub(hub_config(tmp_path / "a", db_url=db_url))  # a lone node: no redis_url
    try:
        code, out = await _second_node(tmp_path / "b", GRIDLINKS_DB_URL=db_url)
        assert code != 0 and "several nodes need redis_url" in out, out
        code, out = await _second_node(tmp_path / "c", GRIDLINKS_DB_URL=db_url, GRIDLINKS_REDIS_URL=REDIS_URL)
        assert code != 0 and "without redis_url is running" in out, out
        assert "Traceback" not in out
    finally:
        await stop_hub(running)
