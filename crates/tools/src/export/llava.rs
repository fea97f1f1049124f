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

use super::{file_stem, image_extension, prepare_out};

struct SplitFile {
    writer: BufWriter<File>,
    count: u64,
}

/// Writes the LLaVA export of `dir` into `out`; `with_depth` adds `depths/`.
pub fn export(dir: &Path, out: &Path, with_depth: bool) -> anyhow::Result<String> {
    Manifest::read(dir)?;
    let shards = list_shards(dir)?;
    prepare_out(out)?;
    std::fs::create_dir_all(out.join("images"))?;
    if with_depth {
        std::fs::create_dir_all(out.join("depths"))?;
    }
    let mut files: BTreeMap<String, SplitFile> = BTreeMap::new();
    let mut images = 0u64;
    for shard in &shards {
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
                write_new(&out.join(&image), &row.image.bytes)?;
                images += 1;
                let mut sample = json!({
                    "id": row.id,
                    "image": image,
                    "conversations": row.conversations,
                });
                if with_depth && !row.depth.bytes.is_empty() {
                    let depth = format!("depths/{stem}.png");
                    write_new(&out.join(&depth), &row.depth.bytes)?;
                    sample["depth"] = json!(depth);
                }
                if !files.contains_key(&row.split) {
                    let path = out.join(format!("{}.json", file_stem(&row.split)));
                    let mut writer = BufWriter::new(
                        File::create(&path)
                            .with_context(|| format!("creating {}", path.display()))?,
                    );
                    writer.write_all(b"[\n")?;
                    files.insert(row.split.clone(), SplitFile { writer, count: 0 });
                }
                let Some(file) = files.get_mut(&row.split) else {
                    continue;
                };
                if file.count > 0 {
                    file.writer.write_all(b",\n")?;
                }
                serde_json::to_writer(&mut file.writer, &sample)?;
                file.count += 1;
            }
        }
    }
    let mut summary = Vec::new();
    for (split, mut file) in files {
        file.writer.write_all(b"\n]\n")?;
        file.writer.flush()?;
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
