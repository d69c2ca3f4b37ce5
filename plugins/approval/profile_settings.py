"""The profile setting the approval inbox reads (``"approval": "manual"``), declared so
the dashboard's profile form draws it."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from gridlinks.core.types import ProfileSettings
from gridlinks.plugins.approval.service import APPROVAL, AUTO


class ApprovalProfile(ProfileSettings):
    model_config = ConfigDict(title="Approval of new devices")

    approval: str = Field(AUTO, alias=APPROVAL, title="Approval (auto or manual)",
                          description="manual: an unknown device's request waits in the approval inbox until a "
                                      "person approves it; auto: no approval step.",
                          json_schema_extra={"form": "approval", "placeholder": "auto"})
