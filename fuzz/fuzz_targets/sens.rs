#![no_main]
//! ScanNet `.sens`: header and frame index, then every frame's depth payload (zlib u16) and
//! colour payload checks, as `msmu build` reads them.
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;
use msmu_data::io::{frames, scannet::sens};
use msmu_data::scene::DepthSource;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch("scene.sens", data);
    let Ok((header, index)) = sens::index_sens(&path) else {
        return;
    };
    for frame in index.iter().take(4) {
        // The index must only point inside the file.
        assert!(frame.depth_offset + frame.depth_len <= data.len() as u64);
        assert!(frame.color_offset + frame.color_len <= data.len() as u64);
        let source = DepthSource::SensZlib {
            path: path.clone(),
            offset: frame.depth_offset,
            len: frame.depth_len,
            width: header.depth_width,
            height: header.depth_height,
            shift: header.depth_shift as f64,
        };
        if let Ok(depth) = frames::read_sensor_depth(&source) {
            assert_eq!(
                depth.depth_m.len(),
                header.depth_width as usize * header.depth_height as usize
            );
        }
        if let Ok(bytes) = frames::read_range(&path, frame.color_offset, frame.color_len) {
            let _ = frames::check_color_size(&bytes, (header.color_width, header.color_height));
        }
    }
});
