#!/usr/bin/env bash
# Make sure a Chromium exists for the browser checks (CI only: `make test` calls this when CI is set).
# Uses Debian's chromium package: downloading Playwright's own browser build is not possible everywhere.
set -euo pipefail
# Ask the kit first: kit/services/browser.py is the one place that knows where a browser may be.
PY="${PYTHON_BIN:-.venv/bin/python}"
if [ -x "$PY" ] && "$PY" -c 'import sys; from kit.services.browser import why_unavailable; sys.exit(1 if why_unavailable() else 0)' 2>/dev/null; then
  echo "browser: found by kit.services.browser"; exit 0
fi
for candidate in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$candidate" >/dev/null 2>&1; then
    echo "browser: $(command -v "$candidate")"; exit 0
  fi
done
if ls "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium*/ >/dev/null 2>&1; then
  echo "browser: Playwright's Chromium"; exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "No Chromium found and no root to install one: apt-get install chromium, or run 'playwright install chromium'." >&2
    exit 1
  fi
fi
echo "Installing Debian's chromium ..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
echo "browser: $(command -v chromium)"
