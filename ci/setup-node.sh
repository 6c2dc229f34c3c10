#!/usr/bin/env bash
# Installs ci/node's pinned grpc-js and proto-loader (package-lock.json) with `npm ci`.
# Idempotent: a stamp keyed on the lockfile makes a re-run that has nothing to do return at once.
set -euo pipefail

node_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/node"
stamp="$node_dir/node_modules/.faultline-stamp"
key="$(cat "$node_dir/package.json" "$node_dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$key" ]]; then
  echo "setup-node: up to date ($node_dir/node_modules)"
  exit 0
fi
(cd "$node_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
echo "$key" > "$stamp"
echo "setup-node: installed $(node -e 'const l = require(process.argv[1]); console.log(Object.keys(l.packages).length - 1)' "$node_dir/package-lock.json") pinned packages with node $(node --version)"
