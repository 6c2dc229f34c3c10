#!/usr/bin/env bash
# The ledger example as a user runs it: the fixed ledger passes the fault catalogue (exit 0);
# with --with-bug it is caught, and the shrunk case is printed with SEED= (exit 1) and saved as
# a file; the replay command it prints reproduces the failure.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d "${TMPDIR:-/tmp}/faultline-ledger.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cargo build -p faultline-example-ledger --release --locked
ledger=target/release/faultline-example-ledger

"$ledger" --seeds 2 > "$work/fixed.txt" || { cat "$work/fixed.txt"; echo "ledger: the fixed ledger failed" >&2; exit 1; }
echo "ledger: the fixed ledger passes every catalogue scenario (2 seeds)"

status=0
(cd "$work" && "$OLDPWD/$ledger" --with-bug --seeds 2) > "$work/buggy.txt" || status=$?
if [ "$status" -ne 1 ]; then
  cat "$work/buggy.txt"; echo "ledger: --with-bug exited $status, expected 1" >&2; exit 1
fi
seed="$(sed -n 's/^SEED=\([0-9]*\)$/\1/p' "$work/buggy.txt" | head -n 1)"
[ -n "$seed" ] || { cat "$work/buggy.txt"; echo "ledger: no shrunk case with SEED= printed" >&2; exit 1; }
grep -q 'applied twice' "$work/buggy.txt" || { echo "ledger: the finding is not a double apply" >&2; exit 1; }
found="$work/faultline-found-$seed.toml"
[ -f "$found" ] || { cat "$work/buggy.txt"; echo "ledger: the shrunk case was not saved as $found" >&2; exit 1; }
echo "ledger: --with-bug caught, shrunk to $(grep -c '^\[\[calls\]\]' "$found") call(s), SEED=$seed"

# The printed replay line, as printed (cargo run ... -- replay FILE --seed N), run from $work.
replay="$(sed -n '/^--- replay ---$/{n;p}' "$work/buggy.txt")"
case "$replay" in
  "cargo run --release -p faultline-example-ledger -- replay faultline-found-$seed.toml --seed $seed") ;;
  *) echo "ledger: unexpected replay line: $replay" >&2; exit 1 ;;
esac
status=0
(cd "$work" && "$OLDPWD/$ledger" replay "faultline-found-$seed.toml" --seed "$seed") > "$work/replay.txt" || status=$?
grep -q 'applied twice' "$work/replay.txt" && [ "$status" -eq 1 ] \
  || { cat "$work/replay.txt"; echo "ledger: the shrunk case did not replay to the failure (exit $status)" >&2; exit 1; }
echo "ledger: the shrunk case replays to the same failure"
