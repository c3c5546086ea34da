#!/usr/bin/env bash
# Builds the AsyncAPI documentation site served at /doc (contract section 5), offline:
#   scripts/build-doc.sh [out-dir]        (default build/doc)
# Writes index.html, asyncapi.yaml, asyncapi.json (from the same asyncapi/asyncapi.yaml),
# asyncapi-standalone.js and asyncapi.css (the renderer from asyncapi/node_modules, pinned by
# asyncapi/package-lock.json). Idempotent: `npm ci` runs only when asyncapi/node_modules is missing or
# older than the lock file, and unchanged files are not rewritten.
# DOC_BASE_HREF (default /doc/) is the URL path the files are served under.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-build/doc}
case "$out" in
    /*) ;;
    *) out="$PWD/$out" ;;
esac

command -v node >/dev/null 2>&1 || { echo "build-doc: node is required (scripts/install-deps.sh installs it)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "build-doc: npm is required (scripts/install-deps.sh installs it)" >&2; exit 1; }

doc="$root/asyncapi"
stamp="$doc/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$doc/package-lock.json" -nt "$stamp" ] || [ "$doc/package.json" -nt "$stamp" ]; then
    echo "build-doc: installing the renderer and tools (npm ci in asyncapi/)"
    (cd "$doc" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$stamp"
fi

node "$doc/build.mjs" "$out" "${DOC_BASE_HREF:-/doc/}"
