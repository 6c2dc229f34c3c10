#!/usr/bin/env bash
# Live interop between the grpcio reference (ci/reference) and the Rust `faultline` binary.
#
#   (a) the grpcio tutorial clients print the same output against the grpcio server and
#       against the Rust server;
#   (b) the Rust tutorial client prints the same against the Rust server and the grpcio server.
# "The same" is byte for byte, except that in RouteChat the Sending lines (printed as notes go
# out) and the Received lines (printed as replies come in) may interleave differently: each
# client prints them from two concurrent tasks, so their relative order is a race even against
# one server. That section is compared as the Sending lines in order, then the Received lines
# in order.
#
# Servers listen on 127.0.0.1 port 0 (the OS picks a free port; they print it). Every step has a
# timeout, and every server started here is stopped on exit. Ends with `N passed, M failed`.
# Environment: INTEROP_SEEDS (default "1 42") seeds the random routes; FAULTLINE_BIN skips the
# cargo build and uses that binary.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seeds="${INTEROP_SEEDS:-1 42}"
ref="$ci_dir/reference"
ci_setup interop
ci_build faultline

start_server grpcio 600 "$py" "$ref/server.py" --addr 127.0.0.1:0
grpcio_addr="$ADDR"
start_server rust 600 "$faultline" serve all --addr 127.0.0.1:0
rust_addr="$ADDR"
echo "interop: grpcio server on $grpcio_addr, rust server on $rust_addr"

passed=0
failed=0
rows=()

record() { # record PASS|FAIL DESCRIPTION
  rows+=("$(printf '%-68s %s' "$2" "$1")")
  if [[ "$1" == pass ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# run OUT CMD...: runs a client with a timeout; stdout to $work/OUT, stderr to $work/OUT.err.
run() {
  local out="$1"
  shift
  local status=0
  timeout --kill-after=5 60 "$@" >"$work/$out" 2>"$work/$out.err" || status=$?
  if ((status == 0)); then
    return 0
  fi
  echo "--- $out: exit $status (124: timed out); stderr:" >&2
  cat "$work/$out.err" >&2
  return 1
}

# RouteChat's Sending lines (printed as requests go out) and Received lines (printed as replies
# come in) may interleave differently from run to run and server to server. Keep everything up
# to the RouteChat header as is; after it, list the Sending lines in their order, then the
# Received lines in theirs (a printed note spans several lines; continuation lines stay with it).
chat_split() {
  awk '/^-------------- RouteChat --------------$/ { chat = 1; print; next }
       !chat { print; next }
       /^Sending / { kind = "sent" }
       /^Received / { kind = "received" }
       { if (kind == "sent") sent = sent $0 "\n"; else if (kind == "received") got = got $0 "\n"; else other = other $0 "\n" }
       END { printf "%s%s%s", other, sent, got }' "$1"
}

# compare DESCRIPTION MODE NAME CMD...: runs CMD (a client that takes --addr last) against the
# grpcio server and the Rust server and compares the outputs (MODE exact or chat-split).
compare() {
  local what="$1" mode="$2" name="$3"
  shift 3
  local ok=1
  run "$name.grpcio" "$@" --addr "$grpcio_addr" || ok=0
  run "$name.rust" "$@" --addr "$rust_addr" || ok=0
  if [[ ! -s "$work/$name.grpcio" ]]; then
    echo "--- $name: no output against the grpcio server" >&2
    ok=0
  fi
  local a="$work/$name.grpcio" b="$work/$name.rust"
  if [[ "$mode" == chat-split ]]; then
    chat_split "$a" >"$a.cmp"
    chat_split "$b" >"$b.cmp"
    a="$a.cmp" b="$b.cmp"
  fi
  if ((ok)) && ! diff -u --label "grpcio server" --label "rust server" "$a" "$b" >"$work/$name.diff"; then
    echo "--- $what: output differs" >&2
    head -n 60 "$work/$name.diff" >&2
    ok=0
  fi
  if ((ok)); then record pass "$what"; else record fail "$what"; fi
}

# (a) the grpcio tutorial clients: the same output against either server.
compare "grpcio greeter client: grpcio server == rust server" exact py-greeter \
  "$py" "$ref/greeter_client.py"
for seed in $seeds; do
  compare "grpcio route_guide client seed=$seed: grpcio server == rust server" chat-split \
    "py-route-guide-$seed" "$py" "$ref/route_guide_client.py" --seed "$seed" --no-pause
done

# (b) the Rust tutorial client: same output against either server (RouteChat order-free).
compare "rust greeter client: rust server == grpcio server" exact rs-greeter \
  "$faultline" client greeter
for seed in $seeds; do
  compare "rust route-guide client seed=$seed: rust server == grpcio server" chat-split \
    "rs-route-guide-$seed" "$faultline" client route-guide --seed "$seed" --no-pause
done

# Both servers stop cleanly (exit 0) on SIGTERM.
for name in grpcio rust; do
  pid_var="${name}_pid"
  pid="${!pid_var}"
  kill -TERM "$pid" 2>/dev/null || true
  status=0
  wait "$pid" || status=$?
  remaining=()
  for p in "${server_pids[@]}"; do [[ "$p" == "$pid" ]] || remaining+=("$p"); done
  server_pids=("${remaining[@]}")
  if ((status == 0)); then
    record pass "$name server: exits 0 on SIGTERM"
  else
    echo "--- $name server exited $status after SIGTERM; stderr:" >&2
    cat "$work/$name.err" >&2
    record fail "$name server: exits 0 on SIGTERM"
  fi
done

echo
printf '%-68s %s\n' "check" "result"
printf '%s\n' "${rows[@]}"
echo
echo "$passed passed, $failed failed"
((failed == 0))
