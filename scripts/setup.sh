#!/usr/bin/env bash
# Installs what the project needs on a fresh machine: .venv with the provider and its test tools
# (Airflow 3.3.2, the Milvus 2.3.5 server wheel, pymilvus as a reference, Playwright, the PostgreSQL
# drivers), Debian's Chromium for the browser test (never a browser download) and Debian's PostgreSQL
# server for the production end-to-end test. Idempotent: a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# BENCH=1 also installs the benchmarks' extra (pymilvus's bulk_writer for the reschedule baseline).
extras=test
[ "${BENCH:-0}" = 1 ] && extras=test,bench
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-${extras/,/-}
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[$extras]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
# PostgreSQL for the production end-to-end test (tests/airflow_env/postgres.py runs its own server).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing Debian's postgresql for the production end-to-end test"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    else
        echo "setup: PostgreSQL is missing; run as root or: sudo apt-get install postgresql" >&2
    fi
fi
if [ ! -x /usr/bin/chromium ] && [ "${SKIP_CHROMIUM:-0}" != 1 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing Debian's chromium for the browser test"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    else
        echo "setup: /usr/bin/chromium is missing; run as root or: sudo apt-get install chromium" >&2
    fi
fi
