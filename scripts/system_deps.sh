#!/usr/bin/env bash
# The system packages the test suite needs, installed where they are missing: Debian's Chromium
# for the browser tests, PostgreSQL's server for the tests that start a throwaway cluster. As
# root or through passwordless sudo it installs them; otherwise it stops at once with one line
# naming what to install.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

say() { echo "make test: $*" >&2; }
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  say "the tests need ${missing[*]}; install first: sudo apt-get install -y ${missing[*]}"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "the tests need ${missing[*]} (Chromium at /usr/bin/chromium, PostgreSQL's initdb); this system has no apt-get to install them"
  exit 1
fi
say "installing ${missing[*]} (Debian packages) for the tests"
log=$(mktemp)
if ! { "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
  say "could not install ${missing[*]} with apt-get ($(tail -n 1 "$log")); install it and run make test again"
  rm -f "$log"
  exit 1
fi
rm -f "$log"
