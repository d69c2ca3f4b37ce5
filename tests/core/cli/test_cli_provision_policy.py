"""`gridlinks profile create|update|derive-secret|rotate-secret` with the provisioning
policy flags (docs/provisioning.md), run as real processes on one data directory."""

import json

from gridlinks.core.services.provision_policy import derive_secret
from tests.cli_support import cli, value_after


def policy(out: str) -> dict:
    return json.loads(value_after(out, "policy"))


def test_policy_flags_derive_and_rotate(tmp_path):
    cli(tmp_path, "init")
    template = tmp_path / "template.json"
    template.write_text(json.dumps({"label": "{deviceName}", "sharedAttributes": {"interval": 10}}))
    out = cli(tmp_path, "profile", "create", "--name", "Factory", "--strategy", "allow-create", "--key", "f-key",
              "--secret", "f-secret", "--derived-secrets", "--reprovision-policy", "rotate", "--max-devices", "100",
              "--max-provisions-per-minute", "20", "--provision-until", "2030-01-01", "--template",
              str(template)).stdout
    assert policy(out) == {"derivedSecrets": True, "reprovisionPolicy": "ROTATE", "maxDevices": 100,
                           "maxProvisionsPerMinute": 20, "provisionUntil": 1893456000000,
                           "provisionTemplate": {"label": "{deviceName}", "sharedAttributes": {"interval": 10}}}
    out = cli(tmp_path, "profile", "update", "--name", "Factory", "--reprovision-policy", "reset",
              "--max-devices", "0", "--no-derived-secrets", "--provision-until", "2030-01-01T00:00:00Z").stdout
    assert policy(out) == {"reprovisionPolicy": "RESET", "maxProvisionsPerMinute": 20,
                           "provisionUntil": 1893456000000,
                           "provisionTemplate": {"label": "{deviceName}", "sharedAttributes": {"interval": 10}}}
    # derived secrets: several names print NAME<TAB>SECRET lines (one name: the secret alone)
    lines = cli(tmp_path, "profile", "derive-secret", "--name", "Factory", "--device", "SN-1", "--device",
                "SN-2").stdout.splitlines()
    assert lines == [f"SN-1\t{derive_secret('f-secret', 'SN-1')}", f"SN-2\t{derive_secret('f-secret', 'SN-2')}"]
    # rotation: a new secret, the old one kept until --finish; --expire-old-after bounds it
    out = cli(tmp_path, "profile", "rotate-secret", "--name", "Factory", "--expire-old-after", "7d").stdout
    new = value_after(out, "provision secret")
    assert new != "f-secret" and "works until" in out
    out = cli(tmp_path, "profile", "rotate-secret", "--name", "Factory", "--finish").stdout
    assert "rotation finished" in out and value_after(out, "provision secret") == new
