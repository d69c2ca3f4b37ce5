"""Dashboard bulk-import jobs are rows of the database: hostile job ids in the URL,
file names and file contents answer 4xx or a redirect, never 5xx, on PostgreSQL (which
refuses NUL characters that SQLite stores) where it answers, else on SQLite."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import quote

import aiohttp

from tests.browser.support import DashboardClient
from tests.conftest import PG_DSN, _pg_admin
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD, hub_config, start_hub, stop_hub


async def _database() -> str | None:
    try:
        conn = await _pg_admin()
    except Exception:
        return None  # no PostgreSQL here: SQLite still checks the SQLite path
    name = f"gridlinks_test_{uuid.uuid4().hex[:12]}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return f"{PG_DSN.rsplit('/', 1)[0]}/{name}"


async def _drop(db_url: str | None) -> None:
    if db_url:
        conn = await _pg_admin()
        await conn.execute(f'DROP DATABASE IF EXISTS "{db_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        await conn.close()


def test_import_pages_never_answer_5xx(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    loop = asyncio.new_event_loop()
    db_url = loop.run_until_complete(_database())
    running = loop.run_until_complete(start_hub(hub_config(tmp_path / "data", db_url=db_url)))
    async def signed_in() -> DashboardClient:  # aiohttp's session wants a running loop
        client = DashboardClient(running.base_url)
        assert await client.login(ADMIN_EMAIL, ADMIN_PASSWORD) == 200
        return client
    client = loop.run_until_complete(signed_in())

    async def uploaded() -> str:
        form = aiohttp.FormData()
        form.add_field("file", b"name\nfuzz-1\n", filename="fuzz.csv", content_type="text/csv")
        status, _, response = await client.post("/ui/import", form)
        assert status == 303
        return response.headers["Location"]
    real = loop.run_until_complete(uploaded())  # a job in preview: hostile mappings must not start or break it
    statuses: set[int] = set()

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(job=st.text(max_size=60), filename=st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=60),
           content=st.one_of(st.binary(max_size=200), st.just(b"name\nnul\x00here\n")),
           width=st.one_of(st.just("²"), st.text(max_size=5)))  # "²".isdigit() but int() refuses it
    def probe(job, filename, content, width):
        async def go():
            path = f"/ui/import/{quote(job, safe='')}"
            form = aiohttp.FormData()
            form.add_field("file", content, filename=filename or "x.csv", content_type="text/csv")
            form.add_field("delimiter", "comma")
            answers = [(await client.get(path))[0], (await client.get(path + "/status"))[0],
                       (await client.post(path + "/run", {"width": width, "type_0": "NAME"}))[0],
                       (await client.post(real + "/run", {"width": width, "type_0": job, "type_1": "NAME"}))[0],
                       (await client.post("/ui/import", form))[0]]
            return answers

        got = loop.run_until_complete(asyncio.wait_for(go(), 30))
        statuses.update(got)
        assert all(status < 500 for status in got), got

    try:
        probe()
    finally:
        loop.run_until_complete(client.close())
        loop.run_until_complete(stop_hub(running))
        loop.run_until_complete(_drop(db_url))
        loop.close()
    assert statuses <= {200, 303, 400, 403, 404, 405}, statuses  # 405: a path that names another route


async def test_a_job_whose_node_stopped_reads_as_failed(running):
    """A job left running by a node that died (no progress for STALE_MS) reads as failed,
    and a job is started once: the second claim (another node, a double click) loses."""
    from gridlinks.core.services.bootstrap import default_tenant
    from gridlinks.core.services.bulk_import import ImportJobs
    from gridlinks.core.storage.models import BulkImportJob, now_ms

    jobs = running.hub.bulk_import.jobs
    tenant = await default_tenant(running.hub)
    job = await jobs.create(tenant.id, "dead.csv", "name\na\nb\n", ",", True, actor="someone@test")
    assert job.lines == 2 and ImportJobs.status(job)["state"] == "preview"
    assert await jobs.claim(job) is True
    assert await jobs.claim(job) is False
    job = await jobs.get(tenant.id, job.id)
    assert ImportJobs.status(job)["state"] == "running"
    await BulkImportJob.filter(id=job.id).update(updated_ms=now_ms() - ImportJobs.STALE_MS - 1)
    report = ImportJobs.status(await jobs.get(tenant.id, job.id))
    assert report["state"] == "failed" and "stopped before it ended" in report["error"]
    assert await jobs.get(tenant.id, "no such job") is None
    for i in range(ImportJobs.KEEP + 2):  # the oldest finished ones make room; a running one stays
        await jobs.create(tenant.id, f"f{i}.csv", "name\nx\n", ",", True)
    kept = await BulkImportJob.filter(tenant_id=tenant.id).values_list("filename", flat=True)
    assert len(kept) == ImportJobs.KEEP + 1 and "dead.csv" in kept and "f0.csv" not in kept
