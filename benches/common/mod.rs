//! Shared set-up for the criterion benches.
//!
//! `cargo bench` passes `--bench`; `cargo test --all-targets` runs each bench once without
//! it. Without the flag the benches use a small scene so the test suite stays fast.

#![allow(dead_code)]

use msmu_data::scene::Camera;
use msmu_synth::{generate, GenerateConfig, SynthScene};

/// Whether criterion is really measuring (`cargo bench`), not smoke-testing (`cargo test`).
pub fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Faces of the benchmark scene: 150K like a real ScanNet `_vh_clean_2.ply`, 5K in test mode.
pub fn faces_target() -> usize {
    if measuring() {
        150_000
    } else {
        5_000
    }
}

/// The synthetic room every bench uses (deterministic: seed 0, scene 0).
pub fn synth_scene(n_frames: u32) -> SynthScene {
    generate(
        &GenerateConfig {
            faces_target: faces_target(),
            n_frames,
            ..GenerateConfig::default()
        },
        0,
        0,
    )
}

/// Instance of every face: the instance of its first vertex (what the rasterizer needs).
pub fn face_instance(scene: &SynthScene) -> Vec<u32> {
    scene
        .mesh
        .triangles
        .iter()
        .map(|t| scene.vertex_instance[t[0] as usize])
        .collect()
}

/// The scene's colour cameras resized to `width x height`.
pub fn cameras(scene: &SynthScene, width: u32, height: u32) -> Vec<Camera> {
    scene
        .cameras
        .iter()
        .map(|c| Camera {
            model: c.model.resized(width, height),
            world_from_camera: c.world_from_camera,
        })
        .collect()
}
