#!/usr/bin/env bash
# Separate virtualenvs for the reference clients, which must run unchanged and whose
# dependencies clash with ours (paho-mqtt 1.x for the seed scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
make_venv() {  # name, stamp text, packages...
  local dir=$1 stamp=$2; shift 2
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then return; fi
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip
  "$dir/bin/python" -m pip install -q "$@"
  echo "$stamp" > "$dir/.stamp"
}
SEEDS="paho-mqtt==1.6.1 requests>=2.32 aiocoap==0.4.17 cryptography>=44"
make_venv .venv-seeds "$SEEDS" $SEEDS
# tb-rest-client: logs in as a customer user and claims / re-claims (tests/e2e/test_claim_clients.py).
TBREST="tb-rest-client==4.4"
make_venv .venv-tbrest "$TBREST" $TBREST
# tb-mqtt-client 1.7.1: the newest release whose TBDeviceMqttClient speaks MQTT 3.1.1 (the
# hub's only version before issue 13); 1.8+ speaks MQTT 5. Runs the claiming seed script (seeds/002_...) and
# TBDeviceMqttClient.provision (tests/e2e/test_mqtt_seed_scripts.py). mmh3 up front: without it
# the SDK pip-installs it when imported.
TBMQTT="tb-mqtt-client==1.7.1 mmh3"
make_venv .venv-tbmqtt "$TBMQTT" $TBMQTT
# The newest tb-mqtt-client (what `pip install tb-mqtt-client` gives a user today): its
# TBDeviceMqttClient and TBGatewayMqttClient speak MQTT 5 only (tests/e2e/test_clients_tb.py).
# Pinned exactly so a new release is a deliberate change; it brings its own paho fork
# (tb-paho-mqtt-client), hence a venv of its own; mmh3 up front as above.
TBMQTT_NEW="tb-mqtt-client==1.13.14 mmh3"
make_venv .venv-tbmqtt-new "$TBMQTT_NEW" $TBMQTT_NEW
# Debian packages some tests drive (installed as root when missing; apt-get update runs only
# if the first attempt fails). Without one, the tests that need it skip and say why.
apt_package() {  # command that must exist, package, the tests that need it
  local command=$1 package=$2 tests=$3
  command -v "$command" >/dev/null 2>&1 && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$package" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$package" >/dev/null 2>&1; } \
      || echo "could not install $package: $tests will be skipped"
  else
    echo "$package is missing and this is not root: $tests will be skipped"
  fi
}
# chromium: the dashboard's browser tests (Playwright drives it; `playwright install`
# cannot download browsers here).
apt_package chromium chromium "the dashboard browser tests"
# mosquitto-clients: mosquitto_pub / _sub / _rr, MQTT 3.1.1 and 5
# (tests/plugins/transport_mqtt/test_clients_mosquitto.py).
apt_package mosquitto_pub mosquitto-clients "the mosquitto client tests"
# haproxy: the balancer of docs/scale-out.md (tests/e2e/test_haproxy_two_nodes.py, config/haproxy.cfg).
apt_package haproxy haproxy "the HAProxy test"
