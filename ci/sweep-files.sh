#!/usr/bin/env bash
# The sweep recipes, checked and run here, small (well under a minute once built):
#   1. .github/workflows/sweep.yml through actionlint, deploy/k8s/*.yaml through
#      kubernetes-validate (pinned in ci/sweep-requirements.txt; offline once installed);
#   2. the workflow's shard count agrees with its matrix, the Job's with its completions;
#   3. the workflow's commands (ci/sweep-shard.sh per matrix shard, then ci/sweep-merge.sh)
#      and the Kubernetes Jobs' (each container's command, as the manifest writes it, for every
#      completion index with the manifest's environment) on a small sweep with a planted
#      finding: both merges must exit 1, keep the finding's timelines, and equal one unsharded
#      run of the same sweep, wall times apart.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup-sweep-venv.sh
venv=ci/.venv-sweep

echo "sweep-files: actionlint"
"$venv/bin/actionlint" .github/workflows/sweep.yml
echo "sweep-files: kubernetes-validate"
"$venv/bin/kubernetes-validate" --strict --quiet deploy/k8s/*.yaml

cargo build --release --locked -p faultline
target="${CARGO_TARGET_DIR:-target}"
[[ $target == /* ]] || target="$(pwd)/$target"
bin="$target/release/faultline"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The small sweep both recipes run: three catalogue scenarios and a planted finding, 3 seeds.
export SEEDS=3 SEED_START=5 SCENARIOS="smoke canary latency --file ci/sweep-planted-finding.toml"

# What the recipes say, read with the venv's PyYAML: shard counts, and the Jobs' commands.
"$venv/bin/python" - "$work" <<'EOF'
import json, sys, yaml

work = sys.argv[1]
wf = yaml.safe_load(open(".github/workflows/sweep.yml"))
shards = int(wf["env"]["SHARDS"])
matrix = wf["jobs"]["shard"]["strategy"]["matrix"]["shard"]
assert matrix == list(range(shards)), f"workflow: matrix {matrix} is not shards 0..{shards - 1}"

job, = [d for d in yaml.safe_load_all(open("deploy/k8s/sweep-job.yaml")) if d["kind"] == "Job"]
merge, = yaml.safe_load_all(open("deploy/k8s/sweep-merge.yaml"))
spec = job["spec"]
container, = spec["template"]["spec"]["containers"]
env = {e["name"]: e["value"] for e in container["env"]}
assert spec["completionMode"] == "Indexed", "the sweep Job must be Indexed"
assert int(env["SHARDS"]) == spec["completions"], f"Job: SHARDS {env['SHARDS']} != completions {spec['completions']}"
merger, = merge["spec"]["template"]["spec"]["containers"]
assert merger["env"] == [{"name": "RESULTS", "value": env["RESULTS"]}], "the merge reads where the shards write"
json.dump({
    "workflow_shards": shards,
    "completions": spec["completions"],
    "shard": {"command": container["command"] + container["args"], "env": env},
    "merge": {"command": merger["command"] + merger["args"]},
}, open(f"{work}/recipes.json", "w"))
EOF
recipe() { "$venv/bin/python" -c "import json,sys; r=json.load(open('$work/recipes.json')); print(eval(sys.argv[1]))" "$1"; }

expect_findings() { # name code: the planted finding must fail the merge, with its timelines kept
  if [[ $2 -ne 1 ]]; then
    echo "sweep-files: $1 merge exited $2, expected 1 (the planted finding)" >&2
    exit 1
  fi
  if ! ls "$3"/timelines/sweep-planted-finding-*.html > /dev/null 2>&1; then
    echo "sweep-files: $1 kept no timeline of the planted finding" >&2
    exit 1
  fi
}

echo "sweep-files: the workflow's commands, $(recipe 'r["workflow_shards"]') shards"
n="$(recipe 'r["workflow_shards"]')"
for ((i = 0; i < n; i++)); do
  FAULTLINE="$bin" bash ci/sweep-shard.sh "$i" "$n" "$work/gha/shards"
done
code=0
FAULTLINE="$bin" bash ci/sweep-merge.sh "$work/gha/shards" "$work/gha/sweep" > "$work/gha.log" || code=$?
expect_findings workflow "$code" "$work/gha/sweep"

echo "sweep-files: the Kubernetes Jobs' commands, $(recipe 'r["completions"]') completion indexes"
# The image's PATH: faultline and the two scripts (deploy/Dockerfile).
mkdir -p "$work/image/bin" "$work/k8s/results"
ln -s "$bin" "$work/image/bin/faultline"
ln -s "$(pwd)/ci/sweep-shard.sh" "$work/image/bin/sweep-shard.sh"
ln -s "$(pwd)/ci/sweep-merge.sh" "$work/image/bin/sweep-merge.sh"
mapfile -t shard_cmd < <(recipe '"\n".join(r["shard"]["command"])')
mapfile -t merge_cmd < <(recipe '"\n".join(r["merge"]["command"])')
completions="$(recipe 'r["completions"]')"
shards="$(recipe 'r["shard"]["env"]["SHARDS"]')"
for ((i = 0; i < completions; i++)); do
  # The manifest's environment, but the small sweep and a local results volume.
  env -i PATH="$work/image/bin:$PATH" JOB_COMPLETION_INDEX="$i" SHARDS="$shards" \
    SEEDS="$SEEDS" SEED_START="$SEED_START" SCENARIOS="$SCENARIOS" RESULTS="$work/k8s/results" \
    "${shard_cmd[@]}"
done
code=0
env -i PATH="$work/image/bin:$PATH" RESULTS="$work/k8s/results" "${merge_cmd[@]}" > "$work/k8s.log" || code=$?
expect_findings Kubernetes "$code" "$work/k8s/results/report"

echo "sweep-files: both merges against one unsharded run"
# shellcheck disable=SC2086
"$bin" run $SCENARIOS --seed-start "$SEED_START" --seeds "$SEEDS" --json > "$work/whole.json" || [[ $? -eq 1 ]]
strip() { sed -E 's/"wall_ms":[0-9]+/"wall_ms":0/g' "$1"; }
for merged in "$work/gha/sweep/sweep.json" "$work/k8s/results/report/sweep.json"; do
  if ! diff <(strip "$work/whole.json") <(strip "$merged") > "$work/diff"; then
    echo "sweep-files: $merged differs from the unsharded run:" >&2
    head -20 "$work/diff" >&2
    exit 1
  fi
done
grep -c '"type":"run"' "$work/whole.json" | xargs -I{} echo "sweep-files: ok ({} runs; both recipes merge to the unsharded sweep, findings and timelines kept)"
