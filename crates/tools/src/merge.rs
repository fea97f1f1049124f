//! `msmu merge`: joins the outputs of `msmu build --shard K/N` runs into one dataset.
//!
//! Shards are renumbered per split in input order (`data/{split}-{i:05d}-of-{n:05d}.parquet`),
//! hard-linked or copied byte for byte, and their SHA-256 checked against the input manifests
//! before and after. The merged manifest concatenates the scenes (sorted by scene id),
//! recounts the totals and records the merged parts in `partition`. Parts built with a
//! different msmu version, schema version, seed or configuration, or sharing scene ids, are
//! refused.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::export::{link_or_copy, plain_name, safe_relative, staged};
use msmu_data::dataset::manifest::{Manifest, MANIFEST_FILE};
use msmu_data::dataset::shard::{file_digest, shard_name, ShardInfo};
use msmu_data::pipeline::STATE_DIR;

/// What [`merge`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeSummary {
    pub manifest: Manifest,
    /// Warnings (missing parts of a K/N partition).
    pub warnings: Vec<String>,
}

fn split_order(split: &str) -> (u8, String) {
    let rank = match split {
        "train" => 0,
        "test" => 1,
        _ => 2,
    };
    (rank, split.to_string())
}

/// Refuses parts that were not built the same way.
fn check_compatible(first: (&Path, &Manifest), other: (&Path, &Manifest)) -> anyhow::Result<()> {
    let (a_dir, a) = first;
    let (b_dir, b) = other;
    let differs = |what: &str, x: String, y: String| -> anyhow::Result<()> {
        if x != y {
            bail!(
                "cannot merge: {} has {what} {x} but {} has {y}; rebuild the parts with the same \
                 msmu version, --seed and --config",
                a_dir.join(MANIFEST_FILE).display(),
                b_dir.join(MANIFEST_FILE).display()
            );
        }
        Ok(())
    };
    differs(
        "msmu_version",
        a.msmu_version.clone(),
        b.msmu_version.clone(),
    )?;
    differs(
        "schema_version",
        a.schema_version.to_string(),
        b.schema_version.to_string(),
    )?;
    differs("seed", a.seed.to_string(), b.seed.to_string())?;
    if a.config != b.config {
        let (ca, cb) = (a.config.as_object(), b.config.as_object());
        let mut keys: Vec<String> = Vec::new();
        if let (Some(ca), Some(cb)) = (ca, cb) {
            for (k, v) in ca {
                if cb.get(k) != Some(v) {
                    keys.push(k.clone());
                }
            }
            keys.extend(cb.keys().filter(|k| !ca.contains_key(*k)).cloned());
        }
        bail!(
            "cannot merge: {} and {} were built with different configurations (keys {keys:?}); \
             rebuild the parts with the same --config",
            a_dir.join(MANIFEST_FILE).display(),
            b_dir.join(MANIFEST_FILE).display()
        );
    }
    Ok(())
}

/// Merges `inputs` (in order) into `out`.
pub fn merge(inputs: &[PathBuf], out: &Path) -> anyhow::Result<MergeSummary> {
    if inputs.is_empty() {
        bail!("nothing to merge: name the folders of the `msmu build --shard K/N` runs");
    }
    let mut manifests = Vec::new();
    for dir in inputs {
        if dir.join(STATE_DIR).exists() {
            bail!(
                "{}: unfinished build ({STATE_DIR}/ present); finish it with `msmu build \
                 --resume` first",
                dir.display()
            );
        }
        let manifest = Manifest::read(dir)?;
        check_shard_entries(dir, &manifest)?;
        manifests.push(manifest);
    }
    for (dir, m) in inputs.iter().zip(&manifests).skip(1) {
        check_compatible((&inputs[0], &manifests[0]), (dir, m))?;
    }
    let mut owner: HashMap<&str, &Path> = HashMap::new();
    for (dir, m) in inputs.iter().zip(&manifests) {
        for scene in &m.scenes {
            if let Some(first) = owner.insert(&scene.scene_id, dir) {
                bail!(
                    "cannot merge: scene {} is in both {} and {} (overlapping parts: merge each \
                     K/N part once, all built with the same N)",
                    scene.scene_id,
                    first.display(),
                    dir.display()
                );
            }
        }
    }
    // Partition bookkeeping: warn about missing K of a K/N set.
    let mut warnings = Vec::new();
    let parts: Vec<String> = inputs
        .iter()
        .zip(&manifests)
        .map(|(dir, m)| match &m.partition {
            Some(p) => format!("{p} ({})", dir.display()),
            None => format!("all ({})", dir.display()),
        })
        .collect();
    let mut n_seen: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for m in &manifests {
        if let Some((k, n)) = m.partition.as_deref().and_then(|p| p.split_once('/')) {
            if let (Ok(k), Ok(n)) = (k.parse::<usize>(), n.parse::<usize>()) {
                n_seen.entry(n).or_default().push(k);
            }
        }
    }
    for (n, ks) in &n_seen {
        let missing: Vec<String> = (0..*n)
            .filter(|k| !ks.contains(k))
            .map(|k| format!("{k}/{n}"))
            .collect();
        if !missing.is_empty() {
            warnings.push(format!(
                "parts {} are not among the inputs: the merged dataset is incomplete",
                missing.join(", ")
            ));
        }
    }
    // Renumber the shards per split, in input order.
    let mut per_split: BTreeMap<(u8, String), Vec<(usize, &ShardInfo)>> = BTreeMap::new();
    for (i, m) in manifests.iter().enumerate() {
        let mut shards: Vec<&ShardInfo> = m.shards.iter().collect();
        shards.sort_by(|a, b| a.file.cmp(&b.file));
        for shard in shards {
            per_split
                .entry(split_order(&shard.split))
                .or_default()
                .push((i, shard));
        }
    }
    staged(out, |stage| {
        write_merged(inputs, &manifests, &per_split, parts, stage, out)
    })
    .map(|manifest| MergeSummary { manifest, warnings })
}

/// Checks the untrusted parts of a manifest before any of it is joined to a path: every
/// `shards[].file` a plain relative path listed once, every `shards[].split` a plain name.
fn check_shard_entries(dir: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let mut files = BTreeSet::new();
    for shard in &manifest.shards {
        let file = safe_relative(&shard.file, "shards[].file")
            .with_context(|| manifest_path.display().to_string())?;
        plain_name(&shard.split, "shards[].split")
            .with_context(|| manifest_path.display().to_string())?;
        if !files.insert(file) {
            bail!(
                "{}: shard {:?} is listed twice; the manifest is corrupt (rebuild or fix it)",
                manifest_path.display(),
                shard.file
            );
        }
    }
    Ok(())
}

type SplitShards<'a> = BTreeMap<(u8, String), Vec<(usize, &'a ShardInfo)>>;

/// Writes the merged dataset into `stage` (renamed to `out` by the caller).
fn write_merged(
    inputs: &[PathBuf],
    manifests: &[Manifest],
    per_split: &SplitShards,
    parts: Vec<String>,
    stage: &Path,
    out: &Path,
) -> anyhow::Result<Manifest> {
    let first = &manifests[0];
    let mut merged = Manifest::new(first.seed, first.config.clone());
    merged.msmu_version = first.msmu_version.clone();
    merged.schema_version = first.schema_version;
    merged.partition = Some(format!("merged: {}", parts.join(", ")));
    for ((_, split), shards) in per_split {
        let count = shards.len();
        for (index, (input, info)) in shards.iter().enumerate() {
            // Both checked by `check_shard_entries`.
            let split = plain_name(split, "shards[].split")?;
            let from = inputs[*input].join(safe_relative(&info.file, "shards[].file")?);
            let (bytes, sha) = file_digest(&from)?;
            if bytes != info.bytes || sha != info.sha256 {
                bail!(
                    "{}: checksum differs from its manifest.json (corrupted or modified); run \
                     `msmu validate {}` and rebuild that part",
                    from.display(),
                    inputs[*input].display()
                );
            }
            let name = shard_name(split, index, count);
            let to = stage.join(&name);
            link_or_copy(&from, &to)?;
            let (bytes, sha) = file_digest(&to)?;
            if bytes != info.bytes || sha != info.sha256 {
                bail!(
                    "{}: copy differs from {} (disk full or I/O error?); delete {} and retry",
                    to.display(),
                    from.display(),
                    out.display()
                );
            }
            merged.shards.push(ShardInfo {
                file: name,
                ..(*info).clone()
            });
        }
    }
    merged.scenes = manifests.iter().flat_map(|m| m.scenes.clone()).collect();
    merged.scenes.sort_by(|a, b| a.scene_id.cmp(&b.scene_id));
    merged.recount();
    std::fs::create_dir_all(stage.join("data"))
        .with_context(|| format!("creating {}", stage.join("data").display()))?;
    merged.write(stage)?;
    Ok(merged)
}
