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

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context as _};

/// Creates `out`, which must not exist or be empty (exports never overwrite).
pub fn prepare_out(out: &Path) -> anyhow::Result<()> {
    check_out_empty(out)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))
}

/// Refuses an `out` that exists and is not an empty folder.
fn check_out_empty(out: &Path) -> anyhow::Result<()> {
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
    Ok(())
}

/// Runs `write` on a fresh staging folder beside `out` (`.{name}.msmu-partial-{pid}`) and
/// renames it to `out` when `write` succeeds, so an export or merge either produces the whole
/// folder or nothing: on failure the staging folder is removed and `out` is left as it was.
/// `out` must not exist or be empty (an empty `out` is replaced).
pub fn staged<T>(out: &Path, write: impl FnOnce(&Path) -> anyhow::Result<T>) -> anyhow::Result<T> {
    check_out_empty(out)?;
    let name = out
        .file_name()
        .with_context(|| format!("{}: --out must name a folder", out.display()))?;
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let stage = parent.join(format!(
        ".{}.msmu-partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::create_dir(&stage).with_context(|| {
        format!(
            "creating the staging folder {} (left by an interrupted run? remove it)",
            stage.display()
        )
    })?;
    let finish = write(&stage).and_then(|value| {
        if out.exists() {
            std::fs::remove_dir(out).with_context(|| format!("replacing {}", out.display()))?;
        }
        std::fs::rename(&stage, out)
            .with_context(|| format!("renaming {} to {}", stage.display(), out.display()))?;
        Ok(value)
    });
    if finish.is_err() && stage.exists() {
        // Best effort: the error being returned is the one worth reporting.
        let _ = std::fs::remove_dir_all(&stage);
    }
    finish
}

/// A relative path read from an input (a manifest's `shards[].file`), checked to stay inside
/// the folder it is joined to: not empty, not absolute, no `..`, `.` or root components and no
/// backslash or NUL. `what` names the field for the message.
pub fn safe_relative(text: &str, what: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(text);
    let plain = !text.is_empty()
        && !text.contains(['\\', '\0'])
        && path
            .components()
            .all(|component| matches!(component, Component::Normal(_)));
    if !plain {
        bail!(
            "{what} {text:?} is not a plain relative path inside its folder (absolute paths, \
             `..` and backslashes are refused); the file that lists it is corrupt or \
             hand-edited: rebuild it or fix the entry"
        );
    }
    Ok(path.to_path_buf())
}

/// A name read from an input that becomes part of a file name (a split), checked to be a
/// plain name: 1 to 64 ASCII letters, digits, `_`, `-` or `.`, and not `.` or `..`.
pub fn plain_name<'a>(text: &'a str, what: &str) -> anyhow::Result<&'a str> {
    let plain = !text.is_empty()
        && text.len() <= 64
        && text != "."
        && text != ".."
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        bail!(
            "{what} {text:?} is not a plain name (1 to 64 letters, digits, `_`, `-`, `.`; no \
             path separators or `..`); the manifest is corrupt or hand-edited"
        );
    }
    Ok(text)
}

/// Hard-links `from` to `to`, or copies it when linking fails (other file system). `to` must
/// not exist: an existing file (perhaps a hard link to `from` itself) is never truncated.
pub fn link_or_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    if to.symlink_metadata().is_ok() {
        bail!(
            "{}: already exists (the same file listed twice in the manifest?); refusing to \
             overwrite it",
            to.display()
        );
    }
    if std::fs::hard_link(from, to).is_err() {
        let mut source =
            std::fs::File::open(from).with_context(|| format!("opening {}", from.display()))?;
        let mut target = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(to)
            .with_context(|| format!("creating {}", to.display()))?;
        std::io::copy(&mut source, &mut target)
            .and_then(|_| target.sync_all())
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

    #[test]
    fn untrusted_paths_and_names() {
        assert!(safe_relative("data/train-00000-of-00001.parquet", "f").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "data/../../x",
            "./data/x",
            "a\\b",
        ] {
            assert!(safe_relative(bad, "shards[].file").is_err(), "{bad}");
        }
        assert!(plain_name("train", "split").is_ok());
        for bad in ["", ".", "..", "../../X", "a/b", "a\\b", "tr ain"] {
            assert!(plain_name(bad, "split").is_err(), "{bad}");
        }
    }

    #[test]
    fn copy_never_truncates_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("a");
        std::fs::write(&from, b"shard bytes").unwrap();
        let err = link_or_copy(&from, &from).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(std::fs::read(&from).unwrap(), b"shard bytes");
    }

    #[test]
    fn staged_leaves_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let err = staged(&out, |stage| -> anyhow::Result<()> {
            std::fs::write(stage.join("half"), b"x")?;
            bail!("disk full")
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full"));
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        staged(&out, |stage| {
            std::fs::write(stage.join("whole"), b"x").map_err(Into::into)
        })
        .unwrap();
        assert!(out.join("whole").is_file());
    }
}
