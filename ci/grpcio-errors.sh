#!/usr/bin/env bash
# grpcio's client against `faultline serve` and against grpcio's reference server: unknown
# method and service, a malformed request, an oversize message, a deadline and the call cap must
# surface as UNIMPLEMENTED, UNIMPLEMENTED, INTERNAL, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED and
# RESOURCE_EXHAUSTED from both: grpc-core misreads a split Trailers-Only response as UNKNOWN
# "Stream removed", which is how it would show if the server broke its framing.
#
# Servers listen on 127.0.0.1 port 0 and are stopped on exit; every step has a timeout.
# FAULTLINE_BIN skips the cargo build and uses that binary.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ci_setup grpcio-errors
ci_build faultline

start_server rust 300 "$faultline" serve all --addr 127.0.0.1:0
rust_addr="$ADDR"
start_server capped 300 "$faultline" serve all --max-calls 1 --addr 127.0.0.1:0
capped_addr="$ADDR"
start_server grpcio 300 "$py" "$ci_dir/reference/server.py" --addr 127.0.0.1:0
grpcio_addr="$ADDR"

status=0
echo "--- grpcio client -> faultline serve"
timeout --kill-after=5 120 "$py" "$ci_dir/checks/grpcio_errors.py" --addr "$rust_addr" --capped "$capped_addr" ||
  status=1
echo "--- grpcio client -> grpcio reference server (the same codes)"
timeout --kill-after=5 120 "$py" "$ci_dir/checks/grpcio_errors.py" --addr "$grpcio_addr" || status=1
if ((status == 0)); then echo "grpcio-errors: 2 passed, 0 failed"; else echo "grpcio-errors: failed"; fi
exit "$status"
