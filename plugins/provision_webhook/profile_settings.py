"""The profile setting every pre-provisioning hook follows when it fails, drawn in the
dashboard's profile form (``preProvisionFailMode``; the checkbox writes ``true``, read as fail-open)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from gridlinks.core.services.pre_provision import FAIL_MODE
from gridlinks.core.types import ProfileSettings


class PreProvisionProfile(ProfileSettings):
    model_config = ConfigDict(title="Pre-provisioning webhook")

    fail_open: bool = Field(False, alias=FAIL_MODE, title="Fail open: create the device when the webhook fails",
                            description="Off (fail-closed): a timeout or error refuses the device. On (fail-open): "
                                        "the device is created as if the webhook had allowed it.",
                            json_schema_extra={"form": "pre_provision_fail_open"})
