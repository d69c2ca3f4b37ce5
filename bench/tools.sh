#!/usr/bin/env bash
# The system tools the benchmarks drive: wrk (HTTP load) always, Mosquitto (the reference
# broker row) with --full. Installed from Debian when missing and running as root (as
# tests/setup_clients.sh does for chromium); otherwise the scenarios that need them are
# recorded as skipped, with the reason, instead of failing the run.
set -uo pipefail
want=(wrk)
[ "${1:-}" = "--full" ] && want+=(mosquitto)
missing=()
for tool in "${want[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; } \
    || echo "could not install ${missing[*]}: the scenarios that need them will be skipped"
else
  echo "${missing[*]} missing and this is not root: the scenarios that need them will be skipped"
fi
exit 0
