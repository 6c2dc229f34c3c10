#!/usr/bin/env bash
# Side-by-side throughput against the grpcio reference, in one run, as ratios:
#
#   servers: the same client (the Rust `loadgen`: raw pre-encoded requests, one thread) drives
#            the Rust server (`faultline serve all`) and the grpcio server (ci/reference/server.py);
#   clients: the Rust `loadgen` and the grpcio asyncio client (ci/bench_client.py, the same raw
#            workload) drive the Rust server.
#
# Every method's fixed workload (benches/src/calls.rs) at 1 and 64 calls in flight, over one
# connection per 8 calls in flight. Units: calls (unary), features streamed (ListFeatures), points
# sent (RecordRoute), round trips (RouteChat). Client and server share this machine's cores, so
# each figure is of the pair; only the ratios, measured minutes apart on the same machine, mean
# anything. Prints a Markdown table.
#
# Environment: BENCH_QUICK=1 measures 1 s per cell after a 0.3 s warm-up (CI); BENCH_DURATION_MS
# and BENCH_WARMUP_MS set them (default 3000 and 500); BENCH_KINDS and BENCH_IN_FLIGHT narrow the
# grid; FAULTLINE_BIN and LOADGEN_BIN skip the cargo build.
set -euo pipefail

ci_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$ci_dir")"
cd "$root"

if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
  duration="${BENCH_DURATION_MS:-1000}" warmup="${BENCH_WARMUP_MS:-300}"
else
  duration="${BENCH_DURATION_MS:-3000}" warmup="${BENCH_WARMUP_MS:-500}"
fi
kinds="${BENCH_KINDS:-say-hello get-feature list-features record-route route-chat}"
in_flights="${BENCH_IN_FLIGHT:-1 64}"
py="$ci_dir/.venv/bin/python"
work="$(mktemp -d "${TMPDIR:-/tmp}/faultline-bench.XXXXXX")"
server_pids=()

cleanup() {
  local pid
  for pid in "${server_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${server_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

timeout 600 bash "$ci_dir/setup-venv.sh" >&2

if [[ -n "${FAULTLINE_BIN:-}" && -n "${LOADGEN_BIN:-}" ]]; then
  faultline="$FAULTLINE_BIN" loadgen="$LOADGEN_BIN"
else
  echo "bench: building faultline and loadgen (release)" >&2
  timeout 1800 cargo build --release --quiet --locked -p faultline -p faultline-benches --bins
  target_dir="$(timeout 120 cargo metadata --format-version 1 --no-deps |
    "$py" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  faultline="$target_dir/release/faultline" loadgen="$target_dir/release/loadgen"
fi

# start_server NAME CMD...: runs CMD in the background (killed after 30 min at the latest),
# waits for its `listening on HOST:PORT` line and sets ADDR to that address.
start_server() {
  local name="$1"
  shift
  timeout --kill-after=5 1800 "$@" >"$work/$name.out" 2>"$work/$name.err" &
  local pid=$!
  server_pids+=("$pid")
  local i line
  for ((i = 0; i < 200; i++)); do
    line="$(head -n 1 "$work/$name.out")"
    if [[ "$line" == "listening on "* ]]; then
      ADDR="${line#listening on }"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  echo "bench: $name server did not start; its stderr:" >&2
  cat "$work/$name.err" >&2
  exit 1
}

start_server grpcio "$py" "$ci_dir/reference/server.py" --addr 127.0.0.1:0
grpcio_addr="$ADDR"
start_server rust "$faultline" serve all --addr 127.0.0.1:0
rust_addr="$ADDR"
echo "bench: grpcio server on $grpcio_addr, rust server on $rust_addr; ${duration} ms per cell" >&2

# measure OUT CMD...: one load run with a timeout; its JSON line goes to $work/OUT.
measure() {
  local out="$1"
  shift
  if ! timeout --kill-after=5 120 "$@" --warmup-ms "$warmup" --duration-ms "$duration" \
    >"$work/$out" 2>"$work/$out.err"; then
    echo "bench: $out failed; stderr:" >&2
    cat "$work/$out.err" >&2
    exit 1
  fi
}

for kind in $kinds; do
  for n in $in_flights; do
    echo "bench: $kind, $n in flight" >&2
    measure "$kind-$n.rs-rs" "$loadgen" --addr "$rust_addr" --kind "$kind" --in-flight "$n"
    measure "$kind-$n.rs-py" "$loadgen" --addr "$grpcio_addr" --kind "$kind" --in-flight "$n"
    measure "$kind-$n.py-rs" env PYTHONPATH="$ci_dir/reference" \
      "$py" "$ci_dir/bench_client.py" --addr "$rust_addr" --kind "$kind" --in-flight "$n"
  done
done

# The table: one row per method and calls in flight.
KINDS="$kinds" IN_FLIGHTS="$in_flights" WORK="$work" "$py" - <<'EOF'
import json, os

work = os.environ["WORK"]

def rate(name):
    with open(os.path.join(work, name)) as f:
        return json.loads(f.read())

def fmt(x):
    return "{:,.0f}".format(x)

print("| method | unit | in flight | Rust server | grpcio server | server ratio | Rust client | grpcio client | client ratio |")
print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
for kind in os.environ["KINDS"].split():
    for n in os.environ["IN_FLIGHTS"].split():
        rs_rs, rs_py, py_rs = (rate("%s-%s.%s" % (kind, n, pair)) for pair in ("rs-rs", "rs-py", "py-rs"))
        a, b, c = rs_rs["units_per_sec"], rs_py["units_per_sec"], py_rs["units_per_sec"]
        print("| %s | %s/s | %s | %s | %s | **%.1f×** | %s | %s | **%.1f×** |" % (
            kind, rs_rs["unit"], n, fmt(a), fmt(b), a / b, fmt(a), fmt(c), a / c))
EOF
