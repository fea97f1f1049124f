//! `msmu merge`: joins `msmu build --shard K/N` outputs (see `msmu_tools::merge`).

use std::path::PathBuf;
use std::process::ExitCode;

use msmu_tools::merge::merge;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu merge part0 part1 part2 part3 --out msmu   # outputs of --shard 0/4 .. 3/4\n  \
msmu merge parts/* --out msmu && msmu validate msmu\n\n\
Parts must come from the same msmu version, --seed and --config and share no scene.")]
pub struct MergeArgs {
    /// Dataset folders to join, in order.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output folder (created; must be empty).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &MergeArgs) -> anyhow::Result<ExitCode> {
    let summary = merge(&args.dirs, &args.out)?;
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    let t = &summary.manifest.totals;
    eprintln!(
        "merged {} parts into {}: {} shards, {} scenes, rows {:?}, QA {:?}",
        args.dirs.len(),
        args.out.display(),
        summary.manifest.shards.len(),
        t.scenes,
        t.rows,
        t.qa
    );
    Ok(ExitCode::SUCCESS)
}
