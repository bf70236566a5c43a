#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, then ruff, mypy, the packaging
# checks and every leg of the Airflow matrix (2.11.0 floors, 2.11.2, 3.0.6, 3.1.8, 3.2.2, 3.3.2),
# each in its own venv from the wheel. Ends with a summary table and "N passed, N failed".
#
#   bash scripts/test.sh                  # everything (what CI runs)
#   bash scripts/test.sh --leg 3.0.6      # one leg alone (repeat --leg for more); still builds the wheel
#   bash scripts/test.sh --leg 3.3.2 -- -k example_dags   # pytest arguments after --
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
legs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --leg) legs+=("--leg" "$2"); shift 2 ;;
        --leg=*) legs+=("--leg" "${1#--leg=}"); shift ;;
        --) break ;;
        *) echo "test.sh: unknown argument $1 (use --leg NAME, then -- and pytest arguments)" >&2; exit 2 ;;
    esac
done
checks=(--checks)
[ ${#legs[@]} -gt 0 ] && checks=()
exec .venv/bin/python scripts/matrix.py "${checks[@]}" "${legs[@]}" "$@"
