//! Reader throughput on a synthetic 150K-face ScanNet scene written to a temporary folder at
//! start (`msmu synth` machinery: `synth::generate` + `write_scannet` with a `.sens` stream).
//!
//! `cargo bench --bench io -- --warm-up-time 1 --measurement-time 3`

mod common;

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use msmu_data::io::frames::{read_color_bytes, read_sensor_depth};
use msmu_data::io::scannet::sens::index_sens;
use msmu_data::io::{load_scene, ReadOptions};
use msmu_data::scene::{DepthSource, ImageSource};
use msmu_synth::write_scannet::{write_scannet, FrameLayout, ScanNetWriteOptions};

/// Indexes the `.sens` stream and reads every frame's JPEG bytes and decoded depth.
/// Returns the number of frames and the payload bytes read.
fn stream_sens(path: &Path) -> (usize, u64) {
    let (header, frames) = index_sens(path).expect("index .sens");
    let mut bytes = 0u64;
    for f in &frames {
        let color = read_color_bytes(&ImageSource::SensJpeg {
            path: path.to_path_buf(),
            offset: f.color_offset,
            len: f.color_len,
        })
        .expect("colour bytes");
        let depth = read_sensor_depth(&DepthSource::SensZlib {
            path: path.to_path_buf(),
            offset: f.depth_offset,
            len: f.depth_len,
            width: header.depth_width,
            height: header.depth_height,
            shift: header.depth_shift as f64,
        })
        .expect("depth");
        bytes += color.len() as u64 + f.depth_len;
        std::hint::black_box(depth);
    }
    (frames.len(), bytes)
}

fn bench_io(c: &mut Criterion) {
    let n_frames = if common::measuring() { 60 } else { 3 };
    let scene = common::synth_scene(n_frames);
    let tmp = tempfile::tempdir().expect("temp dir");
    let opts = ScanNetWriteOptions {
        frame_layouts: vec![FrameLayout::Sens],
        ..ScanNetWriteOptions::default()
    };
    write_scannet(&scene, tmp.path(), &opts).expect("write scene");
    let id = &scene.scene_id;
    let dir = tmp.path().join("scans").join(id);
    let ply = dir.join(format!("{id}_vh_clean_2.ply"));
    let sens = dir.join(format!("{id}.sens"));
    let ply_bytes = std::fs::metadata(&ply).expect("ply").len();
    let sens_bytes = std::fs::metadata(&sens).expect("sens").len();

    let mut group = c.benchmark_group("io");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(ply_bytes));
    group.bench_function("ply_read_mesh_150k_faces", |b| {
        b.iter(|| msmu_data::io::ply::read_mesh(&ply).expect("read mesh"))
    });
    group.sample_size(10);
    group.throughput(Throughput::Elements(1));
    group.bench_function("load_scene_scenes", |b| {
        b.iter(|| load_scene(&dir, &ReadOptions::default()).expect("load scene"))
    });
    let (frames, _) = stream_sens(&sens);
    group.throughput(Throughput::Elements(frames as u64));
    group.bench_function("sens_stream_frames", |b| b.iter(|| stream_sens(&sens)));
    // Whole-file bytes per pass (header, poses, JPEG and zlib payloads).
    group.throughput(Throughput::Bytes(sens_bytes));
    group.bench_function("sens_stream_bytes", |b| b.iter(|| stream_sens(&sens)));
    group.finish();
}

criterion_group!(benches, bench_io);
criterion_main!(benches);
