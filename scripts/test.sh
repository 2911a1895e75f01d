#!/usr/bin/env bash
# hearth's test command (the README's, and what CI runs): fetches the small real model
# the engine and pipeline tests run (cached, see fetch-model.sh), makes sure pyarrow is
# there to read the outputs back as users do, and a font for the report's plots, then
# runs every test. In release mode:
# the end-to-end tests run real models, ~20x slower unoptimised.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh >/dev/null
python3 -c "import pyarrow" 2>/dev/null || python3 -m pip install --quiet pyarrow
# The soak test draws the report's plots, whose text needs a TrueType font.
[ -n "${HEARTH_FONT:-}" ] || ls /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf >/dev/null 2>&1 \
    || { apt-get update -q && apt-get install -y -q fonts-dejavu-core; }
cargo test --release --all-targets --locked "$@"
