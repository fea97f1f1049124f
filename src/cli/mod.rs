//! The `msmu` command line: clap definitions, logging set-up and dispatch. Each subcommand
//! lives in its own file with its arguments and its `run` function.

#[cfg(feature = "train")]
pub mod ablate;
#[cfg(feature = "train")]
pub mod ask;
#[cfg(feature = "train")]
pub mod bench_rows;
pub mod build;
#[cfg(feature = "train")]
pub mod depth;
#[cfg(feature = "train")]
pub mod depth_source;
pub mod eval;
pub mod export;
pub mod inspect;
pub mod merge;
#[cfg(feature = "train")]
pub mod predict;
pub mod qa;
pub mod render;
pub mod stats;
pub mod synth;
#[cfg(feature = "train")]
pub mod train;
pub mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status when the run completed but some scenes were skipped.
pub const EXIT_PARTIAL: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "msmu",
    version,
    about = "Build MSMU-style metric spatial QA datasets from ScanNet / ScanNet++ scans",
    long_about = "msmu reads ScanNet and ScanNet++ scenes (or its own synthetic scenes), measures \
every annotated object exactly, renders per-view depth and instance masks from the mesh, and \
(in later stages) writes spatial question-answer datasets.\n\n\
Logging: set RUST_LOG (e.g. RUST_LOG=msmu=debug).",
    after_help = "Examples:\n  \
msmu synth --out /tmp/scenes --scenes 3 --layout scannet\n  \
msmu inspect fixtures/scannet/scans/scene0900_00 --json\n  \
msmu render fixtures/scannet/scans/scene0900_00 --frame 0 --out /tmp/view\n  \
msmu qa fixtures/scannet/scans/scene0900_00 --frame-stride 1\n  \
msmu build --out out/dataset && msmu validate out/dataset && msmu stats out/dataset"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Inspect(inspect::InspectArgs),
    Synth(synth::SynthArgs),
    Render(render::RenderArgs),
    /// Generate spatial QA for the selected views of one scene.
    Qa(qa::QaArgs),
    /// Build the dataset (Parquet shards + manifest) from scene roots or the bundled fixtures.
    Build(build::BuildArgs),
    /// Score predictions on an MSMU-style bench without an LLM judge.
    Eval(eval::EvalArgs),
    /// Statistics of a built dataset (markdown, JSON, PNG charts).
    Stats(stats::StatsArgs),
    /// Export a built dataset: Hugging Face repo, LLaVA JSON or SD-VLM inference Parquet.
    Export(export::ExportArgs),
    /// Check a dataset folder (schema, counts, checksums, rows); exit 1 on problems.
    Validate(validate::ValidateArgs),
    /// Join the outputs of `msmu build --shard K/N` runs into one dataset.
    Merge(merge::MergeArgs),
    /// Fine-tune a depth-encoded LLaVA (LoRA + projector) on msmu shards.
    #[cfg(feature = "train")]
    Train(train::TrainArgs),
    /// Answer a benchmark split's questions (JSONL for `msmu eval`).
    #[cfg(feature = "train")]
    Predict(predict::PredictArgs),
    /// Depth-Anything-V2 depth maps (16-bit PNG, NPY, preview) for images or msmu shards.
    #[cfg(feature = "train")]
    Depth(depth::DepthArgs),
    /// One answer about any photo (depth from a file, estimated, or none).
    #[cfg(feature = "train")]
    Ask(ask::AskArgs),
    /// Does depth help? Arms x seeds trained, predicted and scored on held-out scenes, one report.
    #[cfg(feature = "train")]
    Ablate(ablate::AblateArgs),
    /// Depth positional encoding of one depth PNG (cross-check helper).
    #[cfg(feature = "train")]
    #[command(hide = true)]
    Dpe(train::DpeDumpArgs),
    /// CLIP preprocessing of one image (cross-check helper).
    #[cfg(feature = "train")]
    #[command(hide = true)]
    Preprocess(train::PreprocessArgs),
    /// Sentence embeddings of texts with a sentence-transformers model (cross-check helper).
    #[cfg(feature = "train")]
    #[command(hide = true)]
    Embed(train::EmbedArgs),
    /// The device MSMU_DEVICE selects, checked with a small matmul (one JSON line).
    #[cfg(feature = "train")]
    #[command(hide = true)]
    Device(train::DeviceArgs),
    /// Fine-tune a depth-encoded LLaVA (needs a binary built with the `train` feature).
    #[cfg(not(feature = "train"))]
    #[command(disable_help_flag = true)]
    Train(WithoutTrainer),
    /// Answer a benchmark split's questions (needs a binary built with the `train` feature).
    #[cfg(not(feature = "train"))]
    #[command(disable_help_flag = true)]
    Predict(WithoutTrainer),
    /// Depth-Anything-V2 depth maps (needs a binary built with the `train` feature).
    #[cfg(not(feature = "train"))]
    #[command(disable_help_flag = true)]
    Depth(WithoutTrainer),
    /// One answer about any photo (needs a binary built with the `train` feature).
    #[cfg(not(feature = "train"))]
    #[command(disable_help_flag = true)]
    Ask(WithoutTrainer),
    /// An ablation study of depth fusion (needs a binary built with the `train` feature).
    #[cfg(not(feature = "train"))]
    #[command(disable_help_flag = true)]
    Ablate(WithoutTrainer),
}

/// The arguments of a trainer command in a binary built without the trainer: accepted as they
/// are, so the answer is how to get the trainer, not a complaint about a flag.
#[cfg(not(feature = "train"))]
#[derive(clap::Args, Debug)]
pub struct WithoutTrainer {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

/// What `msmu train` / `msmu predict` say in a binary built without the `train` feature.
/// Compiled in every build so the test suite (built with all features) checks the message.
#[cfg_attr(feature = "train", allow(dead_code))]
pub fn without_trainer(command: &str) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "`msmu {command}` needs the trainer, and this binary was built without it (the data \
         commands do not need libtorch, so `make run` leaves it out).\n\
         Get it with:\n  \
         make train-ready      # fetches a CPU libtorch from PyPI into .libtorch/, builds \
         target/release/msmu with --features train\n\
         or, with a libtorch of your own (e.g. CUDA):\n  \
         LIBTORCH=/path/to/libtorch cargo build --release --features train"
    )
}

/// The split plan from the scene-list options shared by `msmu qa` and `msmu build`.
pub fn split_plan_from_files(
    test_fraction: f64,
    exclude_scenes: Option<&std::path::PathBuf>,
    split_train: Option<&std::path::PathBuf>,
    split_val: Option<&std::path::PathBuf>,
) -> anyhow::Result<msmu_data::qa::split::SplitPlan> {
    use anyhow::Context as _;
    let read = |path: Option<&std::path::PathBuf>| -> anyhow::Result<_> {
        match path {
            Some(path) => msmu_data::qa::split::read_scene_list(path)
                .with_context(|| format!("reading scene list {}", path.display())),
            None => Ok(Default::default()),
        }
    };
    let mut plan = msmu_data::qa::split::SplitPlan::with_fraction(test_fraction);
    plan.excluded = read(exclude_scenes)?;
    plan.official_train = read(split_train)?;
    plan.official_test = read(split_val)?;
    Ok(plan)
}

/// Entry point used by `main.rs`: every error is printed once here.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one subcommand (also how `msmu ablate` runs its stages, in process).
pub fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Synth(args) => synth::run(&args),
        Command::Render(args) => render::run(&args),
        Command::Qa(args) => qa::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Stats(args) => stats::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Merge(args) => merge::run(&args),
        #[cfg(feature = "train")]
        Command::Train(args) => train::run(&args),
        #[cfg(feature = "train")]
        Command::Predict(args) => predict::run(&args),
        #[cfg(feature = "train")]
        Command::Depth(args) => depth::run(&args),
        #[cfg(feature = "train")]
        Command::Ask(args) => ask::run(&args),
        #[cfg(feature = "train")]
        Command::Dpe(args) => train::run_dpe(&args),
        #[cfg(feature = "train")]
        Command::Preprocess(args) => train::run_preprocess(&args),
        #[cfg(feature = "train")]
        Command::Embed(args) => train::run_embed(&args),
        #[cfg(feature = "train")]
        Command::Device(args) => train::run_device(&args),
        #[cfg(not(feature = "train"))]
        Command::Train(_) => without_trainer("train"),
        #[cfg(not(feature = "train"))]
        Command::Predict(_) => without_trainer("predict"),
        #[cfg(not(feature = "train"))]
        Command::Depth(_) => without_trainer("depth"),
        #[cfg(not(feature = "train"))]
        Command::Ask(_) => without_trainer("ask"),
        #[cfg(feature = "train")]
        Command::Ablate(args) => ablate::run(&args),
        #[cfg(not(feature = "train"))]
        Command::Ablate(_) => without_trainer("ablate"),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("msmu=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_trainer_the_message_says_how_to_get_it() {
        let err = without_trainer("train").unwrap_err().to_string();
        assert!(err.contains("`msmu train` needs the trainer"), "{err}");
        assert!(err.contains("make train-ready"), "{err}");
        assert!(err.contains("--features train"), "{err}");
    }
}
