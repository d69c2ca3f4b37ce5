"""One serving node per SQLite file; on PostgreSQL, either one node alone or every node in
cluster mode (``redis_url`` set), never a mix.

Why: two `gridlinks run` processes on one SQLite file would each keep claim info, counters
and pushes in their own memory and fight over the writer; several nodes on PostgreSQL
without Redis would silently disagree about pending claims and miss each other's pushes.
Both refuse to start with one line saying what to set. Commands that only open the
database (the CLI next to a running hub) take no lock.

- SQLite: an exclusive ``flock`` on ``<database>.lock``, held while the node serves; the
  kernel drops it when the process dies, even by ``kill -9``.
- PostgreSQL: an advisory lock on a dedicated connection: exclusive for a node without
  ``redis_url``, shared for cluster nodes, so cluster nodes coexist and a lone node excludes
  (and is excluded by) any other.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from gridlinks.core.errors import StartupError

# pg_advisory_lock key: "GRIDLINK" as a 64-bit integer (any fixed number unlikely to clash).
ADVISORY_KEY = int.from_bytes(b"GRIDLINK", "big") - (1 << 63)


class NodeLock:
    def __init__(self, database_url: str, sqlite_path: Path | None, clustered: bool):
        self.database_url = database_url
        self.sqlite_path = sqlite_path
        self.clustered = clustered
        self._fd: int | None = None
        self._pg: Any = None

    async def acquire(self) -> None:
        if self.sqlite_path is not None:
            self._lock_file(self.sqlite_path.with_name(self.sqlite_path.name + ".lock"))
        else:
            await self._lock_postgres()

    def _lock_file(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StartupError(f"another hub is already running on {self.sqlite_path}; a SQLite database serves "
                               "one node (several nodes: PostgreSQL db_url and redis_url, docs/scale-out.md)") from None
        self._fd = fd

    async def _lock_postgres(self) -> None:
        import asyncpg

        self._pg = await asyncpg.connect(self.database_url.replace("postgres://", "postgresql://", 1))
        call = "pg_try_advisory_lock_shared" if self.clustered else "pg_try_advisory_lock"
        if not await self._pg.fetchval(f"SELECT {call}($1)", ADVISORY_KEY):
            await self.release()
            if self.clustered:
                raise StartupError("a hub node without redis_url is running on this PostgreSQL database; set "
                                   "redis_url (GRIDLINKS_REDIS_URL) on every node")
            raise StartupError("another hub node is running on this PostgreSQL database; several nodes need "
                               "redis_url (GRIDLINKS_REDIS_URL) on every node (docs/scale-out.md)")

    async def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
        if self._pg is not None:
            await self._pg.close()  # ending the session drops its advisory locks
            self._pg = None
