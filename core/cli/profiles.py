"""``gridlinks profile update|derive-secret|rotate-secret`` and the provisioning policy
flags of ``profile create|update`` (docs/provisioning.md). Kept beside
:mod:`gridlinks.core.cli.main`, which mounts these."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.core.services.pre_provision import FAIL_CLOSED, FAIL_MODE, FAIL_MODES
from gridlinks.core.services.provision_policy import (
    DERIVED_SECRETS,
    MAX_DEVICES,
    MAX_PER_MINUTE,
    PROVISION_TEMPLATE,
    PROVISION_UNTIL,
    REPROVISION_POLICIES,
    REPROVISION_POLICY,
    SECRET_ROTATION,
    derive_secret,
    parse_duration_ms,
)

out = Console(soft_wrap=True)


def add_policy_options(p: argparse.ArgumentParser) -> None:
    """The policy flags ``profile create`` and ``profile update`` share."""
    p.add_argument("--derived-secrets", action=argparse.BooleanOptionalAction, default=None,
                   help="devices send HMAC-SHA256(profile secret, device name) in base64, never the profile secret")
    p.add_argument("--reprovision-policy", choices=[v.lower() for v in REPROVISION_POLICIES],
                   help="a name that exists: never (FAILURE), rotate (new credentials), reset (and attributes)")
    p.add_argument("--max-devices", metavar="N", help="at most N devices in the profile (0 or '': no limit)")
    p.add_argument("--max-provisions-per-minute", metavar="N", help="at most N provisionings a minute (all nodes)")
    p.add_argument("--provision-until", metavar="ISO-DATE", help="no provisioning after this date (UTC) or epoch ms")
    p.add_argument("--template", metavar="FILE.json",
                   help="label, serverAttributes, sharedAttributes, customer, gateway for provisioned devices")
    p.add_argument("--approval", choices=("auto", "manual"),
                   help="manual: unknown devices wait in the approval inbox (docs/approval.md)")
    p.add_argument("--pre-provision-fail-mode", choices=FAIL_MODES,
                   help="when a pre-provisioning hook fails or times out (default fail-closed)")


def _limit(value: str | None) -> Any:
    return None if value in (None, "", "0") else value


def policy_config(args: argparse.Namespace, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """``config`` with the flags given on the command line applied (checked when saved)."""
    config = dict(config or {})
    if args.derived_secrets is not None:
        config[DERIVED_SECRETS] = args.derived_secrets
    if args.reprovision_policy is not None:
        config[REPROVISION_POLICY] = args.reprovision_policy.upper()
    for flag, key in (("max_devices", MAX_DEVICES), ("max_provisions_per_minute", MAX_PER_MINUTE),
                      ("provision_until", PROVISION_UNTIL)):
        value = getattr(args, flag)
        if value is not None:
            config[key] = _limit(value)
    if args.template is not None:
        if args.template == "":
            config.pop(PROVISION_TEMPLATE, None)
        else:
            try:
                config[PROVISION_TEMPLATE] = json.loads(Path(args.template).read_text())
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise BadRequest(f"cannot read the template {args.template}: {exc}") from None
    # Members read by the approval inbox and the pre-provisioning hook: a default value
    # removes the member.
    for key, value, default in (("approval", args.approval, "auto"),
                                (FAIL_MODE, args.pre_provision_fail_mode, FAIL_CLOSED)):
        if value == default:
            config.pop(key, None)
        elif value:
            config[key] = value
    return config


def print_policy(profile) -> None:
    config = profile.provision_config or {}
    shown = {k: config[k] for k in (DERIVED_SECRETS, REPROVISION_POLICY, MAX_DEVICES, MAX_PER_MINUTE, PROVISION_UNTIL,
                                    PROVISION_TEMPLATE) if k in config}
    if shown:
        out.print(f"  policy: {json.dumps(shown, sort_keys=True)}", markup=False, highlight=False)


async def cmd_profile_update(hub, args) -> int:
    profile = await hub.profiles.by_name(await default_tenant(hub), args.name)
    profile = await hub.profiles.update(profile, name=args.rename, key=args.key, secret=args.secret,
                                        config=policy_config(args, profile.provision_config))
    out.print(f"profile {profile.name!r} updated ({profile.provision_type})")
    print_policy(profile)
    return 0


async def cmd_derive_secret(hub, args) -> int:
    """Print each device's derived secret (one per line; ``NAME<TAB>SECRET`` for several)."""
    profile = await hub.profiles.by_name(await default_tenant(hub), args.name)
    if not profile.provision_secret:
        raise BadRequest(f"profile {profile.name!r} has no secret")
    names = [n.strip() for n in args.device if n.strip()]
    if not names:
        raise BadRequest("--device needs a device name")
    for name in names:
        secret = derive_secret(profile.provision_secret, name)
        print(secret if len(names) == 1 else f"{name}\t{secret}")
    return 0


async def cmd_rotate_secret(hub, args) -> int:
    profile = await hub.profiles.by_name(await default_tenant(hub), args.name)
    expire = parse_duration_ms(args.expire_old_after) if args.expire_old_after else None
    profile = await hub.profiles.rotate_secret(profile, finish=args.finish, expire_after_ms=expire,
                                               new_secret=args.secret, actor="cli")
    rotation = (profile.provision_config or {}).get(SECRET_ROTATION)
    if args.finish:
        out.print(f"profile {profile.name!r}: rotation finished, only the current secret provisions now")
    elif rotation is not None:
        out.print(f"profile {profile.name!r}: the old secret works until "
                  f"{rotation.get('expiresAt') or '--finish'}")
    out.print(f"  provision secret: {profile.provision_secret}")
    return 0


def add_commands(profile: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """``profile update``, ``profile derive-secret``, ``profile rotate-secret``."""
    p = profile.add_parser("update", parents=[common], help="change a profile's key, secret or provisioning policy")
    p.add_argument("--name", required=True)
    p.add_argument("--rename", help="a new name")
    p.add_argument("--key")
    p.add_argument("--secret")
    add_policy_options(p)
    p.set_defaults(func=cmd_profile_update)
    p = profile.add_parser("derive-secret", parents=[common], help="print a device's derived provision secret")
    p.add_argument("--name", required=True, help="the profile")
    p.add_argument("--device", required=True, action="append", help="a device name (repeat for several)")
    p.set_defaults(func=cmd_derive_secret)
    p = profile.add_parser("rotate-secret", parents=[common],
                           help="a new provision secret; the old one works until --finish (or --expire-old-after)")
    p.add_argument("--name", required=True)
    p.add_argument("--secret", help="the new secret (default: 20 random characters)")
    p.add_argument("--finish", action="store_true", help="retire the old secret")
    p.add_argument("--expire-old-after", metavar="7d", help="the old secret stops after this (d, h, m, s)")
    p.set_defaults(func=cmd_rotate_secret)
