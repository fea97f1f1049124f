//! `msmu inspect` (placeholder until it lands).
use std::process::ExitCode;
#[derive(clap::Args, Debug)]
pub struct InspectArgs {}
pub fn run(_args: &InspectArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet written")
}
