#!/usr/bin/env bash
# The main job: install (first run only takes a minute), then run the example report DAG with real
# Airflow end to end against the embedded SMTP2GO sandbox and print what happened.
# With SMTP2GO_API_KEY (and SMTP2GO_SENDER, optional SMTP2GO_REGION / SMTP2GO_TO) set, it sends
# through the real API instead. Usage: bash scripts/demo.sh [--with-failure] [--keep]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh .venv >&2
exec .venv/bin/python scripts/demo.py "$@"
