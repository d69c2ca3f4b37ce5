"""WAL checkpoints off the write path, on their own connection and thread.

SQLite copies its write-ahead log back into the database file (a *checkpoint*, with an
fsync of each file) inside whichever commit makes the log pass ``wal_autocheckpoint``
pages. That commit, and every unit the group writer queued behind it, waits: with the
log checkpointed every 64 MB a commit now and then took 0.3-0.9 s instead of ~10 ms,
which is what a device's p99 sees. So the hub's own connection never checkpoints
(``wal_autocheckpoint=0``, set in :mod:`.database`) and this task does it instead:

- every ``interval_s`` (0.1 s) a PASSIVE checkpoint on a second connection, in its own thread. It
  copies what is committed without taking the write lock, so commits go on meanwhile;
- a PASSIVE checkpoint can never let the log start over while commits keep coming (each
  one leaves a few new frames behind), so once the log holds more than ``restart_pages``
  a second pass catches up with what was committed during the first, and the group
  writer is asked to checkpoint the last frames itself, right after its next commit
  (whose devices are answered first) and before the next batch: that pass has only the
  last few milliseconds' frames to copy, and the next commit then writes the log from its
  start again (``journal_size_limit`` keeps the file at that size).

Measured under load (2026-12-02, in-process): with checkpoints inside commits the
slowest commit took 0.9 s; with a RESTART checkpoint from this thread (which waits for
the write lock, then makes the writer wait, both through SQLite's sleeping busy handler)
70-110 ms. Each pass syncs both files, and a large sync stalls the commits beside it,
so passes are small and frequent: at 800 provisionings/s the p99 was 19-20 ms with a
pass every 0.1 s, ~55 ms every 0.5 s (docs/storage.md, bench/analysis.md).

Durability is unchanged: a commit is durable in the log (WAL + ``synchronous``) before the
writer acknowledges it, checkpointed or not.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)

INTERVAL_S = 0.1  # small passes: a pass syncs both files, and a large sync stalls the commits beside it
BUSY_TIMEOUT_MS = 10_000


class WalCheckpointer:
    def __init__(self, path: Path, restart_pages: int, finish_log: Callable[[], None], synchronous: str = "NORMAL",
                 interval_s: float = INTERVAL_S):
        self.path = path
        self.restart_pages = restart_pages
        self.finish_log = finish_log  # the group writer's: checkpoint the last frames between two batches
        self.synchronous = synchronous  # the hub's: it decides whether a checkpoint syncs
        self.interval_s = interval_s
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="gridlinks-wal-checkpoint")
        self._db: sqlite3.Connection | None = None
        self._task: asyncio.Task | None = None
        self.passes = 0
        self.restarts = 0  # times the log was long and the writer was asked to finish it
        self._failing = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gridlinks-wal-checkpoint")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._close_connection)
        self._thread.shutdown(wait=True)

    async def run_once(self) -> int:
        """One pass in the checkpoint thread (see :meth:`checkpoint`)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self.checkpoint)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                if await self.run_once() >= self.restart_pages:
                    # One more pass at once: it copies what was committed during the first,
                    # so the writer's own pass has only the last few milliseconds' frames
                    # to copy (and to sync) while its queue waits.
                    await self.run_once()
                    self.restarts += 1
                    self.finish_log()
            except sqlite3.Error as exc:  # the database is unwell: the writer reports it (health)
                if not self._failing:
                    log.warning("WAL checkpoint failed: %s (retrying every %.1f s)", exc, self.interval_s)
                self._failing = True
            else:
                if self._failing:
                    log.info("WAL checkpoints work again")
                self._failing = False

    def checkpoint(self) -> int:
        """One PASSIVE pass (in the checkpoint thread); the frames the log held. A long
        log is left to the writer to finish (``finish_log``), on the loop."""
        _, frames, _ = self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.passes += 1
        return frames

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._db.execute(f"PRAGMA synchronous={self.synchronous}")
            self._db.execute("PRAGMA wal_autocheckpoint=0")
        return self._db

    def _close_connection(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
