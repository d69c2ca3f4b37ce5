"""config/gridlinks.service: hardened, consistent with the hub's settings, and accepted by
systemd's own checker (`systemd-analyze verify`, and `security` for its exposure score)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

UNIT = REPO / "config" / "gridlinks.service"


def _directives(text: str) -> dict[str, list[str]]:
    """``Section.Key`` -> every value it is given (systemd allows repeating a key)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


def test_the_unit_is_hardened_and_matches_the_hub():
    unit = _directives(UNIT.read_text())

    def one(key):
        assert len(unit[f"Service.{key}"]) == 1, key
        return unit[f"Service.{key}"][0]

    assert one("User") == one("Group") == "gridlinks"
    env = dict(v.split("=", 1) for v in unit["Service.Environment"])
    assert one("ReadWritePaths") == env["GRIDLINKS_DATA_DIR"] == f"/var/lib/{one('StateDirectory')}"
    assert one("StateDirectoryMode") == "0700" and one("UMask") == "0077"
    for key in ("NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectHome", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectControlGroups", "RestrictSUIDSGID", "LockPersonality"):
        assert one(key) == "yes", key
    assert one("ProtectSystem") == "strict"
    assert one("CapabilityBoundingSet") == "" and one("AmbientCapabilities") == ""
    assert "@system-service" in unit["Service.SystemCallFilter"]
    assert re.fullmatch(r"/\S+/gridlinks run", one("ExecStart"))
    assert unit["Install.WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path):
    # verify checks that ExecStart= exists: point it at this venv's gridlinks.
    unit = tmp_path / "gridlinks.service"
    unit.write_text(UNIT.read_text().replace("/opt/gridlinks/bin/gridlinks", str(Path(sys.executable).parent /
                                                                              "gridlinks")))
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and "gridlinks.service" not in verify.stderr, verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True,
                              text=True, timeout=60)
    if security.returncode != 0 and "offline" in security.stderr:
        pytest.skip("this systemd-analyze has no --offline security check")
    score = re.search(r"Overall exposure level for gridlinks.service: ([\d.]+)", security.stdout)
    assert score is not None, security.stdout + security.stderr
    assert float(score.group(1)) <= 2.0, security.stdout  # systemd rates up to 2.0 "OK"
