#!/usr/bin/env bash
# Installs culex from this checkout without Debian packaging: builds with cargo, then installs
# the binaries under /usr/local, the man pages, culex.service in /etc/systemd/system, the
# account culex, /etc/culex (culex.conf and conf.d, never overwriting an existing file) and
# /var/lib/culex. Running it again changes nothing that is already in place.
#
#   sudo scripts/install.sh [--profile <cargo profile>]   install (default profile: release)
#   sudo scripts/install.sh --uninstall                   remove what it installed
#
# --uninstall keeps the account culex, /var/lib/culex when it holds data, and the files you
# added to /etc/culex (a password file, conf.d/*.conf); culex.conf goes only if unchanged.
# docs/service.md describes the files and the service.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
packaging="$repo/packaging"
prefix=/usr/local
unit=/etc/systemd/system/culex.service
man_pages=(culex.8 culex.conf.5 culex_pub.1 culex_sub.1 culex_rr.1 culex_passwd.1)
tools=(culex_pub culex_sub culex_rr culex_passwd)

profile=release
action=install
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --uninstall) action=uninstall; shift ;;
    *) echo "install.sh: unknown argument $1 (use --profile P or --uninstall)" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo)" >&2
  exit 1
fi

daemon_reload() {
  if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
}

man_path() { # culex.conf.5 -> /usr/local/share/man/man5/culex.conf.5
  echo "$prefix/share/man/man${1##*.}/$1"
}

uninstall() {
  if [ -d /run/systemd/system ]; then systemctl disable --now culex.service >/dev/null 2>&1 || true; fi
  rm -f "$unit" "$prefix/sbin/culex"
  for tool in "${tools[@]}"; do rm -f "$prefix/bin/$tool"; done
  for page in "${man_pages[@]}"; do rm -f "$(man_path "$page")"; done
  if cmp -s "$packaging/culex.conf" /etc/culex/culex.conf; then rm -f /etc/culex/culex.conf; fi
  if cmp -s "$packaging/conf.d/README" /etc/culex/conf.d/README; then rm -f /etc/culex/conf.d/README; fi
  rmdir /etc/culex/conf.d /etc/culex /var/lib/culex 2>/dev/null || true
  daemon_reload
}

install_files() {
  local profile_dir="$profile"
  [ "$profile" = dev ] && profile_dir=debug
  (cd "$repo" && cargo build --locked --workspace --bins --profile "$profile")
  local built="$repo/target/$profile_dir"
  install -D -m 0755 "$built/culex" "$prefix/sbin/culex"
  for tool in "${tools[@]}"; do install -D -m 0755 "$built/$tool" "$prefix/bin/$tool"; done
  for page in "${man_pages[@]}"; do install -D -m 0644 "$packaging/man/$page" "$(man_path "$page")"; done
  if ! getent passwd culex >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/culex --no-create-home \
      --shell /usr/sbin/nologin culex
  fi
  install -d -o culex -g culex -m 0750 /var/lib/culex
  # Set-group-ID, as the package makes it: culex_passwd's new files here are root:culex 0640.
  install -d -o root -g culex -m 2755 /etc/culex /etc/culex/conf.d
  [ -e /etc/culex/culex.conf ] || install -m 0644 "$packaging/culex.conf" /etc/culex/culex.conf
  [ -e /etc/culex/conf.d/README ] || install -m 0644 "$packaging/conf.d/README" /etc/culex/conf.d/README
  sed "s|/usr/sbin/culex|$prefix/sbin/culex|" "$packaging/culex.service" > "$unit.new"
  chmod 0644 "$unit.new"
  mv "$unit.new" "$unit"
  daemon_reload
  if [ -d /run/systemd/system ]; then systemctl enable --now culex.service; fi
}

case "$action" in
  install) install_files ;;
  uninstall) uninstall ;;
esac
