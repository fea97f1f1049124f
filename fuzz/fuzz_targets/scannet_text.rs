#![no_main]
//! ScanNet text files: `<scene>.txt` / `_info.txt` meta, label map TSV, 4x4 matrices
//! (poses, intrinsics) and the C++ exporter's `_info.txt`.
use libfuzzer_sys::fuzz_target;
use msmu_data::io::scannet::{exported, labels::LabelMap, matrix, meta};

fuzz_target!(|data: &[u8]| {
    let _ = meta::parse_meta(data);
    let _ = LabelMap::parse(data);
    let _ = exported::parse_cpp_info(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = matrix::parse_matrix4(text);
        let _ = meta::parse_key_values(text, "fuzz");
    }
});
