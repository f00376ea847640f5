#!/usr/bin/env bash
# Install everything and run every check. Usage: bash scripts/test.sh
#   1. .venv (development: editable, newest Airflow): ruff, mypy, every test tier;
#   2. build the wheel and sdist, `twine check` them, and check their contents (tests/packaging);
#   3. every older Airflow minor we support, each in its own venv with the BUILT WHEEL installed
#      (not the checkout) and that minor's constraints: tests/airflow.
# Each step prints its install and test time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# uv (also under `python -m build --installer uv`) trusts the system's certificate store like
# pip, so an index behind a TLS-inspecting proxy works from a clean shell (bootstrap.sh does the
# same for its own installs).
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}" UV_NATIVE_TLS="${UV_NATIVE_TLS:-1}"
OLDER_MINORS=(2.11 3.1 3.2)  # and 3.3 in .venv; 3.0 is not supported (EXCLUDED_AIRFLOW_MINORS)

timed() {  # timed LABEL COMMAND...: run COMMAND, print how long it took, return its status
  local label="$1" start=$SECONDS status=0
  shift
  "$@" || status=$?
  echo "-- $label: $((SECONDS - start)) s"
  return "$status"
}
airflow_of() { "$1/bin/python" -c 'import airflow; print("Airflow", airflow.__version__)'; }

echo "== system packages for the e2e tier's browser test (Debian; CI runs as root)"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  timed "apt-get chromium" bash -c 'apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null'
fi

echo "== system packages for the distributed tier: PostgreSQL and Redis (Debian; CI runs as root)"
timed "apt-get postgresql redis" bash scripts/install_system_packages.sh

echo "== installing .venv (development, newest Airflow)"
timed "install .venv" bash scripts/bootstrap.sh .venv

echo "== ruff, mypy"
timed "lint" bash -c '.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy'

echo "== building and checking the distributions"
rm -rf dist
timed "build" .venv/bin/python -m build --installer uv --outdir dist .
.venv/bin/python -m twine check --strict dist/*
wheel="$(ls dist/*.whl)"
export SMTP2GO_DIST_DIR="$PWD/dist"  # tests/packaging inspects these instead of building again

echo "== all tests on $(airflow_of .venv)"
timed "tests on .venv" .venv/bin/python -m pytest -p no:cacheprovider
# Every docstring example of both packages runs (kept apart from the tests' collection, where
# the conftest.py files would be imported a second time as modules).
timed "doctests" .venv/bin/python -m pytest -p no:cacheprovider --doctest-modules airflow_provider_smtp2go logging_handler

failed=()
for minor in "${OLDER_MINORS[@]}"; do
  venv=".venv-af$minor"
  echo "== installing $venv (the built wheel, Airflow $minor)"
  timed "install $venv" bash scripts/bootstrap.sh "$venv" "$minor" "$wheel"
  echo "== Airflow tests on $(airflow_of "$venv"), from the installed wheel"
  # -P: keep the checkout off sys.path, so the tests import the wheel's package. A failing
  # minor does not stop the others: one CI run reports every minor.
  SMTP2GO_EXPECT_INSTALLED=1 timed "tests on $venv" \
    "$venv/bin/python" -P -m pytest -p no:cacheprovider --durations=5 tests/airflow tests/packaging \
    || failed+=("$minor")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "== FAILED on Airflow ${failed[*]}"
  exit 1
fi
