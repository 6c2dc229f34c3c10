#!/usr/bin/env bash
# Structured fuzzing (stable Rust, proptest): the faultline-fuzz suite with many more cases
# than `cargo test` runs, for a bounded time. It builds as `cargo test` does (overflow checks
# on, so an arithmetic overflow is a failure too): after `cargo test` it compiles nothing.
# Every property runs FUZZ_CASES cases (default 5000, about 5 minutes on 2 cores; the costliest
# runs a twentieth); the whole run stops after FUZZ_SECONDS (default 600). Arguments filter
# tests by name (`bash ci/fuzz.sh hpack`). A failure is shrunk and saved to
# fuzz/tests/it/<target>.proptest-regressions: commit it, fix the bug, and every later
# `cargo test` replays it first. PROPTEST_RNG_SEED=<n> replays a whole run.
set -euo pipefail
cd "$(dirname "$0")/.."

cases="${FUZZ_CASES:-5000}"
seconds="${FUZZ_SECONDS:-600}"
echo "fuzz: ${cases} cases per property, at most ${seconds}s"
PROPTEST_CASES="$cases" timeout --signal=INT "$seconds" \
    cargo test --locked -p faultline-fuzz --test it -- "$@"
