#!/usr/bin/env bash
# Installs the external tools the test suite drives: Debian's Mosquitto broker and clients
# (the reference implementation) and paho-mqtt (the Python client users have).
# Safe to run repeatedly; installs only what is missing. Loopback-only tests use them.
set -euo pipefail

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "install-test-deps: missing ${need_apt[*]}; run: sudo apt-get install ${need_apt[*]}" >&2
  fi
fi
# The Debian package enables a system broker on port 1883; tests use their own ports, but a
# stray system broker is stopped so that nothing answers on the default port by surprise.
if command -v systemctl >/dev/null 2>&1; then systemctl stop mosquitto >/dev/null 2>&1 || true; fi
pkill -x mosquitto >/dev/null 2>&1 || true

if ! python3 -c 'import paho.mqtt' >/dev/null 2>&1; then
  python3 -m pip install --quiet paho-mqtt
fi
