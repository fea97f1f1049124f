#![no_main]
//! ScanNet++ JSON and CSV: `transforms_undistorted.json`, iPhone `pose_intrinsic_imu.json`,
//! `segments.json` + `segments_anno.json` (split by a line `@@`) and the benchmark label map.
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;
use msmu_data::io::scannetpp::{annotation, iphone, nerfstudio};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = nerfstudio::parse_undistorted_camera(text);
    let _ = iphone::parse_poses(text);
    let _ = annotation::BenchmarkMap::parse(text, None);
    let (segments, anno) = common::split2(data, b"\n@@\n");
    let (Ok(segments), Ok(anno)) = (std::str::from_utf8(segments), std::str::from_utf8(anno))
    else {
        return;
    };
    if let (Ok(seg_indices), Ok(groups)) = (
        annotation::parse_segments(segments),
        annotation::parse_annotation(anno),
    ) {
        if let Ok((vertex_instance, _)) = annotation::resolve_instances(&seg_indices, &groups) {
            assert_eq!(vertex_instance.len(), seg_indices.len());
        }
    }
});
