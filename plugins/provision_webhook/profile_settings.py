"""The profile setting every pre-provisioning hook follows when it fails, drawn in the
dashboard's profile form (``preProvisionFailMode``)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from gridlinks.core.services.pre_provision import FAIL_CLOSED, FAIL_MODE
from gridlinks.core.types import ProfileSettings


class PreProvisionProfile(ProfileSettings):
    model_config = ConfigDict(title="Pre-provisioning webhook")

    fail_mode: str = Field(FAIL_CLOSED, alias=FAIL_MODE, title="When the webhook fails (fail-closed or fail-open)",
                           description="fail-closed: a timeout or error refuses the device; fail-open: the device is "
                                       "created as if the webhook had allowed it.",
                           json_schema_extra={"form": "pre_provision_fail_mode", "placeholder": FAIL_CLOSED})
