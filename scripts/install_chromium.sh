#!/usr/bin/env bash
# Installs Chromium and its WebDriver (Debian packages `chromium`, `chromium-driver`) when they are missing and
# apt-get can run; static figure export (kaleido) and the browser tests need them. Exit 0 when both are there.
set -euo pipefail

have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }

if have; then
  echo "chromium and chromedriver present: $(command -v chromium), $(command -v chromedriver)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "no apt-get here: install Chromium and chromedriver with your package manager, or point BROWSER_PATH" \
       "at a Chromium/Chrome binary (export only needs that)" >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"  # non-interactive: never hang CI on a password prompt
else
  echo "need root to run: apt-get update && apt-get install -y chromium chromium-driver" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
have && echo "installed chromium and chromedriver"
