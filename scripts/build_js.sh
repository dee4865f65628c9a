#!/usr/bin/env bash
# The JavaScript build: installs the pinned npm packages (package.json, package-lock.json)
# with `npm ci` and copies their distributed files into catalog/static/accord/vendor/,
# from where Django's staticfiles serves them (collectstatic copies them on to STATIC_ROOT).
# Nothing is loaded from a CDN at run time. Called by `make run` (scripts/run.sh) and
# `make test`; runs on its own as `bash scripts/build_js.sh`.
#
# Cached: when node_modules/.package-lock.json equals package-lock.json (npm writes that copy
# after an install) the install is skipped, so a second run needs no network; the files are
# copied again only when they differ.
set -euo pipefail
cd "$(dirname "$0")/.."

VENDOR=catalog/static/accord/vendor
# source in node_modules -> name under $VENDOR
FILES=(
  "node_modules/chart.js/dist/chart.umd.min.js chart.umd.min.js"
  "node_modules/cytoscape/dist/cytoscape.min.js cytoscape.min.js"
  "node_modules/cytoscape-dagre/dist/cytoscape-dagre.min.js cytoscape-dagre.min.js"
)
# The licences travel with the files.
LICENSES=(
  "node_modules/chart.js/LICENSE.md chart.js.LICENSE.md"
  "node_modules/cytoscape/LICENSE cytoscape.LICENSE"
  "node_modules/cytoscape-dagre/LICENSE cytoscape-dagre.LICENSE"
)

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "build_js: Node.js and npm are needed to build the admin's charts and maps" >&2
  echo "  (the libraries are pinned in package-lock.json and installed from the npm registry)." >&2
  echo "  Install Node.js 18 or newer (Debian: apt-get install nodejs npm), then run make again." >&2
  exit 1
fi

if [ -f node_modules/.package-lock.json ] && cmp -s <(node -e '
    const l = require("./package-lock.json"); delete l.packages[""];
    console.log(JSON.stringify(l.packages))') <(node -e '
    const l = require("./node_modules/.package-lock.json");
    console.log(JSON.stringify(l.packages))'); then
  : # node_modules already matches the lockfile
else
  echo "build_js: npm ci (package-lock.json)"
  npm ci --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error
fi

mkdir -p "$VENDOR"
for pair in "${FILES[@]}" "${LICENSES[@]}"; do
  read -r src name <<<"$pair"
  if [ ! -f "$src" ]; then
    echo "build_js: $src is missing after npm ci; is package-lock.json complete?" >&2
    exit 1
  fi
  # Source maps are not shipped: the trailing sourceMappingURL comment goes (cytoscape-dagre's names a
  # map its package does not contain, and collectstatic's manifest storage refuses a missing reference).
  sed '/^\/\/# sourceMappingURL=/d' "$src" > "$VENDOR/$name.tmp"
  if cmp -s "$VENDOR/$name.tmp" "$VENDOR/$name"; then rm "$VENDOR/$name.tmp"; else mv "$VENDOR/$name.tmp" "$VENDOR/$name"; fi
done
