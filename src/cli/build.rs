//! `msmu build`: the main job (see `msmu_data::pipeline`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context as _};

use msmu_data::dataset::manifest::{SceneState, MANIFEST_FILE};
use msmu_data::io::ReadOptions;
use msmu_data::pipeline::{
    plan_scenes, run_build, BuildConfig, BuildPlan, DepthChoice, DepthEstimator, SplitMode,
    STATE_DIR,
};
use msmu_data::qa::TemplateSet;

use super::EXIT_PARTIAL;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu build --out out/dataset                      # the bundled fixture scenes\n  \
msmu build --scannet-root /data/scannet --scannetpp-root /data/scannetpp --out msmu --threads 16\n  \
msmu build --scannet-root /data/scannet --out msmu --resume          # finish a killed run\n  \
msmu build --scannet-root /data/scannet --out part3 --shard 3/16     # one of 16 machines\n  \
msmu build --scannet-root /data/scannet --out official --profile official   # the official conventions\n  \
msmu build --scannet-root /data/scannet --out bench --split test --exclude-scenes bench.txt\n\n\
Exit status: 0 = every scene built, 3 = finished but some scenes were skipped (see \
manifest.json `scenes[].reason`), 1 = error.")]
pub struct BuildArgs {
    /// ScanNet v2 root (holding `scans/sceneXXXX_YY/` or the scene folders).
    #[arg(long)]
    pub scannet_root: Option<PathBuf>,
    /// ScanNet++ root (holding `data/<scene id>/` or the scene folders).
    #[arg(long)]
    pub scannetpp_root: Option<PathBuf>,
    /// Output folder (gets `data/*.parquet` and `manifest.json`).
    #[arg(long)]
    pub out: PathBuf,
    /// Put every scene in train, in test, or decide per scene (exclusion and split files,
    /// then a stable hash against `test_fraction`).
    #[arg(long, value_enum, default_value_t = SplitMode::Auto)]
    pub split: SplitMode,
    /// Seed of every random choice; same inputs and seed give byte-identical shards.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (default: all cores). Output does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Finish an interrupted build in --out (same arguments as the first run).
    #[arg(long)]
    pub resume: bool,
    /// Delete what --out holds from an earlier build first.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Build the K-th of N deterministic parts of the scene list (K = 0..N-1); join the
    /// parts with `msmu merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Scenes kept out of training, one id per line (they go to test).
    #[arg(long)]
    pub exclude_scenes: Option<PathBuf>,
    /// Official ScanNet train list (`scannetv2_train.txt`).
    #[arg(long)]
    pub split_train: Option<PathBuf>,
    /// Official ScanNet validation list (`scannetv2_val.txt`): those scenes go to test.
    #[arg(long)]
    pub split_val: Option<PathBuf>,
    /// Conventions profile: `msmu` (default: exact gravity-aligned sizes, closest-surface
    /// distances as their own type) or `official` (the official MSMU data's conventions:
    /// axis-aligned box sizes, centre-to-centre distances only, doors and windows asked about,
    /// ~28 QA per image). Profiles are configurations under templates/profiles/; --config
    /// applies over the profile.
    #[arg(long, default_value = "msmu", value_parser = ["msmu", "official"])]
    pub profile: String,
    /// Build configuration (JSON; any subset of the keys printed by --print-config).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as JSON and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Keep every N-th frame before the pose-diversity test (overrides `views.frame_stride`).
    #[arg(long)]
    pub frame_stride: Option<usize>,
    /// Also write a 16-bit instance-id PNG per image (`instance_mask`).
    #[arg(long)]
    pub with_masks: bool,
    /// What fills the `depth` column: `mesh` (rendered from the mesh, metric millimetres) or
    /// `estimated` (--depth-model on the colour image, at the depth camera's resolution;
    /// metric models in millimetres, relative ones as disparity over 1..65535; column
    /// `depth_source` says which). QA, visibility and view selection always use the mesh.
    /// `estimated` needs the trainer build (`make train-ready`).
    #[arg(long, value_enum)]
    pub depth_source: Option<DepthChoice>,
    /// Depth-Anything-V2 folder (transformers layout, or the original weights as safetensors)
    /// for `--depth-source estimated`.
    #[arg(long)]
    pub depth_model: Option<PathBuf>,
    /// Folder with the eight QA template files; default: the shipped ones.
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// ScanNet label map (scannetv2-labels.combined.tsv); searched beside the scenes by default.
    #[arg(long)]
    pub label_map: Option<PathBuf>,
}

/// `K/N` with `0 <= K < N`.
pub fn parse_partition(text: &str) -> anyhow::Result<(usize, usize)> {
    let (k, n) = text
        .split_once('/')
        .with_context(|| format!("--shard {text}: expected K/N, e.g. 0/8"))?;
    let k: usize = k
        .trim()
        .parse()
        .with_context(|| format!("--shard {text}: K is not a number"))?;
    let n: usize = n
        .trim()
        .parse()
        .with_context(|| format!("--shard {text}: N is not a number"))?;
    if n == 0 || k >= n {
        bail!(
            "--shard {text}: need 0 <= K < N (K counts from 0, like Slurm and Kubernetes indexes)"
        );
    }
    Ok((k, n))
}

/// `over` written onto `base`: objects merge key by key (recursively), anything else replaces.
fn merge_json(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge_json(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// A profile's configuration (`templates/profiles/<name>.json`, compiled in).
fn profile_text(name: &str) -> anyhow::Result<&'static str> {
    Ok(match name {
        "msmu" => include_str!("../../templates/profiles/msmu.json"),
        "official" => include_str!("../../templates/profiles/official.json"),
        other => bail!("--profile {other}: expected msmu or official"),
    })
}

/// The bundled fixture roots (relative to the working directory, else to the source tree).
pub fn fixture_roots() -> Vec<PathBuf> {
    let base = if Path::new("fixtures").is_dir() {
        PathBuf::from("fixtures")
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
    };
    vec![base.join("scannet"), base.join("scannetpp")]
}

pub fn run(args: &BuildArgs) -> anyhow::Result<ExitCode> {
    // The defaults, then the profile, then --config: any subset of the keys, at any depth.
    let mut merged = serde_json::to_value(BuildConfig::with_defaults())?;
    let profile: serde_json::Value = serde_json::from_str(profile_text(&args.profile)?)
        .with_context(|| format!("templates/profiles/{}.json: not JSON", args.profile))?;
    merge_json(&mut merged, profile);
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --config {}", path.display()))?;
            let given: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", path.display()))?;
            merge_json(&mut merged, given);
            serde_json::from_value::<BuildConfig>(merged).with_context(|| {
                format!(
                    "{}: not a valid build configuration (see `msmu build --print-config` for the keys)",
                    path.display()
                )
            })?
        }
        None => serde_json::from_value::<BuildConfig>(merged).with_context(|| {
            format!(
                "templates/profiles/{}.json: not a valid build configuration",
                args.profile
            )
        })?,
    };
    if let Some(seed) = args.seed {
        config.qa.seed = seed;
    }
    if args.with_masks {
        config.with_masks = true;
    }
    if let Some(stride) = args.frame_stride {
        config.views.frame_stride = stride;
    }
    if let Some(source) = args.depth_source {
        config.depth.source = source;
    }
    let estimator = match (config.depth.source, &args.depth_model) {
        (DepthChoice::Mesh, None) => None,
        (DepthChoice::Mesh, Some(_)) => {
            bail!("--depth-model needs --depth-source estimated")
        }
        (DepthChoice::Estimated, None) => {
            bail!("--depth-source estimated needs --depth-model DIR (a Depth-Anything-V2 folder)")
        }
        (DepthChoice::Estimated, Some(dir)) => Some(load_estimator(dir)?),
    };
    if let Some(e) = &estimator {
        config.depth.model = Some(e.identity());
    }
    if args.print_config {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(ExitCode::SUCCESS);
    }
    if !(0.0..=1.0).contains(&config.test_fraction) {
        bail!(
            "test_fraction must be in [0, 1], got {}",
            config.test_fraction
        );
    }
    config.selection.validate().map_err(|(field, problem)| {
        anyhow::anyhow!("configuration: selection.{field}: {problem}")
    })?;
    // Checked before any scene is built, not when the first shard is opened.
    msmu_data::dataset::shard::writer_properties(&config.limits).map_err(|e| {
        anyhow::anyhow!(
            "configuration: limits.zstd_level {}: {e} (zstd levels are 1 to 22)",
            config.limits.zstd_level
        )
    })?;
    let templates = match &args.templates {
        Some(dir) => TemplateSet::load_dir(dir)?,
        None => TemplateSet::shipped()?,
    };
    let split_plan = super::split_plan_from_files(
        config.test_fraction,
        args.exclude_scenes.as_ref(),
        args.split_train.as_ref(),
        args.split_val.as_ref(),
    )?;
    let mut roots: Vec<PathBuf> = args
        .scannet_root
        .iter()
        .chain(&args.scannetpp_root)
        .cloned()
        .collect();
    if roots.is_empty() {
        roots = fixture_roots();
        eprintln!("no --scannet-root / --scannetpp-root: building the bundled fixture scenes");
    }
    for root in &roots {
        if !root.is_dir() {
            bail!("{}: not a folder", root.display());
        }
    }
    let partition = args.shard.as_deref().map(parse_partition).transpose()?;
    let jobs = plan_scenes(&roots, args.split, &split_plan, partition)?;
    if args.force {
        check_no_overlap(&args.out, &roots)?;
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let _lock = OutLock::acquire(&args.out)?;
    if args.force {
        for path in [args.out.join("data"), args.out.join(STATE_DIR)] {
            if path.exists() {
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
        let manifest = args.out.join(MANIFEST_FILE);
        if manifest.exists() {
            std::fs::remove_file(&manifest)?;
        }
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let read = ReadOptions {
        scannet_label_map: args.label_map.clone(),
        ..ReadOptions::default()
    };
    let bar = msmu_data::progress::bar(jobs.len() as u64, "scenes");
    let qa_total = AtomicU64::new(0);
    let skipped = AtomicU64::new(0);
    let progress_bar = bar.clone();
    let plan = BuildPlan {
        out: args.out.clone(),
        config,
        templates,
        read,
        jobs,
        partition,
        threads,
        resume: args.resume,
        estimator,
        progress: Some(Box::new(move |record| {
            let qa = qa_total.fetch_add(record.qa, Ordering::Relaxed) + record.qa;
            if record.status == SceneState::Skipped {
                skipped.fetch_add(1, Ordering::Relaxed);
                progress_bar.suspend(|| {
                    eprintln!(
                        "skipped {}: {}",
                        record.scene_id,
                        record.reason.as_deref().unwrap_or("")
                    )
                });
            }
            let elapsed = progress_bar.elapsed().as_secs_f64().max(1e-3);
            progress_bar.set_message(format!(
                "{qa} QA ({:.0} QA/s), {} skipped",
                qa as f64 / elapsed,
                skipped.load(Ordering::Relaxed)
            ));
            progress_bar.inc(1);
        })),
    };
    let summary = run_build(plan)?;
    bar.finish_and_clear();
    let m = &summary.manifest;
    let t = &m.totals;
    let rows: u64 = t.rows.values().sum();
    let qa: u64 = t.qa.values().sum();
    eprintln!(
        "built {}: {} scenes ({} done, {} empty, {} skipped{}), {rows} images, {qa} QA pairs, {} shards",
        args.out.display(),
        t.scenes,
        t.scenes_done,
        t.scenes_empty,
        t.scenes_skipped,
        if summary.resumed_scenes > 0 {
            format!(", {} kept from the interrupted run", summary.resumed_scenes)
        } else {
            String::new()
        },
        m.shards.len()
    );
    for scene in m.scenes.iter().filter(|s| s.status == SceneState::Skipped) {
        eprintln!(
            "  skipped {} ({}): {}",
            scene.scene_id,
            scene.path,
            scene.reason.as_deref().unwrap_or("")
        );
    }
    if t.scenes_skipped > 0 {
        return Ok(ExitCode::from(EXIT_PARTIAL));
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses `--force` when `--out` and an input root overlap either way round: `--out` is a
/// root, lies inside one, or holds one. `--force` deletes `OUT/data` (where ScanNet++ keeps its
/// scenes) and the build state, so any overlap could delete input data.
pub fn check_no_overlap(out: &Path, roots: &[PathBuf]) -> anyhow::Result<()> {
    let out_abs = absolute_resolved(out)?;
    for root in roots {
        let root_abs = absolute_resolved(root)?;
        if out_abs.starts_with(&root_abs) || root_abs.starts_with(&out_abs) {
            bail!(
                "--force refused: --out {} overlaps the input root {} ({}); --force deletes \
                 {}/data and the build state, which could delete input scenes. Choose an --out \
                 outside every input root",
                out.display(),
                root.display(),
                if out_abs == root_abs {
                    "the same folder"
                } else if out_abs.starts_with(&root_abs) {
                    "--out is inside it"
                } else {
                    "it is inside --out"
                },
                out.display()
            );
        }
    }
    Ok(())
}

/// `path` made absolute with symlinks resolved; a path that does not exist yet is resolved
/// through its nearest existing ancestor.
fn absolute_resolved(path: &Path) -> anyhow::Result<PathBuf> {
    let absolute = std::path::absolute(path)
        .with_context(|| format!("{}: cannot make the path absolute", path.display()))?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(resolved) = existing.canonicalize() {
            let mut out = resolved;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return Ok(out);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return Ok(absolute),
        }
    }
}

/// Name of the advisory lock file `msmu build` holds in `--out` while it runs.
pub const LOCK_FILE: &str = ".msmu-lock";

/// An advisory lock on `--out`: `OUT/.msmu-lock`, created with `create_new` and holding the
/// process id, removed when the build ends (also on error). Two builds into one folder would
/// interleave shards and state.
pub struct OutLock {
    path: PathBuf,
}

impl OutLock {
    /// Takes the lock, or fails naming the process that holds it. A lock whose process is no
    /// longer running (a killed build) is stale: it is replaced, with a warning.
    pub fn acquire(out: &Path) -> anyhow::Result<OutLock> {
        let path = out.join(LOCK_FILE);
        match Self::create(&path)? {
            Some(lock) => Ok(lock),
            None => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let pid = holder.trim().to_string();
                if process_running(&pid) {
                    bail!(
                        "{} is in use by another msmu build (pid {pid}, lock {}); wait for it to \
                         finish or choose another --out",
                        out.display(),
                        path.display()
                    );
                }
                eprintln!(
                    "warning: removing the stale lock {} (pid {pid:?} is not running: an \
                     earlier build was killed)",
                    path.display()
                );
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing the stale lock {}", path.display()))?;
                Self::create(&path)?.with_context(|| {
                    format!(
                        "{}: another build took the lock {} just now; choose another --out",
                        out.display(),
                        path.display()
                    )
                })
            }
        }
    }

    /// Creates the lock file; `None` when it exists.
    fn create(path: &Path) -> anyhow::Result<Option<OutLock>> {
        use std::io::Write as _;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(mut file) => {
                writeln!(file, "{}", std::process::id())
                    .with_context(|| format!("writing {}", path.display()))?;
                Ok(Some(OutLock {
                    path: path.to_path_buf(),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(e).with_context(|| format!("creating the lock {}", path.display())),
        }
    }
}

/// Whether process `pid` (text from a lock file) is running. Without `/proc` (not Linux) every
/// holder is assumed alive, so a lock is never taken over wrongly.
fn process_running(pid: &str) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && Path::new("/proc").join(pid).exists()
}

impl Drop for OutLock {
    fn drop(&mut self) {
        // Best effort: a lock left behind is reported as stale by the next run.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The Depth-Anything-V2 estimator of `--depth-model`.
#[cfg(feature = "train")]
fn load_estimator(dir: &Path) -> anyhow::Result<std::sync::Arc<dyn DepthEstimator>> {
    let estimator =
        super::depth_source::load_estimator(Some(&dir.to_path_buf()))?.context("no depth model")?;
    Ok(estimator)
}

/// Without the trainer there is no estimator: say how to get one.
#[cfg(not(feature = "train"))]
fn load_estimator(_dir: &Path) -> anyhow::Result<std::sync::Arc<dyn DepthEstimator>> {
    bail!(
        "--depth-source estimated runs Depth-Anything-V2, which needs the trainer build: \
         `make train-ready` (then target/release/msmu), or \
         `LIBTORCH=... cargo build --release --features train`"
    )
}
