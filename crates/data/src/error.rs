//! Errors of the library, one typed value per way an input can be wrong.
//!
//! Policy (ARCHITECTURE.md, "Errors"): readers return [`SceneError`], which always names the
//! scene and the file and says what is wrong; callers skip a bad scene, report it and count
//! it; nothing in the library panics on bad input.

use std::path::{Path, PathBuf};

/// A problem with one scene's input, with the scene and the file it was found in.
#[derive(Debug, thiserror::Error)]
#[error("scene {scene}: {}: {problem}", file.display())]
pub struct SceneError {
    pub scene: String,
    pub file: PathBuf,
    pub problem: Problem,
}

impl SceneError {
    pub fn new(scene: impl Into<String>, file: impl AsRef<Path>, problem: Problem) -> Self {
        SceneError {
            scene: scene.into(),
            file: file.as_ref().to_path_buf(),
            problem,
        }
    }
}

/// What is wrong with a file. Messages are written to be read by a user: they say what was
/// expected and, where there is one, how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("file not found ({hint})")]
    Missing { hint: String },
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("invalid PLY: {0}")]
    Ply(String),
    #[error("file ends early: expected {expected} bytes of {what}, found {found}")]
    Truncated {
        what: String,
        expected: u64,
        found: u64,
    },
    #[error("{what} #{index} is not finite ({value})")]
    NonFinite {
        what: String,
        index: u64,
        value: String,
    },
    #[error("{what} #{index} refers to index {value}, but only {len} exist")]
    IndexOutOfRange {
        what: String,
        index: u64,
        value: u64,
        len: u64,
    },
    #[error("{what}: expected {expected}, found {found}")]
    LengthMismatch {
        what: String,
        expected: u64,
        found: u64,
    },
    #[error("face #{index} has {count} vertices; only triangles are supported")]
    NonTriangleFace { index: u64, count: u64 },
    #[error("group {group} names segment {segment}, which no vertex has")]
    UnknownSegment { group: String, segment: i64 },
    #[error("duplicate {what} {id}")]
    DuplicateId { what: String, id: String },
    #[error("{what} is not valid UTF-8")]
    NotUtf8 { what: String },
    #[error("unsupported {what}: {detail}")]
    Unsupported { what: String, detail: String },
    #[error("invalid {what}: {detail}")]
    Invalid { what: String, detail: String },
    #[error("no usable frames: {detail}")]
    NoFrames { detail: String },
}

impl Problem {
    pub fn invalid(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Problem::Invalid {
            what: what.into(),
            detail: detail.into(),
        }
    }

    pub fn unsupported(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Problem::Unsupported {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// Shorthand used by the readers: attach the scene and the file to a [`Problem`].
pub trait Context<T> {
    fn at(self, scene: &str, file: &Path) -> Result<T, SceneError>;
}

impl<T, E: Into<Problem>> Context<T> for Result<T, E> {
    fn at(self, scene: &str, file: &Path) -> Result<T, SceneError> {
        self.map_err(|e| SceneError::new(scene, file, e.into()))
    }
}
