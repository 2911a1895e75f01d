#!/usr/bin/env bash
# Builds hearth with the `cuda` feature on a machine with no GPU and no system CUDA:
# installs the CUDA 13.0 toolkit from PyPI into ${HEARTH_CACHE:-~/.cache/hearth}/cuda-13.0
# (once), assembles a CUDA_HOME from the wheels, and builds a portable x86-64 release
# binary (no -C target-cpu=native) into target/cuda/release/hearth, plus a stripped,
# gzipped copy to carry to a GPU machine. A clean build takes ~22 min on 2 cores.
#
#   scripts/build-cuda.sh                                   # Hopper (sm_90)
#   CUDA_COMPUTE_CAP=75 HEARTH_CUDA_TARGET=target/cuda-sm75 scripts/build-cuda.sh   # Turing
#
# CUDA 13 compiles for Turing (7.5) and later only; candle 0.11's kernels then leave
# out bf16 (hearth computes in f16 there). Pascal (6.x) needs CUDA 12 and a candle
# whose kernels build below sm_70 (0.11's MoE kernels use tensor-core fragments).
#
# Why 13.0 exactly: the lent GPUs run driver 580 (CUDA 13.0), which rejects the PTX
# 13.1+ writes. The nvcc extra does not pin nvidia-cuda-crt / nvidia-nvvm, and pip
# would otherwise take 13.5 for them. No wheel ships libcuda.so (the driver's); a
# link-only stub with cudarc's driver symbol names and soname libcuda.so.1 lets the
# link finish, and the machine with the GPU supplies the real one at run time. The
# binary links libcuda, libcublas, libcurand and libcudart dynamically, so it cannot
# start where there is no driver: CPU builds and CI never enable `cuda`.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${HEARTH_CACHE:-$HOME/.cache/hearth}"
toolkit="$cache/cuda-13.0"
home="$toolkit/home"

if [[ ! -x "$home/bin/nvcc" || ! -e "$home/lib64/libcuda.so" ]]; then
    echo "== installing the CUDA 13.0 toolkit from PyPI into $toolkit" >&2
    rm -rf "$toolkit"
    mkdir -p "$toolkit"
    python3 -m pip install --quiet --no-warn-script-location --target "$toolkit/site" \
        "cuda-toolkit[nvcc,cccl,cublas,curand,nvrtc,cudart]==13.0.2" \
        "nvidia-cuda-crt==13.0.88" "nvidia-nvvm==13.0.88"
    cu="$toolkit/site/nvidia/cu13"
    [[ -x "$cu/bin/nvcc" ]] || { echo "build-cuda: no nvcc under $cu/bin" >&2; exit 1; }
    partial="$home.partial"
    rm -rf "$partial"
    mkdir -p "$partial/lib64"
    ln -s "$cu/bin" "$partial/bin"
    ln -s "$cu/nvvm" "$partial/nvvm"
    ln -s "$cu/include" "$partial/include"
    # The wheels ship versioned libraries only (libcublas.so.13); the linker wants libX.so.
    for lib in "$cu"/lib/*.so.*; do
        name="${lib##*/}"
        ln -sf "$lib" "$partial/lib64/$name"
        ln -sf "$lib" "$partial/lib64/${name%%.so.*}.so"
    done
    # The driver stub: an empty function for every driver symbol cudarc declares.
    cudarc="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* 2>/dev/null | head -n1)"
    if [[ -z "$cudarc" ]]; then
        cargo fetch --locked >&2
        cudarc="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* | head -n1)"
    fi
    grep -ohE '\bcu[A-Z][A-Za-z0-9_]*\b' "$cudarc"/src/driver/sys/*.rs | sort -u | sed 's/.*/void &(void) {}/' > "$toolkit/cuda_stub.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$partial/lib64/libcuda.so" "$toolkit/cuda_stub.c"
    mv "$partial" "$home"
fi

export CUDA_HOME="$home" CUDA_PATH="$home" CUDA_ROOT="$home"
export PATH="$home/bin:$PATH"
export LIBRARY_PATH="$home/lib64${LIBRARY_PATH:+:$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$home/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Hopper (H100/H200) unless told otherwise; saves asking nvidia-smi, which is not here.
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
out="${HEARTH_CUDA_TARGET:-target/cuda}"
cargo build --release --locked --features cuda --target-dir "$out" --bin hearth
# To carry: stripped of its line tables (~80 MB with every kernel's PTX) and gzipped
# (~20 MB), under the 64 MiB a lent machine takes per call; gunzip there.
strip -o "$out/release/hearth.stripped" "$out/release/hearth"
gzip -9 -c "$out/release/hearth.stripped" > "$out/release/hearth.gz"
echo "$out/release/hearth (to carry: $out/release/hearth.gz)"
