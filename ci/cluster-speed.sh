#!/usr/bin/env bash
# Runs per CPU-second of a 3-node cluster (examples/kv: every client call is forwarded to the
# primary or answered by it, and every write replicated to two backups) beside the tutorial's
# single server, on the same scenarios and seeds, one thread each (so wall time is CPU time),
# alternating round by round so that machine load moves both alike. Prints a Markdown table.
#
# Environment: ROUNDS (default 3), SEEDS per scenario and round (default 16), SCENARIOS
# (default: smoke latency partition crash-bounce).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${ROUNDS:-3}" seeds="${SEEDS:-16}"
read -r -a scenarios <<< "${SCENARIOS:-smoke latency partition crash-bounce}"

cargo build --release --locked -p faultline -p faultline-example-kv >&2
work="$(mktemp -d "${TMPDIR:-/tmp}/faultline-cluster-speed.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# One sweep on one thread: "runs calls wall_ms" from its JSON Lines.
sweep() {
  "$@" "${scenarios[@]}" --seeds "$seeds" --jobs 1 --json > "$work/out.json" || true
  python3 - "$work/out.json" <<'EOF'
import json, sys
runs = calls = wall = 0
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("type") == "run":
        runs += 1
        calls += d["calls"]
    elif d.get("type") == "end":
        wall = d["wall_ms"]
print(runs, calls, wall)
EOF
}

declare -A total_runs total_calls total_ms
for who in tutorial cluster; do total_runs[$who]=0 total_calls[$who]=0 total_ms[$who]=0; done
for ((round = 1; round <= rounds; round++)); do
  for who in tutorial cluster; do
    case "$who" in
      tutorial) read -r runs calls ms < <(sweep target/release/faultline run) ;;
      cluster) read -r runs calls ms < <(sweep target/release/faultline-example-kv run) ;;
    esac
    total_runs[$who]=$((total_runs[$who] + runs))
    total_calls[$who]=$((total_calls[$who] + calls))
    total_ms[$who]=$((total_ms[$who] + ms))
    echo "cluster-speed: round $round, $who: $runs runs, $calls calls, $ms ms" >&2
  done
done

echo "| system | runs | client calls | CPU seconds | runs per CPU-second | calls per CPU-second |"
echo "|---|--:|--:|--:|--:|--:|"
for who in tutorial cluster; do
  name="tutorial (1 server)"
  [[ "$who" == cluster ]] && name="kv (3 nodes)"
  awk -v n="$name" -v r="${total_runs[$who]}" -v c="${total_calls[$who]}" -v ms="${total_ms[$who]}" \
    'BEGIN { s = ms / 1000; printf "| %s | %d | %d | %.2f | %.1f | %.0f |\n", n, r, c, s, r / s, c / s }'
done
awk -v a="${total_ms[tutorial]}" -v ar="${total_runs[tutorial]}" -v b="${total_ms[cluster]}" -v br="${total_runs[cluster]}" \
  'BEGIN { printf "\nA cluster run costs %.1fx a single-server run of the same scenario and seed.\n", (b / br) / (a / ar) }'
