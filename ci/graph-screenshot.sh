#!/usr/bin/env bash
# Renders the topology graph of a scenario in headless Chromium and saves a screenshot, to
# check the page as a browser draws it. Needs Debian's chromium package
# (apt-get install chromium).
#
# usage: bash ci/graph-screenshot.sh [SCENARIO] [PNG]
set -euo pipefail
cd "$(dirname "$0")/.."

scenario=${1:-scenarios/tsb/understanding-mtls.yaml}
png=${2:-docs/graph-walkthrough.png}
html=$(mktemp --suffix=.html)
trap 'rm -f "$html"' EXIT

if ! command -v chromium >/dev/null 2>&1; then
  echo "error: chromium not found; install it (apt-get install chromium) and run again" >&2
  exit 1
fi

cargo run --quiet --release -- graph "$scenario" -o "$html"
# --no-sandbox: the sandbox needs user namespaces, which containers and root shells often lack.
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size=1700,860 --screenshot="$png" "file://$html" 2>/dev/null
echo "wrote $png"
