#!/usr/bin/env bash
# The replicated store (examples/kv) as a user runs it: the fixed store passes the catalogue and
# the cluster scenarios over the default seeds (exit 0); with --with-bug it is caught, the
# shrunk case is printed with SEED= (exit 1) and saved as a file naming the crashed node, and
# the replay command it prints reproduces the failure. A sharded sweep of the cluster merges
# into the same verdicts, with a JUnit report.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d "${TMPDIR:-/tmp}/faultline-kv.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cargo build -p faultline-example-kv --release --locked
kv="$PWD/target/release/faultline-example-kv"

"$kv" > "$work/fixed.txt" || { cat "$work/fixed.txt"; echo "kv: the fixed store failed" >&2; exit 1; }
tail -n 1 "$work/fixed.txt"
echo "kv: the fixed store passes every scenario over the default seeds"

status=0
(cd "$work" && "$kv" --with-bug) > "$work/buggy.txt" || status=$?
if [ "$status" -ne 1 ]; then
  cat "$work/buggy.txt"; echo "kv: --with-bug exited $status, expected 1" >&2; exit 1
fi
grep -q '^FAILED node-partition-crash SEED=' "$work/buggy.txt" \
  || { cat "$work/buggy.txt"; echo "kv: node-partition-crash did not catch the bug" >&2; exit 1; }
seed="$(sed -n 's/^SEED=\([0-9]*\)$/\1/p' "$work/buggy.txt" | head -n 1)"
[ -n "$seed" ] || { cat "$work/buggy.txt"; echo "kv: no shrunk case with SEED= printed" >&2; exit 1; }
grep -q 'linearizable' "$work/buggy.txt" || { echo "kv: the finding is not a linearizability violation" >&2; exit 1; }
found="$work/faultline-found-$seed.toml"
[ -f "$found" ] || { cat "$work/buggy.txt"; echo "kv: the shrunk case was not saved as $found" >&2; exit 1; }
grep -q '^node = "a"$' "$found" || { cat "$found"; echo "kv: the shrunk case does not crash the primary" >&2; exit 1; }
echo "kv: --with-bug caught, shrunk to $(grep -c '^\[\[calls\]\]' "$found") call(s) and $(grep -c '^\[\[faults\]\]' "$found") fault(s), SEED=$seed"

replay="$(sed -n '/^--- replay ---$/{n;p}' "$work/buggy.txt")"
case "$replay" in
  "cargo run --release -p faultline-example-kv -- replay faultline-found-$seed.toml --seed $seed") ;;
  *) echo "kv: unexpected replay line: $replay" >&2; exit 1 ;;
esac
status=0
(cd "$work" && "$kv" replay "faultline-found-$seed.toml" --seed "$seed") > "$work/replay.txt" || status=$?
grep -q 'linearizable' "$work/replay.txt" && [ "$status" -eq 1 ] \
  || { cat "$work/replay.txt"; echo "kv: the shrunk case did not replay to the failure (exit $status)" >&2; exit 1; }
echo "kv: the shrunk case replays to the same failure"

# A sweep of the cluster scenarios in two shards, merged: the same runs as one sweep.
cluster=(node-partition node-stalls node-latency node-crash node-partition-crash node-proxy)
for i in 0 1; do
  "$kv" "${cluster[@]}" --seeds 4 --shard "$i/2" --json > "$work/shard-$i.json"
done
"$kv" merge "$work"/shard-*.json --json --junit "$work/junit.xml" > "$work/merged.json"
"$kv" "${cluster[@]}" --seeds 4 --json > "$work/whole.json"
runs() { grep '"type":"run"' "$1" | sed 's/"wall_ms":[0-9]*,\{0,1\}//' | sort; }
cmp <(runs "$work/merged.json") <(runs "$work/whole.json") \
  || { echo "kv: the merged shards differ from the whole sweep" >&2; exit 1; }
grep -q 'classname="faultline.node-partition-crash"' "$work/junit.xml" \
  || { cat "$work/junit.xml"; echo "kv: no JUnit test case for node-partition-crash" >&2; exit 1; }
echo "kv: two shards of the cluster sweep merge into the whole sweep ($(grep -c '"type":"run"' "$work/whole.json") runs), with a JUnit report"
