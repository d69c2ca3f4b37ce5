"""The local CA's settings: the hub-wide section ``local_ca:`` and the profile settings
(``provisionConfiguration`` members) that say which CSRs a profile's devices may send.

The profile model is not offered to ``register_profile_settings`` (yet): the dashboard's
form writes every plugin field into every profile it saves, so each profile would carry
the four ``csr*`` defaults. They are set over the REST API, which the form keeps."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from gridlinks.core.config import Settings
from gridlinks.core.types import ProfileSettings
from gridlinks.plugins.local_ca.authority import CsrRules

SECTION = "local_ca"
KEY_TYPES = ("EC", "RSA", "ED25519", "ED448")


class LocalCaSettings(Settings):
    ca_valid_days: int = Field(3650, ge=1, le=36500)  # a generated or rotated CA
    ca_common_name: str = "GridLinks device CA"


class CsrProfileSettings(ProfileSettings):
    model_config = ConfigDict(title="Local CA (devices sending a CSR)")

    key_types: str = Field("EC,RSA,ED25519", alias="csrKeyTypes", title="Accepted CSR key types",
                           description="Comma-separated: EC, RSA, ED25519, ED448.",
                           json_schema_extra={"form": "csr_key_types", "mono": True})
    min_rsa_bits: int = Field(2048, alias="csrMinRsaBits", ge=1024, le=16384, title="Smallest RSA key (bits)",
                              json_schema_extra={"form": "csr_min_rsa_bits"})
    min_ec_bits: int = Field(256, alias="csrMinEcBits", ge=160, le=521, title="Smallest EC key (bits)",
                             json_schema_extra={"form": "csr_min_ec_bits"})
    days: int = Field(365, alias="csrValidDays", ge=1, le=36500, title="Days a signed certificate is valid",
                      json_schema_extra={"form": "csr_valid_days"})

    def rules(self) -> CsrRules:
        types = frozenset(t.strip().upper() for t in self.key_types.split(",") if t.strip())
        return CsrRules(types & frozenset(KEY_TYPES), self.min_rsa_bits, self.min_ec_bits, self.days)
