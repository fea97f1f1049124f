//! The resume state of `msmu build` (`OUT/.msmu-build/state.json`): the run's fingerprint, the
//! staged shards and the scenes they hold, and finishing (moving the shards, the manifest).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use crate::dataset::manifest::{write_atomic, Manifest, SceneRecord, MANIFEST_FILE};
use crate::dataset::shard::{shard_name, ShardInfo};

use super::scene::SceneJob;
use super::BuildPlan;

pub const STATE_DIR: &str = ".msmu-build";
const STATE_FILE: &str = "state.json";

/// A staged (closed) shard recorded in the state file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Staged {
    pub(super) split: String,
    pub(super) index: usize,
    pub(super) scenes: Vec<String>,
    pub(super) info: ShardInfo,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct State {
    fingerprint: String,
    staged: Vec<Staged>,
    /// Records of the scenes whose rows are in staged shards (all scenes once finalizing).
    records: Vec<SceneRecord>,
    /// Set when every shard is staged: the final name of each staged shard, in `staged` order.
    #[serde(default)]
    final_names: Option<Vec<String>>,
    /// Per scene id, a digest of its folder's listing (`io::scene_listing`: paths, sizes,
    /// modification times), so that resuming over changed or other input files is refused.
    #[serde(default)]
    scene_inputs: BTreeMap<String, String>,
}

/// What the output folder holds when a build starts.
pub(super) enum Opened {
    /// A finished dataset, kept as it is (`--resume` after the end).
    Finished(Manifest),
    /// A build to run: a new one, or the unfinished one to resume.
    Unfinished(Resume),
}

/// The state of a running build: the saved state plus the records of every scene built so far.
pub(super) struct Resume {
    out: PathBuf,
    state_dir: PathBuf,
    state: State,
    /// Records of the scenes built so far (recorded ones included), by scene id.
    records: BTreeMap<String, SceneRecord>,
}

fn fingerprint(plan: &BuildPlan) -> anyhow::Result<String> {
    let scenes: Vec<(&str, &str, String)> = plan
        .jobs
        .iter()
        .map(|j| {
            (
                j.scene_id.as_str(),
                j.rel.as_str(),
                format!("{:?}", j.split),
            )
        })
        .collect();
    let value = serde_json::json!({
        "config": plan.config,
        "scenes": scenes,
        "partition": plan.partition,
        "version": env!("CARGO_PKG_VERSION"),
    });
    let (_, digest) = digest_bytes(value.to_string().as_bytes());
    Ok(digest)
}

/// The listing digest of every scene of the plan (see [`State::scene_inputs`]).
fn scene_inputs(plan: &BuildPlan) -> BTreeMap<String, String> {
    plan.jobs
        .iter()
        .map(|j| {
            let listing = match crate::io::scene_listing(&j.path) {
                Ok(lines) => lines.join("\n"),
                Err(e) => format!("unreadable: {e}"),
            };
            (j.scene_id.clone(), digest_bytes(listing.as_bytes()).1)
        })
        .collect()
}

/// Refuses to resume when a scene's files are not the ones the unfinished build started from.
fn check_scene_inputs(
    out: &Path,
    recorded: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    // A state written before the inputs were recorded has none: nothing to compare.
    if recorded.is_empty() {
        return Ok(());
    }
    if let Some((scene, _)) = now.iter().find(|(id, d)| recorded.get(*id) != Some(*d)) {
        bail!(
            "{}: the files of scene {scene} changed since the unfinished build started (another \
             copy of the scans, a re-export or an edit: sizes or modification times differ); \
             use --force to start over from the current files",
            out.display()
        );
    }
    Ok(())
}

fn digest_bytes(bytes: &[u8]) -> (u64, String) {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(bytes);
    (
        bytes.len() as u64,
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    )
}

fn staged_path(state_dir: &Path, split: &str, index: usize) -> PathBuf {
    state_dir
        .join("shards")
        .join(format!("{split}-{index:05}.parquet"))
}

fn save_state(state_dir: &Path, state: &State) -> anyhow::Result<()> {
    write_atomic(
        &state_dir.join(STATE_FILE),
        serde_json::to_string(state)?.as_bytes(),
    )
}

/// The recorded state of an unfinished build, if it was made from the same inputs.
fn read_state(out: &Path, state_dir: &Path, resume: bool, fp: &str) -> anyhow::Result<State> {
    if !resume {
        bail!(
            "{} holds an unfinished build ({}/); pass --resume to finish it, or --force to \
             start over",
            out.display(),
            STATE_DIR
        );
    }
    let text = std::fs::read_to_string(state_dir.join(STATE_FILE))?;
    let state: State = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}/{STATE_FILE}: unreadable; use --force",
            state_dir.display()
        )
    })?;
    if state.fingerprint != fp {
        bail!(
            "{}: the unfinished build used other inputs, configuration, seed or msmu version; \
             rerun with the same arguments, or use --force to start over",
            out.display()
        );
    }
    Ok(state)
}

/// Creates the shard folder, removes what a killed run left open and checks that every
/// recorded shard is still there as it was recorded.
fn prepare_shards(state_dir: &Path, state: &State) -> anyhow::Result<()> {
    std::fs::create_dir_all(state_dir.join("shards"))
        .with_context(|| format!("creating {}", state_dir.display()))?;
    // Remove what a killed run left open.
    for entry in std::fs::read_dir(state_dir.join("shards"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path)?;
        }
    }
    for staged in state.staged.iter().filter(|_| state.final_names.is_none()) {
        let path = staged_path(state_dir, &staged.split, staged.index);
        let size = std::fs::metadata(&path).map(|m| m.len()).ok();
        if size != Some(staged.info.bytes) {
            bail!(
                "{}: staged shard missing or changed since it was recorded; use --force to \
                 start over",
                path.display()
            );
        }
    }
    Ok(())
}

/// `--resume` on a finished dataset returns it only if it was built with this configuration,
/// seed, partition and scene list; otherwise the old dataset would be passed off as the
/// requested one.
fn check_finished_matches(manifest: &Manifest, plan: &BuildPlan) -> anyhow::Result<()> {
    let (out, config, jobs, partition) = (&plan.out, &plan.config, &plan.jobs, plan.partition);
    let mut differs = Vec::new();
    if manifest.seed != config.qa.seed {
        differs.push(format!("seed {} (now {})", manifest.seed, config.qa.seed));
    }
    if manifest.config != serde_json::to_value(config)? {
        differs.push("configuration".to_string());
    }
    let built: BTreeSet<(&str, &str)> = manifest
        .scenes
        .iter()
        .map(|scene| (scene.scene_id.as_str(), scene.path.as_str()))
        .collect();
    let planned: BTreeSet<(&str, &str)> = jobs
        .iter()
        .map(|job| (job.scene_id.as_str(), job.rel.as_str()))
        .collect();
    if built != planned {
        differs.push(format!(
            "scene list ({} scenes built, {} planned now)",
            built.len(),
            planned.len()
        ));
    }
    let partition_now = partition.map(|(k, n)| format!("{k}/{n}"));
    if manifest.partition != partition_now {
        differs.push(format!(
            "partition {:?} (now {:?})",
            manifest.partition, partition_now
        ));
    }
    if !differs.is_empty() {
        bail!(
            "--resume: {} holds a finished dataset built with another {}; rerun with the \
             arguments of that build, choose another --out, or pass --force to rebuild",
            out.display(),
            differs.join(", ")
        );
    }
    Ok(())
}

impl Resume {
    /// Looks at the output folder: a finished dataset, an unfinished build of the same plan
    /// (with `--resume`), or room for a new build; anything else is an error.
    pub(super) fn open(plan: &BuildPlan) -> anyhow::Result<Opened> {
        let out = &plan.out;
        let state_dir = out.join(STATE_DIR);
        let finished = out.join(MANIFEST_FILE).exists();
        if finished && !state_dir.exists() {
            if plan.resume {
                let manifest = Manifest::read(out)?;
                check_finished_matches(&manifest, plan)?;
                return Ok(Opened::Finished(manifest));
            }
            bail!(
                "{} already holds a finished dataset (manifest.json); choose another --out, or \
                 pass --force to overwrite it",
                out.display()
            );
        }
        let fp = fingerprint(plan)?;
        let inputs = scene_inputs(plan);
        let state = if state_dir.join(STATE_FILE).exists() {
            let mut state = read_state(out, &state_dir, plan.resume, &fp)?;
            check_scene_inputs(out, &state.scene_inputs, &inputs)?;
            state.scene_inputs = inputs;
            state
        } else {
            if out.join("data").exists() && std::fs::read_dir(out.join("data"))?.next().is_some() {
                bail!(
                    "{}/data is not empty; choose an empty --out, or pass --force",
                    out.display()
                );
            }
            State {
                fingerprint: fp,
                scene_inputs: inputs,
                ..State::default()
            }
        };
        prepare_shards(&state_dir, &state)?;
        save_state(&state_dir, &state)?;
        let records = state
            .records
            .iter()
            .map(|r| (r.scene_id.clone(), r.clone()))
            .collect();
        Ok(Opened::Unfinished(Resume {
            out: out.clone(),
            state_dir,
            state,
            records,
        }))
    }

    /// The jobs still to build: those whose rows are in no staged shard (none once every
    /// shard is staged).
    pub(super) fn todo<'a>(&self, jobs: &'a [SceneJob]) -> Vec<&'a SceneJob> {
        let settled: BTreeSet<String> = self
            .state
            .staged
            .iter()
            .flat_map(|s| s.scenes.iter().cloned())
            .collect();
        jobs.iter()
            .filter(|j| self.state.final_names.is_none() && !settled.contains(&j.scene_id))
            .collect()
    }

    /// Whether every shard is staged and has its final name.
    pub(super) fn is_finalized(&self) -> bool {
        self.state.final_names.is_some()
    }

    /// The index the next shard of `split` gets.
    pub(super) fn next_index(&self, split: &str) -> usize {
        self.state
            .staged
            .iter()
            .filter(|s| s.split == split)
            .count()
    }

    /// Where shard `index` of `split` is staged.
    pub(super) fn staged_path(&self, split: &str, index: usize) -> PathBuf {
        staged_path(&self.state_dir, split, index)
    }

    /// Records a closed shard (not saved yet).
    pub(super) fn record_shard(&mut self, staged: Staged) {
        self.state.staged.push(staged);
    }

    /// Keeps the record of a built scene.
    pub(super) fn record_scene(&mut self, scene_id: String, record: SceneRecord) {
        self.records.insert(scene_id, record);
    }

    /// After a shard closed: keep the records of its scenes and save the state.
    pub(super) fn remember_closed(&mut self) -> anyhow::Result<()> {
        if let Some(last) = self.state.staged.last() {
            let new: Vec<SceneRecord> = last
                .scenes
                .iter()
                .filter_map(|id| self.records.get(id).cloned())
                .collect();
            self.state.records.extend(new);
        }
        save_state(&self.state_dir, &self.state)
    }

    /// Once every shard is staged: gives each its final name, keeps the records of all scenes
    /// (in job order) and saves the state.
    pub(super) fn finalize(&mut self, jobs: &[SceneJob]) -> anyhow::Result<()> {
        let state = &mut self.state;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for s in &state.staged {
            *counts.entry(s.split.clone()).or_default() += 1;
        }
        state.staged.sort_by(|a, b| {
            (split_order(&a.split), a.index).cmp(&(split_order(&b.split), b.index))
        });
        state.final_names = Some(
            state
                .staged
                .iter()
                .map(|s| shard_name(&s.split, s.index, counts[&s.split]))
                .collect(),
        );
        state.records = jobs
            .iter()
            .filter_map(|j| self.records.get(&j.scene_id).cloned())
            .collect();
        save_state(&self.state_dir, &self.state)
    }

    /// Moves the staged shards (idempotent), writes the manifest, drops the state.
    pub(super) fn finish(self, plan: &BuildPlan) -> anyhow::Result<Manifest> {
        let out = &self.out;
        let state_dir = &self.state_dir;
        let state = &self.state;
        std::fs::create_dir_all(out.join("data"))?;
        let mut manifest = Manifest::new(plan.config.qa.seed, serde_json::to_value(&plan.config)?);
        manifest.partition = plan.partition.map(|(k, n)| format!("{k}/{n}"));
        let names = state.final_names.clone().unwrap_or_default();
        for (s, name) in state.staged.iter().zip(&names) {
            let from = staged_path(state_dir, &s.split, s.index);
            let to = out.join(name);
            if from.exists() || !to.exists() {
                // Durable: the manifest written next must never name a shard whose rename a
                // crash could still undo.
                crate::dataset::atomic::rename_durably(&from, &to)?;
            }
            let mut info = s.info.clone();
            info.file = name.clone();
            manifest.shards.push(info);
        }
        manifest.scenes = state.records.clone();
        manifest.recount();
        manifest.write(out)?;
        std::fs::remove_dir_all(state_dir)
            .with_context(|| format!("removing {}", state_dir.display()))?;
        Ok(manifest)
    }
}

fn split_order(split: &str) -> u8 {
    match split {
        "train" => 0,
        "test" => 1,
        _ => 2,
    }
}
