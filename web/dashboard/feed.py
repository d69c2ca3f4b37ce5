"""The live event feed: server-sent events from the hub's event bus.

One bus listener per open page, filtered to the viewer's tenant, unsubscribed when the
browser goes away (a write fails or the transport is closed) or the hub stops. The
queue is bounded: a viewer that cannot keep up loses the oldest events, the hub never
waits for a browser. Only a fixed set of fields is sent, never whole event data.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gridlinks.core.events import Event
from gridlinks.web.dashboard.render import state
from gridlinks.web.dashboard.state import WHO

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
KEEPALIVE_S = 15.0
CHECK_S = 0.5
_FIELDS = ("outcome", "device_name", "device_id", "transport", "reason", "actor", "profile", "credentials_type")
_QUIET = {"telemetry_saved", "attributes_updated", "hub_started"}


def feed_item(kind: str, ts: int, data: Mapping[str, Any]) -> dict[str, Any]:
    """What the page shows of one event (or audit row): its name, time and a few fields."""
    item: dict[str, Any] = {"type": kind, "ts": ts}
    for key in _FIELDS:
        value = data.get(key)
        if value is not None:
            item[key] = str(value)
    return item


def _put(queue: asyncio.Queue, item: dict[str, Any]) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


async def events(request: web.Request) -> web.StreamResponse:
    st = state(request)
    tenant = str(request[WHO].tenant_id)
    queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)

    def on_event(event: Event) -> None:
        if event.name not in _QUIET and str(getattr(event, "tenant_id", None)) == tenant:
            _put(queue, feed_item(event.name, event.time_ms, event.data()))

    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    unsubscribe = st.hub.bus.listen(Event, on_event, blocking=False)
    stopping = asyncio.ensure_future(st.stopping.wait())
    loop = asyncio.get_running_loop()
    try:
        await response.write(b"retry: 3000\n: connected\n\n")
        last_write = loop.time()
        # Wake at least every CHECK_S: a closed connection is noticed within that even
        # when no event comes (aiohttp does not cancel handlers when the client leaves).
        while not st.stopping.is_set():
            if request.transport is None or request.transport.is_closing():
                break
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, stopping}, timeout=CHECK_S, return_when=asyncio.FIRST_COMPLETED)
            if getter.done() or not getter.cancel():  # cancel() fails only if it got an item after all
                payload = json.dumps(getter.result(), separators=(",", ":"))
                await response.write(f"event: hub\ndata: {payload}\n\n".encode())
                last_write = loop.time()
                continue
            if loop.time() - last_write >= KEEPALIVE_S:
                await response.write(b": keep-alive\n\n")
                last_write = loop.time()
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        unsubscribe()
        stopping.cancel()
    return response
