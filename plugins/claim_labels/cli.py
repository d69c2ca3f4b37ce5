"""``gridlinks claim-labels``: print a batch of signed QR claim labels
(``--profile P --devices FILE.csv --out labels.pdf [--codes-out codes.csv]
[--valid-until DATE] [--url https://hub.example]``), ``revoke --batch ID``, ``list``, ``key``."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime
import io
import os
from pathlib import Path
from urllib.parse import quote

from rich.console import Console

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.plugins.claim_labels.service import SERVICE, device_names

ACTOR = "cli"
DEFAULT_DAYS = 365
out = Console()


def _say(text: str) -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def valid_until_ms(text: str | None) -> int:
    """A date (valid through the end of that day, UTC) or an ISO date-time; default a year."""
    now = datetime.datetime.now(datetime.UTC)
    if not text:
        return int((now + datetime.timedelta(days=DEFAULT_DAYS)).timestamp() * 1000)
    try:
        if len(text.strip()) == 10:
            day = datetime.date.fromisoformat(text.strip())
            moment = datetime.datetime.combine(day, datetime.time(23, 59, 59), datetime.UTC)
        else:
            moment = datetime.datetime.fromisoformat(text.strip())
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
    except ValueError:
        raise BadRequest(f"--valid-until {text!r} is not a date (YYYY-MM-DD) or ISO date-time") from None
    return int(moment.timestamp() * 1000)


def qr_text(url: str | None, name: str, code: str) -> str:
    """The bare code, or with ``--url`` a link to the hub's claim page that fills the form
    (``/ui/claim#device=...&secret=...``), so a phone camera opens it directly."""
    if not url:
        return code
    return f"{url.rstrip('/')}/ui/claim#device={quote(name, safe='')}&secret={code}"


def _dashboard_url(hub) -> str | None:
    """``dashboard.public_url`` (how phones reach the hub), if the dashboard runs."""
    if "dashboard" not in hub.settings.plugins:
        return None
    from gridlinks.web.dashboard.settings import DashboardSettings

    return hub.config.section("dashboard", DashboardSettings).public_url


def _write_private(path: str, data: bytes) -> None:
    """Labels and code lists are secrets until used: mode 0600, replaced atomically."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, target)


def _read_names(path: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequest(f"cannot read {path}: {exc}") from None
    return device_names(list(csv.reader(io.StringIO(text))))


async def cmd_make(hub, args) -> int:
    missing = [flag for flag, value in (("--profile", args.profile), ("--devices", args.devices),
                                        ("--out", args.out)) if not value]
    if missing:
        raise BadRequest(f"claim-labels needs {', '.join(missing)}")
    tenant = await default_tenant(hub)
    profile = await hub.profiles.by_name(tenant, args.profile)
    until = valid_until_ms(args.valid_until)
    names = _read_names(args.devices)
    batch, codes = await hub.services[SERVICE].issue(profile, names, until, ACTOR)
    until_text = datetime.datetime.fromtimestamp(until / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    url = args.url if args.url is not None else _dashboard_url(hub)
    printed = [(name, qr_text(url, name, code)) for name, code in codes]
    # fpdf2 (and its font tables) is imported only here: every other `gridlinks` command
    # starts ~0.4 s sooner.
    from gridlinks.plugins.claim_labels.pdf import labels_pdf

    pdf = await asyncio.get_running_loop().run_in_executor(None, labels_pdf, printed, until_text, batch.id,
                                                           profile.name)
    _write_private(args.out, pdf)
    if args.codes_out:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["name", "code"])
        writer.writerows(codes)
        _write_private(args.codes_out, buffer.getvalue().encode("utf-8"))
    _say(f"batch:       {batch.id}")
    _say(f"labels:      {len(codes)} -> {args.out}" + (f" (codes: {args.codes_out})" if args.codes_out else ""))
    _say(f"valid until: {until_text}")
    return 0


async def cmd_revoke(hub, args) -> int:
    if not args.batch:
        raise BadRequest("claim-labels revoke needs --batch ID")
    batch = await hub.services[SERVICE].revoke((await default_tenant(hub)).id, args.batch, ACTOR)
    _say(f"batch {batch.id} revoked: its unused codes are refused")
    return 0


async def cmd_list(hub, args) -> int:
    for batch, used in await hub.services[SERVICE].batches((await default_tenant(hub)).id):
        until = datetime.datetime.fromtimestamp(batch.valid_until_ms / 1000, datetime.UTC).date()
        state = "revoked" if batch.revoked_ms else "active"
        _say(f"{batch.id}  {batch.profile_name}  {batch.count} labels, {used} used, valid until {until}, {state}")
    return 0


async def cmd_key(hub, args) -> int:
    _say((await hub.services[SERVICE].public_key_pem()).rstrip())
    return 0


ACTIONS = {"make": cmd_make, "revoke": cmd_revoke, "list": cmd_list, "key": cmd_key}


async def run(hub, args) -> int:
    return await ACTIONS[args.labels_action](hub, args)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("labels_action", nargs="?", default="make", choices=list(ACTIONS),
                   help="make (default): print labels; revoke --batch ID; list batches; key: the public key")
    p.add_argument("--profile", help="the device profile the devices will provision with")
    p.add_argument("--devices", help="CSV file: device names in the first column (header 'name' optional)")
    p.add_argument("--out", help="the labels PDF to write")
    p.add_argument("--codes-out", help="also write name,code rows to this CSV")
    p.add_argument("--valid-until", help="YYYY-MM-DD (through the end of that day, UTC); default a year from now")
    p.add_argument("--url", help="the hub's dashboard address: the QR code then opens its claim page, filled in "
                                 "(default: dashboard.public_url; --url '' for bare codes)")
    p.add_argument("--batch", help="revoke: the batch id printed when the labels were made")


def register(register) -> None:
    register("claim-labels", run, configure=configure,
             help="signed QR claim labels, printed before the devices connect (docs/claim-labels.md)")
