#![allow(dead_code)] // each target uses part of it
//! Shared by the targets whose reader takes a path: the input is written to one scratch file
//! per process (in /dev/shm when it exists, so the disk is not touched per execution).

use std::path::PathBuf;

pub fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("msmu-fuzz-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("scratch file for the fuzz input");
    path
}

/// Splits an input at the first occurrence of `sep` (the second part empty when absent), so
/// one input can feed two related files (segments + aggregation, cameras + images).
pub fn split2<'a>(bytes: &'a [u8], sep: &[u8]) -> (&'a [u8], &'a [u8]) {
    match bytes.windows(sep.len()).position(|w| w == sep) {
        Some(i) => (&bytes[..i], &bytes[i + sep.len()..]),
        None => (bytes, &[]),
    }
}
