//! Records what a benchmark's fingerprint needs to know about the build: the git commit,
//! the profile, the target and the compiler flags (`-C target-cpu=native` changes the
//! kernels, so two builds of one commit can differ by 2x).

use std::path::Path;
use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git").args(args).output().ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=HEARTH_GIT_COMMIT={commit}");
    // Rebuild when the commit moves, not on every file change.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        for file in ["HEAD", "packed-refs"] {
            let path = Path::new(&dir).join(file);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let path = Path::new(&dir).join(head_ref);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default().replace('\x1f', " ");
    println!("cargo:rustc-env=HEARTH_RUSTFLAGS={flags}");
    println!("cargo:rustc-env=HEARTH_PROFILE={}", std::env::var("PROFILE").unwrap_or_default());
    println!("cargo:rustc-env=HEARTH_TARGET={}", std::env::var("TARGET").unwrap_or_default());
    // The GPU architecture candle's kernels are compiled for (scripts/build-cuda.sh sets
    // it), so that a binary carried to another card can say it was not built for it.
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    println!("cargo:rustc-env=HEARTH_CUDA_COMPUTE_CAP={}", std::env::var("CUDA_COMPUTE_CAP").unwrap_or_default());
}
