"""The approval inbox: a profile with ``"approval": "manual"`` in its provision
configuration parks an unknown device's provision request (the device gets the
reference's FAILURE body plus ``"pending": true``) until a person approves or rejects it
in the dashboard (``/ui/provision/pending``, live), over REST (``/api/provision/pending``)
or with ``gridlinks pending list|approve|reject``. After approval the device's next
identical request succeeds. Docs: docs/approval.md.

It decides through the core's ``pre_provision`` hook, like any pre-provisioning plugin.
Modules: ``models`` (the table), ``events``, ``service`` (decisions and transitions),
``api`` (REST), ``cli``, ``page`` (dashboard), ``profile_settings`` (the form field).
"""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.plugins.approval import cli
from gridlinks.plugins.approval.service import SERVICE, ApprovalService, ApprovalSettings, manual

SECTION = "approval"


@hookimpl
def register_models(register):
    register("gridlinks.plugins.approval.models")


@hookimpl
def register_services(hub, register):
    settings = hub.config.section(SECTION, ApprovalSettings)
    register(ApprovalService(hub.storage, hub.bus, hub.audit, settings), name=SERVICE)


@hookimpl
def pre_provision(hub, request, profile, plan):
    if not manual(profile):
        return None  # no coroutine at all for the usual profile: provisioning stays as fast
    return hub.services[SERVICE].check(request, profile)


@hookimpl
def register_web_routes(hub, app):
    from gridlinks.plugins.approval.api import add_routes

    add_routes(hub, app, hub.services[SERVICE])


@hookimpl
def register_dashboard_pages(hub, register):
    from gridlinks.plugins.approval.page import pages

    for page in pages():
        register(page)


@hookimpl
def register_profile_settings(hub, register):
    from gridlinks.plugins.approval.profile_settings import ApprovalProfile

    register(ApprovalProfile)


@hookimpl
def register_commands(register):
    cli.register(register)


@hookimpl
def hub_started(hub):
    hub.create_task(hub.services[SERVICE].sweep_forever(), name="approval-expiry")
