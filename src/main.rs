//! The `msmu` binary: parses the command line and hands over to [`cli`]. The work lives in the
//! workspace's library crates (ARCHITECTURE.md): msmu-data, msmu-tools, msmu-synth, msmu-eval
//! and, with the `train` feature, msmu-train.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
