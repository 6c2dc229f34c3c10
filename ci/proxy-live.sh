#!/usr/bin/env bash
# `faultline proxy` between real gRPC stacks: three clients (grpcio, grpc-js on Node's HTTP/2,
# tonic as `faultline client` uses it) against three servers (grpcio's reference, a grpc-js
# RouteGuide, `faultline serve`), each pair through a proxy whose faults are switched through
# its control endpoint. Per case, every client's outcome (status code, messages received
# before it, and the answers) is checked by ci/checks/proxy_expect.py, whose expectations come
# from the tutorial's semantics and gRPC's mapping of each fault to a status (see its
# docstring), and the proxy's JSON log must show the fault acting:
#
#   clean       no fault: every call exact (and the tutorial clients print what they print
#               without the proxy)
#   list        rst-stream after 3 messages on ListFeatures: CANCELLED after exactly 3
#   chat        GOAWAY mid-RouteChat: the chat completes (190 replies), the next call works
#   record-cut  connection reset mid-RecordRoute: UNAVAILABLE
#
# Ends with a table and `N passed, M failed`; exit 1 on any failure. Every process started here
# is stopped on exit; every step has a timeout. FAULTLINE_BIN and PROXY_PROBE_BIN skip the build.
set -euo pipefail
# Stacks are named grpcio, grpcjs (grpc-js) and rust (tonic / faultline serve).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ci_setup proxy-live
ci_build faultline
if [[ -n "${PROXY_PROBE_BIN:-}" ]]; then
  rust_probe="$PROXY_PROBE_BIN"
else
  timeout 1800 cargo build --release --quiet --locked -p faultline --example proxy_probe
  rust_probe="$(dirname "$faultline")/examples/proxy_probe"
fi
timeout 300 bash "$ci_dir/setup-node.sh" >&2

start_server grpcio 600 "$py" "$ci_dir/reference/server.py" --addr 127.0.0.1:0
direct_grpcio="$ADDR"
start_server grpcjs 600 node "$ci_dir/node/server.js" --addr 127.0.0.1:0
direct_grpcjs="$ADDR"
start_server rust 600 "$faultline" serve all --addr 127.0.0.1:0
direct_rust="$ADDR"

servers=(grpcio grpcjs rust)
declare -A direct=([grpcio]="$direct_grpcio" [grpcjs]="$direct_grpcjs" [rust]="$direct_rust")
declare -A proxied control
for server in "${servers[@]}"; do
  start_server "proxy_$server" 600 "$faultline" proxy --listen 127.0.0.1:0 --upstream "${direct[$server]}" \
    --control 127.0.0.1:0 --seed 7
  proxied[$server]="$ADDR"
  for ((i = 0; i < 100; i++)); do
    control[$server]="$(sed -n 2p "$work/proxy_$server.out" | jq -r '.control // empty')"
    [[ -n "${control[$server]}" ]] && break
    sleep 0.1
  done
done
echo "proxy-live: servers grpcio ${direct[grpcio]}, grpc-js ${direct[grpcjs]}, rust ${direct[rust]}; proxied ${proxied[*]}"

clients=(grpcio grpcjs rust)
declare -A client_cmd=(
  [grpcio]="$py $ci_dir/checks/proxy_probe.py"
  [grpcjs]="node $ci_dir/node/probe.js"
  [rust]="$rust_probe"
)
declare -A fault_of=(
  [clean]=""
  [list]='{"kind": "rst-stream", "after_messages": 3, "every": 1}'
  [chat]='{"kind": "goaway", "after_frames": 10}'
  [record-cut]='{"kind": "connection-reset", "after_bytes": 1000}'
)
declare -A fault_name=([clean]="" [list]=rst-stream [chat]=goaway [record-cut]=connection-reset)

known="$ci_dir/checks/proxy-known-differences.toml"
: >"$work/known-seen"
passed=0
failed=0
rows=()
record() { # record pass|fail DESCRIPTION
  rows+=("$(printf '%-90s %s' "$2" "$1")")
  if [[ "$1" == pass ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# set_fault SERVER JSON: the proxy in front of SERVER applies only this fault (none for "").
set_fault() {
  local url="http://${control[$1]}/faults"
  timeout 10 curl -sf -X DELETE "$url" >/dev/null
  if [[ -n "$2" ]]; then
    timeout 10 curl -sf -X POST "$url" -d "$2" >/dev/null
  fi
}

# fault_lines SERVER NAME: how many times the proxy in front of SERVER logged fault NAME.
fault_lines() {
  jq -cR "fromjson? | select(.event == \"fault\" and .fault == \"$2\")" <"$work/proxy_$1.out" | wc -l
}

for case in clean list chat record-cut; do
  for server in "${servers[@]}"; do
    set_fault "$server" "${fault_of[$case]}"
    for client in "${clients[@]}"; do
      what="$case: $client client -> proxy -> $server server"
      out="$work/$case.$client.$server"
      before=0
      [[ -n "${fault_name[$case]}" ]] && before="$(fault_lines "$server" "${fault_name[$case]}")"
      status=0
      # shellcheck disable=SC2086 # the client command is words
      timeout --kill-after=5 60 ${client_cmd[$client]} --addr "${proxied[$server]}" "$case" >"$out" 2>"$out.err" ||
        status=$?
      ok=1
      if ((status != 0)); then
        echo "--- $what: client exit $status (124: timed out); stderr:" >&2
        tail -n 20 "$out.err" >&2
        ok=0
      elif ! "$py" "$ci_dir/checks/proxy_expect.py" "$case" "$client" --server "$server" --known "$known" <"$out" >"$out.check"; then
        echo "--- $what:" >&2
        cat "$out.check" >&2
        ok=0
      fi
      if grep -q '^KNOWN ' "$out.check" 2>/dev/null; then
        grep '^KNOWN ' "$out.check" | sed "s|^|$case/$client/$server: |" >>"$work/known-seen"
        ((ok)) && what="$what (known difference)"
      fi
      if [[ -n "${fault_name[$case]}" ]] && (($(fault_lines "$server" "${fault_name[$case]}") <= before)); then
        echo "--- $what: the proxy logged no ${fault_name[$case]}" >&2
        ok=0
      fi
      if ((ok)); then record pass "$what"; else record fail "$what"; fi
    done
  done
done

# Every known difference was needed by some run (otherwise it is stale: remove it), unless a
# race decides whether it shows.
while read -r id kind; do
  if grep -q "KNOWN $id:" "$work/known-seen"; then
    record pass "known difference still seen: $id"
  elif [[ "$kind" == race ]]; then
    record pass "known difference not seen this run (a race decides): $id"
  else
    record fail "known difference never seen (stale): $id"
  fi
done < <("$py" "$ci_dir/checks/proxy_expect.py" --list-known x x --known "$known")

# The tutorial clients print through a clean proxy exactly what they print without it
# (RouteChat's sent and received lines may interleave differently: compared as sets).
chat_sorted() {
  awk '/^-------------- RouteChat/ { chat = 1 } { print (chat ? "chat " : "") $0 }' "$1" | sort
}
declare -A tutorial=(
  [grpcio]="$py $ci_dir/reference/route_guide_client.py --seed 1 --no-pause"
  [rust]="$faultline client route-guide --seed 1 --no-pause"
)
for server in "${servers[@]}"; do
  set_fault "$server" ""
  for client in grpcio rust; do
    what="clean: $client tutorial client via proxy == direct, $server server"
    out="$work/tutorial.$client.$server"
    ok=1
    # shellcheck disable=SC2086
    timeout 60 ${tutorial[$client]} --addr "${direct[$server]}" >"$out.direct" 2>"$out.err" || ok=0
    # shellcheck disable=SC2086
    timeout 60 ${tutorial[$client]} --addr "${proxied[$server]}" >"$out.proxied" 2>>"$out.err" || ok=0
    if ((ok)) && [[ -s "$out.direct" ]] &&
      diff <(chat_sorted "$out.direct") <(chat_sorted "$out.proxied") >"$out.diff"; then
      record pass "$what"
    else
      echo "--- $what:" >&2
      head -n 20 "$out.diff" "$out.err" >&2 2>/dev/null || true
      record fail "$what"
    fi
  done
done

# Each proxy stops cleanly (exit 0) on SIGTERM.
for server in "${servers[@]}"; do
  pid_var="proxy_${server}_pid"
  pid="${!pid_var}"
  kill -TERM "$pid" 2>/dev/null || true
  status=0
  wait "$pid" || status=$?
  if ((status == 0)); then record pass "proxy ($server): exits 0 on SIGTERM"; else record fail "proxy ($server): exits 0 on SIGTERM (got $status)"; fi
done

echo
printf '%-90s %s\n' "check" "result"
printf '%s\n' "${rows[@]}"
if [[ -s "$work/known-seen" ]]; then
  echo
  echo "known differences (ci/checks/proxy-known-differences.toml):"
  cat "$work/known-seen"
fi
echo
echo "$passed passed, $failed failed"
((failed == 0))
