//! `msmu validate`: checks a dataset folder against its manifest and the row format. Every
//! problem names its file; nothing panics on bad input.
//!
//! Checked: no leftovers of an unfinished build (`.msmu-build/`, `*.tmp`); shard names
//! `data/{split}-{i:05d}-of-{n:05d}.parquet` forming complete sequences per split; the
//! manifest lists exactly the shard files, with their row and QA counts, sizes and SHA-256,
//! and totals that add up; each shard's Arrow schema (column names and types) equals
//! [`schema`] and carries the `huggingface` metadata; every row decodes, ids are unique, the
//! `split` column matches the file name, images start with a JPEG or PNG signature, depth is a
//! 16-bit grayscale PNG of the `depth_intrinsics` size (so is `instance_mask` when present),
//! and `conversations` are the QA pairs as turns.

use std::collections::{BTreeMap, HashSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::ImageDecoder as _;
use serde::Serialize;

use crate::export::image_extension;
use msmu_data::dataset::arrow_rows::{from_batch, schema};
use msmu_data::dataset::manifest::{Manifest, MANIFEST_FILE};
use msmu_data::dataset::shard::file_digest;
use msmu_data::dataset::{CameraRow, ImageBlob, SampleRow};
use msmu_data::pipeline::STATE_DIR;
use msmu_data::qa::IMAGE_TOKEN;

/// Row-level problems reported per shard before the rest are only counted.
const MAX_ROW_PROBLEMS: usize = 20;

/// One problem: the file (relative to the dataset folder) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    pub message: String,
}

/// The outcome of [`validate`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub shards: u64,
    pub rows: u64,
    pub qa: u64,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, file: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.into(),
            message: message.into(),
        });
    }

    /// Human-readable report.
    pub fn text(&self, dir: &Path) -> String {
        let mut out = format!(
            "{}: {} shards, {} rows, {} QA pairs checked\n",
            dir.display(),
            self.shards,
            self.rows,
            self.qa
        );
        if self.ok() {
            out.push_str("OK\n");
        } else {
            out.push_str(&format!("{} problem(s):\n", self.problems.len()));
            for p in &self.problems {
                out.push_str(&format!("  {}: {}\n", p.file, p.message));
            }
        }
        out
    }
}

/// Parses `{split}-{i:05d}-of-{n:05d}.parquet` into `(split, i, n)`.
pub fn parse_shard_name(name: &str) -> Option<(String, usize, usize)> {
    let stem = name.strip_suffix(".parquet")?;
    let (head, count) = stem.rsplit_once("-of-")?;
    let (split, index) = head.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if split.is_empty() || !digits(index) || !digits(count) {
        return None;
    }
    Some((split.to_string(), index.parse().ok()?, count.parse().ok()?))
}

fn find_leftovers(dir: &Path, root: &Path, report: &mut Report, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == STATE_DIR {
            report.problem(
                rel,
                "state folder of an unfinished build: finish it with `msmu build --resume` \
                 (same arguments) or delete the folder",
            );
        } else if name.ends_with(".tmp") {
            report.problem(
                rel,
                "temporary file of an unfinished write: rerun the build/merge or delete it",
            );
        } else if path.is_dir() && depth < 2 {
            find_leftovers(&path, root, report, depth + 1);
        }
    }
}

/// Whether the bytes are a 16-bit grayscale PNG; returns its size.
fn png16_size(bytes: &[u8]) -> Result<(u32, u32), String> {
    if image_extension(bytes) != Some("png") {
        return Err("is not a PNG".into());
    }
    let decoder = image::codecs::png::PngDecoder::new(Cursor::new(bytes))
        .map_err(|e| format!("PNG header does not decode ({e})"))?;
    if decoder.color_type() != image::ColorType::L16 {
        return Err(format!(
            "is a {:?} PNG, expected 16-bit grayscale",
            decoder.color_type()
        ));
    }
    Ok(decoder.dimensions())
}

fn check_png16(what: &str, blob: &ImageBlob, camera: &CameraRow) -> Option<String> {
    match png16_size(&blob.bytes) {
        Err(e) => Some(format!("{what} {e}")),
        Ok((w, h)) if (w, h) != (camera.width, camera.height) => Some(format!(
            "{what} is {w}x{h} but depth_intrinsics say {}x{}",
            camera.width, camera.height
        )),
        Ok(_) => None,
    }
}

/// Row-level problems of one row.
pub fn check_row(row: &SampleRow, split: &str) -> Vec<String> {
    let mut out = Vec::new();
    if row.split != split {
        out.push(format!(
            "split column is `{}` in a `{split}` shard",
            row.split
        ));
    }
    if image_extension(&row.image.bytes).is_none() {
        out.push("image bytes are neither JPEG nor PNG".into());
    }
    if let Some(p) = check_png16("depth", &row.depth, &row.depth_intrinsics) {
        out.push(p);
    }
    if let Some(mask) = &row.instance_mask {
        if let Some(p) = check_png16("instance_mask", mask, &row.depth_intrinsics) {
            out.push(p);
        }
    }
    if row.conversations.len() != 2 * row.qa.len() {
        out.push(format!(
            "conversations has {} turns for {} QA pairs (expected 2 per pair)",
            row.conversations.len(),
            row.qa.len()
        ));
    } else {
        for (k, qa) in row.qa.iter().enumerate() {
            let (human, gpt) = (&row.conversations[2 * k], &row.conversations[2 * k + 1]);
            let question = if k == 0 {
                format!("{IMAGE_TOKEN}{}", qa.question)
            } else {
                qa.question.clone()
            };
            if human.from != "human" || human.value != question {
                out.push(format!(
                    "conversation turn {} is not QA {k}'s question",
                    2 * k
                ));
            }
            if gpt.from != "gpt" || gpt.value != qa.answer {
                out.push(format!(
                    "conversation turn {} is not QA {k}'s answer",
                    2 * k + 1
                ));
            }
        }
    }
    out
}

struct ShardCounts {
    rows: u64,
    qa: u64,
}

fn check_shard(
    path: &Path,
    rel: &str,
    split: &str,
    ids: &mut HashSet<String>,
    report: &mut Report,
) -> Option<ShardCounts> {
    let builder = match msmu_data::dataset::reader::open_parquet(path) {
        Ok(b) => b,
        Err(e @ msmu_data::dataset::reader::ReadError::Open { .. }) => {
            report.problem(rel, format!("cannot open: {e}"));
            return None;
        }
        Err(e) => {
            report.problem(
                rel,
                format!("not a readable Parquet file ({e}); rebuild or re-copy this shard"),
            );
            return None;
        }
    };
    let expected = schema();
    let actual = builder.schema().clone();
    let names = |s: &arrow::datatypes::Schema| -> Vec<String> {
        s.fields().iter().map(|f| f.name().clone()).collect()
    };
    if names(&actual) != names(&expected) {
        report.problem(
            rel,
            format!(
                "columns are {:?}, expected {:?}",
                names(&actual),
                names(&expected)
            ),
        );
        return None;
    }
    for (a, e) in actual.fields().iter().zip(expected.fields()) {
        if a.data_type() != e.data_type() {
            report.problem(
                rel,
                format!(
                    "column `{}` has type {}, expected {}",
                    a.name(),
                    a.data_type(),
                    e.data_type()
                ),
            );
        }
    }
    match actual.metadata().get("huggingface") {
        None => report.problem(
            rel,
            "schema has no `huggingface` metadata: `datasets` will not decode the images",
        ),
        Some(text) => {
            let ok = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| {
                    v["info"]["features"]["image"]["_type"]
                        .as_str()
                        .map(|t| t == "Image")
                })
                .unwrap_or(false);
            if !ok {
                report.problem(
                    rel,
                    "`huggingface` metadata does not declare `image` as an Image feature",
                );
            }
        }
    }
    let reader = match builder.with_batch_size(128).build() {
        Ok(r) => r,
        Err(e) => {
            report.problem(rel, format!("cannot read rows: {e}"));
            return None;
        }
    };
    let mut counts = ShardCounts { rows: 0, qa: 0 };
    let mut row_problems = 0usize;
    for batch in reader {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                report.problem(rel, format!("cannot read a row group: {e}"));
                return None;
            }
        };
        let rows = match from_batch(&batch) {
            Ok(r) => r,
            Err(e) => {
                report.problem(rel, format!("rows do not decode: {e}"));
                return None;
            }
        };
        for row in rows {
            counts.rows += 1;
            counts.qa += row.qa.len() as u64;
            let mut found = check_row(&row, split);
            if !ids.insert(row.id.clone()) {
                found.push("duplicate id (also in an earlier row)".into());
            }
            for message in found {
                row_problems += 1;
                if row_problems <= MAX_ROW_PROBLEMS {
                    report.problem(rel, format!("row {}: {message}", row.id));
                }
            }
        }
    }
    if row_problems > MAX_ROW_PROBLEMS {
        report.problem(
            rel,
            format!(
                "{} more row problems not shown",
                row_problems - MAX_ROW_PROBLEMS
            ),
        );
    }
    Some(counts)
}

/// Validates the dataset folder `dir`.
pub fn validate(dir: &Path) -> Report {
    let mut report = Report::default();
    let manifest = match Manifest::read(dir) {
        Ok(m) => Some(m),
        Err(e) => {
            report.problem(MANIFEST_FILE, format!("{e:#}"));
            None
        }
    };
    find_leftovers(dir, dir, &mut report, 0);
    // Shard files and their names.
    let data = dir.join("data");
    let mut files: Vec<String> = match std::fs::read_dir(&data) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.ends_with(".parquet"))
            .collect(),
        Err(_) => {
            report.problem("data/", "missing: not a dataset folder (run `msmu build`)");
            Vec::new()
        }
    };
    files.sort();
    let mut sequences: BTreeMap<String, (usize, Vec<usize>)> = BTreeMap::new();
    let mut named: Vec<(String, String)> = Vec::new();
    for name in &files {
        let rel = format!("data/{name}");
        match parse_shard_name(name) {
            None => report.problem(
                &rel,
                "name is not `{split}-{i:05d}-of-{n:05d}.parquet`; rename or remove it",
            ),
            Some((split, index, count)) => {
                let entry = sequences
                    .entry(split.clone())
                    .or_insert((count, Vec::new()));
                if entry.0 != count {
                    report.problem(
                        &rel,
                        format!(
                            "`-of-{count:05}` but other `{split}` shards say {:05}",
                            entry.0
                        ),
                    );
                }
                entry.1.push(index);
                named.push((rel, split));
            }
        }
    }
    for (split, (count, mut indices)) in sequences {
        indices.sort_unstable();
        let expected: Vec<usize> = (0..count).collect();
        if indices != expected {
            let missing: Vec<String> = expected
                .iter()
                .filter(|i| !indices.contains(*i))
                .map(|i| format!("data/{split}-{i:05}-of-{count:05}.parquet"))
                .collect();
            report.problem(
                format!("data/{split}-*"),
                format!(
                    "incomplete or inconsistent shard sequence: found indices {indices:?} of \
                     {count}; missing {missing:?}"
                ),
            );
        }
    }
    // Manifest entries against the files.
    if let Some(m) = &manifest {
        let on_disk: HashSet<&str> = named.iter().map(|(r, _)| r.as_str()).collect();
        for shard in &m.shards {
            if !on_disk.contains(shard.file.as_str()) {
                report.problem(
                    &shard.file,
                    "listed in manifest.json but missing (copy it back or rebuild)",
                );
            }
        }
        let listed: HashSet<&str> = m.shards.iter().map(|s| s.file.as_str()).collect();
        for (rel, _) in &named {
            if !listed.contains(rel.as_str()) {
                report.problem(rel, "not listed in manifest.json (stray file: remove it)");
            }
        }
        let mut rows: BTreeMap<String, u64> = BTreeMap::new();
        let mut qa: BTreeMap<String, u64> = BTreeMap::new();
        for shard in &m.shards {
            *rows.entry(shard.split.clone()).or_default() += shard.rows;
            *qa.entry(shard.split.clone()).or_default() += shard.qa;
        }
        if rows != m.totals.rows || qa != m.totals.qa {
            report.problem(
                MANIFEST_FILE,
                format!(
                    "totals.rows {:?} / totals.qa {:?} do not add up the shards' {rows:?} / \
                     {qa:?}",
                    m.totals.rows, m.totals.qa
                ),
            );
        }
    }
    // Each shard: checksum, schema, rows.
    let mut ids = HashSet::new();
    for (rel, split) in &named {
        let path = dir.join(rel);
        report.shards += 1;
        let entry = manifest
            .as_ref()
            .and_then(|m| m.shards.iter().find(|s| &s.file == rel));
        if let Some(info) = entry {
            if info.split != *split {
                report.problem(rel, format!("manifest.json says split `{}`", info.split));
            }
            match file_digest(&path) {
                Ok((bytes, sha)) => {
                    if bytes != info.bytes {
                        report.problem(
                            rel,
                            format!(
                                "size {bytes} bytes but manifest.json says {} (truncated or \
                                 replaced: re-copy or rebuild)",
                                info.bytes
                            ),
                        );
                    }
                    if sha != info.sha256 {
                        report.problem(
                            rel,
                            "SHA-256 differs from manifest.json (file corrupted or modified: \
                             re-copy or rebuild it)",
                        );
                    }
                }
                Err(e) => report.problem(rel, format!("{e:#}")),
            }
        }
        if let Some(counts) = check_shard(&path, rel, split, &mut ids, &mut report) {
            report.rows += counts.rows;
            report.qa += counts.qa;
            if let Some(info) = entry {
                if counts.rows != info.rows {
                    report.problem(
                        rel,
                        format!("{} rows but manifest.json says {}", counts.rows, info.rows),
                    );
                }
                if counts.qa != info.qa {
                    report.problem(
                        rel,
                        format!("{} QA pairs but manifest.json says {}", counts.qa, info.qa),
                    );
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names() {
        assert_eq!(
            parse_shard_name("train-00001-of-00003.parquet"),
            Some(("train".into(), 1, 3))
        );
        assert_eq!(
            parse_shard_name("my-split-00000-of-00001.parquet"),
            Some(("my-split".into(), 0, 1))
        );
        assert_eq!(parse_shard_name("train-1-of-3.parquet"), None);
        assert_eq!(parse_shard_name("train.parquet"), None);
    }
}
