"""``gridlinks profile show|dynamic-registration`` and ``gridlinks device
set-secret|registration|reset-registration``: dynamic registration ("one type, one
secret") from the command line, added to the core's ``profile`` and ``device`` groups
through the ``register_commands`` hook, so they exist only while the plugin is enabled.

The work is done by the plugin's service, found in ``hub.services`` under the name the
plugin registered it with.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from rich.console import Console

from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.plugins.dynamic_registration.service import SERVICE

ACTOR = "cli"

out = Console()


def service_of(hub):
    return hub.services[SERVICE]


def _print(pairs: list[tuple[str, object]]) -> None:
    width = max(len(label) for label, _ in pairs) + 1
    for label, value in pairs:
        out.print(f"  {label + ':':<{width}} {'-' if value is None else value}", markup=False, highlight=False)


async def cmd_profile_show(hub, args) -> int:
    profile = await hub.profiles.by_name(await default_tenant(hub), args.name)
    product = await service_of(hub).product(profile)
    out.print(f"profile {profile.name!r} ({profile.provision_type})", markup=False, highlight=False)
    _print([("dynamic registration", "on" if product["dynamicRegistration"] else "off"),
            ("ProductSN", product["productSN"]), ("ProductSecret", product["productSecret"]),
            ("whitelisted devices", product["whitelisted"]), ("devices with a secret", product["withSecret"]),
            ("activated", product["activated"])])
    return 0


async def cmd_profile_switch(hub, args) -> int:
    service = service_of(hub)
    profile = await hub.profiles.by_name(await default_tenant(hub), args.name)
    profile = await service.switch(profile, args.on, ACTOR)
    product = await service.product(profile)
    out.print(f"profile {profile.name!r}: dynamic registration {'on' if args.on else 'off'}", markup=False,
              highlight=False)
    _print([("ProductSN", product["productSN"]), ("ProductSecret", product["productSecret"])])
    return 0


async def _device(hub, name: str):
    return await hub.devices.by_name((await default_tenant(hub)).id, name)


async def cmd_device_set_secret(hub, args) -> int:
    service = service_of(hub)
    device = await _device(hub, args.name)
    secret = await service.set_secret(device, args.secret, ACTOR)
    info = await service.device(device)
    out.print(f"device {device.name!r}: static registration (authmode 1)", markup=False, highlight=False)
    _print([("ClientID", info["clientId"]), ("UserName", info["userName"]), ("Password", secret)])
    return 0


async def cmd_device_registration(hub, args) -> int:
    info = await service_of(hub).device(await _device(hub, args.name))
    out.print(f"device {info['deviceSN']!r}", markup=False, highlight=False)
    _print([("state", info["state"]), ("ProductSN", info["productSN"]), ("ClientID", info["clientId"]),
            ("UserName", info["userName"]), ("issued (epoch ms)", info["issuedTime"]),
            ("activated (epoch ms)", info["activatedTime"])])
    return 0


async def cmd_device_reset(hub, args) -> int:
    device = await _device(hub, args.name)
    had = await service_of(hub).reset(device, ACTOR)
    out.print(f"device {device.name!r}: registration reset" if had else
              f"device {device.name!r} had no secret; nothing to reset", markup=False, highlight=False)
    return 0


def _name(help: str | None = None) -> Callable[[argparse.ArgumentParser], None]:
    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("--name", required=True, help=help)
    return configure


def _switch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", required=True)
    switch = p.add_mutually_exclusive_group(required=True)
    switch.add_argument("--on", dest="on", action="store_true")
    switch.add_argument("--off", dest="on", action="store_false")


def _set_secret(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", required=True, help="the device (its DeviceSN)")
    p.add_argument("--secret", help="8 to 255 characters; generated when omitted")


def register(register) -> None:
    """What the plugin's ``register_commands`` hook registers."""
    register("show", cmd_profile_show, group="profile", configure=_name(),
             help="a profile's ProductSN / ProductSecret and switch")
    register("dynamic-registration", cmd_profile_switch, group="profile", configure=_switch,
             help="switch dynamic registration on or off")
    register("set-secret", cmd_device_set_secret, group="device", configure=_set_secret,
             help="static registration: the device logs in with authmode 1 and this secret")
    register("registration", cmd_device_registration, group="device", configure=_name(),
             help="a device's dynamic-registration state")
    register("reset-registration", cmd_device_reset, group="device", configure=_name(),
             help="forget the device's secret so it may register again")
