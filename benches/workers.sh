#!/usr/bin/env bash
# Two CPU workers against one on the same cores: the docs task of pipelines/docs.toml
# (its 81 sample units, or a dataset given instead), each
# configuration from an empty output folder, alternating A B A B so drift hits both.
# Prints each run's generated tokens/s (from _SUCCESS) and the median ratio two/one.
#
#   benches/workers.sh [ROUNDS] [DATASET]      (defaults: 3 rounds, the pipeline's sources)
#
# Needs the release binary (cargo build --release) and the default model
# (scripts/fetch-model.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
dataset=${2:-}
input=()
[ -n "$dataset" ] && input=(--dataset "$dataset")
bin=target/release/hearth
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rate() { # devices -> generated tokens per second of the docs task
    rm -rf "$tmp/out"
    "$bin" run pipelines/docs.toml "${input[@]}" --out "$tmp/out" --devices "$1" --quiet
    python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tasks"][0]; print("%.1f" % (t["tokens_out"]/t["seconds"]))' "$tmp/out/_SUCCESS"
}

echo "threads: $(nproc); input: ${dataset:-pipelines/docs.toml sources}; rounds: $rounds"
printf '%6s %12s %12s %7s\n' round "one tok/s" "two tok/s" ratio
ratios=()
for r in $(seq "$rounds"); do
    one=$(rate cpu)
    two=$(rate cpu,cpu)
    ratio=$(python3 -c "print(f'{$two/$one:.3f}')")
    ratios+=("$ratio")
    printf '%6s %12s %12s %7s\n' "$r" "$one" "$two" "$ratio"
done
python3 -c "import statistics,sys; print('median ratio two/one:', statistics.median(map(float, sys.argv[1:])))" "${ratios[@]}"
