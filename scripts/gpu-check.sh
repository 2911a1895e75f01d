#!/usr/bin/env bash
# Greedy tokens on a GPU must equal the CPU's: small synthetic models in f32 on both
# devices, a few raw prompts, the token ids compared; the same with the host's memory
# beside the card (cpu+cuda:0 and cuda:0+cpu: the host holds a layer at least, so the
# hidden states cross between host and card; cuda:0=1+cpu: the card holds the one layer
# its entry fixes). Then, in a binary built with
# flash-attn, flash-attention against the gathered attention on the GPU in bf16 (flash
# has no f32 kernels), over prompts long enough to span several KV blocks: their greedy
# tokens must agree on the first 8 (a wrong causal mask, context length or block table
# changes the first token) and may part later only by bf16 rounding, which is reported.
# Run it where the CUDA binary runs (the lent GPU machine), e.g.
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
        placements=("$device" "cpu+$device" "$device+cpu")
        # A layer count is a card's: a CPU stand-in (`scripts/gpu-check.sh hearth cpu`) has none.
        [[ "$device" == cpu ]] || placements+=("$device=1+cpu")
        for placement in "${placements[@]}"; do
            other="$(run "$placement")"
            if [[ "$cpu" == "$other" ]]; then
                echo "same tokens   $placement  $model  \"$prompt\""
            else
                echo "OTHER TOKENS  $placement  $model  \"$prompt\""
                echo "  cpu:      $cpu"
                echo "  $placement:  $other"
                status=1
            fi
        done
    done
done

if ! "$hearth" generate --model synthetic:tiny --prompt x --raw --max-new-tokens 1 --dtype bf16 --attention flash --device "$device" > /dev/null 2>"$log"; then
    if grep -q "built without flash-attn" "$log"; then
        echo "flash-attention not checked: this binary was built without it"
        exit $status
    fi
    echo "hearth generate --attention flash failed:" >&2
    cat "$log" >&2
    exit 2
fi
long="$(printf 'def handler_%d(request): return respond(request, status=%d)\n' {1..12})"
for model in synthetic:tiny-llama synthetic:tiny synthetic:qwen2.5-coder-0.5b; do
    for prompt in "fn main() {" "$long"; do
        run() {
            "$hearth" generate --model "$model" --prompt "$prompt" --raw --max-new-tokens 64 --dtype bf16 --attention "$1" --ids --device "$device" 2>"$log" \
                || { echo "hearth generate --attention $1 failed:" >&2; cat "$log" >&2; exit 2; }
        }
        read -ra gathered <<< "$(run gathered)"
        read -ra flash <<< "$(run flash)"
        same=0
        while (( same < ${#gathered[@]} && same < ${#flash[@]} )) && [[ "${gathered[same]}" == "${flash[same]}" ]]; do
            same=$((same + 1))
        done
        words=$(wc -w <<< "$prompt")
        if (( same == ${#gathered[@]} && same == ${#flash[@]} )); then
            echo "same tokens   flash vs gathered  $model  ($words-word prompt)"
        elif (( same >= 8 )); then
            echo "parted at $same  flash vs gathered  $model  ($words-word prompt): bf16 rounding"
        else
            echo "OTHER TOKENS  flash vs gathered  $model  ($words-word prompt), from token $same"
            echo "  gathered: ${gathered[*]}"
            echo "  flash:    ${flash[*]}"
            status=1
        fi
    done
done
exit $status
