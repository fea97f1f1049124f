//! `--format hf`: a Hugging Face dataset repository. `README.md` (dataset card: YAML
//! `configs` + `dataset_info` front matter, measurement definitions, depth encoding, terms of
//! use, citation), `data/*.parquet` (the shards, hard-linked or copied byte for byte and
//! checked against the manifest's SHA-256) and `manifest.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use arrow::datatypes::DataType;
use serde_json::Value;

use msmu_data::dataset::arrow_rows::{hf_features, schema};
use msmu_data::dataset::manifest::{Manifest, MANIFEST_FILE};
use msmu_data::dataset::shard::file_digest;

use super::{link_or_copy, plain_name, safe_relative, staged};

/// A small YAML tree (enough for the dataset card).
#[derive(Clone, Debug, PartialEq)]
pub enum Yaml {
    Str(String),
    Int(u64),
    Map(Vec<(String, Yaml)>),
    Seq(Vec<Yaml>),
}

fn s(v: &str) -> Yaml {
    Yaml::Str(v.to_string())
}

fn scalar(text: &str) -> String {
    let special = text.is_empty()
        || text.contains(": ")
        || text.contains(" #")
        || text.starts_with(|c: char| "*&!|>'\"%@`{}[],#?-: ".contains(c))
        || text.ends_with(' ')
        || matches!(text, "true" | "false" | "null" | "yes" | "no" | "~")
        || text.parse::<f64>().is_ok();
    if special {
        serde_json::to_string(text).unwrap_or_default()
    } else {
        text.to_string()
    }
}

fn emit_map(out: &mut String, entries: &[(String, Yaml)], indent: usize, first_prefix: &str) {
    let pad = " ".repeat(indent);
    for (i, (key, value)) in entries.iter().enumerate() {
        let prefix = if i == 0 { first_prefix } else { pad.as_str() };
        match value {
            Yaml::Str(v) => {
                let _ = writeln!(out, "{prefix}{key}: {}", scalar(v));
            }
            Yaml::Int(v) => {
                let _ = writeln!(out, "{prefix}{key}: {v}");
            }
            Yaml::Map(m) => {
                let _ = writeln!(out, "{prefix}{key}:");
                emit_map(out, m, indent + 2, &" ".repeat(indent + 2));
            }
            Yaml::Seq(items) => {
                let _ = writeln!(out, "{prefix}{key}:");
                emit_seq(out, items, indent);
            }
        }
    }
}

fn emit_seq(out: &mut String, items: &[Yaml], indent: usize) {
    let pad = " ".repeat(indent);
    for item in items {
        match item {
            Yaml::Str(v) => {
                let _ = writeln!(out, "{pad}- {}", scalar(v));
            }
            Yaml::Int(v) => {
                let _ = writeln!(out, "{pad}- {v}");
            }
            Yaml::Map(m) => emit_map(out, m, indent + 2, &format!("{pad}- ")),
            Yaml::Seq(inner) => {
                let _ = writeln!(out, "{pad}-");
                emit_seq(out, inner, indent + 2);
            }
        }
    }
}

/// YAML text of a top-level mapping.
pub fn to_yaml(entries: &[(String, Yaml)]) -> String {
    let mut out = String::new();
    emit_map(&mut out, entries, 0, "");
    out
}

fn hf_type(feature: &Value) -> &str {
    feature.get("_type").and_then(Value::as_str).unwrap_or("")
}

/// The type part of one feature in the card's YAML form: `dtype: x`, `list: ...` or
/// `struct: [...]`, following the Arrow type for field order.
fn feature_entries(dtype: &DataType, feature: &Value) -> Vec<(String, Yaml)> {
    match hf_type(feature) {
        "Image" => vec![("dtype".into(), s("image"))],
        "Value" => vec![(
            "dtype".into(),
            s(feature["dtype"].as_str().unwrap_or("string")),
        )],
        "List" => {
            let inner = match dtype {
                DataType::List(field) => list_item(field.data_type(), &feature["feature"]),
                _ => s("string"),
            };
            vec![("list".into(), inner)]
        }
        _ => vec![("struct".into(), struct_fields(dtype, feature))],
    }
}

fn list_item(dtype: &DataType, feature: &Value) -> Yaml {
    match hf_type(feature) {
        "Image" => s("image"),
        "Value" => s(feature["dtype"].as_str().unwrap_or("string")),
        "List" => Yaml::Map(feature_entries(dtype, feature)),
        _ => struct_fields(dtype, feature),
    }
}

fn struct_fields(dtype: &DataType, feature: &Value) -> Yaml {
    let DataType::Struct(fields) = dtype else {
        return Yaml::Seq(Vec::new());
    };
    Yaml::Seq(
        fields
            .iter()
            .map(|f| {
                let mut entries = vec![("name".to_string(), s(f.name()))];
                entries.extend(feature_entries(f.data_type(), &feature[f.name().as_str()]));
                Yaml::Map(entries)
            })
            .collect(),
    )
}

/// `dataset_info.features` of the card, in column order.
pub fn card_features() -> Yaml {
    let features = hf_features();
    Yaml::Seq(
        schema()
            .fields()
            .iter()
            .map(|f| {
                let mut entries = vec![("name".to_string(), s(f.name()))];
                entries.extend(feature_entries(f.data_type(), &features[f.name().as_str()]));
                Yaml::Map(entries)
            })
            .collect(),
    )
}

/// Per split: (shard files, rows, uncompressed bytes, file bytes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SplitInfo {
    pub rows: u64,
    pub num_bytes: u64,
    pub download_bytes: u64,
}

fn split_rank(split: &str) -> (u8, String) {
    let rank = match split {
        "train" => 0,
        "validation" => 1,
        "test" => 2,
        _ => 3,
    };
    (rank, split.to_string())
}

/// The YAML front matter of the card.
pub fn front_matter(splits: &[(String, SplitInfo)]) -> String {
    let data_files = splits
        .iter()
        .map(|(name, _)| {
            Yaml::Map(vec![
                ("split".into(), s(name)),
                ("path".into(), Yaml::Str(format!("data/{name}-*"))),
            ])
        })
        .collect();
    let split_entries = splits
        .iter()
        .map(|(name, info)| {
            Yaml::Map(vec![
                ("name".into(), s(name)),
                ("num_bytes".into(), Yaml::Int(info.num_bytes)),
                ("num_examples".into(), Yaml::Int(info.rows)),
            ])
        })
        .collect();
    let download: u64 = splits.iter().map(|(_, i)| i.download_bytes).sum();
    let size: u64 = splits.iter().map(|(_, i)| i.num_bytes).sum();
    let entries = vec![
        ("license".to_string(), s("other")),
        (
            "license_name".to_string(),
            s("scannet-and-scannetpp-terms-of-use"),
        ),
        (
            "pretty_name".to_string(),
            s("MSMU-style metric spatial QA (msmu)"),
        ),
        (
            "task_categories".to_string(),
            Yaml::Seq(vec![s("visual-question-answering")]),
        ),
        ("language".to_string(), Yaml::Seq(vec![s("en")])),
        (
            "tags".to_string(),
            Yaml::Seq(vec![
                s("spatial-reasoning"),
                s("depth"),
                s("scannet"),
                s("3d"),
            ]),
        ),
        (
            "configs".to_string(),
            Yaml::Seq(vec![Yaml::Map(vec![
                ("config_name".into(), s("default")),
                ("default".into(), Yaml::Str("true".into())),
                ("data_files".into(), Yaml::Seq(data_files)),
            ])]),
        ),
        (
            "dataset_info".to_string(),
            Yaml::Map(vec![
                ("features".into(), card_features()),
                ("splits".into(), Yaml::Seq(split_entries)),
                ("download_size".into(), Yaml::Int(download)),
                ("dataset_size".into(), Yaml::Int(size)),
            ]),
        ),
    ];
    // `default: true` must be a YAML boolean, not the string "true".
    to_yaml(&entries).replace("default: \"true\"", "default: true")
}

const CARD_BODY: &str = include_str!("card_body.md");

/// The whole `README.md`.
pub fn card(manifest: &Manifest, splits: &[(String, SplitInfo)]) -> String {
    let mut out = String::from("---\n");
    out.push_str(&front_matter(splits));
    out.push_str("---\n\n");
    out.push_str("# MSMU-style metric spatial QA (built with msmu)\n\n");
    let _ = writeln!(
        out,
        "Built by msmu {} (schema version {}, seed {}). One row per image: the colour frame, \
         its metric depth map, cameras, the accepted objects with exact measurements, the \
         question-answer pairs (`qa`) and the same pairs as a LLaVA conversation \
         (`conversations`). `manifest.json` lists every scene, its outcome and the shard \
         checksums.\n",
        manifest.msmu_version, manifest.schema_version, manifest.seed
    );
    let _ = writeln!(out, "| split | images | QA pairs |\n|---|---:|---:|");
    for (name, info) in splits {
        let qa = manifest.totals.qa.get(name).copied().unwrap_or(0);
        let _ = writeln!(out, "| {name} | {} | {qa} |", info.rows);
    }
    out.push('\n');
    out.push_str(CARD_BODY);
    out
}

/// Uncompressed size of a Parquet file's column data (sum over row groups).
fn uncompressed_bytes(path: &Path) -> anyhow::Result<u64> {
    let builder = msmu_data::dataset::reader::open_parquet(path).context("not a Parquet file")?;
    Ok(builder
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| rg.total_byte_size().max(0) as u64)
        .sum())
}

/// Writes the Hugging Face repository for `dir` into `out`, through a staging folder renamed
/// to `out` at the end ([`staged`]). Every `shards[].file` must be a plain relative path
/// listed once, so nothing is read from outside `dir` or written outside `out`.
pub fn export(dir: &Path, out: &Path) -> anyhow::Result<String> {
    let manifest = Manifest::read(dir)?;
    if manifest.shards.is_empty() {
        bail!(
            "{}: the manifest lists no shards (nothing to export)",
            dir.join(MANIFEST_FILE).display()
        );
    }
    let mut files = BTreeSet::new();
    for shard in &manifest.shards {
        let file = safe_relative(&shard.file, "shards[].file")
            .with_context(|| dir.join(MANIFEST_FILE).display().to_string())?;
        if !files.insert(file) {
            bail!(
                "{}: shard {:?} is listed twice; the manifest is corrupt (rebuild or fix it)",
                dir.join(MANIFEST_FILE).display(),
                shard.file
            );
        }
        plain_name(&shard.split, "shards[].split")
            .with_context(|| dir.join(MANIFEST_FILE).display().to_string())?;
    }
    staged(out, |stage| write_repo(dir, &manifest, stage))?;
    Ok(format!(
        "wrote {} ({} shards, dataset card README.md); upload with `huggingface-cli upload \
         <user>/<name> {} --repo-type dataset`",
        out.display(),
        manifest.shards.len(),
        out.display()
    ))
}

fn write_repo(dir: &Path, manifest: &Manifest, stage: &Path) -> anyhow::Result<()> {
    let mut splits: BTreeMap<(u8, String), SplitInfo> = BTreeMap::new();
    for shard in &manifest.shards {
        // Checked by `export`: a plain relative path.
        let file = safe_relative(&shard.file, "shards[].file")?;
        let from = dir.join(&file);
        let to = stage.join(&file);
        link_or_copy(&from, &to)?;
        let (bytes, sha) = file_digest(&to)?;
        if sha != shard.sha256 || bytes != shard.bytes {
            bail!(
                "{}: checksum differs from manifest.json (file changed since the build?); run \
                 `msmu validate {}`",
                from.display(),
                dir.display()
            );
        }
        let info = splits.entry(split_rank(&shard.split)).or_default();
        info.rows += shard.rows;
        info.download_bytes += bytes;
        info.num_bytes += uncompressed_bytes(&to)?;
    }
    link_or_copy(&dir.join(MANIFEST_FILE), &stage.join(MANIFEST_FILE))?;
    let splits: Vec<(String, SplitInfo)> = splits.into_iter().map(|((_, n), i)| (n, i)).collect();
    let readme = stage.join("README.md");
    std::fs::write(&readme, card(manifest, &splits))
        .with_context(|| format!("writing {}", readme.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_nested_forms() {
        let yaml = to_yaml(&[(
            "features".into(),
            Yaml::Seq(vec![Yaml::Map(vec![
                ("name".into(), s("qa")),
                (
                    "list".into(),
                    Yaml::Seq(vec![Yaml::Map(vec![
                        ("name".into(), s("values_si")),
                        ("list".into(), s("float64")),
                    ])]),
                ),
            ])]),
        )]);
        assert_eq!(
            yaml,
            "features:\n- name: qa\n  list:\n  - name: values_si\n    list: float64\n"
        );
        assert_eq!(scalar("data/train-*"), "data/train-*");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("123"), "\"123\"");
    }

    #[test]
    fn card_features_cover_schema() {
        let yaml = to_yaml(&[("features".into(), card_features())]);
        assert!(yaml.contains("- name: image\n  dtype: image\n"));
        assert!(yaml.contains("- name: depth\n  dtype: image\n"));
        assert!(yaml.contains("- name: world_from_camera\n  list: float64\n"));
        assert!(yaml.contains("- name: intrinsics\n  struct:\n  - name: fx\n    dtype: float64\n"));
        assert!(yaml.contains("  - name: bbox_2d\n    list: float64\n"));
    }
}
