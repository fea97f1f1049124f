#![no_main]
//! ScanNet++ COLMAP text model: `cameras.txt` and `images.txt` (split by a line `@@`).
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;
use msmu_data::io::scannetpp::colmap;

fuzz_target!(|data: &[u8]| {
    let (cameras, images) = common::split2(data, b"\n@@\n");
    if let Ok(text) = std::str::from_utf8(cameras) {
        let _ = colmap::parse_cameras(text);
    }
    if let Ok(text) = std::str::from_utf8(images) {
        let _ = colmap::parse_images(text);
    }
});
