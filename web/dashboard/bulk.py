"""Bulk import in three steps: upload a CSV, check the preview and the column mapping
(guessed from the header, editable), then watch it run and read the per-line report.
The import itself is :class:`gridlinks.core.services.bulk_import.BulkImporter` (one transaction
per line); it runs as a hub task so a closed browser tab does not stop it, and the page
polls its progress. The job (the file, its state, progress and report) is a row of the
database (:class:`gridlinks.core.services.bulk_import.ImportJobs`), so with several hub
nodes any node shows, starts and reports it."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

from gridlinks.core.errors import BadRequest, HubError, NotFound
from gridlinks.core.services.bulk_import import COLUMN_TYPES, ImportJobs, Mapping
from gridlinks.core.storage.models import BulkImportJob, DeviceProfile, Tenant
from gridlinks.web.dashboard.render import checkbox, field, form, redirect, render, state, ts_text, url
from gridlinks.web.dashboard.state import WHO

PREVIEW_ROWS = 5
MAX_COLUMNS = 1000
KEYED = ("SHARED_ATTRIBUTE", "SERVER_ATTRIBUTE", "TIMESERIES")
COLUMN_CHOICES = ["NAME", "TYPE", "LABEL", "DESCRIPTION", "IS_GATEWAY", "ACCESS_TOKEN", "X509", "MQTT_CLIENT_ID",
                  "MQTT_USER_NAME", "MQTT_PASSWORD", *KEYED, "SKIP"]
_HEADER_GUESSES = {"name": "NAME", "devicename": "NAME", "device": "NAME", "type": "TYPE", "profile": "TYPE",
                   "deviceprofile": "TYPE", "label": "LABEL", "description": "DESCRIPTION", "gateway": "IS_GATEWAY",
                   "isgateway": "IS_GATEWAY", "accesstoken": "ACCESS_TOKEN", "token": "ACCESS_TOKEN",
                   "x509": "X509", "certificate": "X509", "clientid": "MQTT_CLIENT_ID",
                   "mqttclientid": "MQTT_CLIENT_ID", "username": "MQTT_USER_NAME", "mqttusername": "MQTT_USER_NAME",
                   "password": "MQTT_PASSWORD", "mqttpassword": "MQTT_PASSWORD"}
_PREFIXES = {"server": "SERVER_ATTRIBUTE", "shared": "SHARED_ATTRIBUTE", "ts": "TIMESERIES",
             "telemetry": "TIMESERIES"}
assert set(COLUMN_CHOICES) - {"SKIP"} <= COLUMN_TYPES


def _rows(job: BulkImportJob, limit: int | None = None) -> list[list[str]]:
    out = []
    for row in csv.reader(io.StringIO(job.csv), delimiter=job.delimiter):
        out.append(row)
        if limit is not None and len(out) >= limit:
            break
    return out


def guess_column(title: str) -> tuple[str, str]:
    """(column type, key) for a header cell, as the CLI's header convention names them."""
    text = title.strip()
    prefix, sep, rest = text.partition(":")
    if sep and prefix.strip().lower() in _PREFIXES and rest.strip():
        return _PREFIXES[prefix.strip().lower()], rest.strip()
    compact = "".join(ch for ch in text.lower() if ch.isalnum())
    if compact in _HEADER_GUESSES:
        return _HEADER_GUESSES[compact], ""
    return ("SERVER_ATTRIBUTE", text) if text else ("SKIP", "")


async def _job(request: web.Request) -> BulkImportJob:
    job = await state(request).hub.bulk_import.jobs.get(request[WHO].tenant_id, request.match_info["job"])
    if job is None:
        raise NotFound("This import is not known (the last 20 imports are kept).")
    return job


async def import_start_page(request: web.Request) -> web.Response:
    who = request[WHO]
    jobs = state(request).hub.bulk_import.jobs
    profiles = await DeviceProfile.filter(tenant_id=who.tenant_id).order_by("name")

    async def page(status: int = 200, error: str | None = None) -> web.Response:
        recent = [(job, ImportJobs.status(job), ts_text(job.created_ms)) for job in await jobs.recent(who.tenant_id)]
        return render(request, "import.html", status=status, profiles=profiles, error=error, recent=recent)
    if request.method == "GET":
        return await page()
    data = await form(request)
    upload = data.get("file")
    try:
        text = _decode(upload)
        delimiter = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}.get(field(data, "delimiter"), ",")
        job = await jobs.create(who.tenant_id, getattr(upload, "filename", "") or "upload.csv", text, delimiter,
                                checkbox(data, "header"), actor=who.email)
    except BadRequest as exc:
        return await page(400, str(exc))
    raise redirect(url(request, "import_job", job=job.id))


def _decode(upload: Any) -> str:
    if upload is None or not hasattr(upload, "file"):
        raise BadRequest("Choose a CSV file to upload.")
    raw = upload.file.read()
    if not raw.strip():
        raise BadRequest("The file is empty.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("The file is not UTF-8 text; save it as CSV (UTF-8) and try again.") from None


async def import_job_page(request: web.Request) -> web.Response:
    job = await _job(request)
    preview = _rows(job, PREVIEW_ROWS + (1 if job.header else 0))
    width = max((len(r) for r in preview), default=0)
    titles = preview[0] if job.header and preview else [f"Column {i + 1}" for i in range(width)]
    body = preview[1:] if job.header else preview
    columns = [guess_column(t) if job.header else (("NAME", "") if i == 0 else ("SKIP", ""))
               for i, t in enumerate(titles)]
    profiles = await DeviceProfile.filter(tenant_id=job.tenant_id).order_by("name")
    return render(request, "import_job.html", job=job, report=ImportJobs.status(job), titles=titles, body=body,
                  columns=columns, choices=COLUMN_CHOICES, keyed=KEYED, profiles=profiles, line_count=job.lines)


async def import_run(request: web.Request) -> web.Response:
    job = await _job(request)
    if job.state != "preview":
        raise redirect(url(request, "import_job", job=job.id))
    data = await form(request)
    hub = state(request).hub
    columns, keep = [], []
    width = field(data, "width")
    for i in range(min(int(width), MAX_COLUMNS) if width.isascii() and width.isdigit() else 0):
        kind, key = field(data, f"type_{i}"), field(data, f"key_{i}")
        if kind == "SKIP":
            continue
        col = {"type": kind}
        if kind in KEYED:
            col["key"] = key
        columns.append(col)
        keep.append(i)
    profile_id = field(data, "profile")
    try:
        mapping = Mapping.from_json({"columns": columns, "delimiter": job.delimiter, "header": job.header,
                                     "update": checkbox(data, "update")})
        profile = await hub.profiles.get(job.tenant_id, profile_id) if profile_id else None
    except HubError as exc:
        raise redirect(url(request, "import_job", job=job.id), str(exc), "error") from None
    text = _keep_columns(job, keep)
    tenant = await Tenant.get(id=job.tenant_id)
    if await hub.bulk_import.jobs.claim(job):   # started once, whichever node is asked twice
        hub.create_task(hub.bulk_import.run_job(job, tenant, text, mapping, profile),
                        name=f"dashboard-import-{job.id}")
    raise redirect(url(request, "import_job", job=job.id))


def _keep_columns(job: BulkImportJob, keep: list[int]) -> str:
    """The CSV without the columns marked "skip", so the mapping lines up with the cells."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=job.delimiter, lineterminator="\n")
    for row in _rows(job):
        writer.writerow([row[i] if i < len(row) else "" for i in keep])
    return out.getvalue()


async def import_status(request: web.Request) -> web.Response:
    return web.json_response(ImportJobs.status(await _job(request)), headers={"Cache-Control": "no-store"})
