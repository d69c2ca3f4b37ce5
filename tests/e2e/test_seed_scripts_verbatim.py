"""The reference scripts under tests/e2e/seed_scripts are byte-for-byte the seed's."""

from pathlib import Path

import pytest

from tests.e2e.seed_scripts.extract import RANGES
from tests.support import REPO

HERE = Path(__file__).resolve().parent / "seed_scripts"
SEED = REPO.parent / "shared" / "seeds" / "001_c566778d8d5993f3.txt"


@pytest.mark.parametrize("name", sorted(RANGES))
def test_script_is_the_seeds(name):
    if not SEED.exists():
        pytest.skip(f"{SEED} is not beside this checkout")
    lines = SEED.read_text(encoding="utf-8").splitlines(keepends=True)
    first, last = RANGES[name]
    assert (HERE / name).read_text(encoding="utf-8") == "".join(lines[first - 1:last]).rstrip() + "\n"
