#!/usr/bin/env bash
# Creates ci/.venv with the pinned grpcio and generates Python stubs from proto/*.proto into
# ci/.venv/gen (on the venv's path through a .pth file). Idempotent: a stamp keyed on the
# requirements, the protos and this script makes a re-run that has nothing to do return at once.
set -euo pipefail

ci_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$ci_dir")"
venv="$ci_dir/.venv"
gen="$venv/gen"
stamp="$venv/.faultline-stamp"
python="${PYTHON:-python3}"

key="$(cat "${BASH_SOURCE[0]}" "$ci_dir/requirements.txt" "$root"/proto/*.proto | sha256sum | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$key" ]]; then
  echo "setup-venv: up to date ($venv)"
  exit 0
fi

created=""
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
  created="created venv, "
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ci_dir/requirements.txt"

rm -rf "$gen"
mkdir -p "$gen"
"$venv/bin/python" -m grpc_tools.protoc -I "$root/proto" --python_out="$gen" --grpc_python_out="$gen" \
  "$root"/proto/*.proto
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$gen" > "$site/faultline-gen.pth"

echo "$key" > "$stamp"
echo "setup-venv: ${created}installed $(grep -c '==' "$ci_dir/requirements.txt") pinned packages, generated stubs for $(ls "$root"/proto/*.proto | wc -l) protos into $gen"
