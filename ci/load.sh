#!/usr/bin/env bash
# Load test of the real server over loopback: `faultline serve all` with its default limits,
# then `cargo run --example load` holds 10,000 concurrent streams on 10 connections (half
# RouteChat, half RecordRoute; one in ten abandoned mid-stream; every completed call checked
# exactly), probes a unary call meanwhile, and reports the server's memory from /proc. Then
# SIGTERM, and the server must exit 0. Bounded in count and time; stops by itself.
#
# Environment: LOAD_ARGS adds flags to the load tool (e.g. "--streams 20000 --connections 20");
# SERVE_ARGS adds flags to `faultline serve`; FAULTLINE_BIN skips the build of the server.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
cargo build --release --locked -p faultline --bin faultline --example load
bin="${FAULTLINE_BIN:-$target/release/faultline}"
load="$target/release/examples/load"

work="$(mktemp -d "${TMPDIR:-/tmp}/faultline-load.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
"$bin" serve all --addr 127.0.0.1:0 ${SERVE_ARGS:-} >"$work/out" 2>"$work/err" &
server_pid=$!
addr=""
for _ in $(seq 100); do
  addr="$(sed -n 's/^listening on //p' "$work/out")"
  [[ -n "$addr" ]] && break
  sleep 0.1
done
[[ -n "$addr" ]] || { echo "server did not start:"; cat "$work/err"; exit 1; }
echo "server pid $server_pid on $addr"

status=0
# shellcheck disable=SC2086 # LOAD_ARGS is a list of flags
timeout 300 "$load" --addr "$addr" --server-pid "$server_pid" ${LOAD_ARGS:-} || status=$?

kill -TERM "$server_pid"
server_status=0
timeout 30 tail --pid="$server_pid" -f /dev/null || { echo "server did not exit after SIGTERM"; status=1; }
wait "$server_pid" || server_status=$?
server_pid=""
echo "server: $(tail -n 1 "$work/err") (exit $server_status)"
[[ "$server_status" == 0 ]] || status=1

if [[ "$status" == 0 ]]; then echo "load: 1 passed, 0 failed"; else echo "load: 0 passed, 1 failed"; fi
exit "$status"
