#!/usr/bin/env bash
# What `faultline proxy` costs on a clean path, in one run, as ratios: the same client (the
# Rust `loadgen`, as ci/bench.sh uses it) drives `faultline serve all` directly and through
# `faultline proxy` (no faults), cell by cell, side by side.
#
# Every method's fixed workload (benches/src/calls.rs) at 1 and 64 calls in flight, over one
# connection per 8 calls in flight. At 1 in flight a call's mean latency is 1 / calls per second,
# so the proxy's added latency per call is the difference of the two. Client, proxy and server
# share this machine's cores: only the ratios, measured seconds apart, mean anything. Prints a
# Markdown table.
#
# Environment: as ci/bench.sh (BENCH_QUICK, BENCH_DURATION_MS, BENCH_WARMUP_MS, BENCH_KINDS,
# BENCH_IN_FLIGHT, FAULTLINE_BIN, LOADGEN_BIN).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_settings
ci_setup proxy-bench
ci_build faultline loadgen

start_server rust 1800 "$faultline" serve all --addr 127.0.0.1:0
direct_addr="$ADDR"
start_server proxy 1800 "$faultline" proxy --listen 127.0.0.1:0 --upstream "$direct_addr"
proxy_addr="$ADDR"
echo "proxy-bench: server on $direct_addr, proxy on $proxy_addr; ${duration} ms per cell" >&2

for kind in $kinds; do
  for n in $in_flights; do
    echo "proxy-bench: $kind, $n in flight" >&2
    bench_measure "$kind-$n.direct" "$loadgen" --addr "$direct_addr" --kind "$kind" --in-flight "$n"
    bench_measure "$kind-$n.proxied" "$loadgen" --addr "$proxy_addr" --kind "$kind" --in-flight "$n"
  done
done
if grep -q '"event":"fault"' "$work/proxy.out"; then
  echo "proxy-bench: the proxy logged a fault on a clean path" >&2
  exit 1
fi

KINDS="$kinds" IN_FLIGHTS="$in_flights" WORK="$work" "$py" - <<'PY'
import json, os

work = os.environ["WORK"]

def rate(name):
    with open(os.path.join(work, name)) as f:
        return json.loads(f.read())

print("| method | unit | in flight | direct | through the proxy | throughput ratio | added latency per call |")
print("|---|---|--:|--:|--:|--:|--:|")
for kind in os.environ["KINDS"].split():
    for n in os.environ["IN_FLIGHTS"].split():
        direct, proxied = rate("%s-%s.direct" % (kind, n)), rate("%s-%s.proxied" % (kind, n))
        a, b = direct["units_per_sec"], proxied["units_per_sec"]
        added = ""
        if n == "1":
            added = "%.0f µs" % (1e6 / proxied["calls_per_sec"] - 1e6 / direct["calls_per_sec"])
        print("| %s | %s/s | %s | %s | %s | **%.2f×** | %s |" % (
            kind, direct["unit"], n, "{:,.0f}".format(a), "{:,.0f}".format(b), b / a, added))
PY
