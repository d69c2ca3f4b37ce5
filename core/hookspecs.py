"""Every hook a plugin can implement. All but one are called once, at start-up, to
register things; at run time the hub calls plain async methods on what was registered
(pluggy has no async hooks, and hot paths should not pay for hook dispatch). The
exception is ``pre_provision``, asked before each new device is created (its
implementations return awaitables the hub awaits).

A plugin is a module (or object) with functions decorated ``@gridlinks.core.hookimpl``;
it is found through the entry-point group ``gridlinks`` and runs only when its
entry-point name is listed under ``plugins:`` in the config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from aiohttp import web

    # plugins see the hub through a protocol: importing core.hub here would be a cycle
    from gridlinks.core.types import PluginHost as Hub
    from gridlinks.core.types import RegisterCommand

PROJECT = "gridlinks"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models(register: Callable[[str], None]) -> None:
    """Add Tortoise model modules (dotted paths) so a plugin can keep its own tables;
    they are created and migrated with the core's."""


@hookspec
def register_credential_types(hub: Hub, register: Callable[[Any], None]) -> None:
    """Add credential types (objects with ``name``, ``from_request``, ``authenticate``,
    see :class:`gridlinks.core.types.CredentialType`)."""


@hookspec
def register_provision_strategies(hub: Hub, register: Callable[[Any], None]) -> None:
    """Add provisioning strategies, keyed by the profile's ``provisionType``
    (see :class:`gridlinks.core.types.ProvisionStrategy`)."""


@hookspec
def register_claim_strategies(hub: Hub, register: Callable[[Any], None]) -> None:
    """Add claim strategies that find a device's pending claim secret
    (see :class:`gridlinks.core.types.ClaimStrategy`)."""


@hookspec
def register_claim_stores(hub: Hub, register: Callable[[Any], None]) -> None:
    """Add claim stores (see :class:`gridlinks.core.types.ClaimStore`); the one named by
    ``claim.store`` keeps device claim info and failed-attempt counters."""


@hookspec
def register_transports(hub: Hub, register: Callable[[Any], None]) -> None:
    """Add transports: objects with ``name`` and ``async start()`` / ``async stop()``,
    started in registration order after storage is ready, stopped in reverse."""


@hookspec
def register_web_routes(hub: Hub, app: web.Application) -> None:
    """Add routes, middlewares or sub-apps to the hub's HTTP application (admin API,
    dashboard pages). Called by whichever transport serves HTTP, before it starts."""


@hookspec
def register_dashboard_pages(hub: Hub, register: Callable[[Any], None]) -> None:
    """Add dashboard pages and menu entries (see :class:`gridlinks.web.dashboard.pages.Page`:
    path, handler, menu title, who may open it, an optional template folder); called
    when the dashboard plugin builds its application."""


@hookspec
def register_services(hub: Hub, register: Callable[..., Any]) -> None:
    """Add a plugin's services (what its CLI commands, web routes and other plugins call),
    with ``register(service, name="myplugin")``; found later as ``hub.services["myplugin"]``.
    Called before every other ``register_*`` hook that takes the hub, so those may use them.
    A name registered twice fails start-up."""


@hookspec
def register_commands(register: RegisterCommand) -> None:
    """Add ``gridlinks`` sub-commands (argparse), llm-style:
    ``register(name, run, group=None, help="", configure=None)``.

    ``run`` is ``async def run(hub, args) -> int`` (exit status), called with an opened
    hub (storage ready, no sockets). ``configure(parser)`` adds the command's arguments;
    ``--config``/``--data-dir`` are already there. ``group`` puts the command under an
    existing group (``"profile"``, ``"device"``, ...), or makes a new one; without it the
    command is top-level. Only enabled plugins are asked, so a disabled plugin's commands
    do not exist; a name taken twice in one group fails with a message saying which."""


@hookspec
def hub_started(hub: Hub) -> None:
    """Everything is listening; a plugin may start background work here (synchronous:
    schedule tasks with ``hub.create_task``)."""


@hookspec
def register_tls_trust(hub: Hub, register: Callable[[Any], None]) -> None:
    """Add TLS trust providers (see :class:`gridlinks.core.types.TlsTrust`): the client
    certificates and anchors a TLS listener accepts, and how it learns they changed. The
    transport owns the TLS mechanics; the plugin that owns a credential type decides what
    is trusted. Called by each TLS transport when it starts."""


@hookspec
def register_profile_settings(hub: Hub, register: Callable[[Any], None]) -> None:
    """Add device-profile settings a plugin reads whatever the strategy (a
    :class:`gridlinks.core.types.ProfileSettings` model, e.g. dynamic registration's
    switch); forms such as the dashboard's profile page are drawn from them. A strategy's
    own settings are its ``config_model``."""


@hookspec
def pre_provision(hub: Hub, request: Any, profile: Any, plan: Any) -> Any:
    """Called at run time (not at start-up) before provisioning creates a NEW device:
    ``request`` is the :class:`~gridlinks.core.types.ProvisionRequest` (with its secrets:
    strip them with ``pre_provision.public_request`` before sending it anywhere),
    ``profile`` the device profile, ``plan`` the strategy's
    :class:`~gridlinks.core.types.ProvisionPlan`. Return None (no opinion), a
    :class:`gridlinks.core.services.pre_provision.PreProvisionDecision` (allow, deny,
    pending, allow with overrides), or an awaitable of one (an ``async def`` hook). A hook
    that raises or times out follows the profile's ``preProvisionFailMode``. See
    docs/pre-provision-hook.md."""
