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

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_settings
ci_setup bench
ci_build faultline loadgen

start_server grpcio 1800 "$py" "$ci_dir/reference/server.py" --addr 127.0.0.1:0
grpcio_addr="$ADDR"
start_server rust 1800 "$faultline" serve all --addr 127.0.0.1:0
rust_addr="$ADDR"
echo "bench: grpcio server on $grpcio_addr, rust server on $rust_addr; ${duration} ms per cell" >&2

for kind in $kinds; do
  for n in $in_flights; do
    echo "bench: $kind, $n in flight" >&2
    bench_measure "$kind-$n.rs-rs" "$loadgen" --addr "$rust_addr" --kind "$kind" --in-flight "$n"
    bench_measure "$kind-$n.rs-py" "$loadgen" --addr "$grpcio_addr" --kind "$kind" --in-flight "$n"
    bench_measure "$kind-$n.py-rs" env PYTHONPATH="$ci_dir/reference" \
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
