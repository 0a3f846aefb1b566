#!/usr/bin/env bash
# Installs the external tools the test suite drives: Debian's Mosquitto broker and clients
# (the reference implementation), the Debian packaging and checking tools, paho-mqtt (the
# Python client users have), Node's `mqtt` package (into tests/node/node_modules, from
# tests/node/package-lock.json) and headless Chromium with its WebDriver (the dashboard tests).
# Safe to run repeatedly; installs only what is missing. Loopback-only tests use them.
set -euo pipefail

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
# tests/package.rs: build the .deb (dpkg-dev for dpkg-shlibdeps, binutils for strip), check it
# (lintian, systemd-analyze from systemd, man from man-db) and install it (adduser).
command -v dpkg-shlibdeps >/dev/null 2>&1 || need_apt+=(dpkg-dev)
command -v strip >/dev/null 2>&1 || need_apt+=(binutils)
command -v lintian >/dev/null 2>&1 || need_apt+=(lintian)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v man >/dev/null 2>&1 || need_apt+=(man-db)
command -v adduser >/dev/null 2>&1 || need_apt+=(adduser)
# The broker's /metrics text is checked with Prometheus's own parser (`promtool check metrics`).
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
# tests/dashboard.rs: the dashboard in headless Chromium, driven through chromedriver.
[ -x /usr/lib/chromium/chromium ] || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "install-test-deps: missing ${need_apt[*]}; run: sudo apt-get install ${need_apt[*]}" >&2
  fi
fi
# culex started as root switches to the account `culex` (as Mosquitto does to `mosquitto`):
# the e2e tests run as root on CI, so the account must exist, as the package creates it.
if [ "$(id -u)" = 0 ] && ! getent passwd culex >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/culex --no-create-home \
    --shell /usr/sbin/nologin culex
fi
# The Debian package enables a system broker on port 1883; tests use their own ports, but a
# stray system broker is stopped so that nothing answers on the default port by surprise.
if command -v systemctl >/dev/null 2>&1; then systemctl stop mosquitto >/dev/null 2>&1 || true; fi
# Only the packaged daemon (by its pid file): other mosquitto processes may be tests' own.
if [ -f /run/mosquitto/mosquitto.pid ]; then
  kill "$(cat /run/mosquitto/mosquitto.pid)" >/dev/null 2>&1 || true
fi

if ! python3 -c 'import paho.mqtt' >/dev/null 2>&1; then
  python3 -m pip install --quiet paho-mqtt
fi

# Node's mqtt package for tests/broker_node.rs; `npm ci` installs exactly the locked versions.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -d "$repo_root/tests/node/node_modules/mqtt" ]; then
  (cd "$repo_root/tests/node" && npm ci --no-audit --no-fund --loglevel=error)
fi
