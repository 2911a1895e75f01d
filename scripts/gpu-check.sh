#!/usr/bin/env bash
# Greedy tokens on a GPU must equal the CPU's: small synthetic models in f32 on both
# devices, a few raw prompts, the token ids compared. Run it where the CUDA binary runs
# (the lent GPU machine), e.g.
#   scripts/gpu-check.sh ./hearth cuda:0
# Exit status 1 when any prompt gives other tokens (each difference is printed), 2 when
# a run fails.
set -euo pipefail
hearth="${1:-target/cuda/release/hearth}"
device="${2:-cuda:0}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
for model in synthetic:tiny-llama synthetic:tiny; do
    for prompt in "def fib(n): return n if n < 2 else" "SELECT name FROM users WHERE" "fn main() {"; do
        run() {
            "$hearth" generate --model "$model" --prompt "$prompt" --raw --max-new-tokens 32 --dtype f32 --ids --device "$1" 2>"$log" \
                || { echo "hearth generate on $1 failed:" >&2; cat "$log" >&2; exit 2; }
        }
        cpu="$(run cpu)"
        other="$(run "$device")"
        if [[ "$cpu" == "$other" ]]; then
            echo "same tokens   $model  \"$prompt\""
        else
            echo "OTHER TOKENS  $model  \"$prompt\""
            echo "  cpu:      $cpu"
            echo "  $device:  $other"
            status=1
        fi
    done
done
exit $status
