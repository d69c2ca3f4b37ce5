"""Hub configuration: YAML file, then ``GRIDLINKS_*`` environment variables on top.

Every key has a default in code, so an empty file (or none) is a working hub;
``config/hub.yaml`` documents the same defaults. The environment name of a key is its
path joined by ``_`` in capitals (``claim.duration_ms`` -> ``GRIDLINKS_CLAIM_DURATION_MS``,
a plugin section ``mqtt.port`` -> ``GRIDLINKS_MQTT_PORT``); a field may declare a shorter
historic name (``mqtt.tls_port`` -> ``GRIDLINKS_MQTTS_PORT``). A string value
``$env:NAME`` is read from the environment, so secrets need not sit in the file.

Plugin sections are validated by the plugin that owns them when it loads
(:meth:`HubConfig.section`); a section nobody claims fails start-up, as does an unknown
key inside one, naming the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeGuard, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gridlinks.core.errors import ConfigError

ENV_PREFIX = "GRIDLINKS"
S = TypeVar("S", bound="Settings")

DEFAULT_PLUGINS = [
    "access_token",
    "mqtt_basic",
    "x509",
    "provision_disabled",
    "provision_allow_create",
    "provision_check_pre_provisioned",
    "provision_x509_chain",
    "http",
    "mqtt",
    "coap",
    "admin_api",
    "dashboard",
    "claim_store_memory",
    "claim_device_key",
    "claim_server_key",
    "claim_api",
    "customer_api",
    "dynamic_registration",
    "approval",
    "metrics",
    "discovery",
    "local_ca",
    "claim_labels",
]


class Settings(BaseModel):
    """Base of every settings block: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def env_field(default: Any, env: str, **kw: Any) -> Any:
    """A field whose environment variable name is not derived from its path."""
    return Field(default, json_schema_extra={"env": env}, **kw)


class AuthSettings(Settings):
    jwt_secret: str | None = Field(None, description="HS256 key; generated into data_dir when absent")
    token_ttl_s: int = 9000
    refresh_token_ttl_s: int = 604800


class ClaimSettings(Settings):
    duration_ms: int = 86_400_000
    allow_claiming_by_default: bool = True
    max_failed_attempts: int = 5
    lockout_s: float = 300.0
    backoff_base_s: float = 0.05
    backoff_max_s: float = 3.0
    store: str = "memory"
    customer_users_can_claim: bool = True


class HubSettings(Settings):
    data_dir: Path = Path("data")
    bind: str = "0.0.0.0"
    db_url: str | None = Field(None, description="default: sqlite in data_dir, WAL")
    redis_url: str | None = Field(None, description="redis://host:6379/0 for claim info and counters shared "
                                                    "by several hub nodes (the claim_store_redis plugin)")
    sqlite_synchronous: str = "NORMAL"
    sqlite_cache_mb: int = 64
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object per log line")
    max_payload_bytes: int = 65536
    profile_cache_s: float = 5.0
    plugins: list[str] = Field(default_factory=lambda: list(DEFAULT_PLUGINS))
    auth: AuthSettings = Field(default_factory=AuthSettings)
    claim: ClaimSettings = Field(default_factory=ClaimSettings)

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite://{(self.data_dir / 'hub.db').resolve()}"


def _resolve_env_refs(value: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("$env:"):
        name = value[5:]
        if name not in environ:
            raise ConfigError(f"config refers to environment variable {name}, which is not set")
        return environ[name]
    if isinstance(value, dict):
        return {k: _resolve_env_refs(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env_refs(v, environ) for v in value]
    return value


def _env_name(prefix: str, name: str, info: Any) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("env") or f"{prefix}_{name}".upper())


def _is_settings(annotation: Any) -> TypeGuard[type[Settings]]:
    return isinstance(annotation, type) and issubclass(annotation, Settings)


def overlay_env(raw: dict[str, Any], model: type[Settings], prefix: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Return ``raw`` with every field of ``model`` that has an environment variable set
    replaced by that variable's value (lists: comma-separated)."""
    merged = dict(raw)
    for name, info in model.model_fields.items():
        if _is_settings(info.annotation):
            sub = merged.get(name) or {}
            if not isinstance(sub, dict):
                raise ConfigError(f"config key {prefix.lower()}.{name} must be a mapping")
            merged[name] = overlay_env(sub, info.annotation, f"{prefix}_{name}", environ)
            continue
        var = _env_name(prefix, name, info)
        if var in environ:
            value: Any = environ[var]
            origin = getattr(info.annotation, "__origin__", None)
            if origin is list:
                value = [v.strip() for v in value.split(",") if v.strip()]
            merged[name] = value
    return merged


def _validate(model: type[S], raw: dict[str, Any], where: str) -> S:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            full = f"{where}.{key}" if where else key
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown config key {full}")
            else:
                problems.append(f"config key {full}: {err['msg']}")
        raise ConfigError("; ".join(problems)) from None


class HubConfig:
    """The core settings plus the raw plugin sections, validated on demand."""

    def __init__(self, raw: dict[str, Any] | None = None, environ: Mapping[str, str] | None = None):
        self.environ = dict(os.environ if environ is None else environ)
        raw = _resolve_env_refs(dict(raw or {}), self.environ)
        core_keys = set(HubSettings.model_fields)
        core_raw = {k: v for k, v in raw.items() if k in core_keys}
        self._sections: dict[str, dict[str, Any]] = {k: v for k, v in raw.items() if k not in core_keys}
        for name, value in self._sections.items():
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"config key {name} must be a mapping of settings")
        self.core = _validate(HubSettings, overlay_env(core_raw, HubSettings, ENV_PREFIX, self.environ), "")
        self._claimed: set[str] = set()

    def section(self, name: str, model: type[S]) -> S:
        """Validate the plugin section ``name`` against ``model`` (env overrides applied)."""
        self._claimed.add(name)
        raw = self._sections.get(name) or {}
        merged = overlay_env(raw, model, f"{ENV_PREFIX}_{name}", self.environ)
        return _validate(model, merged, name)

    def check_all_sections_claimed(self) -> None:
        unknown = sorted(set(self._sections) - self._claimed)
        if unknown:
            raise ConfigError(
                "unknown config key(s) " + ", ".join(unknown) + " (no enabled plugin owns them)"
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None,
             environ: Mapping[str, str] | None = None) -> HubConfig:
        """Read ``path`` (or ``$GRIDLINKS_CONFIG``); the environment overrides the file.
        Command-line flags reach here as environment entries, so they win over both."""
        env = dict(os.environ if environ is None else environ)
        path = path or env.get(f"{ENV_PREFIX}_CONFIG")
        raw: dict[str, Any] = {}
        if path:
            p = Path(path)
            if not p.is_file():
                raise ConfigError(f"config file {p} does not exist")
            try:
                loaded = yaml.safe_load(p.read_text()) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"config file {p} is not valid YAML: {exc}") from None
            if not isinstance(loaded, dict):
                raise ConfigError(f"config file {p} must hold a mapping at the top level")
            raw = loaded
        return cls(raw, env)
