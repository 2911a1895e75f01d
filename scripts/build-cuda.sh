#!/usr/bin/env bash
# Builds hearth with the `cuda` feature on a machine with no GPU and no system CUDA,
# into a cache directory (${HEARTH_CACHE:-~/.cache/hearth}) it installs a CUDA toolkit
# in once, and makes a portable x86-64 release binary (no -C target-cpu=native) plus a
# stripped, gzipped copy to carry to a GPU machine. A clean build takes ~22 min on 2 cores.
#
#   scripts/build-cuda.sh                                   # Hopper (sm_90)
#   CUDA_COMPUTE_CAP=75 HEARTH_CUDA_TARGET=target/cuda-sm75 scripts/build-cuda.sh   # Turing
#   CUDA_COMPUTE_CAP=61 HEARTH_CUDA_TARGET=target/cuda-sm61 scripts/build-cuda.sh   # Pascal
#   HEARTH_FLASH_ATTN=1 scripts/build-cuda.sh               # Hopper, with flash-attn
#
# Volta (7.0) and later: CUDA 13.0 from PyPI. 13.0 exactly, because the lent GPUs run
# driver 580 (CUDA 13.0), which rejects the PTX 13.1+ writes; the nvcc extra does not pin
# nvidia-cuda-crt / nvidia-nvvm, and pip would otherwise take 13.5 for them. Below 8.0
# candle's kernels leave out bf16 (hearth computes in f16 there).
#
# Pascal (6.x), the P40s and GTX 10xx cards of home rigs: CUDA 13 has no sm_6x target
# and PyPI has no CUDA 12 compiler (its nvcc wheels carry ptxas only), so this takes
# CUDA 11.8 from Debian's non-free archive (apt-get download with a private source
# list, unpacked with dpkg -x: nothing is installed system-wide but g++-11, the newest
# host compiler 11.8 accepts), and patches candle-kernels 0.11.1 to build below sm_70
# (scripts/cuda/candle-kernels-0.11.1-pascal.patch says what and why). That binary
# links CUDA 11's runtime libraries (libcudart.so.11.0, libcublas.so.11,
# libcurand.so.10, libnvrtc.so.11.2), which the Pascal machine must have, and runs on
# any driver from 520 on (Pascal's last is the 580 series).
#
# flash-attn (Ampere and later only): candle-flash-attn's build compiles its CUDA
# kernels (cudaforge uses half the cores unless CUDAFORGE_THREADS says) into a cache
# folder that later builds reuse; patched to build only the 16 paged-KV kernels
# hearth calls, of its 53 (scripts/cuda/candle-flash-attn-0.11.1-paged-only.patch).
# Its build wants CUTLASS from a git clone of GitHub, which is not reachable here.
# PyPI's nvidia-cutlass 3.5.0.0 carries the same headers as the v3.5.0 commit the
# crate pins, so they are unpacked where cudaforge keeps its checkouts, with a git
# HEAD naming that commit, which is all it checks.
#
# No wheel or package here ships libcuda.so (the driver's); a link-only stub with
# cudarc's driver symbol names and soname libcuda.so.1 lets the link finish, and the
# machine with the GPU supplies the real one at run time. The binary links libcuda,
# libcublas, libcurand and libcudart dynamically, so it cannot start where there is no
# driver: CPU builds and CI never enable `cuda`.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${HEARTH_CACHE:-$HOME/.cache/hearth}"
# Hopper (H100/H200) unless told otherwise; saves asking nvidia-smi, which is not here.
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
out="${HEARTH_CUDA_TARGET:-target/cuda}"

# registry_crate, patched_crate_source, flash_cutlass_commit: what the locked crates
# must be for the routes below (CI checks them with no toolkit).
source scripts/cuda/pins.sh

# The link-only driver stub: an empty function for every driver symbol cudarc declares.
driver_stub() {
    local lib64="$1" cudarc
    cudarc="$(registry_crate 'cudarc-0.19.*')"
    grep -ohE '\bcu[A-Z][A-Za-z0-9_]*\b' "$cudarc"/src/driver/sys/*.rs | sort -u | sed 's/.*/void &(void) {}/' > "$lib64/../cuda_stub.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$lib64/libcuda.so" "$lib64/../cuda_stub.c"
}

# CUDA 13.0 from PyPI's wheels, which unpack under site-packages/nvidia/cu13.
install_cuda_13_0() {
    local toolkit="$1" home="$2"
    echo "== installing the CUDA 13.0 toolkit from PyPI into $toolkit" >&2
    rm -rf "$toolkit"
    mkdir -p "$toolkit"
    python3 -m pip install --quiet --no-warn-script-location --target "$toolkit/site" \
        "cuda-toolkit[nvcc,cccl,cublas,curand,nvrtc,cudart]==13.0.2" \
        "nvidia-cuda-crt==13.0.88" "nvidia-nvvm==13.0.88"
    local cu="$toolkit/site/nvidia/cu13"
    [[ -x "$cu/bin/nvcc" ]] || { echo "build-cuda: no nvcc under $cu/bin" >&2; exit 1; }
    local partial="$home.partial"
    rm -rf "$partial"
    mkdir -p "$partial/lib64"
    ln -s "$cu/bin" "$partial/bin"
    ln -s "$cu/nvvm" "$partial/nvvm"
    ln -s "$cu/include" "$partial/include"
    # The wheels ship versioned libraries only (libcublas.so.13); the linker wants libX.so.
    local lib name
    for lib in "$cu"/lib/*.so.*; do
        name="${lib##*/}"
        ln -sf "$lib" "$partial/lib64/$name"
        ln -sf "$lib" "$partial/lib64/${name%%.so.*}.so"
    done
    driver_stub "$partial/lib64"
    mv "$partial" "$home"
}

# CUDA 11.8 from Debian bookworm's non-free archive, unpacked, not installed.
install_cuda_11_8() {
    local toolkit="$1" home="$2"
    echo "== fetching the CUDA 11.8 toolkit from Debian non-free into $toolkit" >&2
    rm -rf "$toolkit"
    local apt="$toolkit/apt" debs="$toolkit/debs" root="$toolkit/root"
    mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$debs" "$root"
    echo "deb http://deb.debian.org/debian bookworm main contrib non-free" > "$apt/sources.list"
    local options=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::Archives=$apt/archives")
    apt-get "${options[@]}" update -q >&2
    # nvcc and its tools; the headers (nvidia-cuda-dev, with every static library, is
    # 774 MB of which this keeps the 28 MB of include/); the shared libraries candle
    # links; CUB/Thrust/libcu++ headers.
    (cd "$debs" && apt-get "${options[@]}" download -q nvidia-cuda-toolkit nvidia-cuda-dev \
        libnvvm4 libcudart11.0 libcublas11 libcublaslt11 libcurand10 libnvrtc11.2 \
        libnvrtc-builtins11.8 libcub-dev libthrust-dev libcu++-dev >&2)
    local deb
    for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
    rm -rf "$debs" "$root"/usr/lib/x86_64-linux-gnu/*.a
    local partial="$home.partial" tools="$root/usr/lib/nvidia-cuda-toolkit"
    rm -rf "$partial"
    mkdir -p "$partial/bin" "$partial/nvvm/bin" "$partial/lib64"
    # nvcc reads nvcc.profile beside itself; Debian's names absolute /usr paths, so the
    # driver is copied next to a profile that names this tree.
    cp "$tools/bin/nvcc" "$partial/bin/nvcc"
    ln -s "$tools/bin/crt" "$partial/bin/crt"
    local tool
    for tool in ptxas fatbinary nvlink cudafe++ bin2c nvprune cuobjdump; do
        ln -s "$root/usr/bin/$tool" "$partial/bin/$tool"
    done
    ln -s "$tools/bin/cicc" "$partial/nvvm/bin/cicc"
    ln -s "$tools/libdevice" "$partial/nvvm/libdevice"
    ln -s "$root/usr/include" "$partial/include"
    cat > "$partial/bin/nvcc.profile" <<'PROFILE'
TOP                = $(_HERE_)/..
NVVMIR_LIBRARY_DIR = $(TOP)/nvvm/libdevice
PATH              += $(TOP)/nvvm/bin:$(_HERE_):
INCLUDES          += "-I$(TOP)/include" $(_SPACE_)
LIBRARIES         =+ $(_SPACE_) "-L$(TOP)/lib64"
PROFILE
    local lib
    for lib in "$root"/usr/lib/x86_64-linux-gnu/lib{cudart,cublas,cublasLt,curand,nvrtc,nvrtc-builtins}.so*; do
        ln -s "$lib" "$partial/lib64/"
    done
    driver_stub "$partial/lib64"
    "$partial/bin/nvcc" --version | grep -q 'release 11.8' || { echo "build-cuda: the assembled nvcc does not run" >&2; exit 1; }
    mv "$partial" "$home"
}

# Builds against a copy of a locked crate with one of our patches (kept in the cache,
# named by the patch's hash, so an edited patch gets a fresh copy).
cargo_flags=(--locked)
use_patched() {
    local patch="$1" source name copy
    source="$(patched_crate_source "$patch")"
    name="$(basename "$source" | sed -E 's/-[0-9]+\.[0-9]+\.[0-9]+$//')"
    copy="$cache/patched/$(basename "$source")-$(sha256sum "$patch" | cut -c1-12)"
    if [[ ! -d "$copy" ]]; then
        rm -rf "$copy.partial"
        mkdir -p "$cache/patched"
        cp -r "$source" "$copy.partial"
        patch -d "$copy.partial" -p1 --quiet < "$patch"
        mv "$copy.partial" "$copy"
    fi
    # A path patch rewrites Cargo.lock's entry for the crate (so no --locked); the
    # checkout's lock file is put back as it was when the build ends, however it ends.
    if [[ "${cargo_flags[0]}" == --locked ]]; then
        cp Cargo.lock "$cache/Cargo.lock.checkout"
        trap 'cp "$cache/Cargo.lock.checkout" Cargo.lock' EXIT
        cargo_flags=()
    fi
    cargo_flags+=(--config "patch.crates-io.$name.path=\"$copy\"")
}

if (( CUDA_COMPUTE_CAP >= 70 )); then
    toolkit="$cache/cuda-13.0"
    home="$toolkit/home"
    [[ -x "$home/bin/nvcc" && -e "$home/lib64/libcuda.so" ]] || install_cuda_13_0 "$toolkit" "$home"
else
    toolkit="$cache/cuda-11.8"
    home="$toolkit/home"
    [[ -x "$home/bin/nvcc" && -e "$home/lib64/libcuda.so" ]] || install_cuda_11_8 "$toolkit" "$home"
    if ! command -v g++-11 > /dev/null; then
        echo "== installing g++-11, the host compiler CUDA 11.8 accepts" >&2
        if (( EUID == 0 )); then apt-get install -y -q g++-11 >&2; else sudo apt-get install -y -q g++-11 >&2; fi
    fi
    export NVCC_CCBIN=g++-11 CUDARC_CUDA_VERSION=11080
    use_patched "$PASCAL_PATCH"
fi

# CUTLASS v3.5.0's headers from PyPI where cudaforge looks for its git checkout.
cutlass_checkout() {
    local commit dir wheel unpacked
    commit="$(flash_cutlass_commit)"
    dir="$CUDAFORGE_HOME/git/checkouts/cutlass-${commit:0:16}"
    [[ -d "$dir/include/cute" && "$(git -C "$dir" rev-parse HEAD 2>/dev/null)" == "$commit" ]] && return
    echo "== unpacking CUTLASS 3.5.0's headers from PyPI into $dir" >&2
    mkdir -p "$cache/whl"
    python3 -m pip download --quiet --no-deps --dest "$cache/whl" nvidia-cutlass==3.5.0.0
    wheel="$cache/whl/nvidia_cutlass-3.5.0.0-py3-none-any.whl"
    unpacked="$(mktemp -d)"
    python3 -m zipfile -e "$wheel" "$unpacked"
    rm -rf "$dir"
    mkdir -p "$dir/tools/util"
    mv "$unpacked/cutlass_library/source/include" "$dir/include"
    mv "$unpacked/cutlass_library/source/tools/util/include" "$dir/tools/util/include"
    rm -rf "$unpacked"
    git -C "$dir" init --quiet
    echo "$commit" > "$dir/.git/HEAD"
}

features=cuda
if [[ "${HEARTH_FLASH_ATTN:-0}" == 1 ]]; then
    (( CUDA_COMPUTE_CAP >= 80 )) || { echo "build-cuda: flash-attn's kernels need compute capability 8.0 or later, not $CUDA_COMPUTE_CAP" >&2; exit 1; }
    export CUDAFORGE_HOME="$cache/cudaforge"
    export CANDLE_FLASH_ATTN_BUILD_DIR="$cache/flash-attn-sm$CUDA_COMPUTE_CAP"
    mkdir -p "$CANDLE_FLASH_ATTN_BUILD_DIR"
    cutlass_checkout
    use_patched "$PAGED_FLASH_PATCH"
    features=flash-attn
fi

export CUDA_HOME="$home" CUDA_PATH="$home" CUDA_ROOT="$home"
export PATH="$home/bin:$PATH"
export LIBRARY_PATH="$home/lib64${LIBRARY_PATH:+:$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$home/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
cargo build --release "${cargo_flags[@]}" --features "$features" --target-dir "$out" --bin hearth
# To carry: stripped of its line tables (~80 MB with every kernel's PTX, 154 MB with
# flash-attn's) and gzipped (~20 MB, 37.5 MB), under the 64 MiB a lent machine takes
# per call; gunzip there.
strip -o "$out/release/hearth.stripped" "$out/release/hearth"
gzip -9 -c "$out/release/hearth.stripped" > "$out/release/hearth.gz"
echo "$out/release/hearth (to carry: $out/release/hearth.gz)"
