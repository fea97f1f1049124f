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

/// Checks each listed x86 feature that the build enabled (`#[cfg(target_feature)]`) against
/// the CPU, and lists every feature it knows (`CHECKED`, for the test that the list covers
/// what `make release-v3` and `make release-native` enable).
macro_rules! x86_feature_checks {
    ($($feature:tt),* $(,)?) => {
        /// The first x86 feature beyond plain x86-64 (SSE2) that this binary was compiled to
        /// use (`make release-v3`, `make release-native`) and the CPU does not have, checked
        /// before any work starts. `None` for the portable build, which assumes nothing beyond
        /// x86-64, and for a CPU that has them all.
        fn missing_cpu_features() -> Option<&'static str> {
            #[cfg(target_arch = "x86_64")]
            {
                $(
                    #[cfg(target_feature = $feature)]
                    if !std::arch::is_x86_feature_detected!($feature) {
                        return Some($feature);
                    }
                )*
            }
            None
        }

        #[cfg(test)]
        const CHECKED: &[&str] = &[$($feature),*];
    };
}

x86_feature_checks!(
    "sse3",
    "ssse3",
    "sse4.1",
    "sse4.2",
    "sse4a",
    "popcnt",
    "cmpxchg16b",
    "xsave",
    "xsavec",
    "xsaveopt",
    "xsaves",
    "rdrand",
    "rdseed",
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The target features `rustc` enables for `-C target-cpu=CPU`.
    fn enabled_features(cpu: &str) -> Vec<String> {
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let out = std::process::Command::new(rustc)
            .args(["--print", "cfg", "-C", &format!("target-cpu={cpu}")])
            .output()
            .expect("rustc runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("target_feature=\""))
            .map(|f| f.trim_end_matches('"').to_string())
            .collect()
    }

    /// Every feature the CPU-specific builds enable beyond x86-64's own (`fxsr`, `sse`,
    /// `sse2`) is checked at start-up: the x86-64-v3 build, the x86-64-v4 level (AVX-512), and
    /// a native build on the machine that runs the tests.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_start_up_check_covers_every_feature_the_cpu_builds_enable() {
        let baseline = enabled_features("x86-64");
        for cpu in ["x86-64-v3", "x86-64-v4", "native"] {
            let unchecked: Vec<String> = enabled_features(cpu)
                .into_iter()
                .filter(|f| !baseline.contains(f) && !CHECKED.contains(&f.as_str()))
                .collect();
            assert!(
                unchecked.is_empty(),
                "-C target-cpu={cpu} enables unchecked {unchecked:?}"
            );
        }
    }

    #[test]
    fn the_portable_build_needs_nothing() {
        // The test binary is built like the portable `msmu`, or for a CPU this one has.
        assert_eq!(missing_cpu_features(), None);
    }
}
