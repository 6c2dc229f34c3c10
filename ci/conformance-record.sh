#!/usr/bin/env bash
# Re-records the committed conformance transcripts (conformance/transcripts/*.jsonl) against the
# pinned grpcio reference server. Run after changing conformance/cases.toml or the pins in
# ci/requirements.txt; then `cargo test -p faultline-conformance` (and review the snapshot and
# known-failures changes). Extra arguments go to the recorder, e.g. `--case say-hello`.
set -euo pipefail

ci_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$ci_dir")"
timeout 600 bash "$ci_dir/setup-venv.sh"
out="$root/conformance/transcripts"
if (($# == 0)); then
  # A full re-record replaces the set, so a case removed from cases.toml loses its transcript.
  rm -f "$out"/*.jsonl
fi
exec timeout 300 "$ci_dir/.venv/bin/python" "$ci_dir/recorder/record.py" --out "$out" "$@"
