//! The one way msmu replaces a file: write it under a temporary name in the same folder, fsync
//! it, rename it over the final name, fsync the folder. A reader (or a resumed run) then sees
//! either the old file or the complete new one, also after a crash or power loss: without the
//! file fsync the rename can reach the disk before the data, and without the folder fsync the
//! rename itself can be lost.
//!
//! The temporary name is the final name plus `.tmp` (`manifest.json.tmp`); `msmu validate`
//! reports such leftovers.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The temporary name [`write_atomic_with`] writes `path` under: `path` + `.tmp`.
pub fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically and durably (see the module doc).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_with(path, |tmp| {
        let mut file = File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))
    })
}

/// Lets `write` create the file at the temporary path it is given (for writers that take a
/// path, such as safetensors), then fsyncs it, renames it to `path` and fsyncs the folder.
/// When `write` fails the temporary file is removed and `path` is left as it was.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = temporary_path(path);
    let written = write(&tmp).and_then(|()| {
        // fsync needs a handle that may write on some platforms; this one truncates nothing.
        OpenOptions::new()
            .write(true)
            .open(&tmp)
            .and_then(|file| file.sync_all())
            .with_context(|| format!("syncing {}", tmp.display()))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    rename_durably(&tmp, path)
}

/// Renames `from` to `to` and fsyncs the folder of `to` (and of `from` when it is another
/// one), so that the rename survives a crash. `from` must already be synced.
pub fn rename_durably(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::rename(from, to)
        .with_context(|| format!("renaming {} to {}", from.display(), to.display()))?;
    let to_dir = parent_dir(to);
    sync_dir(to_dir)?;
    let from_dir = parent_dir(from);
    if from_dir != to_dir {
        sync_dir(from_dir)?;
    }
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsyncs a folder (its entries); a no-op where folders cannot be opened as files.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the folder {}", dir.display()))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |tmp| {
            std::fs::write(tmp, b"partial")?;
            anyhow::bail!("disk full")
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!temporary_path(&path).exists());
    }

    #[test]
    fn temporary_name_keeps_the_extension() {
        assert_eq!(
            temporary_path(Path::new("out/manifest.json")),
            Path::new("out/manifest.json.tmp")
        );
        assert_eq!(
            temporary_path(Path::new("tokenizer")),
            Path::new("tokenizer.tmp")
        );
    }
}
