#!/usr/bin/env bash
# Refresh the connection-form screenshots in docs/ (the tests alone never write into the checkout):
# runs the browser test of each UI generation with MILVUS_UI_SCREENSHOTS pointing at docs/.
#
#   bash scripts/refresh_screenshots.sh                 # 2.11.2, 3.0.6, 3.1.8 and 3.3.2
#   bash scripts/refresh_screenshots.sh 2.11.2          # only the legs named
set -euo pipefail
cd "$(dirname "$0")/.."
legs=("$@")
[ ${#legs[@]} -eq 0 ] && legs=(2.11.2 3.0.6 3.1.8 3.3.2)
args=()
for leg in "${legs[@]}"; do args+=(--leg "$leg"); done
MILVUS_UI_SCREENSHOTS="$PWD/docs" exec bash scripts/test.sh "${args[@]}" -- tests/ui/test_connection_form.py
