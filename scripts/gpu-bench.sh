#!/usr/bin/env bash
# Issue 6's run on a lent GPU machine, one step per call (a call gets 10 minutes there):
#   scripts/gpu-bench.sh check   HEARTH OUT   # greedy ids, CPU vs GPU (and flash vs
#                                             # gathered); small engine runs with each
#   scripts/gpu-bench.sh 7b      HEARTH OUT   # Qwen2.5-Coder-7B shapes, bf16
#   scripts/gpu-bench.sh 7b-q4   HEARTH OUT   # ... matrices in 4 bits (Q4_K)
#   scripts/gpu-bench.sh 32b     HEARTH OUT
#   scripts/gpu-bench.sh 32b-q4  HEARTH OUT
#   scripts/gpu-bench.sh offload HEARTH OUT   # 7B shapes in Q4_K on the card alone, then
#                                             # with the host holding 4 of its 28 layers
# HEARTH is the CUDA binary (scripts/build-cuda.sh; gunzip the carried copy), OUT the
# folder the results go to. Each model step runs the engine benchmark at 256 concurrent
# sequences, 512 prompt and 256 new tokens, at most 8,192 tokens a step, with
# transformers' batched generate as the peer (PEER_PYTHON, default python3: it runs the
# same shapes in bf16, also for the 4-bit rows) and the GPU's NVML telemetry, and
# writes OUT/<step>.json, OUT/<step>.log and OUT/<step>-telemetry.parquet.
# Q4_FORMAT picks the 4-bit format (q4k; q4_0 quantizes faster at load).
set -euo pipefail
cd "$(dirname "$0")/.."
step="${1:?step: check, 7b, 7b-q4, 32b, 32b-q4 or offload}"
hearth="${2:-target/cuda/release/hearth}"
out="${3:-${OUT:-.}}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,power.limit --format=csv > "$out/gpu.csv" 2>&1 || true
if [[ "$step" == check ]]; then
    status=0
    scripts/gpu-check.sh "$hearth" cuda:0 2>&1 | tee "$out/check.log" || status=1
    # auto is flash in a flash-attn build, gathered otherwise.
    for attention in auto gathered; do
        "$hearth" bench engine --device cuda:0 --model synthetic:qwen2.5-coder-0.5b --attention "$attention" \
            --concurrency 8,64 --prompt-tokens 128 --new-tokens 32 --repeat 1 2>&1 | tee -a "$out/check.log" || status=1
    done
    exit $status
fi
if [[ "$step" == offload ]]; then
    # What the host's layers cost a card's run: the same work on the card alone and with
    # the host beside it (a count, so the split does not depend on the card's memory).
    status=0
    for device in cuda:0 cuda:0=24+cpu; do
        HEARTH_LOG=info "$hearth" bench engine --device "$device" --model synthetic:qwen2.5-coder-7b --requantize "${Q4_FORMAT:-q4k}" \
            --concurrency 64 --prompt-tokens 256 --new-tokens 64 --repeat 1 --save "$out/offload-${device//[:=+]/_}.json" \
            2>&1 | tee -a "$out/offload.log" || status=1
    done
    exit $status
fi
case "$step" in
    7b | 7b-q4) model=synthetic:qwen2.5-coder-7b ;;
    32b | 32b-q4) model=synthetic:qwen2.5-coder-32b ;;
    *) echo "gpu-bench: unknown step $step" >&2; exit 2 ;;
esac
format=keep
[[ "$step" == *-q4 ]] && format="${Q4_FORMAT:-q4k}"
# What `hearth plan` says of this card (as nvidia-smi gives its memory), beside what the
# engine then takes: the weights per card are logged at load (HEARTH_LOG=info).
card=$(nvidia-smi --query-gpu=memory.total,compute_cap --format=csv,noheader,nounits | head -1 | awk -F', *' '{ printf "%.2fGiB@%s", $1 / 1024, $2 }')
"$hearth" plan --model "$model" --requantize "$format" --gpu "$card" --max-seqs 256 --max-batched-tokens 8192 \
    > "$out/$step-plan.txt" 2>&1 || true
export HEARTH_LOG="${HEARTH_LOG:-info}"
"$hearth" bench engine --device cuda:0 --model "$model" --requantize "$format" \
    --concurrency 256 --prompt-tokens 512 --new-tokens 256 --max-batched-tokens 8192 --repeat 1 \
    --peer transformers --peer-python "${PEER_PYTHON:-python3}" \
    --save "$out/$step.json" --telemetry "$out/$step-telemetry.parquet" 2>&1 | tee "$out/$step.log"
exit "${PIPESTATUS[0]}"
