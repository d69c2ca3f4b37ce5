"""WAL checkpoints run beside the writer (core/storage/checkpoint.py): commits never
checkpoint, a long log is finished by the writer between two batches and starts over,
and nothing committed is lost."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from gridlinks.core.storage.database import Storage
from gridlinks.core.storage.models import AuditEvent
from gridlinks.core.storage.writes import Insert


def _log_frames(path) -> int:
    """Frames in the WAL now, as a PASSIVE checkpoint reports them (-1 while the hub's
    checkpointer holds the checkpoint lock: asked again)."""
    db = sqlite3.connect(str(path))
    try:
        for _ in range(200):
            frames = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
            if frames >= 0:
                return frames
            time.sleep(0.01)
        raise AssertionError("the checkpoint lock stayed taken for 2 s")
    finally:
        db.close()


def _row(i: int) -> Insert:
    return Insert(AuditEvent, {"action": "test", "outcome": "SUCCESS", "device_name": f"d{i}",
                               "reason": "x" * 500, "details": {"i": i}})


async def test_commits_do_not_checkpoint_and_the_log_starts_over(tmp_path):
    storage = Storage(f"sqlite://{tmp_path / 'hub.db'}")
    await storage.open()
    try:
        checkpointer = storage.checkpointer
        assert checkpointer is not None
        rows = await storage.connection().execute_query_dict("PRAGMA wal_autocheckpoint")
        assert list(rows[0].values()) == [0]  # the hub's connection leaves checkpoints to the checkpointer

        checkpointer.restart_pages = 200
        written = 0
        while checkpointer.restarts == 0:
            await asyncio.gather(*(storage.write([_row(written + k)]) for k in range(50)))
            written += 50
            assert written < 200_000, "the checkpointer never restarted the log"
        frames_before = _log_frames(storage.sqlite_path)
        assert frames_before >= 200
        # The next commit is followed by the writer's own checkpoint of the last frames;
        # the one after it writes the log from its start.
        for _ in range(2):
            await storage.write([_row(written)])
            written += 1
        assert _log_frames(storage.sqlite_path) < 50
        assert await AuditEvent.filter(action="test").count() == written
    finally:
        await storage.close()
    assert storage.checkpointer is None


async def test_a_checkpoint_pass_copies_what_is_committed(tmp_path):
    storage = Storage(f"sqlite://{tmp_path / 'hub.db'}")
    await storage.open()
    try:
        await asyncio.gather(*(storage.write([_row(i)]) for i in range(100)))
        checkpointer = storage.checkpointer
        assert checkpointer is not None
        frames = await checkpointer.run_once()
        assert frames > 0
        db = sqlite3.connect(str(storage.sqlite_path))
        try:
            _, log_frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            db.close()
        assert copied == log_frames >= 0  # everything committed is in the database file now
    finally:
        await storage.close()
