#![no_main]
//! ScanNet++ iPhone `depth.bin` (LZ4 records of u16 or one raw-deflate float32 stream), in
//! memory and through the streaming file reader `msmu build` uses. The first two bytes choose
//! a small frame size.
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;
use msmu_data::io::iphone_depth;

fuzz_target!(|data: &[u8]| {
    let (Some(&w), Some(&h)) = (data.first(), data.get(1)) else {
        return;
    };
    let (width, height) = (u32::from(w % 64), u32::from(h % 64));
    let body = &data[2..];
    if let Ok(frames) = iphone_depth::decode_all(body, width, height) {
        let n = (width * height) as usize;
        assert!(frames.iter().all(|f| f.len() == n));
    }
    let path = common::scratch("depth.bin", body);
    if let Ok(info) = iphone_depth::inspect(&path, width, height) {
        let _ = info;
        for frame in 0..3 {
            if let Ok(depth) = iphone_depth::read_frame(&path, frame, width, height) {
                assert_eq!(depth.depth_m.len(), (width * height) as usize);
            }
        }
    }
});
