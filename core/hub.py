"""The Hub: the one object that owns config, event bus, plugins, registries, storage
and services. Nothing is module-global, so tests build a fresh hub per test.

Life cycle: ``await hub.open()`` loads plugins and opens storage (what the CLI needs);
``await hub.start()`` also starts every transport; ``await hub.stop()`` undoes both.

Wiring: this module alone knows every service. Each service receives what it uses - the
storage, the bus, a registry, its settings section, other services - in its constructor,
so its dependencies are visible in its signature and no service reaches another through
the hub (nor imports this module, so ``core/`` has no import cycle). The ``Storage`` is
built here, unopened, so that services can hold the one reference from the start;
``open()`` hands it the plugins' model modules and opens it, ``stop()`` closes it (it can
be opened again). Plugins and web code still use the hub's attributes (``hub.devices``...).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
from collections.abc import Mapping
from typing import Any

import pluggy

from gridlinks.core.bus import EventBus
from gridlinks.core.config import HubConfig
from gridlinks.core.errors import StartupError
from gridlinks.core.events import HubStarted
from gridlinks.core.logs import quiet_secret_bearing_loggers
from gridlinks.core.plugins import build_plugin_manager
from gridlinks.core.registry import Registry
from gridlinks.core.services.audit import AuditLog
from gridlinks.core.services.auth import AuthService
from gridlinks.core.services.bulk_import import BulkImporter
from gridlinks.core.services.claiming import ClaimService
from gridlinks.core.services.credentials import CredentialService
from gridlinks.core.services.customers import CustomerService
from gridlinks.core.services.device_api import DeviceApi
from gridlinks.core.services.devices import DeviceService
from gridlinks.core.services.permissions import PermissionService
from gridlinks.core.services.pre_provision import PreProvisionGate
from gridlinks.core.services.profiles import ProfileService
from gridlinks.core.services.provision_policy import ProvisionPolicyService
from gridlinks.core.services.provisioning import ProvisioningService
from gridlinks.core.services.rejections import DeviceRejections
from gridlinks.core.storage.database import Storage, private_dir
from gridlinks.core.storage.node_lock import NodeLock
from gridlinks.core.types import ClaimStore, ClaimStrategy, CredentialType, ProvisionStrategy, Transport

log = logging.getLogger(__name__)

PERMISSION_MODELS = "gridlinks.core.storage.permission_models"
SESSION_MODELS = "gridlinks.core.storage.session_models"


class Hub:
    def __init__(self, config: HubConfig | None = None, extra_plugins: Mapping[str, Any] | None = None):
        self.config = config or HubConfig()
        quiet_secret_bearing_loggers()  # SQL parameters (tokens, secrets) never reach the log
        self.settings = self.config.core
        self.bus = EventBus()
        self.credential_types: Registry[CredentialType] = Registry("credential type")
        self.provision_strategies: Registry[ProvisionStrategy] = Registry("provisioning strategy")
        self.claim_strategies: Registry[ClaimStrategy] = Registry("claim strategy")
        self.claim_stores: Registry[ClaimStore] = Registry("claim store")
        self.transports: Registry[Transport] = Registry("transport")
        self.services: Registry[Any] = Registry("service")  # plugins' own services, by plugin-chosen name
        self._extra_plugins = dict(extra_plugins or {})
        self.pm: pluggy.PluginManager | None = None  # loaded by open()
        self._node_lock: NodeLock | None = None  # held while serving (start to stop)
        settings = self.settings
        self.storage = Storage(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous,
                               sqlite_cache_mb=settings.sqlite_cache_mb)
        storage, bus = self.storage, self.bus
        self.audit = AuditLog(storage, bus)
        self.auth = AuthService(settings.auth, settings.data_dir, storage, bus)
        self.credentials = CredentialService(self.credential_types, storage, bus)
        self.profiles = ProfileService(self.provision_strategies, bus, settings.profile_cache_s)
        self.devices = DeviceService(storage, bus, self.credentials)
        self.pre_provision = PreProvisionGate(storage, bus, self.audit)
        self.provisioning = ProvisioningService(storage, bus, self.provision_strategies, self.profiles,
                                                self.credentials, self.audit, ProvisionPolicyService(self.credentials),
                                                self.pre_provision)
        self.bulk_import = BulkImporter(storage, bus, self.profiles, self.credentials, self.devices)
        self.customers = CustomerService(storage, bus, self.auth)
        self.permissions = PermissionService(settings.claim)
        self.claiming = ClaimService(settings.claim, storage, bus, self.claim_strategies, self.claim_stores,
                                     self.devices, self.permissions, self.audit)
        self.device_api = DeviceApi(self.devices, self.claiming, self.credentials, settings)
        self.rejections = DeviceRejections(bus)  # device refusals: events, audited sparingly
        self._tasks: set[asyncio.Task] = set()
        self._started: list[Transport] = []
        self._opened = False

    # -- life cycle -------------------------------------------------------------

    def _hooks(self) -> Any:
        if self.pm is None:
            raise StartupError("the hub's plugins are not loaded yet: call open() first")
        return self.pm.hook

    def _load_plugins(self) -> None:
        self.pm = build_plugin_manager(self.settings.plugins, self._extra_plugins)
        hook = self.pm.hook
        hook.register_services(hub=self, register=self.services.register)
        hook.register_credential_types(hub=self, register=self.credential_types.register)
        hook.register_provision_strategies(hub=self, register=self.provision_strategies.register)
        hook.register_claim_strategies(hub=self, register=self.claim_strategies.register)
        hook.register_claim_stores(hub=self, register=self.claim_stores.register)
        hook.register_transports(hub=self, register=self.transports.register)
        self.config.check_all_sections_claimed()
        self.pre_provision.attach(functools.partial(hook.pre_provision, hub=self))
        self.claiming.attach()

    def _model_modules(self) -> list[str]:
        modules: list[str] = [PERMISSION_MODELS, SESSION_MODELS]
        self._hooks().register_models(register=modules.append)
        return modules

    async def open(self) -> Hub:
        """Load plugins and open storage; no sockets are opened."""
        if self._opened:
            return self
        private_dir(self.settings.data_dir)  # 0700: the database, keys and secrets live here
        self._load_plugins()
        self.storage.use_models(self._model_modules())
        await self.storage.open()
        for store in self.claim_stores:  # stores that hold connections (Redis) open them here
            opener = getattr(store, "open", None)
            if opener is not None:
                await opener()
        self.audit.attach()
        await self.auth.load_signing_key()
        self._opened = True
        return self

    async def start(self) -> Hub:
        await self.open()
        try:
            self._node_lock = NodeLock(self.storage.url, self.storage.sqlite_path,
                                       clustered=bool(self.settings.redis_url))
            await self._node_lock.acquire()
            for transport in self.transports:
                await transport.start()
                self._started.append(transport)
        except BaseException:
            await self.stop()
            raise
        self._hooks().hub_started(hub=self)
        await self.bus.fire(HubStarted())
        return self

    async def stop(self) -> None:
        for transport in reversed(self._started):
            try:
                await transport.stop()
            except Exception:
                log.exception("transport %s failed to stop cleanly", transport.name)
        self._started.clear()
        if self._node_lock is not None:
            await self._node_lock.release()
            self._node_lock = None
        await self.bus.stop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for store in self.claim_stores:
            closer = getattr(store, "close", None)
            if closer is not None:
                try:
                    await closer()
                except Exception as exc:
                    log.warning("claim store %s did not close cleanly: %s", store.name, exc)
        await self.storage.close()
        self._opened = False

    async def __aenter__(self) -> Hub:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- helpers for plugins ----------------------------------------------------

    def create_task(self, coro, name: str | None = None) -> asyncio.Task:
        """A background task the hub cancels on stop (so nothing outlives it)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def bind_error(self, port: int, setting: str, env: str, exc: OSError) -> StartupError:
        """The one clear line a transport raises when its port cannot be bound."""
        why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror or exc})"
        return StartupError(f"port {port} on {self.settings.bind} {why}; "
                            f"change it with {setting} in the config or {env}")
