#!/bin/sh
# Pulls the supplier's CSV and imports it; run nightly from cron.
set -eu
src=${1:?usage: sync.sh SUPPLIER_CSV}
python3 "$(dirname "$0")/import_csv.py" < "$src" > build/counts.tsv
echo "imported $(wc -l < build/counts.tsv) counts"
