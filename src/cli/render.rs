//! `msmu render` (placeholder until it lands).
use std::process::ExitCode;
#[derive(clap::Args, Debug)]
pub struct RenderArgs {}
pub fn run(_args: &RenderArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet written")
}
