#!/bin/sh
# Debian's chromium for the dashboard's browser tests (Playwright drives /usr/bin/chromium).
# Idempotent: nothing happens when it is already installed.
set -eu
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
else
  SUDO="sudo"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
