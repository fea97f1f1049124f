//! The `msmu` command line: clap definitions, logging set-up and dispatch. Each subcommand
//! lives in its own file with its arguments and its `run` function.

pub mod build;
pub mod inspect;
#[cfg(feature = "train")]
pub mod predict;
pub mod progress;
pub mod qa;
pub mod render;
pub mod synth;
#[cfg(feature = "train")]
pub mod train;

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
msmu qa fixtures/scannet/scans/scene0900_00 --frame-stride 1"
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
    /// Fine-tune a depth-encoded LLaVA (LoRA + projector) on msmu shards.
    #[cfg(feature = "train")]
    Train(train::TrainArgs),
    /// Answer a benchmark split's questions (JSONL for `msmu eval`).
    #[cfg(feature = "train")]
    Predict(predict::PredictArgs),
    /// Depth positional encoding of one depth PNG (cross-check helper).
    #[cfg(feature = "train")]
    #[command(hide = true)]
    Dpe(train::DpeDumpArgs),
    /// CLIP preprocessing of one image (cross-check helper).
    #[cfg(feature = "train")]
    #[command(hide = true)]
    Preprocess(train::PreprocessArgs),
    /// The device MSMU_DEVICE selects, checked with a small matmul (one JSON line).
    #[cfg(feature = "train")]
    #[command(hide = true)]
    Device(train::DeviceArgs),
}

/// Entry point used by `main.rs`: every error is printed once here.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Synth(args) => synth::run(&args),
        Command::Render(args) => render::run(&args),
        Command::Qa(args) => qa::run(&args),
        Command::Build(args) => build::run(&args),
        #[cfg(feature = "train")]
        Command::Train(args) => train::run(&args),
        #[cfg(feature = "train")]
        Command::Predict(args) => predict::run(&args),
        #[cfg(feature = "train")]
        Command::Dpe(args) => train::run_dpe(&args),
        #[cfg(feature = "train")]
        Command::Preprocess(args) => train::run_preprocess(&args),
        #[cfg(feature = "train")]
        Command::Device(args) => train::run_device(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
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
