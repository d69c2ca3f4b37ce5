"""Guard rails (issue 14): a second `gridlinks run` on one SQLite file, or a second node
on one PostgreSQL database without redis_url, refuses to start with one line saying why."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cli_support import cli
from tests.support import REDIS_URL, hub_config, start_hub, stop_hub


async def _second_node(data_dir: Path, **env: str) -> tuple[int, str]:
    """Exit status and output of `gridlinks run` that is expected to refuse at once."""
    proc = await asyncio.to_thread(cli, data_dir, "run", env=env, check=False, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


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
