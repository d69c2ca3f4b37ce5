"""Fixtures shared by the plugins' tests (the CoAP transport's and claiming over CoAP)."""

from __future__ import annotations

import pytest
from aiocoap import Context

from tests.coap_client import CoapClient, coap_port


@pytest.fixture
async def coap(running):
    """An aiocoap client context aimed at the ``running`` hub's CoAP port."""
    context = await Context.create_client_context(transports=["udp6"])
    try:
        yield CoapClient(context, coap_port(running.hub))
    finally:
        await context.shutdown()
