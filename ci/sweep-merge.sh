#!/usr/bin/env bash
# Merges a sweep's shards (IN/shard-*.json) into OUT: sweep.json (the whole sweep's JSON
# Lines), junit.xml, sweep.txt (the table and findings, also printed) and timelines/, the
# timeline of each failing seed shown (at most $TIMELINES, default 20). Exits as `faultline
# merge` does: 0 clean, 1 findings, 2 missing, overlapping or mismatched shards.
# Run by .github/workflows/sweep.yml's merge job, deploy/k8s/sweep-merge.yaml and ci/sweep-files.sh.
#
#   sweep-merge.sh IN OUT        env: FAULTLINE (the binary; default `faultline` on PATH)
set -uo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: sweep-merge.sh IN OUT" >&2
  exit 2
fi
in="$1" out="$2"
bin="${FAULTLINE:-faultline}"
mkdir -p "$out/timelines" || exit 2

"$bin" merge "$in"/shard-*.json --json --junit "$out/junit.xml" > "$out/sweep.json"
code=$?
if [[ $code -gt 1 ]]; then
  exit "$code"
fi
# The merged JSON is a whole sweep: merging it alone prints its table.
"$bin" merge "$out/sweep.json" > "$out/sweep.txt"
cat "$out/sweep.txt"

# Each finding's replay command, as the table prints it:
#   replay: cargo run --release -- replay SCENARIO --seed N [--swarm]
{ grep -m "${TIMELINES:-20}" '^  replay: ' "$out/sweep.txt" || true; } |
  while read -r _ _ _ _ _ _ scenario _ seed rest; do
    name="$(basename "$scenario" .toml)-$seed"
    # shellcheck disable=SC2086
    "$bin" replay "$scenario" --seed "$seed" $rest --timeline "$out/timelines/$name.html" \
      > "$out/timelines/$name.txt" 2>&1
    # 1 is the finding itself, replayed.
    if [[ $? -gt 1 ]]; then
      echo "sweep-merge: cannot replay $scenario seed $seed" >&2
      exit 2
    fi
  done || exit 2
echo "sweep-merge: $(find "$out/timelines" -name '*.html' | wc -l) timeline(s) in $out/timelines"
exit "$code"
