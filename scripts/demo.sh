#!/usr/bin/env bash
# The end-to-end demo in one command: a real Milvus 2.3.5 and real Airflow 3 services run the
# example DAG `example_milvus_import_then_gate` on a real bulk import.
#   bash scripts/demo.sh             # keeps Airflow and Milvus up until Ctrl-C (when run in a terminal)
#   bash scripts/demo.sh --no-keep   # stops everything once the run is done
# More options: bash scripts/demo.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
