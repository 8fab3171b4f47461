#!/bin/sh
# The Debian packages the tests drive: chromium (the dashboard's Playwright tests launch
# /usr/bin/chromium) and openssh-client (ssh-keygen and ssh-agent make and check signed
# decisions). Idempotent: nothing is installed when both are already there.
set -eu
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
{ command -v ssh-keygen >/dev/null && command -v ssh-agent >/dev/null; } || missing="$missing openssh-client"
if [ -z "$missing" ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
else
  SUDO="sudo"
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
