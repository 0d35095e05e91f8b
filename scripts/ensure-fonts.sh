#!/usr/bin/env bash
# Make sure a Bengali-capable font exists, so Bengali plot labels and pages render (CI only:
# `make test` calls this when CI is set; tests/test_bengali.py fails on missing glyphs).
# Uses Debian's fonts-noto-core (Noto Sans Bengali among others).
set -euo pipefail
if command -v fc-list >/dev/null 2>&1 && fc-list :lang=bn family | grep -q .; then
  echo "Bengali font: $(fc-list :lang=bn family | head -n 1)"; exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "No Bengali font found and no root to install one: apt-get install fonts-noto-core." >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "No Bengali font found and no apt-get: install a Bengali font (Noto Sans Bengali) by hand." >&2
  exit 1
fi
echo "Installing Debian's fonts-noto-core ..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq fonts-noto-core >/dev/null
echo "Bengali font: $(fc-list :lang=bn family 2>/dev/null | head -n 1)"
