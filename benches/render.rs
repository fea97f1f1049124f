//! Rasterizer throughput on a 150K-face synthetic room at 640x480.
//!
//! `cargo bench --bench render -- --warm-up-time 1 --measurement-time 3`

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use msmu_data::render::{render, render_many, RenderConfig};

fn bench_render(c: &mut Criterion) {
    let scene = common::synth_scene(16);
    let faces = common::face_instance(&scene);
    let cameras = common::cameras(&scene, 640, 480);
    let config = RenderConfig::default();
    let n_tri = scene.mesh.n_faces() as u64;

    let mut group = c.benchmark_group("render_640x480");
    group.sample_size(20);
    // One view: triangles/s (every triangle of the mesh is processed once per view).
    group.throughput(Throughput::Elements(n_tri));
    group.bench_function(BenchmarkId::new("single_view_triangles", n_tri), |b| {
        let mut i = 0;
        b.iter(|| {
            let view = render(&scene.mesh, &faces, &cameras[i % cameras.len()], &config).unwrap();
            i += 1;
            view
        })
    });
    // The same, counted in views/s.
    group.throughput(Throughput::Elements(1));
    group.bench_function("single_view_views", |b| {
        let mut i = 0;
        b.iter(|| {
            let view = render(&scene.mesh, &faces, &cameras[i % cameras.len()], &config).unwrap();
            i += 1;
            view
        })
    });
    // 16 views in parallel (rayon, all cores): views/s.
    group.sample_size(10);
    group.throughput(Throughput::Elements(cameras.len() as u64));
    group.bench_function(BenchmarkId::new("render_many_views", cameras.len()), |b| {
        b.iter(|| render_many(&scene.mesh, &faces, &cameras, &config))
    });
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
