"""The dashboard's profile form and the provisioning policy: every choice drawn and
saved, bad values answered in the form (400), secret rotation started and finished."""

from __future__ import annotations

import html as html_lib
import json

import pytest

from gridlinks.core.storage.models import DeviceProfile
from tests.browser.support import DashboardClient
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD


@pytest.fixture
async def admin(running):
    client = DashboardClient(running.base_url)
    assert await client.login(ADMIN_EMAIL, ADMIN_PASSWORD) == 200
    yield client
    await client.close()


async def test_policy_form_and_secret_rotation(running, admin):
    status, page, _ = await admin.get("/ui/profiles/new")
    assert status == 200
    for name in ("derivedSecrets", "reprovisionPolicy", "maxDevices", "maxProvisionsPerMinute", "provisionUntil",
                 "provisionTemplate"):
        assert f'name="{name}"' in page, name
    assert '<option value="RESET">' in page
    template = {"label": "{deviceName}", "serverAttributes": {"site": "n"}, "gateway": True}
    form = {"name": "Policy form", "provision_type": "ALLOW_CREATE_NEW_DEVICES", "key": "pf-key", "secret": "pf-s",
            "derivedSecrets": "on", "reprovisionPolicy": "RESET", "maxDevices": "5", "maxProvisionsPerMinute": "",
            "provisionUntil": "2030-01-01", "provisionTemplate": json.dumps(template)}
    status, page, _ = await admin.post("/ui/profiles/new", {**form, "maxDevices": "many"})
    assert status == 400 and "maxDevices" in page
    status, _, _ = await admin.post("/ui/profiles/new", form)
    assert status == 303
    profile = await DeviceProfile.get(name="Policy form")
    assert profile.provision_config == {"derivedSecrets": True, "reprovisionPolicy": "RESET", "maxDevices": 5,
                                        "provisionUntil": 1893456000000, "provisionTemplate": template}
    status, page, _ = await admin.get(f"/ui/profiles/{profile.id}")
    assert '<option value="RESET" selected>' in page and "checked" in page
    assert json.loads(html_lib.unescape(page.split('name="provisionTemplate"')[1].split(">", 1)[1]
                                        .split("</textarea>")[0])) == template
    # saving the form unchanged keeps every choice
    assert (await admin.post(f"/ui/profiles/{profile.id}", form))[0] == 303
    assert (await DeviceProfile.get(id=profile.id)).provision_config == profile.provision_config
    # rotation: a new secret, the old one kept; then finished
    assert (await admin.post(f"/ui/profiles/{profile.id}/rotate", {"expire_old_after": "2d"}))[0] == 303
    rotated = await DeviceProfile.get(id=profile.id)
    assert rotated.provision_secret != "pf-s"
    assert rotated.provision_config["secretRotation"]["previousSecret"] == "pf-s"
    status, page, _ = await admin.get(f"/ui/profiles/{profile.id}")
    assert 'id="rotation-state"' in page and "Finish rotation" in page
    assert (await admin.post(f"/ui/profiles/{profile.id}/rotate", {"finish": "1"}))[0] == 303
    assert "secretRotation" not in (await DeviceProfile.get(id=profile.id)).provision_config
    status, _, response = await admin.post(f"/ui/profiles/{profile.id}/rotate", {"finish": "1"})
    assert status == 303  # nothing to finish: back to the page with the error as a flash
