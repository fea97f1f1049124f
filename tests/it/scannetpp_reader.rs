//! End-to-end checks of the ScanNet++ reader against the committed corpus
//! (`tests/corpus/make_scannetpp_corpus.py` writes it, and `good/expected.json` holds the values
//! that script computed independently: projected pixels, per-vertex and per-face instances).
//!
//! Scenes: `good/` (DSLR + iPhone, depth.bin encoding (a), a benchmark map two levels up),
//! `good_iphone_lz4/` (iPhone only, depth.bin encoding (b)), and `bad/<case>/`, one broken
//! file each, checked by one data-driven table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use msmu_data::error::{Problem, SceneError};
use msmu_data::io::frames::read_sensor_depth;
use msmu_data::io::iphone_depth;
use msmu_data::io::{load_scene, scannetpp, ReadOptions};
use msmu_data::scene::{
    Camera, CameraModel, DepthSource, FrameLayout, ImageSource, InstanceId, Intrinsics, Scene,
    Source,
};
use nalgebra::Point3;
use serde_json::Value;

const DEPTH_W: u32 = 256;
const DEPTH_H: u32 = 192;

fn corpus() -> PathBuf {
    Path::new(crate::support::repo()).join("tests/corpus/scannetpp")
}

fn good_dir() -> PathBuf {
    corpus().join("good/data/0a1b2c3d4e")
}

fn lz4_dir() -> PathBuf {
    corpus().join("good_iphone_lz4/data/1f2e3d4c5b")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(corpus().join("good/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read(dir: &Path) -> Scene {
    scannetpp::read_scene(dir, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn as_f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn as_u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn skipped(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The probe point of expected.json must land on the pixel the generator computed.
fn check_projection(camera: &Camera, frame_id: &str, expected_frame: &Value) {
    let point = as_f64s(&expected()["probe_point"]);
    let (u, v, z) = camera.project(&Point3::new(point[0], point[1], point[2]));
    let pixel = as_f64s(&expected_frame["pixel"]);
    let depth_m = expected_frame["depth_m"].as_f64().unwrap();
    assert!(
        (u - pixel[0]).abs() < 1e-6 && (v - pixel[1]).abs() < 1e-6 && (z - depth_m).abs() < 1e-9,
        "{frame_id}: projected ({u}, {v}, {z}), expected ({}, {}, {depth_m})",
        pixel[0],
        pixel[1]
    );
    assert!(
        u >= 0.0 && v >= 0.0 && u < camera.model.width as f64 && v < camera.model.height as f64
    );
}

#[test]
fn instances_resolve_overlaps_to_the_smallest_group() {
    let scene = read(&good_dir());
    let exp = expected();
    assert_eq!(scene.meta.scene_id, "0a1b2c3d4e");
    assert_eq!(scene.meta.source, Source::ScanNetPP);
    assert!(!scene.meta.axis_alignment_given);
    assert_eq!(scene.aligned_from_scan, msmu_data::scene::Pose::identity());
    assert_eq!((scene.mesh.n_vertices(), scene.mesh.n_faces()), (20, 26));

    // Table (objectId 0) claims everything of the box too; the box (1) keeps its bottom; the
    // top goes to "lid" (2), which ties with "Cover" (3) in size but has the lower objectId.
    assert_eq!(scene.vertex_instance, as_u32s(&exp["vertex_instance"]));
    #[rustfmt::skip]
    let written_out = [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 0, 0, 0, 0];
    assert_eq!(scene.vertex_instance, written_out);
    assert_eq!(scene.face_instance, as_u32s(&exp["face_instance"]));

    let ids: Vec<u32> = scene.instances.iter().map(|i| i.id.0).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    let raw: Vec<&str> = scene
        .instances
        .iter()
        .map(|i| i.raw_label.as_str())
        .collect();
    assert_eq!(raw, [" Table ", "BOX", "lid", "Cover"]);
    // Through map_benchmark.csv (found two levels above the scene) and top100.txt.
    let labels: Vec<&str> = scene.instances.iter().map(|i| i.label.as_str()).collect();
    assert_eq!(labels, ["table", "storage box", "lid", "cover"]);
    let bench: Vec<Option<u32>> = scene
        .instances
        .iter()
        .map(|i| i.label_ids.benchmark_id)
        .collect();
    assert_eq!(bench, [Some(1), Some(2), None, None]);

    let table = scene.instance(InstanceId(1)).unwrap();
    assert_eq!(table.vertex_indices, (0..8).collect::<Vec<u32>>());
    assert_eq!(table.face_indices, (0..12).collect::<Vec<u32>>());
    assert_eq!(
        scene.instance(InstanceId(2)).unwrap().vertex_indices,
        [8, 9, 10, 11]
    );
    let lid = scene.instance(InstanceId(3)).unwrap();
    assert_eq!(lid.vertex_indices, [12, 13, 14, 15]);
    assert!(
        lid.face_indices.starts_with(&[14, 15]),
        "the box's top quad, then side faces"
    );
    let cover = scene.instance(InstanceId(4)).unwrap();
    assert!(cover.vertex_indices.is_empty() && cover.face_indices.is_empty());
    for (face, inst) in scene.face_instance.iter().enumerate() {
        let owner = if *inst == 0 {
            None
        } else {
            scene.instance(InstanceId(*inst))
        };
        if let Some(owner) = owner {
            assert!(owner.face_indices.contains(&(face as u32)));
        }
    }

    // The unmapped label and the empty instance are warnings, not errors.
    assert!(scene
        .warnings
        .iter()
        .any(|w| w.contains("\"cover\"") && w.contains("map_benchmark.csv")));
    assert!(scene
        .warnings
        .iter()
        .any(|w| w.contains("instance 4") && w.contains("no vertices")));
}

#[test]
fn without_a_benchmark_map_labels_are_the_normalised_raw_labels() {
    let scene = read(&lz4_dir());
    let labels: Vec<&str> = scene.instances.iter().map(|i| i.label.as_str()).collect();
    assert_eq!(labels, ["table", "box", "lid", "cover"]);
    assert!(scene
        .instances
        .iter()
        .all(|i| i.label_ids.benchmark_id.is_none()));
    assert!(!scene.warnings.iter().any(|w| w.contains("map_benchmark")));

    // An explicit map wins over the search (and applies to any scene).
    let options = ReadOptions {
        scannetpp_benchmark_map: Some(
            corpus().join("good/metadata/semantic_benchmark/map_benchmark.csv"),
        ),
        ..ReadOptions::default()
    };
    let scene = scannetpp::read_scene(&lz4_dir(), &options).unwrap();
    assert_eq!(scene.instances[1].label, "storage box");
    assert_eq!(scene.instances[1].label_ids.benchmark_id, Some(2));

    // An explicit map that does not exist is an error naming it.
    let options = ReadOptions {
        scannetpp_benchmark_map: Some(corpus().join("nowhere/map_benchmark.csv")),
        ..ReadOptions::default()
    };
    let err = scannetpp::read_scene(&lz4_dir(), &options).unwrap_err();
    assert!(matches!(err.problem, Problem::Missing { .. }));
    assert!(err.to_string().contains("nowhere/map_benchmark.csv"));
}

#[test]
fn dslr_frames_use_colmap_poses_and_the_undistorted_pinhole() {
    let scene = read(&good_dir());
    assert_eq!(scene.meta.frame_layout, FrameLayout::ScanNetPPDslr);
    let ids: Vec<&str> = scene.frames.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["DSC00001.JPG", "DSC00002.JPG"]);
    // DSC00003.JPG is in images.txt but has no undistorted image.
    assert_eq!(scene.skipped_frames, skipped(&[("missing image", 1)]));

    let exp = expected();
    for frame in &scene.frames {
        // transforms_undistorted.json, not cameras.txt's fisheye nor transforms.json.
        assert_eq!(
            frame.color,
            CameraModel {
                intrinsics: Intrinsics {
                    fx: 50.0,
                    fy: 52.0,
                    cx: 32.0,
                    cy: 24.0
                },
                width: 64,
                height: 48
            }
        );
        assert_eq!(frame.depth, None);
        assert_eq!(frame.sensor_depth, None);
        assert_eq!(
            frame.color_image,
            Some(ImageSource::File(
                good_dir()
                    .join("dslr/resized_undistorted_images")
                    .join(&frame.id)
            ))
        );
        check_projection(&frame.color_camera(), &frame.id, &exp["dslr"][&frame.id]);
    }

    // The nerfstudio transform_matrix of transforms.json, used as a camera-to-world, puts the
    // probe somewhere else entirely: the reader must not (and does not) use it.
    let transforms: Value = serde_json::from_str(
        &std::fs::read_to_string(good_dir().join("dslr/nerfstudio/transforms.json")).unwrap(),
    )
    .unwrap();
    let m: Vec<f64> = transforms["frames"][0]["transform_matrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(as_f64s)
        .collect();
    let wrong = msmu_data::scene::pose_from_row_major(&m.try_into().unwrap()).unwrap();
    assert!(
        (wrong.to_homogeneous() - scene.frames[0].world_from_camera.to_homogeneous())
            .abs()
            .max()
            > 0.5
    );
}

#[test]
fn iphone_frames_use_aligned_poses_and_scaled_depth_intrinsics() {
    let scene = read(&lz4_dir());
    assert_eq!(scene.meta.frame_layout, FrameLayout::ScanNetPPIphone);
    let ids: Vec<&str> = scene.frames.iter().map(|f| f.id.as_str()).collect();
    // frame_000003 has an image but no pose: not a frame. frame_000001's pose is NaN;
    // frame_000004 has a pose but no image.
    assert_eq!(ids, ["frame_000000", "frame_000002"]);
    assert_eq!(
        scene.skipped_frames,
        skipped(&[("invalid pose", 1), ("missing image", 1)])
    );

    let exp = expected();
    for (frame, (fx, index)) in scene.frames.iter().zip([(250.0, 0u32), (251.0, 2)]) {
        // Size from the JPEG header; per-frame intrinsics from the pose file.
        assert_eq!(
            frame.color,
            CameraModel {
                intrinsics: Intrinsics {
                    fx,
                    fy: fx,
                    cx: 159.5,
                    cy: 119.5
                },
                width: 320,
                height: 240
            }
        );
        let depth = frame.depth.unwrap();
        assert_eq!((depth.width, depth.height), (DEPTH_W, DEPTH_H));
        let k = depth.intrinsics;
        let s = 256.0 / 320.0;
        assert!((k.fx - fx * s).abs() < 1e-9 && (k.fy - fx * s).abs() < 1e-9);
        assert!((k.cx - 127.5).abs() < 1e-9 && (k.cy - 95.5).abs() < 1e-9);
        assert_eq!(
            frame.sensor_depth,
            Some(DepthSource::IphoneBin {
                path: lz4_dir().join("iphone/depth.bin"),
                frame_index: index,
                width: DEPTH_W,
                height: DEPTH_H
            })
        );
        check_projection(&frame.color_camera(), &frame.id, &exp["iphone"][&frame.id]);

        // Lazily decoded through the frame's handle: LZ4 u16 millimetres.
        let map = read_sensor_depth(frame.sensor_depth.as_ref().unwrap()).unwrap();
        assert_eq!(map.depth_m, expected_lz4_frame(index));
    }
}

/// `depth_mm` of the corpus generator.
fn depth_mm(frame: u32, r: u32, c: u32) -> u16 {
    if r % 8 == 0 && c == 0 {
        0
    } else {
        (1000 + 100 * frame + 3 * c + 7 * (r % 8)) as u16
    }
}

/// `depth_m` of the corpus generator (every value exact in binary).
fn depth_m(frame: u32, r: u32, c: u32) -> f32 {
    if r % 8 == 0 && c == 0 {
        0.0
    } else {
        1.0 + frame as f32 + (c % 16) as f32 * 0.0625 + (r % 8) as f32 * 0.5
    }
}

fn frame_values(f: impl Fn(u32, u32) -> f32) -> Vec<f32> {
    (0..DEPTH_H)
        .flat_map(|r| (0..DEPTH_W).map(move |c| (r, c)))
        .map(|(r, c)| f(r, c))
        .collect()
}

fn expected_lz4_frame(frame: u32) -> Vec<f32> {
    frame_values(|r, c| depth_mm(frame, r, c) as f32 / 1000.0)
}

fn expected_f32_frame(frame: u32) -> Vec<f32> {
    frame_values(|r, c| depth_m(frame, r, c))
}

#[test]
fn depth_bin_both_encodings_decode_to_the_values_written() {
    // (a) one raw-deflate stream of float32 metres.
    let path_a = good_dir().join("iphone/depth.bin");
    let info = iphone_depth::inspect(&path_a, DEPTH_W, DEPTH_H).unwrap();
    assert_eq!(info.layout, iphone_depth::DepthBinLayout::DeflateF32);
    let all_a =
        iphone_depth::decode_all(&std::fs::read(&path_a).unwrap(), DEPTH_W, DEPTH_H).unwrap();
    assert_eq!(all_a.len(), 6);
    for frame in 0..6u32 {
        let map = iphone_depth::read_frame(&path_a, frame, DEPTH_W, DEPTH_H).unwrap();
        assert_eq!(
            map.depth_m,
            expected_f32_frame(frame),
            "encoding (a) frame {frame}"
        );
        assert_eq!(all_a[frame as usize], map.depth_m);
    }
    assert!(iphone_depth::read_frame(&path_a, 6, DEPTH_W, DEPTH_H).is_err());
    // Spot values: the invalid pixel and one exact sample.
    let map = iphone_depth::read_frame(&path_a, 3, DEPTH_W, DEPTH_H).unwrap();
    assert_eq!(map.depth_m[0], 0.0);
    assert_eq!(map.depth_m[(5 * DEPTH_W + 17) as usize], 4.0 + 0.0625 + 2.5);

    // (b) records: LZ4 u16 millimetres, except frame 1, a raw-deflate float32 record.
    let path_b = lz4_dir().join("iphone/depth.bin");
    let info = iphone_depth::inspect(&path_b, DEPTH_W, DEPTH_H).unwrap();
    assert_eq!(info.layout, iphone_depth::DepthBinLayout::Records);
    assert_eq!(info.n_frames, Some(6));
    let all_b =
        iphone_depth::decode_all(&std::fs::read(&path_b).unwrap(), DEPTH_W, DEPTH_H).unwrap();
    assert_eq!(all_b.len(), 6);
    for frame in 0..6u32 {
        let want = if frame == 1 {
            expected_f32_frame(frame)
        } else {
            expected_lz4_frame(frame)
        };
        let map = iphone_depth::read_frame(&path_b, frame, DEPTH_W, DEPTH_H).unwrap();
        assert_eq!(map.depth_m, want, "encoding (b) frame {frame}");
        assert_eq!(all_b[frame as usize], want);
    }
    let map = iphone_depth::read_frame(&path_b, 4, DEPTH_W, DEPTH_H).unwrap();
    assert_eq!(
        map.depth_m[(9 * DEPTH_W + 2) as usize],
        (1000 + 400 + 6 + 7) as f32 / 1000.0
    );
}

#[test]
fn corpus_jpegs_are_valid_and_sized() {
    let dslr =
        image::open(good_dir().join("dslr/resized_undistorted_images/DSC00001.JPG")).unwrap();
    assert_eq!((dslr.width(), dslr.height()), (64, 48));
    let iphone = image::open(lz4_dir().join("iphone/rgb/frame_000000.jpg")).unwrap();
    assert_eq!((iphone.width(), iphone.height()), (320, 240));
}

#[test]
fn skip_frames_and_load_scene_dispatch() {
    let options = ReadOptions {
        skip_frames: true,
        ..ReadOptions::default()
    };
    let scene = load_scene(&good_dir(), &options).unwrap();
    assert_eq!(scene.meta.source, Source::ScanNetPP);
    assert_eq!(scene.meta.frame_layout, FrameLayout::None);
    assert!(scene.frames.is_empty() && scene.skipped_frames.is_empty());
    assert_eq!(scene.instances.len(), 4);
    // Geometry-only reads do not even look at broken frame files.
    let bad = corpus().join("bad/missing_transforms_undistorted/data/badc0de007");
    assert!(scannetpp::read_scene(&bad, &options).is_ok());
}

/// One row per broken scene: `(case, scene id, file the error must name, expected problem)`.
type ProblemCheck = fn(&Problem) -> bool;
const BAD_CASES: &[(&str, &str, &str, ProblemCheck)] = &[
    (
        "truncated_ply",
        "badc0de001",
        "scans/mesh_aligned_0.05.ply",
        |p| matches!(p, Problem::Ply(_) | Problem::Truncated { .. }),
    ),
    (
        "segments_length_mismatch",
        "badc0de002",
        "scans/segments.json",
        |p| {
            matches!(
                p,
                Problem::LengthMismatch {
                    expected: 20,
                    found: 19,
                    ..
                }
            )
        },
    ),
    (
        "malformed_segments_anno",
        "badc0de003",
        "scans/segments_anno.json",
        |p| matches!(p, Problem::Json(_)),
    ),
    (
        "duplicate_object_id",
        "badc0de004",
        "scans/segments_anno.json",
        |p| matches!(p, Problem::DuplicateId { id, .. } if id == "1"),
    ),
    (
        "unknown_segment",
        "badc0de005",
        "scans/segments_anno.json",
        |p| matches!(p, Problem::UnknownSegment { segment: 77, group } if group.contains("objectId 9")),
    ),
    (
        "bad_quaternion",
        "badc0de006",
        "dslr/colmap/images.txt",
        |p| matches!(p, Problem::Invalid { what, detail } if what == "line 5" && detail.contains("quaternion")),
    ),
    (
        "missing_transforms_undistorted",
        "badc0de007",
        "dslr/nerfstudio/transforms_undistorted.json",
        |p| matches!(p, Problem::Missing { hint } if hint.contains("dslr/undistort.py")),
    ),
    (
        "depth_truncated_record",
        "badc0de008",
        "iphone/depth.bin",
        |p| matches!(p, Problem::Truncated { what, .. } if what.contains("record 5")),
    ),
    (
        "nonfinite_aligned_pose",
        "badc0de009",
        "iphone/pose_intrinsic_imu.json",
        |p| matches!(p, Problem::NoFrames { detail } if detail.contains("4 invalid pose")),
    ),
];

#[test]
fn every_bad_case_is_a_scene_error_naming_scene_and_file() {
    let bad_root = corpus().join("bad");
    let mut on_disk: Vec<String> = std::fs::read_dir(&bad_root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    on_disk.sort();
    let mut in_table: Vec<String> = BAD_CASES.iter().map(|c| c.0.to_string()).collect();
    in_table.sort();
    assert_eq!(
        on_disk, in_table,
        "every corpus case needs a row, every row a corpus case"
    );

    for (case, scene_id, file, check) in BAD_CASES {
        let dir = bad_root.join(case).join("data").join(scene_id);
        let err: SceneError = match load_scene(&dir, &ReadOptions::default()) {
            Ok(_) => panic!("{case}: read without error"),
            Err(e) => e,
        };
        let message = err.to_string();
        assert!(check(&err.problem), "{case}: unexpected problem: {message}");
        assert_eq!(err.scene, *scene_id, "{case}");
        assert_eq!(err.file, dir.join(file), "{case}");
        assert!(
            message.contains(scene_id) && message.contains(file),
            "{case}: {message}"
        );
    }
}

#[test]
fn truncated_depth_record_is_also_an_error_at_frame_read() {
    let path = corpus().join("bad/depth_truncated_record/data/badc0de008/iphone/depth.bin");
    assert_eq!(
        iphone_depth::read_frame(&path, 0, DEPTH_W, DEPTH_H)
            .unwrap()
            .depth_m,
        expected_lz4_frame(0)
    );
    assert!(matches!(
        iphone_depth::read_frame(&path, 5, DEPTH_W, DEPTH_H),
        Err(Problem::Truncated { .. })
    ));
}
