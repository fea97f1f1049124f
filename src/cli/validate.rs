//! `msmu validate`: checks a dataset folder (see `msmu_tools::validate`).

use std::path::PathBuf;
use std::process::ExitCode;

use msmu_tools::validate::validate;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu validate out/dataset\n  \
msmu validate out/merged --json\n\n\
Exit status: 0 = OK, 1 = problems found (each names its file).")]
pub struct ValidateArgs {
    /// Dataset folder (written by `msmu build` or `msmu merge`).
    pub dir: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let report = validate(&args.dir);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text(&args.dir));
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
