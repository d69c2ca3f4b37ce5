"""Bulk import in three steps: upload a CSV, check the preview and the column mapping
(guessed from the header, editable), then watch it run and read the per-line report.
The import itself is :class:`gridlinks.core.services.bulk_import.BulkImporter` (one transaction
per line); it runs as a hub task so a closed browser tab does not stop it, and the page
polls its progress."""

from __future__ import annotations

import csv
import io
import secrets
import uuid
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from aiohttp import web

from gridlinks.core.errors import BadRequest, HubError, NotFound
from gridlinks.core.services.bulk_import import COLUMN_TYPES, ImportResult, Mapping
from gridlinks.core.storage.models import DeviceProfile, Tenant, now_ms
from gridlinks.web.dashboard.render import checkbox, field, form, redirect, render, state, url
from gridlinks.web.dashboard.state import WHO

PREVIEW_ROWS = 5
KEEP_JOBS = 20
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


@dataclass
class ImportJob:
    id: str
    tenant_id: uuid.UUID
    filename: str
    text: str
    delimiter: str
    header: bool
    created_ms: int = dc_field(default_factory=now_ms)
    state: str = "preview"            # preview -> running -> done | failed
    done: int = 0
    total: int = 0
    result: ImportResult | None = None
    error: str | None = None

    def rows(self, limit: int | None = None) -> list[list[str]]:
        reader = csv.reader(io.StringIO(self.text), delimiter=self.delimiter)
        out = []
        for row in reader:
            out.append(row)
            if limit is not None and len(out) >= limit:
                break
        return out

    def status(self) -> dict[str, Any]:
        return {"state": self.state, "done": self.done, "total": self.total, "error": self.error,
                "result": self.result.to_json() if self.result else None}


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


def _job(request: web.Request) -> ImportJob:
    job = state(request).imports.get(request.match_info["job"])
    if job is None or job.tenant_id != request[WHO].tenant_id:
        raise NotFound("This import is not known (imports are kept while the hub runs).")
    return job


async def import_start_page(request: web.Request) -> web.Response:
    who = request[WHO]
    profiles = await DeviceProfile.filter(tenant_id=who.tenant_id).order_by("name")
    if request.method == "GET":
        return render(request, "import.html", profiles=profiles, error=None)
    data = await form(request)
    upload = data.get("file")
    try:
        text = _decode(upload)
        delimiter = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}.get(field(data, "delimiter"), ",")
    except BadRequest as exc:
        return render(request, "import.html", status=400, profiles=profiles, error=str(exc))
    st = state(request)
    job = ImportJob(secrets.token_urlsafe(12), who.tenant_id, getattr(upload, "filename", "") or "upload.csv", text,
                    delimiter, checkbox(data, "header"))
    st.imports[job.id] = job
    for old in sorted(st.imports.values(), key=lambda j: j.created_ms)[:-KEEP_JOBS]:
        if old.state != "running":
            st.imports.pop(old.id, None)
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
    job = _job(request)
    preview = job.rows(PREVIEW_ROWS + (1 if job.header else 0))
    width = max((len(r) for r in preview), default=0)
    titles = preview[0] if job.header and preview else [f"Column {i + 1}" for i in range(width)]
    body = preview[1:] if job.header else preview
    columns = [guess_column(t) if job.header else (("NAME", "") if i == 0 else ("SKIP", ""))
               for i, t in enumerate(titles)]
    profiles = await DeviceProfile.filter(tenant_id=job.tenant_id).order_by("name")
    return render(request, "import_job.html", job=job, titles=titles, body=body, columns=columns,
                  choices=COLUMN_CHOICES, keyed=KEYED, profiles=profiles, line_count=_line_count(job))


def _line_count(job: ImportJob) -> int:
    return max(len([r for r in job.rows() if any(c.strip() for c in r)]) - (1 if job.header else 0), 0)


async def import_run(request: web.Request) -> web.Response:
    job = _job(request)
    if job.state != "preview":
        raise redirect(url(request, "import_job", job=job.id))
    data = await form(request)
    hub = state(request).hub
    columns, keep = [], []
    for i in range(int(field(data, "width") or 0)):
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
    job.state = "running"
    job.total = _line_count(job)

    def progress(done: int, total: int) -> None:
        job.done, job.total = done, total

    async def run() -> None:
        try:
            job.result = await hub.bulk_import.run(tenant, text, mapping, profile, on_progress=progress)
            job.state = "done"
        except Exception as exc:  # the report shows it; the hub keeps running
            job.state, job.error = "failed", str(exc) or type(exc).__name__
    hub.create_task(run(), name=f"dashboard-import-{job.id}")
    raise redirect(url(request, "import_job", job=job.id))


def _keep_columns(job: ImportJob, keep: list[int]) -> str:
    """The CSV without the columns marked "skip", so the mapping lines up with the cells."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=job.delimiter, lineterminator="\n")
    for row in job.rows():
        writer.writerow([row[i] if i < len(row) else "" for i in keep])
    return out.getvalue()


async def import_status(request: web.Request) -> web.Response:
    return web.json_response(_job(request).status(), headers={"Cache-Control": "no-store"})
