#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium (playwright-core drives it; it never
# downloads a browser of its own). Installs it with apt-get when missing, saying so.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present) at /usr/bin/chromium"
  exit 0
fi
echo "chromium: /usr/bin/chromium is missing; running: apt-get update && apt-get install -y chromium"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
echo "chromium: installed $(/usr/bin/chromium --version 2>/dev/null || true)"
