#![no_main]
//! `io::ply::read_mesh` (ASCII and binary PLY, any property types).
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch("mesh.ply", data);
    if let Ok(mesh) = msmu_data::io::ply::read_mesh(&path) {
        // Every face index the reader returns must point at a vertex it returned.
        let n = mesh.positions_m.len();
        assert_eq!(mesh.colors_rgb.len(), n);
        assert!(mesh.triangles.iter().flatten().all(|&i| (i as usize) < n));
    }
});
