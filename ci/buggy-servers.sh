#!/usr/bin/env bash
# Buggy-server cases for clients: `faultline buggy-server` answers each call with one precise
# misbehaviour (RST_STREAM after headers / during data / after data, GOAWAY mid-call, a missing
# grpc-status, Trailers-Only whole and split, a truncated message, a length prefix over the
# limit, a wrong content-type, HTTP 503, no message; `faultline buggy-server --list`).
#
#   1. drift: grpcio's client (ci/checks/buggy_probe.py, the pinned venv) plays every case; its
#      outcomes must equal the committed record, buggy/grpcio.jsonl (--record rewrites it),
#      except the message counts that a race entry of buggy/differences.toml allows;
#   2. tonic: `faultline buggy-server --check --target` plays every case with tonic's client
#      against the same server and compares with that record and the spec; every difference
#      must be listed in buggy/differences.toml with a reason, and every entry needed;
#   3. the comparison can fail: a record with one outcome changed is caught (exit 1);
#   4. the README's example: the tutorial's Python client against `--case missing-grpc-status`
#      fails its first call with the recorded code; against `--case clean` its GetFeature and
#      ListFeatures calls print what they print against the tutorial's server.
#
# Ends with `N passed, M failed`; exit 1 on any failure. FAULTLINE_BIN skips the build.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ci_setup buggy-servers
ci_build faultline

record="$root/buggy/grpcio.jsonl"
rewrite=0
[[ "${1:-}" == "--record" ]] && rewrite=1

passed=0
failed=0
check() { # check pass|fail DESCRIPTION
  printf '%-100s %s\n' "$2" "$1"
  if [[ "$1" == pass ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

start_server buggy 600 "$faultline" buggy-server --listen 127.0.0.1:0
addr="$ADDR"
mapfile -t cases < <(timeout 10 "$faultline" buggy-server --list | cut -f1)
echo "buggy-servers: server at $addr, ${#cases[@]} cases"

# 1. grpcio, against the committed record.
timeout 300 "$py" "$ci_dir/checks/buggy_probe.py" --addr "$addr" "${cases[@]}" >"$work/grpcio.jsonl"
if ((rewrite)); then
  cp "$work/grpcio.jsonl" "$record"
  echo "buggy-servers: wrote $record"
fi
if timeout 30 "$faultline" buggy-server --drift "$work/grpcio.jsonl" --grpcio "$record" >"$work/drift.diff" 2>&1; then
  check pass "grpcio $("$py" -c 'import grpc; print(grpc.__version__)'): every case as recorded in buggy/grpcio.jsonl"
else
  cat "$work/drift.diff" >&2
  check fail "grpcio: outcomes drifted from buggy/grpcio.jsonl (re-record with: bash ci/buggy-servers.sh --record)"
fi

# 2. tonic, against the record, the spec and the listed differences.
status=0
timeout 300 "$faultline" buggy-server --check --target "$addr" --grpcio "$record" >"$work/check.out" 2>&1 || status=$?
cat "$work/check.out"
if ((status == 0)); then
  check pass "tonic: every difference from grpcio and the spec is listed in buggy/differences.toml, none stale"
else
  check fail "tonic: faultline buggy-server --check exited $status"
fi

# 3. A record that says grpcio saw something else is caught.
"$py" - "$record" >"$work/broken.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
for line in lines:
    if line["case"] == "rst-after-headers" and line["method"] == "GetFeature":
        line["code"] = "OK"
print("\n".join(json.dumps(l) for l in lines))
PY
status=0
timeout 300 "$faultline" buggy-server --check --target "$addr" --grpcio "$work/broken.jsonl" >"$work/broken.out" 2>&1 ||
  status=$?
if ((status == 1)) && grep -q 'rst-after-headers .*GetFeature .*DIFFERS' "$work/broken.out"; then
  check pass "a record changed to 'grpcio said OK after RST_STREAM' is caught (exit 1, the row DIFFERS)"
else
  cat "$work/broken.out" >&2
  check fail "a changed record is not caught (exit $status)"
fi

# 4. The README's example: the tutorial's client, unchanged, against a server whose default case
# is set by --case.
start_server missing 120 "$faultline" buggy-server --listen 127.0.0.1:0 --case missing-grpc-status
status=0
timeout 60 "$py" "$ci_dir/reference/route_guide_client.py" --addr "$ADDR" --no-pause >"$work/tutorial.out" 2>"$work/tutorial.err" ||
  status=$?
expected="$("$py" -c 'import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o["case"] == "missing-grpc-status" and o["method"] == "GetFeature": print(o["code"])' "$record")"
if ((status != 0)) && grep -q "status = StatusCode.$expected" "$work/tutorial.err"; then
  check pass "tutorial client, --case missing-grpc-status: its first GetFeature fails with StatusCode.$expected"
else
  tail -n 20 "$work/tutorial.err" >&2
  check fail "tutorial client, --case missing-grpc-status: expected StatusCode.$expected (exit $status)"
fi

# --case clean answers GetFeature and ListFeatures as the tutorial's server does (RecordRoute and
# RouteChat are not served: UNIMPLEMENTED).
start_server clean 120 "$faultline" buggy-server --listen 127.0.0.1:0 --case clean
clean_addr="$ADDR"
start_server reference 120 "$py" "$ci_dir/reference/server.py" --addr 127.0.0.1:0
until_record_route() { sed '/^-------------- RecordRoute/q' "$1"; }
timeout 60 "$py" "$ci_dir/reference/route_guide_client.py" --addr "$clean_addr" --no-pause >"$work/clean.out" 2>"$work/clean.err" || true
timeout 60 "$py" "$ci_dir/reference/route_guide_client.py" --addr "$ADDR" --no-pause >"$work/reference.out" 2>&1 || true
if [[ "$(grep -c '^Feature called' "$work/reference.out")" -gt 60 ]] &&
  diff <(until_record_route "$work/reference.out") <(until_record_route "$work/clean.out") >"$work/clean.diff"; then
  check pass "tutorial client, --case clean: GetFeature and ListFeatures print what they print against the tutorial's server"
else
  head -n 20 "$work/clean.diff" "$work/clean.err" >&2
  check fail "tutorial client, --case clean: output differs from the tutorial server's"
fi

# The server stops cleanly on SIGTERM.
kill -TERM "$buggy_pid"
status=0
wait "$buggy_pid" || status=$?
if ((status == 0)); then check pass "buggy-server exits 0 on SIGTERM"; else check fail "buggy-server exits 0 on SIGTERM (got $status)"; fi

echo
echo "$passed passed, $failed failed"
((failed == 0))
