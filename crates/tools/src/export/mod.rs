//! `msmu export`: a built dataset in other layouts.
//!
//! - [`hf`]: a Hugging Face dataset repository (dataset card `README.md` with the YAML
//!   `configs` / `dataset_info`, the `data/` shards hard-linked or copied, `manifest.json`),
//!   ready for `huggingface-cli upload`.
//! - [`llava`]: LLaVA training JSON (`{split}.json`, one array per split) with `images/` and,
//!   with depth, `depths/`.
//! - [`sdvlm`]: the columns the official SD-VLM inference script reads (`image_base64`,
//!   `image_size`, `image_mode`, `conversations`, `type`), one row per QA pair, one Parquet file
//!   per split (`{split}.parquet`).
//!
//! Shards are streamed one record batch at a time.

pub mod hf;
pub mod llava;
pub mod sdvlm;

use std::path::Path;

use anyhow::{bail, Context as _};

/// Creates `out`, which must not exist or be empty (exports never overwrite).
pub fn prepare_out(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        let mut entries = std::fs::read_dir(out)
            .with_context(|| format!("{}: cannot read the output folder", out.display()))?;
        if entries.next().is_some() {
            bail!(
                "{}: output folder is not empty; remove it or choose another --out",
                out.display()
            );
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))
}

/// Hard-links `from` to `to`, or copies it when linking fails (other file system).
pub fn link_or_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// File extension of encoded image bytes (`jpg`, `png`), from their magic number.
pub fn image_extension(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else {
        None
    }
}

/// `id` made safe as a file name (path separators and odd characters become `_`).
pub fn file_stem(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_and_stems() {
        assert_eq!(image_extension(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("jpg"));
        assert_eq!(image_extension(b"\x89PNG\r\n\x1a\nrest"), Some("png"));
        assert_eq!(image_extension(b"GIF89a"), None);
        assert_eq!(file_stem("scene0000_00_000010"), "scene0000_00_000010");
        assert_eq!(file_stem("a/b c"), "a_b_c");
    }
}
