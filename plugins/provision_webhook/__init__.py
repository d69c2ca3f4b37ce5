"""The pre-provisioning webhook: before a new device is created, POST the request
(secrets removed) to ``provision_webhook.url``, signed with HMAC-SHA256, and follow the
answer (allow, deny, allow with overrides). Timeouts and errors follow the profile's
``preProvisionFailMode``. Docs: docs/pre-provision-hook.md.
"""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.core.errors import ConfigError
from gridlinks.plugins.provision_webhook.webhook import SECTION, SERVICE, ProvisionWebhook, WebhookSettings


@hookimpl
def register_services(hub, register):
    settings = hub.config.section(SECTION, WebhookSettings)
    if settings.url and not settings.secret:
        raise ConfigError(f"{SECTION}.secret is required when {SECTION}.url is set (use $env:NAME to keep it out "
                          "of the file)")
    register(ProvisionWebhook(settings), name=SERVICE)


@hookimpl
def pre_provision(hub, request, profile, plan):
    webhook = hub.services[SERVICE]
    if not webhook.applies_to(profile):
        return None
    return webhook.ask(request, profile, plan)


@hookimpl
def register_profile_settings(hub, register):
    from gridlinks.plugins.provision_webhook.profile_settings import PreProvisionProfile

    register(PreProvisionProfile)
