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
    cli::main()
}
