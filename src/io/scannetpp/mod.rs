//! PLACEHOLDER until the reader lands.
use std::path::Path;
use crate::error::{Problem, SceneError};
use crate::io::ReadOptions;
use crate::scene::Scene;
pub fn read_scene(dir: &Path, _options: &ReadOptions) -> Result<Scene, SceneError> {
    Err(SceneError::new("?", dir, Problem::unsupported("reader", "not yet written")))
}
