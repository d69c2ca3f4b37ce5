"""The profile form's settings, drawn from the models that declare them: each enabled
strategy's ``config_model`` and the plugins' ``register_profile_settings`` models
(:class:`gridlinks.core.types.ProfileSettings`). The dashboard knows no plugin's keys:
a field's alias is its provisionConfiguration member, its title the label, its
description the hint, its type the input (bool: a checkbox).

A field shared by several strategies (the key and secret) is drawn once, marked with
every strategy it belongs to; the page script shows only the chosen strategy's fields
and disables the others, so they are not posted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic.fields import FieldInfo

from gridlinks.core.services.provision_policy import ProvisionPolicySettings
from gridlinks.core.types import PROVISION_KEY, PROVISION_SECRET, ProfileSettings
from gridlinks.web.dashboard.render import checkbox
from gridlinks.web.dashboard.render import field as form_field

# Aliases that are the profile's own columns, not provisionConfiguration members.
COLUMNS = {PROVISION_KEY: "key", PROVISION_SECRET: "secret"}


@dataclass
class SettingField:
    alias: str
    form: str
    label: str
    hint: str
    default: Any
    kind: str  # "checkbox", "textarea", "select" (``choices``) or "text"
    mono: bool = False
    placeholder: str = ""
    strategies: list[str] = field(default_factory=list)  # empty: every strategy
    secret: bool = False  # a password input that never shows the saved value (empty keeps it)
    choices: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, alias: str, info: FieldInfo) -> SettingField:
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        choices = [str(c) for c in extra.get("choices") or []]  # type: ignore[union-attr]
        kind = "checkbox" if info.annotation is bool else (
            "textarea" if extra.get("textarea") else "select" if choices else "text")
        return cls(alias, str(extra.get("form") or alias), info.title or alias, info.description or "",
                   info.get_default(call_default_factory=True), kind, bool(extra.get("mono")),
                   str(extra.get("placeholder") or ""), choices=choices,
                   secret=bool(extra.get("secret")) or (alias == PROVISION_SECRET and kind == "text"))

    def read(self, data) -> Any:
        if self.kind == "checkbox":
            return checkbox(data, self.form)
        if self.kind == "textarea":
            return str(data.get(self.form) or "").strip()
        return form_field(data, self.form)

    def shown(self, form: dict[str, Any]) -> Any:
        """The value the form shows: the profile's (or the submitted one) if it belongs to
        the profile's strategy, else the default."""
        mine = not self.strategies or form["provision_type"] in self.strategies
        if self.alias in COLUMNS:
            return form[COLUMNS[self.alias]] if mine else self.default
        value = form["config"].get(self.alias, self.default) if mine else self.default
        return json.dumps(value, indent=1) if isinstance(value, dict | list) else value


@dataclass
class SettingGroup:
    legend: str
    fields: list[SettingField]
    strategies: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)


def _defining_model(model: type[ProfileSettings], name: str) -> type[ProfileSettings]:
    """The class that declares field ``name`` (a shared base's fields are drawn once)."""
    for klass in model.__mro__:
        if name in klass.__dict__.get("__annotations__", {}):
            return klass
    return model


def _legend(model: type[ProfileSettings]) -> str:
    return str(model.model_config.get("title") or (model.__doc__ or model.__name__).strip().splitlines()[0])


class ProfileSettingsForm:
    """All settings the hub's enabled plugins declare, as form groups."""

    def __init__(self, hub):
        self.strategy_groups: list[SettingGroup] = []
        self.plugin_groups: list[SettingGroup] = []
        by_model: dict[type, SettingGroup] = {}
        self.by_strategy: dict[str, list[SettingField]] = {}
        for strategy in hub.provision_strategies:
            model = getattr(strategy, "config_model", None)
            fields = self.by_strategy.setdefault(strategy.name, [])
            if model is None:
                continue
            for name, info in model.model_fields.items():
                owner = _defining_model(model, name)
                group = by_model.get(owner)
                if group is None:
                    group = by_model[owner] = SettingGroup(_legend(owner), [])
                    self.strategy_groups.append(group)
                alias = info.alias or name
                setting = next((f for f in group.fields if f.alias == alias), None)
                if setting is None:
                    setting = SettingField.of(alias, info)
                    group.fields.append(setting)
                setting.strategies.append(strategy.name)
                if strategy.name not in group.strategies:
                    group.strategies.append(strategy.name)
                fields.append(setting)
        models: list[type[ProfileSettings]] = [ProvisionPolicySettings]  # the core's, for every strategy
        hub.pm.hook.register_profile_settings(hub=hub, register=models.append)
        for model in models:
            self.plugin_groups.append(SettingGroup(
                _legend(model),
                [SettingField.of(info.alias or name, info) for name, info in model.model_fields.items()],
                labels=dict(model.credential_labels)))

    def config_keys(self) -> set[str]:
        """Every provisionConfiguration member this form edits; others (set over the API) are kept."""
        groups = [*self.strategy_groups, *self.plugin_groups]
        return {f.alias for g in groups for f in g.fields if f.alias not in COLUMNS}

    def read(self, data, provision_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the profile's key/secret columns, its provisionConfiguration) from a posted form.
        A checkbox that is off and off by default is left out: absent means off."""
        columns: dict[str, Any] = {}
        config: dict[str, Any] = {}
        plugin_fields = [f for g in self.plugin_groups for f in g.fields]
        for setting in [*self.by_strategy.get(provision_type, []), *plugin_fields]:
            value = setting.read(data)
            if setting.alias in COLUMNS:
                columns[COLUMNS[setting.alias]] = value or None
            elif setting.kind == "checkbox":
                if value or setting.default:
                    config[setting.alias] = value
            else:
                config[setting.alias] = value or setting.default
        return columns, config

    def labels(self, profile) -> dict[str, str]:
        """Key/secret labels a plugin asks for while its switch is on (its first checkbox)."""
        config = (profile.provision_config or {}) if profile is not None else {}
        for group in self.plugin_groups:
            switch = next((f for f in group.fields if f.kind == "checkbox"), None)
            if group.labels and switch is not None and config.get(switch.alias) is True:
                return group.labels
        return {}
