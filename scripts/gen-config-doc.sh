#!/usr/bin/env bash
# Writes docs/configuration.md from the binary's own option table (the one behind --help),
# so the two cannot drift; tests/interop/config.test.mjs checks they agree.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/kamea-wss}
{
    cat <<'HEAD'
# Configuration

Every setting is a command-line flag and an environment variable: `WSS_` and the flag's name
in capitals with `_` (contract section 2). The flag wins over the variable. An unknown flag or
a bad value stops the process with a message on stderr and exit code 2 (`--help` exits 0).
Durations marked (ms) are milliseconds; `--authz-cache-ttl`, `--reauth-interval` and `--last-value-ttl` are seconds.

This table is generated from the binary (`scripts/gen-config-doc.sh`, which runs
`kamea-wss --config-markdown`); `kamea-wss --help` prints the same options.

HEAD
    "$bin" --config-markdown
} > docs/configuration.md
echo "docs/configuration.md written"
