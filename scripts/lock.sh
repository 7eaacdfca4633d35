#!/usr/bin/env bash
# Resolve the project's dependencies into the locks that `make run` and `make test` install from:
#   requirements/dev.txt  the hub, torch and the test/lint tools (make test)
#   requirements/hub.txt  the hub alone (make run), pinned to the same versions as dev.txt
# Run after changing dependencies in pyproject.toml: `make lock`, then commit both files.
set -euo pipefail
cd "$(dirname "$0")/.."
compile=(.venv/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links
         --no-emit-trusted-host --no-header)
header() {
  printf '# %s\n' "Locked dependencies ($1); refresh with \`make lock\` (scripts/lock.sh)." \
    "Installed by \`make $2\`; the project itself is then installed with --no-deps."
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${compile[@]}" --extra hub --extra torch --extra dev -o "$tmp/dev.txt" pyproject.toml
# pip-compile writes the local version of the CPU build this machine holds (2.13.0+cpu), which
# only its disk and PyTorch's own index carry; `torch==2.13.0` takes that build here and still
# resolves elsewhere.
sed -i -E 's/^torch==2\.13\.0\+cpu$/torch==2.13.0/' "$tmp/dev.txt"
{ header "hub, torch and the tools" test; cat "$tmp/dev.txt"; } > requirements/dev.txt
"${compile[@]}" --extra hub -c requirements/dev.txt -o "$tmp/hub.txt" pyproject.toml
{ header "the hub" run; cat "$tmp/hub.txt"; } > requirements/hub.txt
echo "wrote requirements/dev.txt ($(grep -c '==' requirements/dev.txt) pins) and requirements/hub.txt ($(grep -c '==' requirements/hub.txt) pins)"
