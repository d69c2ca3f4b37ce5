"""The contracts plugins implement, in one place. ``None`` from a lookup means
"not mine": the hub then asks the next registered plugin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import argparse

    from gridlinks.core.bus import EventBus
    from gridlinks.core.config import HubConfig, HubSettings
    from gridlinks.core.registry import Registry
    from gridlinks.core.storage.database import Storage
    from gridlinks.core.storage.models import Device, DeviceCredentials, DeviceProfile


@dataclass(frozen=True)
class CredentialSpec:
    """Credentials about to be stored for a device.

    ``id`` is the unique lookup key the database enforces (the token, a hash of the
    MQTT identity, the certificate's SHA3-256); ``value`` is what is stored beside it.
    """

    type: str
    id: str
    value: str
    # Members added to the provision response beside the reference's (e.g. the local CA's
    # ``caCertificate``); never replaces one of them.
    response_extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class IssuedCredentials:
    """Credentials just written, shaped like a ``DeviceCredentials`` row for
    ``CredentialType.response_value`` (building an ORM object on the hot path costs more
    than the rest of the reply)."""

    credentials_type: str
    credentials_id: str
    credentials_value: str


@dataclass(frozen=True)
class PresentedCredentials:
    """What a device showed when it connected, whatever the transport."""

    transport: str
    token: str | None = None
    client_id: str | None = None
    username: str | None = None
    password: str | None = None
    certificate_der: bytes | None = None
    chain_der: tuple[bytes, ...] = ()


class SessionChannel(Protocol):
    """One live device session, as a session-oriented transport (MQTT) hands it to a
    :class:`RestrictedSession` handler so the handler can answer or end it."""

    async def send(self, topic: str, payload: bytes) -> None:
        """Publish to this session only (never to other subscribers of the topic)."""

    def close(self, reason: str) -> None:
        """End the session; ``reason`` goes to the log, not to the device."""


@dataclass(frozen=True)
class RestrictedSession:
    """A login that opens a few topics of its own instead of the device API.

    A credential type may return one from ``authenticate`` instead of a device (dynamic
    registration's ``ProductSN|DeviceSN|2`` login, which may only ask for its password);
    the MQTT transport builds one for ``provision`` logins too. The session may publish
    only to ``publish`` (topic names) and subscribe only to ``subscribe`` (exact filters);
    anything else closes it. Each publish is passed to ``on_publish(channel, topic,
    payload)``, one at a time, in order. Transports without sessions (HTTP, CoAP) treat
    such a login as unknown credentials.
    """

    name: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    on_publish: Callable[[SessionChannel, str, bytes], Awaitable[None]]
    device: Device | None = None


@dataclass
class ProvisionRequest:
    """A provision request after JSON decoding and type checks (absent == empty)."""

    device_name: str | None
    key: str
    secret: str
    credentials_type: str
    fields: dict[str, Any]
    # Asked for; honoured only if the profile allows gateways (profiles.allows_gateways).
    gateway: bool = False
    transport: str = ""
    # The TLS client certificate (DER) the request came with, if any: proof for re-provisioning.
    peer_certificate: bytes | None = None


@dataclass
class ProvisionPlan:
    """A strategy's decision: provision this existing device, or create one by name."""

    existing_device: Device | None = None
    new_device_name: str | None = None
    use_existing_credentials: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # Set by the profile's reprovisionPolicy (never by a strategy): ROTATE or RESET the
    # existing device, which proved itself by ``proof``; ``state_ms`` guards the write.
    reprovision: str | None = None
    proof: str | None = None
    state_ms: int | None = None


class ProvisionRefused(Exception):
    """A strategy's "no". The reason goes to the audit log, never to the device."""


@runtime_checkable
class CredentialIssuer(Protocol):
    """The issuing side of a credential type: what a provision request may ask for, and
    how stored credentials are shown in the response."""

    name: str

    async def from_request(self, request: ProvisionRequest) -> CredentialSpec:
        """Credentials a provision request asks for; raise ``ProvisionRefused`` if invalid."""

    def response_value(self, credentials: DeviceCredentials) -> Any:
        """The ``credentialsValue`` a provision response carries for stored credentials."""


@runtime_checkable
class CredentialAuthenticator(Protocol):
    """The authenticating side: which device (if any) a connecting client's credentials
    log in as."""

    name: str

    async def authenticate(self, presented: PresentedCredentials) -> Device | RestrictedSession | None:
        """The device these presented credentials belong to, or ``None`` if not this type's
        (or a :class:`RestrictedSession` for a login that opens only its own topics)."""


@runtime_checkable
class CredentialType(CredentialIssuer, CredentialAuthenticator, Protocol):
    """What ``register_credential_types`` registers: both sides under one name (build
    one from two small objects with :class:`CredentialPair`)."""


@dataclass(frozen=True)
class CredentialPair:
    """A credential type made of an issuer and an authenticator kept apart, so the code
    that creates credentials and the code that lets devices in can change separately."""

    issuer: CredentialIssuer
    authenticator: CredentialAuthenticator

    @property
    def name(self) -> str:
        return self.issuer.name

    async def from_request(self, request: ProvisionRequest) -> CredentialSpec:
        return await self.issuer.from_request(request)

    def response_value(self, credentials: DeviceCredentials) -> Any:
        return self.issuer.response_value(credentials)

    async def authenticate(self, presented: PresentedCredentials) -> Device | RestrictedSession | None:
        return await self.authenticator.authenticate(presented)


# provisionConfiguration members that are the profile's own key and secret columns.
PROVISION_KEY = "provisionDeviceKey"
PROVISION_SECRET = "provisionDeviceSecret"


class ProfileSettings(BaseModel):
    """The settings a strategy (its ``config_model``) or a plugin (``register_profile_settings``)
    reads from a device profile, declared once so forms can be drawn from them.

    Each field's alias is its ``provisionConfiguration`` member (``provisionDeviceKey`` and
    ``provisionDeviceSecret`` are the profile's key and secret); ``title`` is the label,
    ``description`` the hint, the default what a new profile shows. ``json_schema_extra``
    may say ``form`` (the HTML input name), ``textarea`` or ``mono`` (how it is drawn).
    ``title`` on the class names the group; ``credential_labels`` (key/secret labels
    shown while the model's first boolean field is on) lets a plugin rename them."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    credential_labels: ClassVar[dict[str, str]] = {}


class KeyAndSecret(ProfileSettings):
    """Settings of every strategy whose devices send the profile's key and secret."""

    model_config = ConfigDict(title="Key and secret")
    provision_key: str = Field("", alias=PROVISION_KEY, title="Provision key",
                               description="Empty: 20 random characters are generated.",
                               json_schema_extra={"form": "key", "mono": True})
    provision_secret: str = Field("", alias=PROVISION_SECRET, title="Provision secret",
                                  description="Empty: generated (or kept, when editing).",
                                  json_schema_extra={"form": "secret", "mono": True})


@runtime_checkable
class ProvisionStrategy(Protocol):
    """``config_model`` (a :class:`ProfileSettings` subclass, optional) declares the
    profile settings it reads; a strategy with ``derive_key(secret)`` computes the key."""

    name: str

    async def plan(self, request: ProvisionRequest, profile: DeviceProfile) -> ProvisionPlan:
        """Decide what to provision; raise ``ProvisionRefused`` with a reason to refuse."""


@runtime_checkable
class Transport(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class ClaimInfo:
    """A device's pending claim: the secret a customer must present and until when
    (epoch ms). ``source`` names the strategy that found it, for the audit log.
    ``gateway_id`` is the id of the gateway that sent it for the device, or ``None`` when
    the device itself (or the tenant, by the server-side key) set it: a gateway may
    replace only claim info it sent itself, so strategies that keep device-sent info
    must keep this too and hand it back from ``find``."""

    secret: str
    expiration_ms: int
    source: str = ""
    gateway_id: str | None = None


@runtime_checkable
class ClaimStrategy(Protocol):
    """Where a device's claim secret comes from (device-side info, the ``claimingData``
    attribute, ...). Strategies are asked in ascending ``order``; the first answer wins."""

    name: str
    order: int

    async def find(self, device: Device) -> ClaimInfo | None:
        """The device's pending claim info (expired or not), or ``None`` if this strategy has none."""

    async def register(self, device: Device, info: ClaimInfo) -> bool | None:
        """Keep claim info the device sent; ``None`` if this strategy does not take device info."""

    async def discard(self, device: Device) -> None:
        """Forget the device's claim info (after a claim or a re-claim).

        A strategy may also define ``claim_ops(device) -> list[Op]``: writes that commit in
        the same unit as the claim itself (e.g. marking a one-time code used)."""


@runtime_checkable
class ClaimStore(Protocol):
    """Short-lived JSON values with a time to live: pending device claim info and the
    failed-attempt counters. The calls map one to one onto Redis (SET EX, GET, DEL,
    INCR + EXPIRE), so a Redis plugin can replace the in-memory one. A store that holds
    connections may also define ``async open()`` and ``async close()``; the hub calls them
    when it opens and stops. A store that cannot be reached raises ``ServiceUnavailable``."""

    name: str

    async def put(self, key: str, value: dict[str, Any], ttl_s: float) -> None: ...

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, ttl_s: float) -> int:
        """Add one to the counter at ``key`` and return it; a new counter lives ``ttl_s``."""


@dataclass(frozen=True)
class TrustChange:
    """What a :class:`TlsTrust` provider tells the TLS listener: certificates (DER) to
    trust from now on, or ``rebuild`` when some may no longer be trusted (a device
    deleted, a certificate rotated, a profile's anchor replaced): the listener then asks
    every provider for its full set again and stops trusting the rest."""

    added: tuple[bytes, ...] = ()
    rebuild: bool = False


TrustListener = Callable[[TrustChange], Awaitable[None]]


@runtime_checkable
class TlsTrust(Protocol):
    """Which client certificates a TLS listener lets through the handshake. Passing the
    handshake only gets a client as far as authentication (its credential type looks
    the certificate up again), so a provider lists candidates, not logins."""

    name: str

    async def certificates(self) -> list[bytes]:
        """Every certificate (DER) to trust now: device certificates, CA or intermediate anchors."""

    def subscribe(self, changed: TrustListener) -> Callable[[], None]:
        """Call ``changed`` whenever the set changes; returns the callable that unsubscribes."""


# -- CLI commands (the ``register_commands`` hook) -------------------------------------

CommandRun = Callable[[Any, "argparse.Namespace"], Awaitable[int]]
"""``async def run(hub, args) -> int``: the exit status; ``hub`` is opened (no sockets)."""
CommandConfigure = Callable[["argparse.ArgumentParser"], None]
"""Adds a command's arguments to its parser."""


class RegisterCommand(Protocol):
    """The ``register`` callback of ``register_commands``."""

    def __call__(self, name: str, run: CommandRun, group: str | None = None, help: str = "",
                 configure: CommandConfigure | None = None) -> None: ...


class PluginHost(Protocol):
    """The hub as plugin hooks see it (``hub`` in :mod:`gridlinks.core.hookspecs`).

    A protocol, not the ``Hub`` class: the hub imports the plugin manager and so the hook
    specifications, which therefore must not import the hub back (``core/`` has no import
    cycle, type-only imports included). The kernel parts are typed; the services are
    ``Any`` here because the kernel does not import the services layer."""

    config: HubConfig
    settings: HubSettings
    bus: EventBus
    pm: Any
    storage: Storage
    credential_types: Registry[CredentialType]
    provision_strategies: Registry[ProvisionStrategy]
    claim_strategies: Registry[ClaimStrategy]
    claim_stores: Registry[ClaimStore]
    transports: Registry[Transport]
    audit: Any
    auth: Any
    credentials: Any
    profiles: Any
    devices: Any
    provisioning: Any
    bulk_import: Any
    customers: Any
    permissions: Any
    claiming: Any
    device_api: Any
    services: Registry[Any]

    def create_task(self, coro: Any, name: str | None = None) -> Any: ...

    def bind_error(self, port: int, setting: str, env: str, exc: OSError) -> Exception: ...
