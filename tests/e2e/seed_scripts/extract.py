"""Copies the example client scripts out of the seed guide, byte for byte.

The scripts are the contract: they must run against the hub unchanged (only host and
port are typed at their prompts). ``tests/e2e/test_seed_scripts_verbatim.py`` checks the
copies still match the seed text wherever ``../shared/seeds`` is present.
Run: python tests/e2e/seed_scripts/extract.py ../shared/seeds/001_c566778d8d5993f3.txt
"""

import sys
from pathlib import Path

# script name -> (first line, last line) in seeds/001_c566778d8d5993f3.txt, 1-based.
RANGES = {
    "mqtt_server_token.py": (252, 381),
    "mqtt_device_token.py": (574, 706),
    "mqtt_basic.py": (917, 1054),
    "mqtt_x509.py": (1308, 1508),
    "http_server_token.py": (1623, 1682),
    "http_device_token.py": (1802, 1863),
    "coap_server_token.py": (2021, 2119),
    "coap_device_token.py": (2280, 2381),
}


def extract(seed: Path, out_dir: Path) -> None:
    lines = seed.read_text(encoding="utf-8").splitlines(keepends=True)
    for name, (first, last) in RANGES.items():
        body = "".join(lines[first - 1:last]).rstrip() + "\n"
        (out_dir / name).write_text(body, encoding="utf-8")


if __name__ == "__main__":
    extract(Path(sys.argv[1]), Path(__file__).parent)
