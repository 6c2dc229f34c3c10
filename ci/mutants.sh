#!/usr/bin/env bash
# Every mutant of the tutorial's services (a class of bug) is caught by at least two catalogue
# scenarios within the default seeds: no bug class hangs on a single scenario. Prints, per
# mutant, the scenarios that caught it; exits 1 if a mutant is caught by fewer than two.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p faultline
faultline=target/release/faultline
seeds="${MUTANT_SEEDS:-8}"

mutants="$("$faultline" run --mutant no-such-mutant 2>&1 | sed -n 's/.*(known: \(.*\)).*/\1/p' | tr -d ',' || true)"
[ -n "$mutants" ] || { echo "mutants: could not list the mutants" >&2; exit 1; }

status=0
for mutant in $mutants; do
  # Rows of scenarios that failed with the mutant planted; the canary plants its own.
  caught="$("$faultline" run --seeds "$seeds" --mutant "$mutant" 2>/dev/null \
    | awk -v s="$seeds" '$2 == s && $3 == "FAIL" && $1 != "canary" { print $1 }' | tr '\n' ' ' || true)"
  count="$(wc -w <<< "$caught")"
  printf '%-22s %2d scenarios: %s\n' "$mutant" "$count" "$caught"
  if [ "$count" -lt 2 ]; then
    echo "mutants: $mutant is caught by fewer than two scenarios over $seeds seeds" >&2
    status=1
  fi
done
exit "$status"
