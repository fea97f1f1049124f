//! The `msmu` binary: parses the command line and hands over to [`cli`]. The work lives in the
//! workspace's library crates (ARCHITECTURE.md): msmu-data, msmu-tools, msmu-synth, msmu-eval
//! and, with the `train` feature, msmu-train.

mod cli;

use std::process::ExitCode;

/// mimalloc keeps freed pages for reuse: each analysed view allocates and frees render buffers
/// of a few MB, which glibc's allocator handed back to the kernel and page-faulted in again
/// (docs/PERFORMANCE.md, issue #20).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if let Some(missing) = missing_cpu_features() {
        eprintln!(
            "error: this msmu was built for x86-64-v3 CPUs (`make release-v3`), and this CPU \
             lacks {missing}; build the portable binary with `make release` instead"
        );
        return ExitCode::from(2);
    }
    cli::main()
}

/// The first x86-64-v3 feature this binary was compiled to use (`make release-v3`) that the
/// CPU does not have, checked before any work starts. `None` for the portable build, which
/// assumes nothing beyond x86-64.
fn missing_cpu_features() -> Option<&'static str> {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    {
        let have = [
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("bmi1", std::arch::is_x86_feature_detected!("bmi1")),
            ("bmi2", std::arch::is_x86_feature_detected!("bmi2")),
            ("lzcnt", std::arch::is_x86_feature_detected!("lzcnt")),
            ("movbe", std::arch::is_x86_feature_detected!("movbe")),
            ("f16c", std::arch::is_x86_feature_detected!("f16c")),
        ];
        if let Some((name, _)) = have.iter().find(|(_, ok)| !ok) {
            return Some(name);
        }
    }
    None
}
