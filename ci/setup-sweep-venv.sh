#!/usr/bin/env bash
# Creates ci/.venv-sweep with the pinned validators of the sweep recipes (actionlint,
# kubernetes-validate). Idempotent: a stamp keyed on the requirements and this script makes a
# re-run that has nothing to do return at once. After the install nothing needs the network.
set -euo pipefail

ci_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$ci_dir/.venv-sweep"
stamp="$venv/.faultline-stamp"
python="${PYTHON:-python3}"

key="$(cat "${BASH_SOURCE[0]}" "$ci_dir/sweep-requirements.txt" | sha256sum | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$key" ]]; then
  echo "setup-sweep-venv: up to date ($venv)"
  exit 0
fi
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
  -r "$ci_dir/sweep-requirements.txt"
echo "$key" > "$stamp"
echo "setup-sweep-venv: installed $(grep -c '==' "$ci_dir/sweep-requirements.txt") pinned packages into $venv"
