"""The profile setting the approval inbox reads (``"approval": "manual"``), declared so
the dashboard's profile form draws it: a checkbox, which writes ``true`` (read as manual)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from gridlinks.core.types import ProfileSettings
from gridlinks.plugins.approval.service import APPROVAL


class ApprovalProfile(ProfileSettings):
    model_config = ConfigDict(title="Approval of new devices")

    manual: bool = Field(False, alias=APPROVAL, title="Unknown devices wait for approval (manual)",
                         description="An unknown device's request waits in the approval inbox until a person "
                                     "approves it; its next identical request then succeeds.",
                         json_schema_extra={"form": "approval"})
