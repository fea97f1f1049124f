//! Measurement and distance throughput on a 150K-face synthetic room, read back through
//! `io::load_scene` so instances and face assignments are what the pipeline sees.
//!
//! `cargo bench --bench geom -- --warm-up-time 1 --measurement-time 3`

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use msmu_data::geom::distance::{build_instance_bvhs, closest_surface_pairs};
use msmu_data::geom::measure::measure_scene;
use msmu_data::io::{load_scene, ReadOptions};
use msmu_synth::write_scannet::{write_scannet, ScanNetWriteOptions};

fn bench_geom(c: &mut Criterion) {
    let synth = common::synth_scene(1);
    let tmp = tempfile::tempdir().expect("temp dir");
    let opts = ScanNetWriteOptions {
        frame_layouts: vec![],
        ..ScanNetWriteOptions::default()
    };
    write_scannet(&synth, tmp.path(), &opts).expect("write scene");
    let dir = tmp.path().join("scans").join(&synth.scene_id);
    let read = ReadOptions {
        skip_frames: true,
        ..ReadOptions::default()
    };
    let scene = load_scene(&dir, &read).expect("load scene");

    let mut group = c.benchmark_group("geom");
    group.sample_size(10);
    group.throughput(Throughput::Elements(scene.instances.len() as u64));
    group.bench_function("measure_scene_instances", |b| {
        b.iter(|| measure_scene(&scene))
    });

    let ids: Vec<_> = scene.instances.iter().map(|i| i.id).collect();
    let pairs: Vec<_> = ids
        .iter()
        .enumerate()
        .flat_map(|(i, &a)| ids[i + 1..].iter().map(move |&b| (a, b)))
        .collect();
    group.bench_function("build_instance_bvhs_instances", |b| {
        b.iter(|| build_instance_bvhs(&scene))
    });
    let bvhs = build_instance_bvhs(&scene);
    group.throughput(Throughput::Elements(pairs.len() as u64));
    group.bench_function("closest_surface_pairs", |b| {
        b.iter(|| closest_surface_pairs(&bvhs, &pairs))
    });
    group.finish();
}

criterion_group!(benches, bench_geom);
criterion_main!(benches);
