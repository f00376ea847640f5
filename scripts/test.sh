#!/usr/bin/env bash
# Install everything and run every check: lint, format, types, all tests on the newest Airflow 3,
# then the Airflow tests again on Airflow 2.11 (the oldest supported). Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== installing (.venv: newest Airflow 3; .venv-af2: Airflow 2.11)"
bash scripts/bootstrap.sh .venv
bash scripts/bootstrap.sh .venv-af2 "apache-airflow>=2.11,<2.12"

echo "== ruff, mypy"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

echo "== tests on $(.venv/bin/python -c 'import airflow; print("Airflow", airflow.__version__)')"
.venv/bin/python -m pytest -p no:cacheprovider

echo "== Airflow tests on $(.venv-af2/bin/python -c 'import airflow; print("Airflow", airflow.__version__)')"
.venv-af2/bin/python -m pytest -p no:cacheprovider tests/airflow
