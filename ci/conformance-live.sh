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
#       conformance server;
#   (4) the recorded client side against any server, `faultline conformance --target ADDR
#       --known-failures conformance/targets/NAME.toml`, each expected to pass with its file:
#       grpcio's conformance server (grpcio.toml, empty: nothing may differ), the tutorial's own
#       grpcio server without the abort hook (grpcio-tutorial.toml, the README's example), a
#       grpc-js server of the tutorial's services (ci/node/server.js --conformance-hook,
#       grpc-js.toml) and `faultline serve all --conformance-hook` (faultline-serve.toml);
#   (5) the check can fail: a target file with an entry that excuses nothing is STALE, and one
#       with an entry taken out FAILs (both exit 1).
#
# Servers listen on 127.0.0.1 port 0 and are stopped on exit; every step has a timeout. Ends
# with `N passed, M failed` and the time each --target run took. FAULTLINE_BIN skips the cargo
# build and uses that binary.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ci_setup conformance
ci_build faultline
timeout 300 bash "$ci_dir/setup-node.sh" >&2
targets_dir="$root/conformance/targets"

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

# (4) --target: every server with its own known-failures file.
timings=()
target() { # target FILE ADDR [EXPECT_EXIT PATTERN]: `--target ADDR --known-failures FILE` exits
  #          EXPECT_EXIT (0) and prints PATTERN (the summary line, when exit 0 is expected)
  local file="$1" addr="$2" expect="${3:-0}" pattern="${4:-0 failed, 0 stale}" rc=0 started elapsed
  started="$EPOCHREALTIME"
  faultline_conformance --target "$addr" --known-failures "$file" >"$work/target.out" || rc=$?
  elapsed="$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')"
  cat "$work/target.out"
  timings+=("$(printf '%-44s %6.2f s  %s' "$(basename "$file")" "$elapsed" "$(grep -m 1 -E '^[0-9]+ checks' "$work/target.out")")")
  if [[ "$rc" != "$expect" ]]; then
    echo "conformance-live: --target $addr with $file exited $rc, expected $expect" >&2
    return 1
  fi
  grep -qF -- "$pattern" "$work/target.out" ||
    { echo "conformance-live: no \`$pattern\` in the output" >&2; return 1; }
}

start_server tutorial 600 "$py" "$ci_dir/reference/server.py" --addr 127.0.0.1:0
tutorial_addr="$ADDR"
start_server grpcjs 600 node "$ci_dir/node/server.js" --conformance-hook --addr 127.0.0.1:0
grpcjs_addr="$ADDR"

check "--target grpcio conformance server (nothing may differ)" \
  target "$targets_dir/grpcio.toml" "$grpcio_addr" 0 "24 passed, 0 known failures, 0 failed, 0 stale"
check "--target grpcio tutorial server (the README's example)" \
  target "$targets_dir/grpcio-tutorial.toml" "$tutorial_addr"
check "--target grpc-js (ci/node/server.js)" target "$targets_dir/grpc-js.toml" "$grpcjs_addr"
check "--target faultline serve all" target "$targets_dir/faultline-serve.toml" "$rust_addr"

# (5) ... and the same run fails when its file is wrong.
stale_file="$work/grpcio-stale.toml"
cat "$targets_dir/grpcio.toml" - >"$stale_file" <<'TOML'
[[failure]]
case = "say-hello"
directions = ["target"]
aspect = "status"
expected = 'OK (0) "", from the server'
actual = 'CANCELLED (1) "", from the server'
reason = "made up by ci/conformance-live.sh: excuses nothing, so it is stale"
TOML
check "--target grpcio + a made-up entry: STALE, exit 1" \
  target "$stale_file" "$grpcio_addr" 1 "STALE say-hello target/live"
missing_file="$work/grpc-js-missing.toml"
# Every entry but the last (status-special-characters' content-type): that case must FAIL.
awk '/^\[\[failure\]\]/ { n++ } { block[n] = block[n] $0 "\n" } END { for (i = 0; i < n; i++) printf "%s", block[i] }' \
  "$targets_dir/grpc-js.toml" >"$missing_file"
check "--target grpc-js, minus its last entry: FAIL, exit 1" \
  target "$missing_file" "$grpcjs_addr" 1 "FAIL status-special-characters target/live"

echo
printf '%-60s %s\n' "live conformance step" "result"
printf '%s\n' "${rows[@]}"
echo
printf '%-44s %8s  %s\n' "--target run (24 cases each)" "time" "summary"
printf '%s\n' "${timings[@]}"
echo
echo "$passed passed, $failed failed"
((failed == 0))
