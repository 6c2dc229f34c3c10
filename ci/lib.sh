# Shared by the ci/ scripts that start servers; sourced, never run.
#
#   ci_setup NAME       work dir, traps that stop every server started here, the pinned venv
#                       (sets: work, py, server_pids; NAME prefixes messages)
#   ci_build BIN...     builds the release binaries named (or takes <BIN>_BIN from the
#                       environment when every one is set) and sets a variable per binary
#   start_server NAME LIMIT CMD...
#                       runs CMD in the background (killed after LIMIT seconds at the latest),
#                       waits for its `listening on HOST:PORT` line, sets ADDR, and sets
#                       NAME_pid to its pid
#   bench_settings      the benchmark grid and timing (BENCH_QUICK, BENCH_DURATION_MS,
#                       BENCH_WARMUP_MS, BENCH_KINDS, BENCH_IN_FLIGHT; sets duration, warmup,
#                       kinds, in_flights)
#   bench_measure OUT CMD...
#                       one load run of CMD with the grid's timing and a timeout; its JSON line
#                       goes to $work/OUT (stderr to $work/OUT.err, shown on failure); a failed
#                       run is repeated once, a second failure exits 1

ci_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$ci_dir")"
cd "$root"

ci_setup() {
  ci_name="$1"
  py="$ci_dir/.venv/bin/python"
  work="$(mktemp -d "${TMPDIR:-/tmp}/faultline-$ci_name.XXXXXX")"
  server_pids=()
  trap ci_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  timeout 600 bash "$ci_dir/setup-venv.sh" >&2
}

ci_cleanup() {
  local pid
  for pid in "${server_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${server_pids[@]}"; do
    # `timeout` wraps each server, so TERM reaches it and KILL follows 5 s later at worst.
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}

# ci_build faultline [loadgen]: FAULTLINE_BIN / LOADGEN_BIN skip the build when all are set.
ci_build() {
  local bin var all_given=1
  for bin in "$@"; do
    var="${bin^^}_BIN"
    [[ -n "${!var:-}" ]] || all_given=0
  done
  if ((all_given)); then
    for bin in "$@"; do
      var="${bin^^}_BIN"
      printf -v "$bin" '%s' "${!var}"
    done
    return 0
  fi
  echo "$ci_name: building $* (release)" >&2
  local packages=()
  for bin in "$@"; do
    case "$bin" in
      loadgen) packages+=(-p faultline-benches --bin loadgen) ;;
      *) packages+=(-p faultline --bin "$bin") ;;
    esac
  done
  timeout 1800 cargo build --release --quiet --locked "${packages[@]}"
  local target_dir
  target_dir="$(timeout 120 cargo metadata --format-version 1 --no-deps |
    "$py" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  for bin in "$@"; do
    printf -v "$bin" '%s' "$target_dir/release/$bin"
  done
}

start_server() {
  local name="$1" limit="$2"
  shift 2
  : >"$work/$name.out"
  timeout --kill-after=5 "$limit" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  local pid=$!
  server_pids+=("$pid")
  printf -v "${name}_pid" '%s' "$pid"
  local i line
  for ((i = 0; i < 200; i++)); do
    line="$(head -n 1 "$work/$name.out" 2>/dev/null || true)"
    if [[ "$line" == "listening on "* ]]; then
      ADDR="${line#listening on }"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  echo "$ci_name: $name server did not start; its stderr:" >&2
  cat "$work/$name.err" >&2
  exit 1
}

bench_settings() {
  if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
    duration="${BENCH_DURATION_MS:-1000}" warmup="${BENCH_WARMUP_MS:-300}"
  else
    duration="${BENCH_DURATION_MS:-3000}" warmup="${BENCH_WARMUP_MS:-500}"
  fi
  kinds="${BENCH_KINDS:-say-hello get-feature list-features record-route route-chat}"
  in_flights="${BENCH_IN_FLIGHT:-1 64}"
}

bench_measure() {
  # A load run is repeated once if it fails: on a loaded machine a client (grpcio's above all)
  # can stall a call to its deadline. The first failure is shown; a second one fails the step.
  local out="$1" rc=0 attempt
  shift
  for attempt in 1 2; do
    rc=0
    timeout --kill-after=5 120 "$@" --warmup-ms "$warmup" --duration-ms "$duration" \
      >"$work/$out" 2>"$work/$out.err" || rc=$?
    ((rc == 0)) && return 0
    echo "$ci_name: $out failed with exit code $rc (124: timed out), attempt $attempt of 2; stderr:" >&2
    cat "$work/$out.err" >&2
  done
  exit 1
}
