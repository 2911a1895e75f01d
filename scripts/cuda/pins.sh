#!/usr/bin/env bash
# What scripts/build-cuda.sh assumes of the crates Cargo.lock pins, as functions it
# sources. Run on its own (CI does, with no CUDA toolkit), it checks those assumptions
# in seconds: our patches (the Pascal one, flash-attn's paged-only build) still apply
# to the locked crates, and the locked candle-flash-attn still pins the CUTLASS commit
# whose headers come from PyPI.
# A candle upgrade that breaks either then fails CI, not a GPU build an hour in.
#   bash scripts/cuda/pins.sh

# The commit CUTLASS's v3.5.0 tag names: PyPI's nvidia-cutlass 3.5.0.0 carries its headers.
CUTLASS_V3_5_0=7d49e6c7e2f8896c47f586706e67e1fb215529dc

# The registry's copy of a crate this checkout locks (a glob: cudarc-0.19.*), fetched
# if missing. A CPU build does not fetch the CUDA crates; cargo fetch takes them all.
registry_crate() {
    local registry="${CARGO_HOME:-$HOME/.cargo}/registry/src" found
    found=("$registry"/*/$1)
    if [[ ! -d "${found[0]}" ]]; then
        cargo fetch --locked >&2
        found=("$registry"/*/$1)
        [[ -d "${found[0]}" ]] || { echo "cuda pins: no $1 under $registry after cargo fetch" >&2; exit 1; }
    fi
    echo "${found[0]}"
}

# Our patches to locked crates: scripts/cuda/NAME-VERSION-WHAT.patch.
PASCAL_PATCH=scripts/cuda/candle-kernels-0.11.1-pascal.patch
PAGED_FLASH_PATCH=scripts/cuda/candle-flash-attn-0.11.1-paged-only.patch

# The registry source of the crate PATCH is for, which Cargo.lock must lock at the
# version the patch's name gives.
patched_crate_source() {
    local patch="$1" name version locked
    name="$(basename "$patch" | sed -E 's/-[0-9]+\.[0-9]+\.[0-9]+-.*//')"
    version="$(basename "$patch" | sed -E 's/.*-([0-9]+\.[0-9]+\.[0-9]+)-.*/\1/')"
    locked="$(grep -A1 "^name = \"$name\"$" Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')"
    [[ "$locked" == "$version" ]] || { echo "cuda pins: $patch is for $name $version; Cargo.lock has '$locked'" >&2; exit 1; }
    registry_crate "$name-$version"
}

# The CUTLASS commit the locked candle-flash-attn's build clones, which must be v3.5.0's.
flash_cutlass_commit() {
    local flash commit
    flash="$(registry_crate 'candle-flash-attn-0.11.*')"
    commit="$(sed -n 's/^const CUTLASS_COMMIT: &str = "\([0-9a-f]*\)";$/\1/p' "$flash/build.rs")"
    [[ "$commit" == "$CUTLASS_V3_5_0" ]] ||
        { echo "cuda pins: $flash pins CUTLASS '$commit', not v3.5.0's commit, whose headers are the ones on PyPI" >&2; exit 1; }
    echo "$commit"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    cd "$(dirname "$0")/../.."
    for patch in "$PASCAL_PATCH" "$PAGED_FLASH_PATCH"; do
        crate="$(patched_crate_source "$patch")"
        patch -d "$crate" -p1 --dry-run --quiet < "$patch" || { echo "cuda pins: $patch no longer applies to $crate" >&2; exit 1; }
        echo "$patch applies to $crate"
    done
    echo "candle-flash-attn pins CUTLASS $(flash_cutlass_commit) (v3.5.0)"
fi
