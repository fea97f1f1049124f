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
            "error: this msmu was built for newer CPUs than this one (by `make release-v3`, or \
             by `make release-native` on another machine), and this CPU lacks {missing}; build \
             the portable binary with `make release` instead"
        );
        return ExitCode::from(2);
    }
    cli::main()
}

/// The first x86 feature beyond plain x86-64 that this binary was compiled to use (`make
/// release-v3`, `make release-native`) and the CPU does not have, checked before any work
/// starts. `None` for the portable build, which assumes nothing beyond x86-64, and for a CPU
/// that has them all.
fn missing_cpu_features() -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        // One check per feature the build enabled; a feature it did not enable is not checked.
        macro_rules! first_missing {
            ($($feature:tt),* $(,)?) => {
                $(
                    #[cfg(target_feature = $feature)]
                    if !std::arch::is_x86_feature_detected!($feature) {
                        return Some($feature);
                    }
                )*
            };
        }
        first_missing!(
            "sse3",
            "ssse3",
            "sse4.1",
            "sse4.2",
            "popcnt",
            "avx",
            "avx2",
            "fma",
            "bmi1",
            "bmi2",
            "lzcnt",
            "movbe",
            "f16c",
            "pclmulqdq",
            "aes",
            "sha",
            "adx",
            "gfni",
            "vaes",
            "vpclmulqdq",
            "avx512f",
            "avx512bw",
            "avx512cd",
            "avx512dq",
            "avx512vl",
            "avx512ifma",
            "avx512vbmi",
            "avx512vbmi2",
            "avx512vnni",
            "avx512bitalg",
            "avx512vpopcntdq",
            "avx512bf16",
        );
    }
    None
}
