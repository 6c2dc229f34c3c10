#!/usr/bin/env bash
# A user's package outside this repository: examples/outside, copied to a temporary folder with
# its dependency on faultline-sim pointed at this checkout, built with no [patch], no
# .cargo/config.toml and no RUSTFLAGS (so against crates.io tokio and turmoil, and without
# --cfg tokio_unstable). Its tests must pass (the planted crash-only bug caught, each printed
# replay line run); its runner must pass the catalogue deterministically, and exit 1 with SEED=
# and a replay line that reproduces the failure when the bug is planted.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/faultline-outside.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cp -r examples/outside "$work/counter"
rm -rf "$work/counter/target"
sed -i "s#path = \"../../sim\"#path = \"$repo/sim\"#" "$work/counter/Cargo.toml"
grep -q "path = \"$repo/sim\"" "$work/counter/Cargo.toml" || { echo "outside: dependency path not rewritten" >&2; exit 1; }
cd "$work/counter"
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS
# Cargo reads .cargo/config.toml from every folder above the package: none may exist here.
dir="$(pwd)"
while [ "$dir" != / ]; do
  for f in "$dir/.cargo/config.toml" "$dir/.cargo/config"; do
    [ ! -e "$f" ] || { echo "outside: $f would configure the build" >&2; exit 1; }
  done
  dir="$(dirname "$dir")"
done

timeout 1800 cargo test
echo "outside: the package builds on crates.io tokio and turmoil, and its tests pass"

# Versions: the lock file holds one tokio and one turmoil, both from crates.io.
for crate in tokio turmoil; do
  n="$(grep -c "^name = \"$crate\"$" Cargo.lock)"
  [ "$n" -eq 1 ] || { echo "outside: $n versions of $crate in the lock file" >&2; exit 1; }
done

timeout 900 cargo run -q -- --seeds 2 --check-determinism > fixed.txt \
  || { cat fixed.txt; echo "outside: the runner failed on the fixed service" >&2; exit 1; }
echo "outside: the runner passes the catalogue, each run deterministic (2 seeds)"

status=0
timeout 900 cargo run -q -- crash-bounce --seeds 4 --with-bug > buggy.txt || status=$?
[ "$status" -eq 1 ] || { cat buggy.txt; echo "outside: --with-bug exited $status, expected 1" >&2; exit 1; }
replay="$(sed -n 's/^  replay: //p' buggy.txt | head -n 1)"
case "$replay" in
  "cargo run --release -p outside-counter -- replay crash-bounce --seed "*" --with-bug") ;;
  *) cat buggy.txt; echo "outside: unexpected replay line: $replay" >&2; exit 1 ;;
esac
status=0
# The printed line, in debug (the same runs; a release build would only take longer here).
timeout 900 ${replay/--release /} > replay.txt || status=$?
[ "$status" -eq 1 ] && grep -q '\[durable\]' replay.txt \
  || { cat replay.txt; echo "outside: the replay line did not reproduce the failure (exit $status)" >&2; exit 1; }
echo "outside: --with-bug caught by crash-bounce; the printed replay line reproduces it"
