"""Baseline: the rows a bulk import of N devices writes (device + access token), inserted
with plain sqlite3 ``executemany`` in one transaction into a database made by
``gridlinks init``, with the hub's pragmas. What the disk and SQLite can do with no
server, no CSV rules and no per-line atomicity around them.

    python -m bench.baselines.raw_sqlite DATA_DIR COUNT PREFIX TOKEN_PREFIX
"""

import sys
from pathlib import Path

from bench.common import Measurement
from bench.load.tally import emit
from bench.seed_db import seed_devices


def main() -> None:
    data_dir, count, prefix, token_prefix = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    seconds = seed_devices(data_dir / "hub.db", count, prefix, token_prefix, provisioned=False)
    emit(Measurement(count / seconds, None, None, count, 0, {"seconds": round(seconds, 2)}).to_json())


if __name__ == "__main__":
    main()
