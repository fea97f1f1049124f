//! `msmu export`: a built dataset as a Hugging Face repository, LLaVA JSON or the SD-VLM
//! inference Parquet (see `msmu_tools::export`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use msmu_tools::export::{hf, llava, sdvlm};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Hugging Face dataset repo: README.md card + data/ shards + manifest.json.
    Hf,
    /// LLaVA training JSON per split ({split}.json) + images/ (+ depths/ with --with-depth).
    Llava,
    /// SD-VLM inference Parquet, one row per QA pair, one file per split ({split}.parquet).
    Sdvlm,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu export out/dataset --format hf --out out/hf && huggingface-cli upload me/msmu out/hf --repo-type dataset\n  \
msmu export out/dataset --format llava --out out/llava --with-depth\n  \
msmu export out/dataset --format sdvlm --out out/sdvlm\n\n\
The output folder must not exist or be empty.")]
pub struct ExportArgs {
    /// Dataset folder (written by `msmu build` or `msmu merge`).
    pub dir: PathBuf,
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Output folder (created; must be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// llava only: also write the depth PNGs to depths/ (`depth` key in each sample).
    #[arg(long)]
    pub with_depth: bool,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    if args.with_depth && args.format != ExportFormat::Llava {
        bail!(
            "--with-depth applies to --format llava only (hf and sdvlm keep what the shards hold)"
        );
    }
    let summary = match args.format {
        ExportFormat::Hf => hf::export(&args.dir, &args.out)?,
        ExportFormat::Llava => llava::export(&args.dir, &args.out, args.with_depth)?,
        ExportFormat::Sdvlm => sdvlm::export(&args.dir, &args.out)?,
    };
    eprintln!("{summary}");
    Ok(ExitCode::SUCCESS)
}
