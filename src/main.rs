//! The `msmu` binary: parses the command line and hands over to [`msmu::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    msmu::cli::main()
}
