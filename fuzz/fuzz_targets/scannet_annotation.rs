#![no_main]
//! ScanNet `*.segs.json` + `*.aggregation.json` (split by a line `@@`).
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;
use msmu_data::io::scannet::annotation::{apply_aggregation, parse_segs};

fuzz_target!(|data: &[u8]| {
    let (segs, aggregation) = common::split2(data, b"\n@@\n");
    // Try the vertex count the segments file claims and a wrong one.
    for n in [None, Some(3usize)] {
        let n = n.unwrap_or_else(|| serde_json_count(segs).unwrap_or(0));
        if let Ok(seg_indices) = parse_segs(segs, n) {
            assert_eq!(seg_indices.len(), n);
            if let Ok(annotation) = apply_aggregation(aggregation, &seg_indices) {
                assert_eq!(annotation.vertex_instance.len(), n);
            }
        }
    }
});

/// The length of `segIndices`, found without the reader (so a wrong count is also tried).
fn serde_json_count(bytes: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(bytes).ok()?;
    let start = text.find("\"segIndices\"")?;
    let open = start + text[start..].find('[')?;
    let close = open + text[open..].find(']')?;
    let inner = text[open + 1..close].trim();
    Some(if inner.is_empty() {
        0
    } else {
        inner.split(',').count()
    })
}
