#!/usr/bin/env bash
# Install the Debian packages the distributed e2e tier needs (tests/e2e_distributed/):
# PostgreSQL (the metadata DB) and Redis (the Celery broker). Does nothing when both are there.
# Needs root (CI runs as root); prints the command for a person otherwise. Usage:
#   bash scripts/install_system_packages.sh
set -euo pipefail

have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
have_redis() { command -v redis-server >/dev/null; }

if have_postgres && have_redis; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "PostgreSQL and redis-server are needed, and this machine has no apt-get: install them by hand" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL and redis-server are needed; as root run: apt-get update && apt-get install -y postgresql redis-server" >&2
    exit 1
fi
echo "== installing postgresql and redis-server (Debian packages) for the distributed e2e tier"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql redis-server >/dev/null
have_postgres && have_redis
