#!/usr/bin/env bash
# The system packages the test suite needs, installed where they are missing (Debian's Chromium
# for the browser tests). As root or through passwordless sudo it installs them; otherwise it
# stops at once with one line naming what to install.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

say() { echo "make test: $*" >&2; }
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  say "the browser tests need ${missing[*]}; install it first: sudo apt-get install -y ${missing[*]}"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "the browser tests need Chromium at /usr/bin/chromium; this system has no apt-get to install ${missing[*]}"
  exit 1
fi
say "installing ${missing[*]} (Debian packages) for the browser tests"
log=$(mktemp)
if ! { "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
  say "could not install ${missing[*]} with apt-get ($(tail -n 1 "$log")); install it and run make test again"
  rm -f "$log"
  exit 1
fi
rm -f "$log"
