"""Claim info over CoAP (``POST coap://host/api/v1/{token}/claim``): 2.01 when kept,
4.01 for an unknown token, 4.00 for a bad body, 4.03 when claiming is not allowed."""

from aiocoap import Code, Context

from tests.claim_support import claim, claim_hub, customer_user, new_device, set_server_attributes
from tests.coap_client import CoapClient, coap_port


async def test_claim_info_over_coap(running, coap):
    _, token = await new_device(running, "coap-claim")
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    response = await coap.post(f"/api/v1/{token}/claim", {"secretKey": "c0ap", "durationMs": 60000})
    assert response.code == Code.CREATED and response.payload == b""
    assert (await coap.post("/api/v1/unknown-token/claim", {})).code == Code.UNAUTHORIZED
    assert (await coap.post(f"/api/v1/{token}/claim", b"{oops")).code == Code.BAD_REQUEST
    assert (await coap.post(f"/api/v1/{token}/claim", {"durationMs": "x"})).code == Code.BAD_REQUEST
    status, body = await claim(running, user, "coap-claim", "c0ap")
    assert status == 200 and body["response"] == "SUCCESS"
    # Now owned: the device learns its claim info is refused.
    response = await coap.post(f"/api/v1/{token}/claim", b"")
    assert response.code == Code.BAD_REQUEST and b"already assigned" in response.payload


async def test_claiming_not_allowed_is_4_03(tmp_path):
    async with claim_hub(tmp_path, allow_claiming_by_default=False) as running:
        device_id, token = await new_device(running, "guarded")
        context = await Context.create_client_context(transports=["udp6"])
        try:
            client = CoapClient(context, coap_port(running.hub))
            response = await client.post(f"/api/v1/{token}/claim", b"")
            assert response.code == Code.FORBIDDEN and b"not allowed" in response.payload
            await set_server_attributes(running, device_id, {"claimingAllowed": True})
            assert (await client.post(f"/api/v1/{token}/claim", b"")).code == Code.CREATED
        finally:
            await context.shutdown()
