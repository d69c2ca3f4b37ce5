"""TBGatewayMqttClient.gw_claim for several devices in one message (its
``claiming_request`` argument), as a gateway's firmware would call it. Reads port,
gateway token, then "device name,secret" lines up to an empty line."""

from tb_gateway_mqtt import TBGatewayMqttClient

port, token = int(input()), input()
requests = []
while line := input().strip():
    name, secret = line.split(",", 1)
    requests.append((name, secret))
gateway = TBGatewayMqttClient("127.0.0.1", port, username=token)
gateway.connect()
claims = {name: {"secretKey": secret, "durationMs": 60000} for name, secret in requests}
info = gateway.gw_claim(requests[0][0], requests[0][1], 60000, claiming_request=claims)
info.wait_for_publish()
print("claim sent for", len(claims), "devices, rc", info.rc, flush=True)
gateway.disconnect()
