"""The profile switch dynamic registration reads (``products.SWITCH``), declared so the
dashboard's profile form can draw it (``register_profile_settings``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from gridlinks.core.types import ProfileSettings
from gridlinks.plugins.dynamic_registration.products import SWITCH


class DynamicRegistrationProfile(ProfileSettings):
    model_config = ConfigDict(title="Dynamic registration (“one type, one secret”)")
    credential_labels: ClassVar[dict[str, str]] = {
        "key": "ProductSN / provision key", "secret": "ProductSecret / provision secret",
        "note": "for dynamic registration they are the ProductSN and ProductSecret"}

    enabled: bool = Field(False, alias=SWITCH,
                          title="Devices on the whitelist may register with ProductSN and ProductSecret",
                          description="ProductSN is the provision key and ProductSecret the provision secret; the "
                                      "whitelist is this profile's pre-provisioned devices (DeviceSN = device name).",
                          json_schema_extra={"form": "dynamic_registration"})
