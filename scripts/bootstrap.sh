#!/usr/bin/env bash
# Create (or refresh) a virtualenv with this project installed, pinned by constraints/airflow-X.Y.txt.
#   bootstrap.sh VENV_DIR                      development venv: editable checkout, newest Airflow,
#                                              linters, packaging tools, selenium
#   bootstrap.sh VENV_DIR MINOR WHEEL          test venv: the built WHEEL on Airflow MINOR (e.g. 3.2)
# Needs only python3 (>= 3.10; the locks are for 3.11) and access to the package index; uv is
# installed into the venv for speed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$1"
minor="${2:-3.3}"
wheel="${3:-}"
python="${PYTHON:-python3}"
constraints="$root/constraints/airflow-$minor.txt"
[ -f "$constraints" ] || { echo "bootstrap.sh: no $constraints (see scripts/lock_constraints.sh)" >&2; exit 2; }
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
# Trust the system's certificate store like pip does (uv bundles its own by default), so an
# index behind a TLS-inspecting proxy works without extra environment variables.
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}" UV_NATIVE_TLS="${UV_NATIVE_TLS:-1}"
install=("$venv/bin/python" -m uv pip install --quiet --python "$venv/bin/python" --constraint "$constraints")
if [ -n "$wheel" ]; then
  # --reinstall: a rebuilt wheel keeps its version number, so uv would otherwise keep the old one.
  "${install[@]}" --reinstall-package airflow-provider-smtp2go "$wheel[airflow,test]"
else
  "${install[@]}" -e "$root[airflow,test,lint,e2e]" build twine
fi
