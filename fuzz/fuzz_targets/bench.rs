#![no_main]
//! `msmu eval`'s bench readers: Parquet, Arrow IPC (file and stream) and JSONL, chosen by the
//! first byte. Panics inside arrow / parquet must be turned into errors by the reader.
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: {
    // libfuzzer-sys aborts in its panic hook, before `bench::no_panic` can catch a panic
    // raised inside arrow / parquet. Catching those is the reader's documented behaviour, so
    // the hook is made silent; a panic that escapes the reader still aborts (libfuzzer-sys
    // checks `catch_unwind` around every run).
    std::panic::set_hook(Box::new(|_| {}));
}, |data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let name = match kind % 4 {
        0 => "bench.parquet",
        1 => "bench.arrow",
        2 => "bench.jsonl",
        _ => "bench.json",
    };
    let path = common::scratch(name, body);
    let _ = msmu_eval::bench::read_bench(&path);
});
