#!/usr/bin/env bash
# hearth's test command (the README's, and what CI runs): fetches the small real model
# the engine tests compare against (cached, see fetch-model.sh), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh >/dev/null
cargo test --all-targets --locked "$@"
