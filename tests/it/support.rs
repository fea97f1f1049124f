//! Helpers shared by the integration tests: running the `msmu` binary and paths into the repo.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `msmu` binary under test: `MSMU_BIN` when set (e.g. a CUDA build on the GPU machine),
/// else the one cargo built for this test run.
pub fn msmu_command() -> Command {
    let mut cmd = match std::env::var_os("MSMU_BIN") {
        Some(bin) => Command::new(bin),
        None => Command::new(env!("CARGO_BIN_EXE_msmu")),
    };
    cmd.env("RUST_LOG", "msmu=warn").env("NO_COLOR", "1");
    cmd
}

/// Runs `msmu ARGS` and returns its output, whatever the exit status.
pub fn msmu(args: &[&str]) -> Output {
    msmu_command().args(args).output().expect("running msmu")
}

/// Runs `msmu ARGS`, fails the test unless it exits 0, returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = msmu(args);
    assert!(
        out.status.success(),
        "msmu {args:?} failed ({:?}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// A path as `&str` for argument lists.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// The repository root (the `msmu` package).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled fixture scenes (`fixtures/`, with `scannet/` and `scannetpp/` inside).
pub fn fixtures() -> PathBuf {
    repo().join("fixtures")
}

/// Copies a folder tree (for tests that damage a copy of the fixtures).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
