//! `msmu ablate`: the SD-VLM depth ablation as one reproducible, resumable experiment.
//!
//! From a small JSON configuration ([`StudyConfig`]) it makes (or takes) the scenes, builds
//! scene-disjoint train / test shards once, trains every arm x seed with the same data order,
//! initialisation and step budget (the seed decides both; only the arm's flags differ),
//! predicts the held-out test split, scores it with `msmu eval`, and writes a report
//! (`report.md`, `report.json`, `loss.png`, `families.png`) from the scorer's own output
//! (`msmu_tools::ablation`).
//!
//! Every stage is an ordinary msmu command run in this process; its command line is appended
//! to `commands.log` (so any stage can be rerun by hand) and a finished stage leaves a marker
//! holding that command line. Rerunning the study skips finished stages, resumes a training
//! run from its last checkpoint, and refuses an `--out` made from another configuration.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use serde::{Deserialize, Serialize};

use msmu_data::dataset::atomic::write_atomic_with;
use msmu_data::dataset::manifest::Manifest;
use msmu_data::pipeline::STATE_DIR;
use msmu_tools::ablation;

use super::{dispatch, Cli, EXIT_PARTIAL};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu ablate --print-config > study.json        (the default study; edit it)\n  \
msmu ablate --config docs/ablation/study.json --out runs/ablation\n  \
msmu ablate --config study.json --out runs/ablation   (again: continues where it stopped)\n  \
msmu ablate --config study.json --out runs/ablation --report-only\n\n\
Built-in arms: no-depth, dpe (padded alignment), dpe-official (the official unpadded \
alignment), alpha-50, alpha-100, alpha-200, noise (--depth-noise 0.1 in training), estimated \
(Depth-Anything-V2 depth from `depth_model`), concat (--depth-fusion concat). A custom arm is \
{\"name\": ..., \"train_args\": [...], \"predict_args\": [...]}.")]
pub struct AblateArgs {
    /// Study configuration (JSON, see --print-config).
    #[arg(long, required_unless_present = "print_config")]
    pub config: Option<PathBuf>,
    /// Study folder: scenes, shards, one folder per arm and seed, the report.
    #[arg(long, required_unless_present = "print_config")]
    pub out: Option<PathBuf>,
    /// Print the default configuration and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Only write the report, from the runs already scored.
    #[arg(long)]
    pub report_only: bool,
}

/// Where the scenes come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Scenes {
    /// `msmu synth` scenes made inside the study folder.
    Synth {
        count: usize,
        seed: u64,
        #[serde(default = "default_frames")]
        frames: usize,
        #[serde(default)]
        faces_per_scene: Option<usize>,
    },
    /// A ScanNet v2 root of the user's.
    Scannet { root: PathBuf },
    /// A ScanNet++ root of the user's.
    Scannetpp { root: PathBuf },
}

fn default_frames() -> usize {
    300
}

/// `msmu build` settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    #[serde(default)]
    pub seed: u64,
    /// Share of scenes held out for testing (by a stable hash of the scene id).
    pub test_fraction: f64,
    /// Any subset of `msmu build --print-config`'s keys.
    #[serde(default)]
    pub config: serde_json::Value,
}

impl Default for BuildSpec {
    fn default() -> Self {
        Self {
            seed: 0,
            test_fraction: 0.2,
            config: serde_json::json!({}),
        }
    }
}

/// `msmu train` settings shared by every arm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// A built-in model, `tiny` or `small` (or give `model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// A local Hugging Face LLaVA folder as the base model instead of a preset (e.g.
    /// llava-1.5-7b-hf/, the paper's setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,
    pub max_steps: usize,
    pub batch_size: usize,
    #[serde(default = "one")]
    pub grad_accum: usize,
    pub lr: f64,
    pub projector_lr: f64,
    pub lora_r: i64,
    pub lora_alpha: f64,
    pub max_len: usize,
    /// Held-out loss every N steps (on `eval_rows` test rows).
    #[serde(default)]
    pub eval_every: Option<usize>,
    #[serde(default = "default_eval_rows")]
    pub eval_rows: usize,
    /// Checkpoint every N steps, so a killed study resumes mid-run.
    #[serde(default = "default_save_every")]
    pub save_every: usize,
    /// More `msmu train` flags, the same for every arm.
    #[serde(default)]
    pub extra_args: Vec<String>,
}

fn one() -> usize {
    1
}
fn default_eval_rows() -> usize {
    32
}
fn default_save_every() -> usize {
    50
}

/// `msmu predict` settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictSpec {
    /// Test rows (images) answered; all by default.
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub max_new_tokens: Option<usize>,
}

/// An arm: a built-in name or explicit flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ArmSpec {
    Builtin(String),
    Custom {
        name: String,
        #[serde(default)]
        train_args: Vec<String>,
        #[serde(default)]
        predict_args: Vec<String>,
    },
}

/// The whole study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    pub scenes: Scenes,
    #[serde(default)]
    pub build: BuildSpec,
    pub train: TrainSpec,
    #[serde(default)]
    pub predict: PredictSpec,
    pub seeds: Vec<u64>,
    pub arms: Vec<ArmSpec>,
    /// The arm every other is compared with.
    pub baseline: String,
    /// Depth-Anything-V2 folder for the `estimated` arm.
    #[serde(default)]
    pub depth_model: Option<PathBuf>,
    #[serde(default = "default_resamples")]
    pub bootstrap_resamples: usize,
    #[serde(default)]
    pub bootstrap_seed: u64,
}

fn default_resamples() -> usize {
    2000
}

impl StudyConfig {
    /// The default study (docs/ablation/study.json spells out the same build settings in
    /// full): no-depth vs DPE vs concat, 3 seeds of the tiny preset for 250 steps of 8 rows
    /// (2,000 training images) on 40 synthetic scenes, every frame a candidate view and 6 QA
    /// per image.
    pub fn default_study() -> Self {
        Self {
            scenes: Scenes::Synth {
                count: 40,
                seed: 7,
                frames: 150,
                faces_per_scene: Some(60_000),
            },
            build: BuildSpec {
                seed: 0,
                test_fraction: 0.2,
                config: serde_json::json!({
                    "views": {"frame_stride": 1, "min_translation_m": 0.05, "min_rotation_deg": 5.0},
                    "qa": {"max_per_image": 6}
                }),
            },
            train: TrainSpec {
                preset: Some("tiny".into()),
                model: None,
                max_steps: 250,
                batch_size: 8,
                grad_accum: 1,
                lr: 1e-3,
                projector_lr: 1e-3,
                lora_r: 16,
                lora_alpha: 32.0,
                max_len: 1024,
                eval_every: Some(25),
                eval_rows: 32,
                save_every: 50,
                extra_args: Vec::new(),
            },
            predict: PredictSpec {
                limit: Some(120),
                max_new_tokens: Some(24),
            },
            seeds: vec![0, 1, 2],
            arms: ["no-depth", "dpe", "concat"]
                .map(|a| ArmSpec::Builtin(a.into()))
                .to_vec(),
            baseline: "no-depth".into(),
            depth_model: None,
            bootstrap_resamples: default_resamples(),
            bootstrap_seed: 0,
        }
    }
}

/// An arm's resolved flags.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arm {
    pub name: String,
    pub train_args: Vec<String>,
    pub predict_args: Vec<String>,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The flags of a built-in arm, or of a custom one.
pub fn resolve_arm(spec: &ArmSpec, depth_model: Option<&Path>) -> anyhow::Result<Arm> {
    let (name, train_args, predict_args) = match spec {
        ArmSpec::Custom {
            name,
            train_args,
            predict_args,
        } => (name.clone(), train_args.clone(), predict_args.clone()),
        ArmSpec::Builtin(name) => {
            let (train, predict): (Vec<String>, Vec<String>) = match name.as_str() {
                "no-depth" => (strings(&["--no-dpe"]), Vec::new()),
                "dpe" => (Vec::new(), Vec::new()),
                "dpe-official" => (strings(&["--depth-align", "official"]), Vec::new()),
                "alpha-50" | "alpha-100" | "alpha-200" => {
                    let alpha = &name["alpha-".len()..];
                    (strings(&["--dpe-alpha", alpha]), Vec::new())
                }
                "noise" => (strings(&["--depth-noise", "0.1"]), Vec::new()),
                "concat" => (strings(&["--depth-fusion", "concat"]), Vec::new()),
                "estimated" => {
                    let Some(model) = depth_model else {
                        bail!(
                            "arm `estimated` needs `depth_model` in the study configuration (a \
                             local Depth-Anything-V2 folder)"
                        );
                    };
                    let flags = vec![
                        "--depth-source".to_string(),
                        "estimate".to_string(),
                        "--depth-model".to_string(),
                        model.display().to_string(),
                    ];
                    (flags.clone(), flags)
                }
                other => bail!(
                    "unknown arm `{other}`: built-in arms are no-depth, dpe, dpe-official, \
                     alpha-50, alpha-100, alpha-200, noise, estimated, concat; or give \
                     {{\"name\", \"train_args\", \"predict_args\"}}"
                ),
            };
            (name.clone(), train, predict)
        }
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("arm name `{name}`: use letters, digits, `-` and `_` only (it names a folder)");
    }
    Ok(Arm {
        name,
        train_args,
        predict_args,
    })
}

/// Checks what can be checked before any work starts.
fn check(cfg: &StudyConfig) -> anyhow::Result<Vec<Arm>> {
    if cfg.seeds.is_empty() {
        bail!("`seeds` is empty");
    }
    let mut seen_seeds = std::collections::BTreeSet::new();
    if let Some(s) = cfg.seeds.iter().find(|s| !seen_seeds.insert(**s)) {
        bail!("seed {s} is listed twice");
    }
    let arms: Vec<Arm> = cfg
        .arms
        .iter()
        .map(|a| resolve_arm(a, cfg.depth_model.as_deref()))
        .collect::<anyhow::Result<_>>()?;
    let mut names = std::collections::BTreeSet::new();
    for a in &arms {
        if !names.insert(a.name.as_str()) {
            bail!("arm `{}` is listed twice", a.name);
        }
    }
    if !names.contains(cfg.baseline.as_str()) {
        bail!("baseline `{}` is not one of the arms", cfg.baseline);
    }
    if !(0.0..1.0).contains(&cfg.build.test_fraction) || cfg.build.test_fraction == 0.0 {
        bail!("build.test_fraction must be in (0, 1)");
    }
    match (&cfg.train.preset, &cfg.train.model) {
        (Some(p), None) if matches!(p.as_str(), "tiny" | "small") => {}
        (Some(p), None) => bail!("train.preset `{p}`: tiny or small"),
        (None, Some(_)) => {}
        _ => bail!("give one of train.preset (tiny or small) and train.model (a LLaVA folder)"),
    }
    if cfg.train.max_steps == 0 || cfg.train.batch_size == 0 {
        bail!("train.max_steps and train.batch_size must be at least 1");
    }
    if cfg.bootstrap_resamples < 100 {
        bail!("bootstrap_resamples must be at least 100");
    }
    Ok(arms)
}

/// The study folder's layout.
struct Layout {
    out: PathBuf,
}

impl Layout {
    fn scenes(&self, cfg: &StudyConfig) -> PathBuf {
        match &cfg.scenes {
            Scenes::Synth { .. } => self.out.join("scenes"),
            Scenes::Scannet { root } | Scenes::Scannetpp { root } => root.clone(),
        }
    }
    fn data(&self) -> PathBuf {
        self.out.join("data")
    }
    fn run(&self, arm: &str, seed: u64) -> PathBuf {
        self.out.join("runs").join(arm).join(format!("seed-{seed}"))
    }
    fn markers(&self) -> PathBuf {
        self.out.join("done")
    }
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// Runs `argv` (without the program name) as an msmu command unless its marker says it is
/// done with the same command line; logs it and its time. Only when it runs, `prepare` is
/// called first and returns arguments added for this attempt alone (`--resume`), which are
/// logged but not part of the marker.
fn stage(
    layout: &Layout,
    marker: &str,
    argv: Vec<String>,
    accept_partial: bool,
    prepare: impl FnOnce() -> anyhow::Result<Vec<String>>,
) -> anyhow::Result<bool> {
    let line = shell_line(&argv);
    let marker_path = layout.markers().join(marker);
    if std::fs::read_to_string(&marker_path).is_ok_and(|m| m.trim_end() == line) {
        return Ok(false);
    }
    let mut run = argv;
    run.extend(prepare()?);
    let run_line = shell_line(&run);
    eprintln!("msmu ablate: {run_line}");
    append(&layout.out.join("commands.log"), &format!("{run_line}\n"))?;
    let started = Instant::now();
    let cli = Cli::try_parse_from(std::iter::once("msmu".to_string()).chain(run))
        .map_err(|e| anyhow::anyhow!("{marker}: {e}"))?;
    let code = dispatch(cli.command).with_context(|| format!("stage {marker}: {run_line}"))?;
    let partial = code == ExitCode::from(EXIT_PARTIAL);
    if code != ExitCode::SUCCESS && !(accept_partial && partial) {
        bail!("stage {marker} failed ({code:?}): {run_line}");
    }
    let seconds = started.elapsed().as_secs_f64();
    append(
        &layout.out.join("timings.jsonl"),
        &format!(
            "{}\n",
            serde_json::json!({"stage": marker, "seconds": seconds, "partial": partial})
        ),
    )?;
    if let Some(parent) = marker_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_atomic_with(&marker_path, |tmp| {
        std::fs::write(tmp, format!("{line}\n")).with_context(|| tmp.display().to_string())
    })?;
    Ok(true)
}

fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// `msmu a b` with arguments quoted for a POSIX shell where needed.
fn shell_line(argv: &[String]) -> String {
    let quote = |a: &String| {
        if !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
        {
            a.clone()
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        }
    };
    std::iter::once("msmu".to_string())
        .chain(argv.iter().map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(args: &AblateArgs) -> anyhow::Result<ExitCode> {
    if args.print_config {
        println!(
            "{}",
            serde_json::to_string_pretty(&StudyConfig::default_study())?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(config), Some(out)) = (&args.config, &args.out) else {
        bail!("give --config FILE and --out DIR (or --print-config)");
    };
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("reading the study configuration {}", config.display()))?;
    let cfg: StudyConfig = serde_json::from_str(&text)
        .with_context(|| format!("parsing the study configuration {}", config.display()))?;
    let arms = check(&cfg).with_context(|| format!("study configuration {}", config.display()))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let layout = Layout { out: out.clone() };
    // The study folder belongs to one configuration.
    let saved = out.join("study.json");
    let canonical = serde_json::to_string_pretty(&cfg)?;
    match std::fs::read_to_string(&saved) {
        Ok(old) if old.trim_end() != canonical.trim_end() => bail!(
            "{} holds a study with another configuration ({}): give another --out, or delete \
             the folder to start over",
            out.display(),
            saved.display()
        ),
        Ok(_) => {}
        Err(_) => write_atomic_with(&saved, |tmp| {
            std::fs::write(tmp, format!("{canonical}\n")).with_context(|| tmp.display().to_string())
        })?,
    }
    if !args.report_only {
        run_stages(&cfg, &arms, &layout)?;
    }
    let report = write_report(&cfg, &arms, &layout)?;
    eprintln!("msmu ablate: report in {}", report.display());
    Ok(ExitCode::SUCCESS)
}

fn run_stages(cfg: &StudyConfig, arms: &[Arm], layout: &Layout) -> anyhow::Result<()> {
    let scenes = layout.scenes(cfg);
    if let Scenes::Synth {
        count,
        seed,
        frames,
        faces_per_scene,
    } = &cfg.scenes
    {
        let mut argv = vec![
            "synth".to_string(),
            "--out".into(),
            path_arg(&scenes),
            "--scenes".into(),
            count.to_string(),
            "--seed".into(),
            seed.to_string(),
            "--frames".into(),
            frames.to_string(),
        ];
        if let Some(f) = faces_per_scene {
            argv.extend(["--faces-per-scene".into(), f.to_string()]);
        }
        stage(layout, "synth", argv, false, || Ok(Vec::new()))?;
    }
    let mut build_cfg = match &cfg.build.config {
        serde_json::Value::Null => serde_json::json!({}),
        v => v.clone(),
    };
    let Some(obj) = build_cfg.as_object_mut() else {
        bail!("build.config must be a JSON object");
    };
    obj.insert("test_fraction".into(), cfg.build.test_fraction.into());
    let build_cfg_path = layout.out.join("build-config.json");
    let build_text = serde_json::to_string_pretty(&build_cfg)?;
    if std::fs::read_to_string(&build_cfg_path).ok().as_deref() != Some(build_text.as_str()) {
        write_atomic_with(&build_cfg_path, |tmp| {
            std::fs::write(tmp, &build_text).with_context(|| tmp.display().to_string())
        })?;
    }
    let root_flag = match cfg.scenes {
        Scenes::Scannetpp { .. } => "--scannetpp-root",
        _ => "--scannet-root",
    };
    let data = layout.data();
    let build = vec![
        "build".to_string(),
        root_flag.into(),
        path_arg(&scenes),
        "--out".into(),
        path_arg(&data),
        "--seed".into(),
        cfg.build.seed.to_string(),
        "--config".into(),
        path_arg(&build_cfg_path),
    ];
    // A build that was interrupted is finished with --resume.
    stage(layout, "build", build, true, || {
        Ok(
            if data.join("manifest.json").exists() || data.join(STATE_DIR).exists() {
                vec!["--resume".to_string()]
            } else {
                Vec::new()
            },
        )
    })?;
    let manifest = Manifest::read(&data)?;
    for split in ["train", "test"] {
        if manifest.totals.rows.get(split).copied().unwrap_or(0) == 0 {
            bail!(
                "the build in {} has no {split} rows: use more scenes or another \
                 build.test_fraction",
                data.display()
            );
        }
    }

    let t = &cfg.train;
    for arm in arms {
        for &seed in &cfg.seeds {
            let run = layout.run(&arm.name, seed);
            // The training run's folder also gets the predictions and their scores.
            let train_dir = run.clone();
            let key = format!("{}/seed-{seed}", arm.name);
            let mut train = vec![
                "train".to_string(),
                "--data".into(),
                path_arg(&data),
                "--out".into(),
                path_arg(&train_dir),
            ];
            match (&t.preset, &t.model) {
                (Some(p), _) => train.extend(["--preset".into(), p.clone()]),
                (None, Some(m)) => train.extend(["--model".into(), path_arg(m)]),
                (None, None) => unreachable!("checked"),
            }
            train.extend([
                "--seed".into(),
                seed.to_string(),
                "--max-steps".into(),
                t.max_steps.to_string(),
                "--batch-size".into(),
                t.batch_size.to_string(),
                "--grad-accum".into(),
                t.grad_accum.to_string(),
                "--lr".into(),
                t.lr.to_string(),
                "--projector-lr".into(),
                t.projector_lr.to_string(),
                "--lora-r".into(),
                t.lora_r.to_string(),
                "--lora-alpha".into(),
                t.lora_alpha.to_string(),
                "--max-len".into(),
                t.max_len.to_string(),
                "--save-every".into(),
                t.save_every.to_string(),
                "--eval-rows".into(),
                t.eval_rows.to_string(),
            ]);
            if let Some(k) = t.eval_every {
                train.extend(["--eval-every".into(), k.to_string()]);
            }
            train.extend(t.extra_args.iter().cloned());
            train.extend(arm.train_args.iter().cloned());
            stage(layout, &format!("{key}/train"), train, false, || {
                if train_dir.join("trainer_state.json").exists() {
                    return Ok(vec!["--resume".to_string()]);
                }
                if train_dir.exists() {
                    // Killed before its first checkpoint: start the run again.
                    std::fs::remove_dir_all(&train_dir)
                        .with_context(|| format!("clearing {}", train_dir.display()))?;
                }
                Ok(Vec::new())
            })?;
            let pred = run.join("pred.jsonl");
            // A preset run saves its base model in the run folder.
            let base = t.model.clone().unwrap_or_else(|| train_dir.clone());
            let mut predict = vec![
                "predict".to_string(),
                "--model".into(),
                path_arg(&base),
                "--adapter".into(),
                path_arg(&train_dir),
                "--bench".into(),
                path_arg(&data),
                "--out".into(),
                path_arg(&pred),
            ];
            if let Some(limit) = cfg.predict.limit {
                predict.extend(["--limit".into(), limit.to_string()]);
            }
            if let Some(n) = cfg.predict.max_new_tokens {
                predict.extend(["--max-new-tokens".into(), n.to_string()]);
            }
            predict.extend(arm.predict_args.iter().cloned());
            stage(layout, &format!("{key}/predict"), predict, false, || {
                Ok(Vec::new())
            })?;
            let eval = vec![
                "eval".to_string(),
                "--bench".into(),
                path_arg(&data),
                "--pred".into(),
                path_arg(&pred),
                "--json".into(),
                "--per-item".into(),
                path_arg(&run.join("items.jsonl")),
                "--out".into(),
                path_arg(&run.join("eval.json")),
            ];
            stage(layout, &format!("{key}/eval"), eval, false, || {
                Ok(Vec::new())
            })?;
        }
    }
    Ok(())
}

/// Machine description for the report.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let device = msmu_train::device()
        .map(|d| format!("{d:?}"))
        .unwrap_or_else(|e| e.to_string());
    format!("{cores} logical cores ({model}), device {device}")
}

/// Seconds per stage kind (`synth`, `build`, `train`, ...) from `timings.jsonl`, summed over
/// arms, seeds and attempts.
fn timings(layout: &Layout) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(layout.out.join("timings.jsonl")).unwrap_or_default();
    let mut total: std::collections::BTreeMap<String, f64> = Default::default();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let (Some(stage), Some(s)) = (v["stage"].as_str(), v["seconds"].as_f64()) {
            let kind = stage.rsplit('/').next().unwrap_or(stage);
            *total.entry(kind.to_string()).or_default() += s;
        }
    }
    total.into_iter().collect()
}

fn write_report(cfg: &StudyConfig, arms: &[Arm], layout: &Layout) -> anyhow::Result<PathBuf> {
    let mut runs = Vec::new();
    let mut missing = Vec::new();
    for arm in arms {
        for &seed in &cfg.seeds {
            let run = layout.run(&arm.name, seed);
            if !run.join("eval.json").exists() {
                missing.push(format!("{}/seed-{seed}", arm.name));
                continue;
            }
            runs.push(
                ablation::read_run(&run, &arm.name, seed)
                    .with_context(|| format!("reading the scored run {}", run.display()))?,
            );
        }
    }
    if !missing.is_empty() {
        bail!(
            "not scored yet: {} (run the study without --report-only)",
            missing.join(", ")
        );
    }
    let arm_names: Vec<String> = arms.iter().map(|a| a.name.clone()).collect();
    let analysis = ablation::analyse(
        &runs,
        &arm_names,
        &cfg.baseline,
        cfg.bootstrap_resamples,
        cfg.bootstrap_seed,
    )?;
    ablation::plot_losses(&runs, &arm_names, &layout.out.join("loss.png"))?;
    ablation::plot_families(&analysis, &layout.out.join("families.png"))?;

    let manifest = Manifest::read(&layout.data())?;
    let mut md = String::new();
    writeln!(md, "# Depth ablation: {}\n", arm_names.join(" vs "))?;
    writeln!(
        md,
        "Generated by `msmu ablate` (msmu {}) from `study.json` in this folder; every score \
         below is parsed from `msmu eval --json` / `--per-item` output of each run \
         (`runs/<arm>/seed-<k>/eval.json`, `items.jsonl`) and cross-checked against it.\n",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(md, "## Set-up\n")?;
    let scene_split = |split: &str| {
        manifest
            .scenes
            .iter()
            .filter(|s| s.split == split && s.images > 0)
            .count()
    };
    let total =
        |m: &std::collections::BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    writeln!(md, "| split | scenes | images | QA |\n|---|---:|---:|---:|")?;
    for split in ["train", "test"] {
        writeln!(
            md,
            "| {split} | {} | {} | {} |",
            scene_split(split),
            total(&manifest.totals.rows, split),
            total(&manifest.totals.qa, split)
        )?;
    }
    let t = &cfg.train;
    let model = match (&t.preset, &t.model) {
        (Some(p), _) => format!("preset `{p}`"),
        (None, Some(m)) => format!("`{}`", m.display()),
        (None, None) => "?".into(),
    };
    writeln!(
        md,
        "\nScenes are disjoint between the splits (`msmu build`, test fraction {}). Model: \
         {}, LoRA r={} alpha={}, {} steps of batch {} x {} (lr {}, projector lr {}), \
         max length {}; seeds {:?} (each seed fixes the data order, the model's initialisation \
         and dropout, the same in every arm). Scores: 95 % percentile bootstrap over seeds and \
         items ({} resamples).\n",
        cfg.build.test_fraction,
        model,
        t.lora_r,
        t.lora_alpha,
        t.max_steps,
        t.batch_size,
        t.grad_accum,
        t.lr,
        t.projector_lr,
        t.max_len,
        cfg.seeds,
        cfg.bootstrap_resamples
    )?;
    writeln!(md, "| arm | train flags | predict flags |\n|---|---|---|")?;
    for a in arms {
        let flags = |v: &[String]| {
            if v.is_empty() {
                "(none)".to_string()
            } else {
                format!("`{}`", v.join(" "))
            }
        };
        writeln!(
            md,
            "| {} | {} | {} |",
            a.name,
            flags(&a.train_args),
            flags(&a.predict_args)
        )?;
    }
    writeln!(md, "\nMachine: {}.\n", machine())?;
    md.push_str(&analysis.to_markdown());
    writeln!(
        md,
        "\n![training loss of every arm and seed](loss.png)\n\n![success per family with 95 % \
         intervals](families.png)\n"
    )?;
    let times = timings(layout);
    if !times.is_empty() {
        writeln!(
            md,
            "## Time\n\nWall-clock seconds per stage kind, summed over arms and seeds (this \
             machine; not part of the reproducible numbers).\n\n| stage | seconds |\n|---|---:|"
        )?;
        for (k, s) in times {
            writeln!(md, "| {k} | {s:.0} |")?;
        }
    }
    let report = layout.out.join("report.md");
    write_atomic_with(&report, |tmp| {
        std::fs::write(tmp, &md).with_context(|| tmp.display().to_string())
    })?;
    let json = serde_json::json!({
        "msmu_version": env!("CARGO_PKG_VERSION"),
        "config": cfg,
        "arms": arms,
        "data": {"rows": manifest.totals.rows, "qa": manifest.totals.qa},
        "analysis": analysis.to_json(),
    });
    write_atomic_with(&layout.out.join("report.json"), |tmp| {
        std::fs::write(tmp, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| tmp.display().to_string())
    })?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_study_round_trips_and_checks() {
        let cfg = StudyConfig::default_study();
        let text = serde_json::to_string_pretty(&cfg).unwrap();
        let back: StudyConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, cfg);
        let arms = check(&cfg).unwrap();
        assert_eq!(arms.len(), 3);
        assert_eq!(arms[0].train_args, ["--no-dpe"]);
        assert_eq!(arms[2].train_args, ["--depth-fusion", "concat"]);
    }

    #[test]
    fn the_committed_study_is_valid() {
        let cfg: StudyConfig =
            serde_json::from_str(include_str!("../../docs/ablation/study.json")).unwrap();
        let arms = check(&cfg).unwrap();
        let names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["no-depth", "dpe", "concat"]);
        assert!(cfg.seeds.len() >= 3);
        assert!(cfg.train.max_steps * cfg.train.batch_size * cfg.train.grad_accum >= 2000);
    }

    #[test]
    fn bad_studies_are_refused_with_a_reason() {
        let mut cfg = StudyConfig::default_study();
        cfg.baseline = "nope".into();
        assert!(check(&cfg).unwrap_err().to_string().contains("baseline"));
        let mut cfg = StudyConfig::default_study();
        cfg.arms.push(ArmSpec::Builtin("estimated".into()));
        assert!(check(&cfg).unwrap_err().to_string().contains("depth_model"));
        let mut cfg = StudyConfig::default_study();
        cfg.arms.push(ArmSpec::Builtin("dpe".into()));
        assert!(check(&cfg).unwrap_err().to_string().contains("twice"));
        let mut cfg = StudyConfig::default_study();
        cfg.arms.push(ArmSpec::Custom {
            name: "../x".into(),
            train_args: vec![],
            predict_args: vec![],
        });
        assert!(check(&cfg).unwrap_err().to_string().contains("arm name"));
        let mut cfg = StudyConfig::default_study();
        cfg.train.model = Some("llava/".into());
        assert!(check(&cfg).unwrap_err().to_string().contains("give one of"));
        cfg.train.preset = None;
        assert!(check(&cfg).is_ok());
        let err = resolve_arm(&ArmSpec::Builtin("alpha-7".into()), None).unwrap_err();
        assert!(err.to_string().contains("unknown arm"));
        let unknown_key =
            r#"{"scenes": {"synth": {"count": 1, "seed": 0}}, "train": {}, "seedz": []}"#;
        assert!(serde_json::from_str::<StudyConfig>(unknown_key).is_err());
    }

    #[test]
    fn every_builtin_arm_parses_as_train_flags() {
        for name in [
            "no-depth",
            "dpe",
            "dpe-official",
            "alpha-50",
            "alpha-100",
            "alpha-200",
            "noise",
            "concat",
            "estimated",
        ] {
            let arm = resolve_arm(&ArmSpec::Builtin(name.into()), Some(Path::new("/da"))).unwrap();
            let mut argv = strings(&[
                "msmu", "train", "--data", "d", "--out", "o", "--preset", "tiny",
            ]);
            argv.extend(arm.train_args.clone());
            Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut argv = strings(&[
                "msmu", "predict", "--model", "m", "--bench", "b", "--out", "p",
            ]);
            argv.extend(arm.predict_args.clone());
            Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn command_lines_are_quoted_for_a_shell() {
        let line = shell_line(&strings(&["train", "--out", "a b", "--x", "it's"]));
        assert_eq!(line, "msmu train --out 'a b' --x 'it'\\''s'");
    }
}
