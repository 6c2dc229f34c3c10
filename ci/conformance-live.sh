#!/usr/bin/env bash
# Live conformance against the pinned grpcio (the CI step after the tests):
#
#   (1) drift: re-record every case against grpcio and compare with conformance/transcripts
#       (after normalisation nothing may differ: a change means the pinned grpcio drifted, or
#       the transcripts are stale; re-record with ci/conformance-record.sh);
#   (2) grpcio client -> Rust server: record every case against `faultline serve all
#       --conformance-hook`, the server users run (plus the abort hook the special-characters
#       case needs)
#       and compare with the committed transcripts (known failures allowed, stale ones fail);
#   (3) Rust client -> grpcio server: `faultline conformance --live-client` against the grpcio
#       conformance server.
#
# Servers listen on 127.0.0.1 port 0 and are stopped on exit; every step has a timeout. Ends
# with `N passed, M failed`. FAULTLINE_BIN skips the cargo build and uses that binary.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ci_setup conformance
ci_build faultline

passed=0
failed=0
rows=()
check() { # check DESCRIPTION CMD...: runs CMD (a function; its steps have their own timeouts)
  local what="$1"
  shift
  echo
  echo "--- $what"
  if "$@"; then
    rows+=("$(printf '%-60s %s' "$what" pass)")
    passed=$((passed + 1))
  else
    rows+=("$(printf '%-60s %s' "$what" fail)")
    failed=$((failed + 1))
  fi
}

record() { # record OUT [ARGS...]: runs the recorder into $work/OUT
  local out="$1"
  shift
  timeout --kill-after=5 300 "$py" "$ci_dir/recorder/record.py" --out "$work/$out" "$@" >"$work/$out.log" 2>&1 ||
    { cat "$work/$out.log" >&2; return 1; }
}

faultline_conformance() {
  timeout --kill-after=5 300 "$faultline" conformance "$@"
}

drift() {
  record grpcio && faultline_conformance --drift "$work/grpcio"
}

grpcio_client_rust_server() {
  record rust --target "$rust_addr" --no-expect && faultline_conformance --recorded-against-rust "$work/rust"
}

# (1) drift
check "drift: grpcio re-recorded == committed transcripts" drift

# (2) grpcio client -> Rust server
start_server rust 600 "$faultline" serve all --conformance-hook --addr 127.0.0.1:0
rust_addr="$ADDR"
check "grpcio client -> rust server" grpcio_client_rust_server

# (3) Rust client -> grpcio server
start_server grpcio 600 "$py" "$ci_dir/recorder/conformance_server.py" --addr 127.0.0.1:0
grpcio_addr="$ADDR"
check "rust client -> grpcio server" faultline_conformance --live-client "$grpcio_addr"

echo
printf '%-60s %s\n' "live conformance step" "result"
printf '%s\n' "${rows[@]}"
echo
echo "$passed passed, $failed failed"
((failed == 0))
