//! `--format llava`: LLaVA training JSON. One array per split (`{split}.json`) of
//! `{id, image: "images/<id>.jpg", conversations}` (plus `depth: "depths/<id>.png"` with
//! depth), the image bytes written as stored (no re-encoding). Pass the export folder as
//! LLaVA's `--image_folder` and a `{split}.json` as `--data_path`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

use anyhow::{bail, Context as _};
use serde_json::json;

use msmu_data::dataset::manifest::Manifest;
use msmu_data::dataset::shard::{list_shards, read_shard_batches};

use super::{file_stem, image_extension, staged};

struct SplitFile {
    writer: BufWriter<File>,
    count: u64,
}

/// Writes the LLaVA export of `dir` into `out`; `with_depth` adds `depths/`. The files are
/// written to a staging folder renamed to `out` at the end ([`staged`]).
pub fn export(dir: &Path, out: &Path, with_depth: bool) -> anyhow::Result<String> {
    Manifest::read(dir)?;
    let shards = list_shards(dir)?;
    staged(out, |stage| write_export(&shards, stage, out, with_depth))
}

fn write_export(
    shards: &[std::path::PathBuf],
    stage: &Path,
    out: &Path,
    with_depth: bool,
) -> anyhow::Result<String> {
    for sub in ["images", "depths"]
        .iter()
        .take(if with_depth { 2 } else { 1 })
    {
        let path = stage.join(sub);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    }
    let mut files: BTreeMap<String, SplitFile> = BTreeMap::new();
    let mut images = 0u64;
    for shard in shards {
        for batch in read_shard_batches(shard)? {
            for row in batch? {
                let Some(ext) = image_extension(&row.image.bytes) else {
                    bail!(
                        "{}: row {}: image is neither JPEG nor PNG; run `msmu validate`",
                        shard.display(),
                        row.id
                    );
                };
                let stem = file_stem(&row.id);
                let image = format!("images/{stem}.{ext}");
                write_new(&stage.join(&image), &row.image.bytes)?;
                images += 1;
                let mut sample = json!({
                    "id": row.id,
                    "image": image,
                    "conversations": row.conversations,
                });
                if with_depth && !row.depth.bytes.is_empty() {
                    let depth = format!("depths/{stem}.png");
                    write_new(&stage.join(&depth), &row.depth.bytes)?;
                    sample["depth"] = json!(depth);
                }
                if !files.contains_key(&row.split) {
                    let path = stage.join(format!("{}.json", file_stem(&row.split)));
                    let mut writer = BufWriter::new(
                        File::create(&path)
                            .with_context(|| format!("creating {}", path.display()))?,
                    );
                    writer
                        .write_all(b"[\n")
                        .with_context(|| format!("writing {}", path.display()))?;
                    files.insert(row.split.clone(), SplitFile { writer, count: 0 });
                }
                let Some(file) = files.get_mut(&row.split) else {
                    continue;
                };
                let written = if file.count > 0 {
                    file.writer.write_all(b",\n")
                } else {
                    Ok(())
                };
                written
                    .map_err(anyhow::Error::from)
                    .and_then(|()| Ok(serde_json::to_writer(&mut file.writer, &sample)?))
                    .with_context(|| {
                        format!(
                            "writing {}.json in {}",
                            file_stem(&row.split),
                            stage.display()
                        )
                    })?;
                file.count += 1;
            }
        }
    }
    let mut summary = Vec::new();
    for (split, mut file) in files {
        file.writer
            .write_all(b"\n]\n")
            .and_then(|()| file.writer.flush())
            .with_context(|| format!("writing {split}.json in {}", stage.display()))?;
        summary.push(format!("{split}.json: {} samples", file.count));
    }
    Ok(format!(
        "wrote {} ({}; {images} images{})",
        out.display(),
        summary.join(", "),
        if with_depth { ", depths/" } else { "" }
    ))
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if path.exists() {
        bail!(
            "{}: written twice (duplicate row id in the dataset); run `msmu validate`",
            path.display()
        );
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
