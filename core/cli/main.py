"""The ``gridlinks`` command. Every subcommand works on the same data directory and
config as the running hub; errors are one line on stderr and a non-zero exit.

The config (``--config``/``--data-dir`` are read first) says which plugins are enabled;
those are loaded before the parser is built, so the commands they add through the
``register_commands`` hook are part of it, and a disabled plugin's are not.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import io
import logging
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridlinks.core.cli import devices as device_commands
from gridlinks.core.cli import ops as ops_commands
from gridlinks.core.cli import plugins as plugins_command
from gridlinks.core.cli.commands import Command, collect_commands, mount_commands
from gridlinks.core.cli.customers import add_commands as add_customer_commands
from gridlinks.core.cli.profiles import add_commands as add_profile_commands
from gridlinks.core.cli.profiles import add_policy_options, policy_config, print_policy
from gridlinks.core.config import HubConfig
from gridlinks.core.errors import BadRequest, HubError, NotFound
from gridlinks.core.events import acting_as
from gridlinks.core.hub import Hub
from gridlinks.core.logs import configure_logging
from gridlinks.core.plugins import build_plugin_manager
from gridlinks.core.services.bootstrap import bootstrap, default_tenant
from gridlinks.core.services.bulk_import import Mapping
from gridlinks.core.services.profiles import ALLOW_GATEWAYS
from gridlinks.core.storage.models import Authority, DeviceProfile, User

STRATEGIES = {
    "disabled": "DISABLED",
    "allow-create": "ALLOW_CREATE_NEW_DEVICES",
    "check-pre-provisioned": "CHECK_PRE_PROVISIONED_DEVICES",
    "x509-chain": "X509_CERTIFICATE_CHAIN",
}
ROLES = {"tenant-admin": Authority.TENANT_ADMIN, "customer-user": Authority.CUSTOMER_USER}
CSV_HEADERS = {"name": "NAME", "type": "TYPE", "label": "LABEL", "description": "DESCRIPTION",
               "is_gateway": "IS_GATEWAY", "access_token": "ACCESS_TOKEN", "x509": "X509",
               "mqtt_client_id": "MQTT_CLIENT_ID", "mqtt_user_name": "MQTT_USER_NAME", "mqtt_password": "MQTT_PASSWORD"}
CSV_PREFIXES = {"shared:": "SHARED_ATTRIBUTE", "server:": "SERVER_ATTRIBUTE", "ts:": "TIMESERIES"}

# soft_wrap: keys and secrets stay on one line, whatever the terminal width, so they
# can be copied (and parsed) as printed.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def load_config(args: argparse.Namespace) -> HubConfig:
    env = dict(os.environ)
    if getattr(args, "data_dir", None):
        env["GRIDLINKS_DATA_DIR"] = str(args.data_dir)
    return HubConfig.load(getattr(args, "config", None), env)


def mapping_from_header(header: Sequence[str]) -> Mapping:
    """CLI CSV files name their columns in a header row: name, type, label, description,
    is_gateway, access_token, x509, mqtt_client_id, mqtt_user_name, mqtt_password,
    shared:KEY, server:KEY, ts:KEY."""
    columns = []
    for raw in header:
        name = raw.strip()
        lowered = name.lower()
        if lowered in CSV_HEADERS:
            columns.append({"type": CSV_HEADERS[lowered]})
            continue
        for prefix, kind in CSV_PREFIXES.items():
            if lowered.startswith(prefix) and len(name) > len(prefix):
                columns.append({"type": kind, "key": name[len(prefix):]})
                break
        else:
            known = ", ".join(CSV_HEADERS)
            raise BadRequest(f"unknown CSV column {name!r} (known: {known}, shared:KEY, server:KEY, ts:KEY)")
    return Mapping.from_json({"columns": columns, "header": True})


async def cmd_init(hub: Hub, args) -> int:
    result = await bootstrap(hub, args.admin_email, args.admin_password, demo=args.demo)
    print_welcome(result)
    return 0


def print_welcome(result) -> None:
    """What init did. Secrets only as they are created: each is printed exactly once."""
    out.print("[bold]GridLinks Hub[/bold] is set up")
    if result.admin_email is None:
        out.print("  admin:    unchanged (an admin exists; add one with --admin-email)")
    else:
        out.print(f"  login:    {result.admin_email}")
        if result.admin_password:
            out.print(f"  password: {result.admin_password}")
            out.print("            (shown only now: note it; a new one is set with "
                      "init --admin-email E --admin-password P)")
        elif result.created:
            out.print("  password: the one given with --admin-password")
        elif result.password_changed:
            out.print("  password: reset to the one given with --admin-password; its sessions ended")
        else:
            out.print("  password: unchanged")
    profile = result.demo_profile
    if profile is not None:
        out.print(f"  demo profile '{profile.name}' ({profile.provision_type})")
        out.print(f"    provision key:    {profile.provision_key}")
        if result.demo_created:
            out.print(f"    provision secret: {profile.provision_secret}")
        else:
            out.print("    provision secret: (shown when it was created; see its page in the dashboard)")


async def cmd_run(hub: Hub, args) -> int:
    # Starting the hub creates no account and prints no secret: that is `init`'s job.
    if not await User.exists():
        logging.getLogger("gridlinks").warning(
            "no user account exists yet: create the first admin with `gridlinks init --admin-email E` "
            "(see docs/operations.md)")
    await hub.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    logging.getLogger("gridlinks").info("hub ready")
    await stop.wait()
    return 0


async def cmd_profile_create(hub: Hub, args) -> int:
    tenant = await default_tenant(hub)
    config: dict[str, object] = {}
    if getattr(args, "dynamic_registration", False):
        config["dynamicRegistration"] = True
    if getattr(args, "allow_gateways", False):
        config[ALLOW_GATEWAYS] = True
    secret = args.secret
    if getattr(args, "ca_file", None):  # x509-chain: the secret is the CA / intermediate certificate
        try:
            secret = Path(args.ca_file).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadRequest(f"cannot read {args.ca_file}: {exc}") from None
        config["certificateRegExPattern"] = args.cert_regex
        config["allowCreateNewDevicesByX509Certificate"] = args.allow_create_by_cert
    profile = await hub.profiles.create(tenant, args.name, STRATEGIES[args.strategy], args.key, secret,
                                        policy_config(args, config))
    out.print(f"profile {profile.name!r} created ({profile.provision_type})")
    out.print(f"  provision key:    {profile.provision_key}")
    out.print(f"  provision secret: {profile.provision_secret}")
    print_policy(profile)
    return 0


async def cmd_profile_list(hub: Hub, args) -> int:
    # Strategy and key stay whole on one line at any width (they are copied into configs);
    # a long profile name folds instead.
    table = Table("name", "strategy", "provision key", "devices")
    table.columns[0].overflow = "fold"
    for column in table.columns[1:]:
        column.no_wrap = True
    for profile in await DeviceProfile.all().order_by("name"):
        count = await profile.devices.all().count()
        table.add_row(profile.name, profile.provision_type, profile.provision_key or "-", str(count))
    out.print(table)
    return 0


async def cmd_device_add(hub: Hub, args) -> int:
    tenant = await default_tenant(hub)
    profile = await hub.profiles.by_name(tenant, args.profile)
    device = await hub.devices.create(tenant, profile, args.name)
    out.print(f"device {device.name!r} added to profile {profile.name!r} (id {device.id})")
    return 0


async def cmd_device_import(hub: Hub, args) -> int:
    tenant = await default_tenant(hub)
    path = Path(args.file)
    if not path.is_file():
        raise BadRequest(f"{path} does not exist")
    text = path.read_text(encoding="utf-8-sig")
    header = next(csv.reader(io.StringIO(text)), None)
    if not header:
        raise BadRequest(f"{path} is empty")
    mapping = mapping_from_header(header)
    if not args.profile and not any(col["type"] == "TYPE" for col in mapping.columns):
        # Never a silent choice: the tenant's default profile may not provision at all.
        names = ", ".join(p.name for p in await DeviceProfile.filter(tenant=tenant).order_by("name"))
        raise BadRequest(f"{path.name} has no type column: say which profile its devices join with "
                         f"--profile NAME (profiles: {names})")
    profile = await hub.profiles.by_name(tenant, args.profile) if args.profile else None
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=out, transient=False) as progress:
        task = progress.add_task("import", total=None)
        result = await hub.bulk_import.run(tenant, text, mapping, profile,
                                           on_progress=lambda done, total: progress.update(task, completed=done,
                                                                                           total=total),
                                           actor="gridlinks device import", file_name=path.name)
    table = Table("created", "updated", "errors")
    table.add_row(str(result.created), str(result.updated), str(result.errors))
    out.print(table)
    for name, count in sorted(result.profiles.items()):
        out.print(f"{count} device(s) in profile {name!r}")
    for line in result.errors_list[:50]:
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    if len(result.errors_list) > 50:
        err.print(f"... and {len(result.errors_list) - 50} more")
    return 1 if result.errors else 0


async def cmd_user_add(hub: Hub, args) -> int:
    tenant = await default_tenant(hub)
    customer = None
    if args.role == "customer-user":
        if not args.customer:
            raise BadRequest("a customer user needs --customer NAME")
        try:
            customer = await hub.customers.by_title(tenant.id, args.customer)
        except NotFound:
            raise BadRequest(f"no customer titled {args.customer!r}; create it first with "
                             f"`gridlinks customer add --title {shlex.quote(args.customer)}`") from None
    user = await hub.auth.create_user(args.email, args.password, ROLES[args.role], tenant, customer)
    out.print(f"user {user.email} added ({user.authority}{', customer ' + customer.title if customer else ''})")
    return 0


async def cmd_user_revoke_sessions(hub: Hub, args) -> int:
    user = await User.get_or_none(email=args.email.strip().lower())
    if user is None:
        raise BadRequest(f"no user with e-mail {args.email}")
    ended = await hub.auth.revoke_sessions(user, actor=cli_actor())
    out.print(f"{ended} session(s) of {user.email} ended; their tokens no longer work")
    return 0


def common_options() -> argparse.ArgumentParser:
    """``--data-dir`` and ``--config``: every command takes them (argparse parent)."""
    common = argparse.ArgumentParser(prog="gridlinks", add_help=False)
    common.add_argument("--data-dir", help="data directory (default ./data, or GRIDLINKS_DATA_DIR)")
    common.add_argument("--config", help="YAML config file (default GRIDLINKS_CONFIG)")
    return common


def build_parser(commands: Sequence[Command] = ()) -> argparse.ArgumentParser:
    """The core's commands, then ``commands`` (what enabled plugins registered)."""
    parser = argparse.ArgumentParser(prog="gridlinks", description="GridLinks device onboarding hub")
    common = common_options()
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", parents=[common], help="create the database, the tenant and its admin")
    p.add_argument("--admin-email", help="the tenant admin to create (default: one generated admin on first init)")
    p.add_argument("--admin-password", help="its password (default: generated and printed once)")
    p.add_argument("--demo", action="store_true", help="also create a demo profile that provisions devices")
    p.set_defaults(func=cmd_init)
    sub.add_parser("run", parents=[common], help="start the hub").set_defaults(func=cmd_run)

    profile = sub.add_parser("profile", help="device profiles").add_subparsers(dest="action", required=True)
    p = profile.add_parser("create", parents=[common])
    p.add_argument("--name", required=True)
    p.add_argument("--strategy", choices=sorted(STRATEGIES), default="disabled")
    p.add_argument("--key")
    p.add_argument("--secret")
    p.add_argument("--dynamic-registration", action="store_true", help="switch on 'one type, one secret'")
    p.add_argument("--allow-gateways", action="store_true",
                   help='honour "gateway": true in provision requests (off: such devices become plain devices)')
    p.add_argument("--ca-file",
                   help="x509-chain: the CA or intermediate certificate (PEM) devices' certificates chain to")
    p.add_argument("--cert-regex", default="(.*)", help="x509-chain: device name = group 1 of this, searched in the CN")
    p.add_argument("--allow-create-by-cert", action="store_true", help="x509-chain: create unknown devices")
    add_policy_options(p)
    p.set_defaults(func=cmd_profile_create)
    profile.add_parser("list", parents=[common]).set_defaults(func=cmd_profile_list)
    add_profile_commands(profile, common)

    device = sub.add_parser("device", help="devices").add_subparsers(dest="action", required=True)
    p = device.add_parser("add", parents=[common], help="add a pre-provisioned device")
    p.add_argument("--name", required=True)
    p.add_argument("--profile", required=True)
    p.set_defaults(func=cmd_device_add)
    p = device.add_parser("import", parents=[common], help="bulk import devices from CSV")
    p.add_argument("file")
    p.add_argument("--profile", help="profile for lines without a type (required if the file has no type column)")
    p.set_defaults(func=cmd_device_import)

    user = sub.add_parser("user", help="users").add_subparsers(dest="action", required=True)
    p = user.add_parser("add", parents=[common])
    p.add_argument("--email", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--role", choices=sorted(ROLES), required=True)
    p.add_argument("--customer")
    p.set_defaults(func=cmd_user_add)
    p = user.add_parser("revoke-sessions", parents=[common], help="sign a user out everywhere")
    p.add_argument("--email", required=True)
    p.set_defaults(func=cmd_user_revoke_sessions)
    add_customer_commands(sub, common)
    plugins_command.add_command(sub, common)
    ops_commands.add_commands(sub, common)
    mount_commands([*device_commands.COMMANDS, *commands], sub, common)
    return parser


def cli_actor() -> str:
    """Who the audit log names for changes made with the command: ``cli:<os user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a uid without a passwd entry (containers)
        return f"cli:uid {os.getuid()}"


async def _main(config: HubConfig, args) -> int:
    hub = Hub(config)
    try:
        await hub.open()
        # The served hub's tasks act for nobody in particular: only commands name an actor.
        with acting_as(None if args.command == "run" else cli_actor()):
            return await args.func(hub, args)
    finally:
        await hub.stop()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        # Only --config/--data-dir matter here; the full parse comes once plugins have
        # added their commands.
        config = load_config(common_options().parse_known_args(argv)[0])
        pm = build_plugin_manager(config.core.plugins)
        parser = build_parser(collect_commands(pm))
    except HubError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 1
    args = parser.parse_args(argv)
    if args.command == "plugins":
        return args.list_plugins(pm, args, out)
    configure_logging(config.core.log_level, config.core.log_format)
    if args.command != "run":
        logging.getLogger().setLevel(logging.WARNING)
    try:
        if getattr(args, "offline", None) is not None:  # backup, restore, doctor: the hub stays closed
            return args.offline(config, pm, args)
        return asyncio.run(_main(config, args))
    except HubError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
