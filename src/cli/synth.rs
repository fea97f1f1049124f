//! `msmu synth` (placeholder until the generator lands).
use std::process::ExitCode;
#[derive(clap::Args, Debug)]
pub struct SynthArgs {}
pub fn run(_args: &SynthArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet written")
}
