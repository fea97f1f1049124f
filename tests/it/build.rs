//! End-to-end tests of `msmu build`: shards read back and agree with the manifest and the
//! geometry; byte-identical output at 1 and 2 threads; killed builds resumed to the same
//! bytes; bad scenes skipped and reported; `--shard K/N` partitions the scenes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::support::{fixtures, msmu, ok, s};
use msmu_data::dataset::manifest::{Manifest, SceneState};
use msmu_data::dataset::shard::{file_digest, list_shards, read_shard};
use msmu_data::geom::measure::{find_measurement, measure_scene};
use msmu_data::io::{load_scene, ReadOptions};
use msmu_data::scene::InstanceId;

/// Every file under `dir` (relative path -> bytes).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    files
}

#[test]
fn fixture_build_reads_back_and_matches_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds");
    let f = fixtures();
    ok(&[
        "build",
        "--scannet-root",
        s(&f.join("scannet")),
        "--scannetpp-root",
        s(&f.join("scannetpp")),
        "--out",
        s(&out),
        "--frame-stride",
        "1",
        "--with-masks",
    ]);
    let manifest = Manifest::read(&out).unwrap();
    assert_eq!(manifest.totals.scenes, 4);
    assert_eq!(manifest.totals.scenes_done, 4);
    let shards = list_shards(&out).unwrap();
    assert_eq!(shards.len(), manifest.shards.len());
    let mut ids = BTreeSet::new();
    let mut total_rows = 0;
    let mut total_qa = 0;
    for info in &manifest.shards {
        let path = out.join(&info.file);
        let (bytes, sha) = file_digest(&path).unwrap();
        assert_eq!((bytes, sha.as_str()), (info.bytes, info.sha256.as_str()));
        let rows = read_shard(&path).unwrap();
        assert_eq!(rows.len() as u64, info.rows, "{}", info.file);
        total_rows += rows.len();
        for row in &rows {
            assert!(ids.insert(row.id.clone()), "duplicate id {}", row.id);
            assert_eq!(row.split, info.split);
            assert!(row.image.bytes.starts_with(&[0xFF, 0xD8]), "image is JPEG");
            assert!(row.depth.bytes.starts_with(b"\x89PNG"), "depth is PNG");
            let mask = row.instance_mask.as_ref().expect("--with-masks");
            assert!(mask.bytes.starts_with(b"\x89PNG"));
            let depth = image::load_from_memory(&row.depth.bytes)
                .unwrap()
                .to_luma16();
            assert_eq!(
                (depth.width(), depth.height()),
                (row.depth_intrinsics.width, row.depth_intrinsics.height)
            );
            assert!(depth.pixels().any(|p| p.0[0] > 0), "depth has surfaces");
            assert!(!row.qa.is_empty());
            total_qa += row.qa.len();
            assert_eq!(row.conversations.len(), 2 * row.qa.len());
            for (turn, qa) in row.conversations.chunks(2).zip(&row.qa) {
                assert!(turn[0].value.ends_with(&qa.question));
                assert_eq!(turn[1].value, qa.answer);
            }
        }
        // Objects carry the exact measurements of the scene.
        let scene_ids: BTreeSet<&str> = rows.iter().map(|r| r.scene_id.as_str()).collect();
        for scene_id in scene_ids {
            let record = manifest
                .scenes
                .iter()
                .find(|r| r.scene_id == scene_id)
                .unwrap();
            let root = if record.source == "scannetpp" {
                f.join("scannetpp")
            } else {
                f.join("scannet")
            };
            let scene = load_scene(&root.join(&record.path), &ReadOptions::default()).unwrap();
            let measurements = measure_scene(&scene);
            for row in rows.iter().filter(|r| r.scene_id == scene_id) {
                for obj in &row.objects {
                    let m = find_measurement(&measurements, InstanceId(obj.instance_id)).unwrap();
                    assert_eq!(
                        [
                            obj.length_m,
                            obj.width_m,
                            obj.height_m,
                            obj.center[0],
                            obj.center[2]
                        ],
                        [m.length_m, m.width_m, m.height_m, m.center[0], m.center[2]]
                    );
                    assert!(obj.bbox_2d[0] < obj.bbox_2d[2] && obj.bbox_2d[2] <= 1.0);
                    assert!((0.0..=1.0).contains(&obj.visible_fraction));
                }
                let frame = scene
                    .frames
                    .iter()
                    .find(|fr| fr.id == row.frame_id)
                    .unwrap();
                assert_eq!(
                    row.world_from_camera,
                    msmu_data::scene::pose_to_row_major(&frame.world_from_camera)
                );
            }
        }
    }
    let rows_in_manifest: u64 = manifest.totals.rows.values().sum();
    let qa_in_manifest: u64 = manifest.totals.qa.values().sum();
    assert_eq!(total_rows as u64, rows_in_manifest);
    assert_eq!(total_qa as u64, qa_in_manifest);
    // A second build into the same folder is refused, with a hint.
    let again = msmu(&["build", "--out", s(&out)]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
}

/// A small synthetic root with enough scenes and frames for several shards.
fn synth_root(dir: &Path, scenes: &str) -> PathBuf {
    let root = dir.join("scannet");
    ok(&[
        "synth",
        "--out",
        s(&root),
        "--scenes",
        scenes,
        "--seed",
        "11",
        "--faces-per-scene",
        "4000",
        "--frames",
        "10",
    ]);
    root
}

fn small_shards_config(dir: &Path) -> PathBuf {
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"views": {"frame_stride": 1, "min_translation_m": 0.0, "min_rotation_deg": 0.0,
            "min_valid_objects": 1, "max_views": null},
            "limits": {"shard_bytes": 400000, "row_group_rows": 3}}"#,
    )
    .unwrap();
    config
}

fn build_args<'a>(
    root: &'a Path,
    out: &'a Path,
    config: &'a Path,
    threads: &'a str,
) -> Vec<&'a str> {
    vec![
        "build",
        "--scannet-root",
        s(root),
        "--out",
        s(out),
        "--config",
        s(config),
        "--threads",
        threads,
        "--seed",
        "3",
    ]
}

#[test]
fn same_bytes_at_any_thread_count_and_after_kills() {
    let dir = tempfile::tempdir().unwrap();
    let root = synth_root(dir.path(), "5");
    let config = small_shards_config(dir.path());
    let one = dir.path().join("one");
    let started = Instant::now();
    ok(&build_args(&root, &one, &config, "1"));
    let full_time = started.elapsed();
    let reference = tree(&one);
    let shards = reference.keys().filter(|p| p.starts_with("data")).count();
    assert!(shards >= 3, "want several shards, got {shards}");

    let two = dir.path().join("two");
    ok(&build_args(&root, &two, &config, "2"));
    assert!(tree(&two) == reference, "1 and 2 threads differ");

    // Kill at spread-out moments (SIGKILL), resume each time, then finish.
    let resumed = dir.path().join("resumed");
    let fractions = [0.15, 0.35, 0.55, 0.8, 0.95];
    let mut kills = 0;
    for fraction in fractions {
        let mut args = build_args(&root, &resumed, &config, "2");
        if resumed.exists() {
            args.push("--resume");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_msmu"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full_time.mul_f64(fraction));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        // No reader-visible partial shard at any time.
        if let Ok(entries) = std::fs::read_dir(resumed.join("data")) {
            for entry in entries {
                let name = entry.unwrap().file_name().into_string().unwrap();
                assert!(
                    name.ends_with(".parquet") && name.contains("-of-"),
                    "{name}"
                );
            }
        }
        if resumed.join("manifest.json").exists() {
            break;
        }
    }
    assert!(
        kills >= 1,
        "no kill landed; the build is too fast for this test"
    );
    let mut args = build_args(&root, &resumed, &config, "2");
    args.push("--resume");
    ok(&args);
    assert!(tree(&resumed) == reference, "resumed build differs");
}

#[test]
fn bad_scene_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = synth_root(dir.path(), "3");
    let bad = root.join("scans/scene0901_00/scene0901_00_vh_clean_2.ply");
    std::fs::write(&bad, b"ply\nformat ascii 1.0\nend_header\n").unwrap();
    let out = dir.path().join("ds");
    let result = msmu(&["build", "--scannet-root", s(&root), "--out", s(&out)]);
    assert_eq!(result.status.code(), Some(3), "exit status 3 = partial");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("scene0901_00"), "{stderr}");
    let manifest = Manifest::read(&out).unwrap();
    assert_eq!(manifest.totals.scenes_skipped, 1);
    let skipped = manifest
        .scenes
        .iter()
        .find(|r| r.status == SceneState::Skipped)
        .unwrap();
    assert_eq!(skipped.scene_id, "scene0901_00");
    let reason = skipped.reason.as_deref().unwrap();
    assert!(reason.contains("_vh_clean_2.ply"), "{reason}");
    assert_eq!(
        manifest.totals.scenes_done + manifest.totals.scenes_empty,
        2
    );
}

#[test]
fn shard_partitions_the_scenes() {
    let dir = tempfile::tempdir().unwrap();
    let root = synth_root(dir.path(), "3");
    let mut seen = BTreeSet::new();
    for k in 0..2 {
        let out = dir.path().join(format!("part{k}"));
        let part = format!("{k}/2");
        ok(&[
            "build",
            "--scannet-root",
            s(&root),
            "--out",
            s(&out),
            "--shard",
            &part,
        ]);
        let manifest = Manifest::read(&out).unwrap();
        assert_eq!(manifest.partition.as_deref(), Some(part.as_str()));
        for scene in manifest.scenes {
            assert!(seen.insert(scene.scene_id), "scene in two parts");
        }
    }
    assert_eq!(seen.len(), 3);
    let bad = msmu(&["build", "--out", s(&dir.path().join("x")), "--shard", "2/2"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("0 <= K < N"));
}

/// `msmu eval` on the test split of a real build: ground-truth answers score 100 %, empty
/// answers 0 %.
#[test]
fn eval_scores_a_built_bench() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    ok(&[
        "build",
        "--out",
        s(&out),
        "--split",
        "test",
        "--frame-stride",
        "2",
    ]);
    let mut truth = String::new();
    let mut empty = String::new();
    for shard in list_shards(&out).unwrap() {
        for row in read_shard(&shard).unwrap() {
            for (k, qa) in row.qa.iter().enumerate() {
                let id = format!("{}#{k}", row.id);
                truth += &serde_json::json!({"id": id, "pred": qa.answer}).to_string();
                truth.push('\n');
                empty += &serde_json::json!({"id": id, "pred": ""}).to_string();
                empty.push('\n');
            }
        }
    }
    for (preds, expected) in [(truth, 100.0), (empty, 0.0)] {
        let path = dir.path().join("preds.jsonl");
        std::fs::write(&path, preds).unwrap();
        let result = msmu(&["eval", "--bench", s(&out), "--pred", s(&path), "--json"]);
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
        assert_eq!(report["average"].as_f64(), Some(expected), "{report}");
        assert!(report["bench_items"].as_u64().unwrap() > 50);
    }
}

/// `docs/build-msmu-density.json` (the configuration behind the MSMU-scale projection in
/// docs/PERFORMANCE.md) is a complete, valid build configuration: it loads, and differs from
/// the default only in the QA density.
#[test]
fn msmu_density_config_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = Path::new(crate::support::repo()).join("docs/build-msmu-density.json");
    let print = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["build", "--out", s(&out), "--print-config"];
        args.extend_from_slice(extra);
        let result = msmu(&args);
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
        serde_json::from_slice(&result.stdout).unwrap()
    };
    let dense = print(&["--config", s(&config)]);
    let mut default = print(&[]);
    assert_eq!(dense["qa"]["max_per_image"], 28);
    for (family, cap) in default["qa"]["family_caps"].as_object().unwrap() {
        assert_eq!(
            dense["qa"]["family_caps"][family].as_u64(),
            cap.as_u64().map(|c| 2 * c),
            "{family}"
        );
    }
    default["qa"]["max_per_image"] = dense["qa"]["max_per_image"].clone();
    default["qa"]["family_caps"] = dense["qa"]["family_caps"].clone();
    assert_eq!(dense, default);
}

/// `--config` takes any subset of the keys at any depth: the rest of a nested object keeps its
/// defaults; an unknown nested key is still an error naming the file.
#[test]
fn build_config_subsets_merge_at_any_depth() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = dir.path().join("c.json");
    let print = |extra: &[&str]| {
        let mut args = vec!["build", "--out", s(&out), "--print-config"];
        args.extend_from_slice(extra);
        msmu(&args)
    };
    std::fs::write(
        &config,
        r#"{"views": {"frame_stride": 3}, "qa": {"max_per_image": 6}}"#,
    )
    .unwrap();
    let result = print(&["--config", s(&config)]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    let mut expected: serde_json::Value = serde_json::from_slice(&print(&[]).stdout).unwrap();
    expected["views"]["frame_stride"] = 3.into();
    expected["qa"]["max_per_image"] = 6.into();
    assert_eq!(got, expected);
    std::fs::write(&config, r#"{"views": {"frame_strid": 3}}"#).unwrap();
    let result = print(&["--config", s(&config)]);
    assert!(!result.status.success());
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(
        err.contains("c.json") && err.contains("frame_strid"),
        "{err}"
    );
}

/// Every QA row records the build's profile and the box its sizes are stated for.
#[test]
fn qa_rows_record_their_profile_and_box_convention() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures();
    for (profile, convention) in [("msmu", "gravity_aligned"), ("official", "axis_aligned")] {
        let out = dir.path().join(profile);
        ok(&[
            "build",
            "--scannet-root",
            s(&f.join("scannet")),
            "--out",
            s(&out),
            "--profile",
            profile,
        ]);
        let mut n = 0;
        for info in &Manifest::read(&out).unwrap().shards {
            for row in read_shard(&out.join(&info.file)).unwrap() {
                for qa in &row.qa {
                    assert_eq!(
                        (qa.profile.as_str(), qa.box_convention.as_str()),
                        (profile, convention)
                    );
                    n += 1;
                }
            }
        }
        assert!(n > 20, "{profile}: {n} QA");
    }
}

/// Colour references come from the pixels: on synthetic scenes (one paint colour per object,
/// faces shaded to 60-100 % of it) every colour a phrase names is one the object shows under
/// its lighting, most are the paint colour's own name, and no other object of the label in the
/// view is that colour all through the lit range (its paint at 70 % and at 100 %).
#[test]
fn colour_references_name_what_the_image_shows() {
    use msmu_data::qa::colors::basic_color_name;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("scannet");
    ok(&[
        "synth",
        "--out",
        s(&root),
        "--scenes",
        "6",
        "--seed",
        "5",
        "--frames",
        "40",
    ]);
    let out = dir.path().join("ds");
    ok(&["build", "--scannet-root", s(&root), "--out", s(&out)]);
    let shown = |rgb: [u8; 3]| -> BTreeSet<&'static str> {
        (60..=100)
            .map(|k| basic_color_name(rgb.map(|c| (c as f64 * k as f64 / 100.0).round() as u8)))
            .collect()
    };
    let (mut named, mut exact) = (0, 0);
    for info in &Manifest::read(&out).unwrap().shards {
        for row in read_shard(&out.join(&info.file)).unwrap() {
            let truth: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(root.join("scans").join(&row.scene_id).join("truth.json"))
                    .unwrap(),
            )
            .unwrap();
            let paint = |id: u32| -> [u8; 3] {
                let object = truth["objects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|o| o["instance_id"] == id)
                    .unwrap();
                [0, 1, 2].map(|i| object["color_rgb"][i].as_u64().unwrap() as u8)
            };
            for object in &row.objects {
                let words: Vec<&str> = object.phrase.split(' ').collect();
                let colour = words[1];
                if !msmu_data::qa::colors::BASIC_COLORS
                    .iter()
                    .any(|(n, _)| *n == colour)
                {
                    continue;
                }
                named += 1;
                let rgb = paint(object.instance_id);
                assert!(
                    shown(rgb).contains(colour),
                    "{}: {} is painted {rgb:?}",
                    row.id,
                    object.phrase
                );
                exact += usize::from(basic_color_name(rgb) == colour);
                for other in &row.objects {
                    if other.instance_id != object.instance_id && other.label == object.label {
                        let rgb = paint(other.instance_id);
                        let lit = rgb.map(|c| (c as f64 * 0.7).round() as u8);
                        assert!(
                            basic_color_name(rgb) != colour || basic_color_name(lit) != colour,
                            "{}: {} but instance {} of the label is {colour} too",
                            row.id,
                            object.phrase,
                            other.instance_id
                        );
                    }
                }
            }
        }
    }
    assert!(named >= 20, "{named} colour references");
    assert!(
        exact * 10 >= named * 9,
        "{exact} of {named} name the paint colour itself"
    );
}
