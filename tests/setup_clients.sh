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
# tb-rest-client: logs in as a customer user and claims / re-claims (tests/test_claim_clients.py).
TBREST="tb-rest-client==4.4"
make_venv .venv-tbrest "$TBREST" $TBREST
