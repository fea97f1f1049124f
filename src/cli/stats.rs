//! `msmu stats`: statistics of a built dataset (see `msmu_tools::stats`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use msmu_data::dataset::manifest::Manifest;
use msmu_data::dataset::shard::{list_shards, read_shard_batches};
use msmu_tools::stats::compare::compare_official;
use msmu_tools::stats::plots::{self, FontStatus};
use msmu_tools::stats::{markdown, Samples, Stats, StatsBuilder};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu stats out/dataset                      # markdown report on stdout\n  \
msmu stats out/dataset --json > stats.json\n  \
msmu stats out/dataset --plots out/report    # PNG charts + report.md\n  \
msmu stats out/dataset --compare official   # side by side with the official MSMU figures")]
pub struct StatsArgs {
    /// Dataset folder (written by `msmu build` or `msmu merge`).
    pub dir: PathBuf,
    /// Print JSON instead of the markdown report.
    #[arg(long)]
    pub json: bool,
    /// Write PNG charts and `report.md` (embedding them) into this folder.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Also compare with a reference: `official` (the MSMU data's published figures: QA per
    /// image, numeric annotations per QA, CoT share, family shares of MSMU-Bench).
    #[arg(long, value_enum)]
    pub compare: Option<CompareWith>,
}

/// What `--compare` compares with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareWith {
    Official,
}

/// Streams every shard of `dir` (one record batch at a time) into [`Stats`].
pub fn compute(dir: &std::path::Path) -> anyhow::Result<(Stats, Samples)> {
    let manifest = Manifest::read(dir)?;
    let mut builder = StatsBuilder::new();
    for shard in list_shards(dir)? {
        for batch in read_shard_batches(&shard)? {
            for row in batch? {
                builder.add_row(&row);
            }
        }
    }
    Ok(builder.finish(&manifest))
}

pub fn run(args: &StatsArgs) -> anyhow::Result<ExitCode> {
    let (stats, samples) = compute(&args.dir)?;
    let name = args.dir.display().to_string();
    let comparison = args.compare.map(|_| compare_official(&stats));
    if let Some(plot_dir) = &args.plots {
        let images = plots::write_all(plot_dir, &stats, &samples)?;
        if let FontStatus::Missing = plots::font_status() {
            eprintln!(
                "note: no TrueType font found (set MSMU_FONT=/path/to/font.ttf): charts are drawn \
                 without text"
            );
        }
        let mut text = markdown(&stats, &name, &images);
        if let Some(c) = &comparison {
            c.plot(&plot_dir.join("compare_official.png"))?;
            text.push_str(&format!(
                "\n{}\n![family shares vs official](compare_official.png)\n",
                c.to_markdown()
            ));
        }
        let report = plot_dir.join("report.md");
        std::fs::write(&report, text).with_context(|| format!("writing {}", report.display()))?;
        eprintln!("wrote {} charts and {}", images.len(), report.display());
    }
    if args.json {
        let mut value = serde_json::to_value(&stats)?;
        if let Some(c) = &comparison {
            value["compare_official"] = serde_json::to_value(c)?;
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", markdown(&stats, &name, &[]));
        if let Some(c) = &comparison {
            print!("\n{}", c.to_markdown());
        }
    }
    Ok(ExitCode::SUCCESS)
}
