#!/usr/bin/env bash
# The ledger example as a user runs it: the fixed ledger passes the fault catalogue (exit 0);
# with --with-bug it is caught, and the shrunk case is printed with SEED= (exit 1); that case,
# saved as a file, replays to the same failure.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d "${TMPDIR:-/tmp}/faultline-ledger.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cargo build -p faultline-example-ledger --release --locked
ledger=target/release/faultline-example-ledger

"$ledger" --seeds 2 > "$work/fixed.txt" || { cat "$work/fixed.txt"; echo "ledger: the fixed ledger failed" >&2; exit 1; }
echo "ledger: the fixed ledger passes every catalogue scenario (2 seeds)"

status=0
"$ledger" --with-bug --seeds 2 > "$work/buggy.txt" || status=$?
if [ "$status" -ne 1 ]; then
  cat "$work/buggy.txt"; echo "ledger: --with-bug exited $status, expected 1" >&2; exit 1
fi
seed="$(sed -n 's/^SEED=\([0-9]*\)$/\1/p' "$work/buggy.txt" | head -n 1)"
[ -n "$seed" ] || { cat "$work/buggy.txt"; echo "ledger: no shrunk case with SEED= printed" >&2; exit 1; }
sed -n '/^--- scenario file/,/^--- replay ---/p' "$work/buggy.txt" | sed '1d;$d' > "$work/search.toml"
grep -q 'applied twice' "$work/buggy.txt" || { echo "ledger: the finding is not a double apply" >&2; exit 1; }
echo "ledger: --with-bug caught, shrunk to $(grep -c '^\[\[calls\]\]' "$work/search.toml") call(s), SEED=$seed"

status=0
"$ledger" --file "$work/search.toml" --seed "$seed" > "$work/replay.txt" || status=$?
grep -q 'applied twice' "$work/replay.txt" && [ "$status" -eq 1 ] \
  || { cat "$work/replay.txt"; echo "ledger: the shrunk case did not replay to the failure (exit $status)" >&2; exit 1; }
echo "ledger: the shrunk case replays to the same failure"
