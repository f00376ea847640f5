#!/usr/bin/env bash
# Create (or refresh) a virtualenv with this project installed: bootstrap.sh VENV_DIR [EXTRA_REQUIREMENT...]
# Needs only python3 (>= 3.10) and access to the package index; uv is installed into the venv for speed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$1"; shift
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
# Trust the system's certificate store like pip does (uv bundles its own by default), so an
# index behind a TLS-inspecting proxy works without extra environment variables.
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}" UV_NATIVE_TLS="${UV_NATIVE_TLS:-1}"
"$venv/bin/python" -m uv pip install --quiet --python "$venv/bin/python" -e "$root[airflow,test]" "$@"
