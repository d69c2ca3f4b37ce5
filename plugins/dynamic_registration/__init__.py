"""Dynamic registration, "one type, one secret" (SPEC.md section 3, seeds/004): devices
of a product share its ProductSN and ProductSecret, ask for their own secret over MQTT
once, then log in with it. Docs: docs/dynamic-registration.md.

Modules: ``models`` (the device-secret table), ``store`` (issuing and checking secrets),
``products`` (the switch), ``login`` (MQTT logins, the password request, RetCodes),
``service`` (the service people use, registered in ``hub.services``, and the
credential type MQTT logins reach), ``admin_api`` (REST), ``cli`` (its ``gridlinks``
commands).
"""

from __future__ import annotations

from pydantic import Field

from gridlinks.core import hookimpl
from gridlinks.core.config import Settings
from gridlinks.plugins.dynamic_registration import cli
from gridlinks.plugins.dynamic_registration.admin_api import add_routes
from gridlinks.plugins.dynamic_registration.service import SERVICE, DynamicRegistration, RegistrationCredentials

SECTION = "dynamic_registration"


class DynamicRegistrationSettings(Settings):
    # The password session is closed this long after each reply (the device then logs in
    # again with authmode 1); a refused device has nothing else to do there either.
    close_delay_s: float = Field(5.0, ge=0)


@hookimpl
def register_models(register):
    register("gridlinks.plugins.dynamic_registration.models")


@hookimpl
def register_services(hub, register):
    settings = hub.config.section(SECTION, DynamicRegistrationSettings)
    register(DynamicRegistration(hub, settings.close_delay_s), name=SERVICE)


@hookimpl
def register_credential_types(hub, register):
    register(RegistrationCredentials(hub.services[SERVICE].login))


@hookimpl
def register_web_routes(hub, app):
    add_routes(hub, app, hub.services[SERVICE])


@hookimpl
def register_profile_settings(hub, register):
    from gridlinks.plugins.dynamic_registration.profile_settings import DynamicRegistrationProfile

    register(DynamicRegistrationProfile)


@hookimpl
def register_commands(register):
    cli.register(register)
