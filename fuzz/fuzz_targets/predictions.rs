#![no_main]
//! `msmu eval`'s prediction reader (JSONL) and the items built from it.
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch("predictions.jsonl", data);
    if let Ok(predictions) = msmu_eval::bench::read_predictions(&path) {
        let _ = msmu_eval::bench::items_from_predictions(&predictions, &path);
    }
});
