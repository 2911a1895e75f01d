#!/usr/bin/env bash
# hearth's benchmarks with llama.cpp as the peer, in one invocation. Makes (once) a venv
# with llama-cpp-python under ${HEARTH_CACHE:-~/.cache/hearth}/peer-venv (building
# llama.cpp takes a few minutes on 2 cores; pip caches the wheel), fetches the test
# model, builds hearth, and runs `hearth bench --peer llama.cpp` with the arguments
# given, e.g.
#   scripts/bench.sh                                   # every suite, with the peer
#   scripts/bench.sh engine --model smollm2 --concurrency 1,8,32
#   scripts/bench.sh --baseline benches/baselines/cpu-2core.json
# No RUSTFLAGS are added: a benchmark measures the build users run.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${HEARTH_CACHE:-$HOME/.cache/hearth}"
venv="$cache/peer-venv"
# llama.cpp builds for this CPU (-march=native), AMX included where the CPU has it. Under
# some hypervisors and sandboxes the kernel does not grant AMX's tile state, and its
# AMX matmul then segfaults at the first step, so on such CPUs AMX is left out: the peer
# keeps AVX-512 and VNNI. The flags are recorded in the venv, and a venv built otherwise
# (or before this check) is rebuilt, without pip's cached wheel.
cmake_args=""
if grep -qw amx_int8 /proc/cpuinfo 2>/dev/null; then
    no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    cmake_args="-DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'"
fi
if ! "$venv/bin/python" -c "import llama_cpp, numpy" 2>/dev/null || [[ "$(cat "$venv/hearth-cmake-args" 2>/dev/null)" != "$cmake_args" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    CMAKE_ARGS="$cmake_args" "$venv/bin/python" -m pip install --quiet --no-cache-dir "llama-cpp-python==0.3.36" numpy >&2
    printf '%s' "$cmake_args" > "$venv/hearth-cmake-args"
fi
model="$(scripts/fetch-model.sh)"
# The Q8_0 copy issue 7's comparisons use (candle has no SIMD Q4_1 kernel), requantized
# by llama.cpp itself: --model "$cache/SmolLM2-135M-Instruct.Q8_0.gguf".
q8="${model%.Q4_1.gguf}.Q8_0.gguf"
[[ -s "$q8" ]] || "$venv/bin/python" - "$model" "$q8" <<'PY'
import ctypes, os, sys
import llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = 7  # LLAMA_FTYPE_MOSTLY_Q8_0
params.allow_requantize = True
partial = sys.argv[2] + ".partial"
if llama_cpp.llama_model_quantize(sys.argv[1].encode(), partial.encode(), ctypes.byref(params)) != 0:
    sys.exit(f"llama.cpp could not requantize {sys.argv[1]}")
os.replace(partial, sys.argv[2])
PY
cargo build --release --locked --quiet
exec target/release/hearth bench --peer llama.cpp --peer-python "$venv/bin/python" "$@"
