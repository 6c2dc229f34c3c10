#!/usr/bin/env bash
# One shard of a sweep: `faultline run --shard INDEX/COUNT --json` into OUT/shard-INDEX.json.
# Exit 0 when the shard ran, findings or not (the merge judges them); 2 on bad input.
# The one command of every recipe: .github/workflows/sweep.yml's matrix, the Kubernetes
# Indexed Job (deploy/k8s/sweep-job.yaml) and ci/sweep-files.sh run this script.
#
#   sweep-shard.sh INDEX COUNT OUT
#   env: FAULTLINE (the binary; default `faultline` on PATH), SEEDS (per scenario, default 8),
#        SEED_START (default 0), SCENARIOS (names and `--file PATH`s; empty: the whole catalogue)
set -uo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: sweep-shard.sh INDEX COUNT OUT" >&2
  exit 2
fi
index="$1" count="$2" out="$3"
mkdir -p "$out" || exit 2
# SCENARIOS is split into words on purpose: it holds names and `--file PATH` pairs.
# shellcheck disable=SC2086
"${FAULTLINE:-faultline}" run ${SCENARIOS:-} --seed-start "${SEED_START:-0}" --seeds "${SEEDS:-8}" \
  --shard "$index/$count" --json > "$out/shard-$index.json.part"
code=$?
# 1 means findings, which the merge reports; anything else means this shard did not run.
if [[ $code -gt 1 ]]; then
  exit "$code"
fi
# Whole or absent: a retried shard never leaves half a file for the merge.
mv "$out/shard-$index.json.part" "$out/shard-$index.json"
