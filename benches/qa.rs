//! QA generation throughput (QA pairs/s) on the bundled fixture scenes: the geometry stage
//! (measurements, view and object selection) is prepared once outside the timed loop, so
//! the number is the cost of references, template filling, mix and balance alone. A second
//! bench times the whole per-scene path including view selection.
//!
//! `cargo bench --bench qa -- --warm-up-time 1 --measurement-time 3`

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use msmu_data::geom::select::SelectionRules;
use msmu_data::geom::views::ViewSelectionConfig;
use msmu_data::geom::visibility::VisibilityConfig;
use msmu_data::io::{load_scene, ReadOptions};
use msmu_data::qa::generate::{generate_scene, prepare_scene};
use msmu_data::qa::templates::TemplateSet;
use msmu_data::qa::QaConfig;

fn bench_qa(c: &mut Criterion) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let scene_dirs = [
        fixtures.join("scannet/scans/scene0900_00"),
        fixtures.join("scannet/scans/scene0901_00"),
    ];
    let scenes: Vec<_> = scene_dirs
        .iter()
        .map(|dir| load_scene(dir, &ReadOptions::default()).expect("fixture scene"))
        .collect();
    let rules = SelectionRules::default();
    let visibility = VisibilityConfig::default();
    let views = ViewSelectionConfig {
        frame_stride: 1,
        ..ViewSelectionConfig::default()
    };
    let templates = TemplateSet::shipped().expect("shipped templates");
    let config = QaConfig::default();
    let inputs: Vec<_> = scenes
        .iter()
        .map(|scene| prepare_scene(scene, &rules, &visibility, &views))
        .collect();
    let n_qa: usize = inputs
        .iter()
        .map(|input| {
            generate_scene(input, &templates, &config)
                .iter()
                .map(|v| v.qa.len())
                .sum::<usize>()
        })
        .sum();

    let mut group = c.benchmark_group("qa");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n_qa as u64));
    group.bench_function("generate_qa_pairs", |b| {
        b.iter(|| {
            inputs
                .iter()
                .map(|input| generate_scene(input, &templates, &config).len())
                .sum::<usize>()
        })
    });
    group.bench_function("select_views_and_generate_qa_pairs", |b| {
        b.iter(|| {
            scenes
                .iter()
                .map(|scene| {
                    let input = prepare_scene(scene, &rules, &visibility, &views);
                    generate_scene(&input, &templates, &config).len()
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_qa);
criterion_main!(benches);
