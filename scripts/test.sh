#!/usr/bin/env bash
# hearth's test command (the README's, and what CI runs): fetches the small real model
# the engine and pipeline tests run (cached, see fetch-model.sh), makes sure pyarrow is
# there to read the outputs back as users do, then runs every test. In release mode:
# the end-to-end tests run real models, ~20x slower unoptimised.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh >/dev/null
python3 -c "import pyarrow" 2>/dev/null || python3 -m pip install --quiet pyarrow
cargo test --release --all-targets --locked "$@"
