"""Which device profiles are products, and the dynamic-registration switch.

The switch is ``"dynamicRegistration": true`` in the profile's provision configuration
(what ``gridlinks profile create --dynamic-registration``, the dashboard and the admin
API's ``profileData.provisionConfiguration`` write). ProductSN is the profile's
provision key and ProductSecret its provision secret. An X509_CERTIFICATE_CHAIN
profile is never a product: its key and secret are public (a certificate and its hash).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridlinks.core.errors import BadRequest
from gridlinks.core.storage.models import DeviceProfile

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub

SWITCH = "dynamicRegistration"
X509_CERTIFICATE_CHAIN = "X509_CERTIFICATE_CHAIN"


def is_product(profile: DeviceProfile) -> bool:
    """Whether the profile can act as a product at all (has a usable key and secret)."""
    key = profile.provision_key or ""
    return bool(key and profile.provision_secret) and "|" not in key \
        and profile.provision_type != X509_CERTIFICATE_CHAIN


def switched_on(profile: DeviceProfile) -> bool:
    return is_product(profile) and (profile.provision_config or {}).get(SWITCH) is True


async def switch(hub: Hub, profile: DeviceProfile, on: bool) -> DeviceProfile:
    if on and not is_product(profile):
        if profile.provision_type == X509_CERTIFICATE_CHAIN:
            raise BadRequest("an X509_CERTIFICATE_CHAIN profile cannot be a product (its key and secret are public)")
        raise BadRequest("dynamic registration needs a provision key (ProductSN, without '|') and a secret "
                         "(ProductSecret); give the profile both")
    config = {k: v for k, v in (profile.provision_config or {}).items() if k != SWITCH}
    if on:
        config[SWITCH] = True
    return await hub.profiles.update(profile, config=config)


def product_json(profile: DeviceProfile) -> dict:
    return {"deviceProfileId": {"entityType": "DEVICE_PROFILE", "id": str(profile.id)}, "name": profile.name,
            "dynamicRegistration": switched_on(profile), "productSN": profile.provision_key,
            "productSecret": profile.provision_secret}
