#!/usr/bin/env bash
# Regenerate constraints/airflow-X.Y.txt: one pinned lock per Airflow minor that scripts/test.sh tests.
# Usage: bash scripts/lock_constraints.sh [VENV]   (VENV: any venv with uv in it; default .venv)
#
# Users install Airflow with its constraints file, which pins every dependency as it was on the
# day that Airflow patch was released. We cannot download those files (only package indexes are
# reachable), so each lock is made the same way: `uv pip compile` of `apache-airflow==<latest
# patch of the minor>` + this project's `airflow` and `test` extras + the packaging tools, for
# CPython 3.11 on x86_64 Linux, from the releases that were on PyPI the day after that patch
# (AS_OF). Without that date a fresh install breaks older minors: e.g. 3.2.2 with fastapi
# >= 0.156.1 (PydanticUserError "needs a discriminator field") or svcs 26.2.0 (no
# `svcs_registry`); (unsupported) 3.0.6 with fastapi >= 0.121 (its execution API answers 422, so
# no task starts) or universal-pathlib 0.3 (ObjectStoragePath refuses file://).
# The newest minor is the development venv's: its lock also holds the `lint` and `e2e` extras and the
# packaging tools, and its AS_OF is the day of the last refresh, so it sees current releases.
#
# Re-running gives the same files. Refresh deliberately: when a new patch is out, change
# AIRFLOW_PATCH and AS_OF (the day after its upload), re-run, run scripts/test.sh, and commit
# the diff with the reason.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/.venv}"
cd "$root"

PYTHON_VERSION="3.11"
PLATFORM="x86_64-unknown-linux-gnu"
MINORS=(2.11 3.1 3.2 3.3)  # 3.0 is not supported: see EXCLUDED_AIRFLOW_MINORS
declare -A AIRFLOW_PATCH=([2.11]=2.11.2 [3.1]=3.1.8 [3.2]=3.2.2 [3.3]=3.3.2)
declare -A AS_OF=([2.11]=2026-03-15 [3.1]=2026-03-12 [3.2]=2026-05-30 [3.3]=2026-12-01)
NEWEST=3.3
# Not runtime dependencies: scripts/test.sh installs them to build and check the distributions.
PACKAGING_TOOLS=(build twine)

export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}" UV_NATIVE_TLS="${UV_NATIVE_TLS:-1}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for minor in "${MINORS[@]}"; do
  input="$work/airflow-$minor.in"
  extras=(--extra airflow --extra test)
  echo "apache-airflow==${AIRFLOW_PATCH[$minor]}" >"$input"
  if [ "$minor" = "$NEWEST" ]; then
    extras+=(--extra lint --extra e2e)
    printf '%s\n' "${PACKAGING_TOOLS[@]}" >>"$input"
  fi
  "$venv/bin/python" -m uv pip compile --quiet pyproject.toml "$input" "${extras[@]}" \
    --python-version "$PYTHON_VERSION" --python-platform "$PLATFORM" \
    --exclude-newer "${AS_OF[$minor]}T00:00:00Z" --no-annotate \
    --custom-compile-command "bash scripts/lock_constraints.sh" \
    --output-file "constraints/airflow-$minor.txt"
  echo "constraints/airflow-$minor.txt: apache-airflow==${AIRFLOW_PATCH[$minor]} as of ${AS_OF[$minor]}"
done
