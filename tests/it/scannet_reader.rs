//! Integration tests of the ScanNet v2 reader against the corpus in `tests/corpus/scannet/`
//! (written by `tests/corpus/make_scannet_corpus.py`; its doc lists the scene's geometry,
//! segments, groups and frames, which the exact values below come from).
//!
//! Good scenes are read in all three frame layouts and checked value by value; every broken
//! case has one `check(case, problem matcher, file name)` line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use msmu_data::error::{Problem, SceneError};
use msmu_data::io::frames::{read_color_bytes, read_sensor_depth};
use msmu_data::io::scannet::{read_scene, SKIP_LOST_TRACKING, SKIP_MISSING_COLOR, UNLABELLED};
use msmu_data::io::ReadOptions;
use msmu_data::scene::{
    CameraModel, DepthSource, Frame, FrameLayout, ImageSource, InstanceId, Intrinsics, Scene,
    Source,
};
use nalgebra::Matrix4;

const SCENE: &str = "scene0000_00";

fn corpus(relative: &str) -> PathBuf {
    Path::new(crate::support::repo())
        .join("tests/corpus/scannet")
        .join(relative)
}

fn read(relative: &str) -> Scene {
    read_with(&corpus(relative), &ReadOptions::default())
}

fn read_with(dir: &Path, options: &ReadOptions) -> Scene {
    read_scene(dir, options).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
}

// ------------------------------------------------------------------ what the script wrote

/// `axisAlignment`: scan (x, y, z) -> aligned (1 - y, x + 2, z + 0.5).
const AXIS_ALIGNMENT: [f64; 16] = [
    0.0, -1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 1.0, 0.5, 0.0, 0.0, 0.0, 1.0,
];

fn scan_pose(frame: u32) -> [f64; 16] {
    match frame {
        0 => [
            1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.5, 0.0, 0.0, 1.0, 1.5, 0.0, 0.0, 0.0, 1.0,
        ],
        2 => [
            1.0, 0.0, 0.0, 0.25, 0.0, 0.0, -1.0, 0.5, 0.0, 1.0, 0.0, 1.25, 0.0, 0.0, 0.0, 1.0,
        ],
        10 => [
            -1.0, 0.0, 0.0, 1.5, 0.0, -1.0, 0.0, 1.5, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0,
        ],
        _ => unreachable!("frame {frame} has no valid pose in the corpus"),
    }
}

const COLOR: CameraModel = CameraModel {
    intrinsics: Intrinsics {
        fx: 12.5,
        fy: 12.25,
        cx: 7.5,
        cy: 5.5,
    },
    width: 16,
    height: 12,
};

const DEPTH: CameraModel = CameraModel {
    intrinsics: Intrinsics {
        fx: 6.25,
        fy: 6.125,
        cx: 3.5,
        cy: 2.5,
    },
    width: 8,
    height: 6,
};

/// The script's minimal JPEG, rebuilt independently: 16x12 grey, COM segment = `tag`.
fn jpeg(tag: &str) -> Vec<u8> {
    fn segment(out: &mut Vec<u8>, marker: u8, payload: &[u8]) {
        out.extend([0xFF, marker]);
        out.extend(((payload.len() + 2) as u16).to_be_bytes());
        out.extend(payload);
    }
    let mut out = vec![0xFF, 0xD8];
    segment(&mut out, 0xFE, tag.as_bytes());
    let mut dqt = vec![0u8];
    dqt.extend([1u8; 64]);
    segment(&mut out, 0xDB, &dqt);
    segment(&mut out, 0xC0, &[8, 0, 12, 0, 16, 1, 1, 0x11, 0]);
    let mut one_symbol = [0u8; 16];
    one_symbol[0] = 1;
    for class in [0x00u8, 0x10] {
        let mut dht = vec![class];
        dht.extend(one_symbol);
        dht.push(0);
        segment(&mut out, 0xC4, &dht);
    }
    segment(&mut out, 0xDA, &[1, 1, 0, 0, 0x3F, 0]);
    out.push(0x00); // four blocks x ("0" DC + "0" EOB)
    out.extend([0xFF, 0xD9]);
    out
}

/// Raw depth of `frame`: 500 + 100 * frame + 10 * row + column, 0 at pixel (0, 0).
fn depth_raw(frame: u32) -> Vec<u16> {
    let mut values: Vec<u16> = (0..6u32)
        .flat_map(|y| (0..8u32).map(move |x| (500 + 100 * frame + 10 * y + x) as u16))
        .collect();
    values[0] = 0;
    values
}

fn matrix(row_major: &[f64; 16]) -> Matrix4<f64> {
    Matrix4::from_row_slice(row_major)
}

fn assert_close(got: &Matrix4<f64>, want: &Matrix4<f64>, what: &str) {
    assert!(
        (got - want).abs().max() < 1e-9,
        "{what}: got {got}, expected {want}"
    );
}

// ------------------------------------------------------------------ shared checks

/// Mesh, alignment and instances: identical in the three v2 layouts.
fn check_geometry_and_instances(scene: &Scene) {
    assert_eq!(scene.meta.scene_id, SCENE);
    assert_eq!(scene.meta.source, Source::ScanNet);
    assert!(scene.meta.axis_alignment_given);
    assert_eq!(
        scene.meta.scene_type.as_deref(),
        Some("Living room / Lounge")
    );
    assert_close(
        &scene.aligned_from_scan.to_homogeneous(),
        &matrix(&AXIS_ALIGNMENT),
        "aligned_from_scan",
    );

    assert_eq!(scene.mesh.n_vertices(), 20);
    assert_eq!(scene.mesh.n_faces(), 26);
    // Scan positions (0,0,0), (0.25,0.25,0.5), (1.75,1.25,0), (1.25,1.5,0.75), aligned.
    assert_eq!(scene.mesh.positions_m[0], [1.0, 2.0, 0.5]);
    assert_eq!(scene.mesh.positions_m[8], [0.75, 2.25, 1.0]);
    assert_eq!(scene.mesh.positions_m[13], [-0.25, 3.75, 0.5]);
    assert_eq!(scene.mesh.positions_m[19], [-0.5, 3.25, 1.25]);
    assert_eq!(scene.mesh.colors_rgb[3], [70, 185, 51]);
    assert_eq!(scene.mesh.triangles[7], [4, 9, 8]);

    let mut vertex_instance = vec![3; 4];
    vertex_instance.extend([1; 4]);
    vertex_instance.extend([4; 4]);
    vertex_instance.extend([2; 8]);
    assert_eq!(scene.vertex_instance, vertex_instance);
    assert_eq!(scene.face_instance.len(), 26);

    let got: Vec<_> = scene
        .instances
        .iter()
        .map(|inst| {
            (
                inst.id.0,
                inst.raw_label.as_str(),
                inst.label.as_str(),
                inst.label_ids.nyu40_id,
                inst.label_ids.scannet_id,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "office chair", "office chair", Some(5), Some(40)),
            (2, "table", "table", Some(7), Some(7)),
            (3, "floor", "floor", Some(2), Some(2)),
            // Empty nyu40id cell.
            (4, "storage box", "box", None, Some(1163)),
        ]
    );
    let members = |id: u32| {
        let inst = scene.instance(InstanceId(id)).expect("instance exists");
        (inst.vertex_indices.clone(), inst.face_indices.clone())
    };
    // Box A's top (segment 101) went to the later, overlapping group 4.
    assert_eq!(members(1), (vec![4, 5, 6, 7], vec![2, 3, 6, 8, 10, 12]));
    assert_eq!(members(4), (vec![8, 9, 10, 11], vec![4, 5, 7, 9, 11, 13]));
    assert_eq!(members(3), (vec![0, 1, 2, 3], vec![0, 1]));
    assert_eq!(members(2), ((12..20).collect(), (14..26).collect()));
}

/// Frame `id`, its pose (aligned * scan pose), colour bytes and sensor depth.
fn check_frame(frame: &Frame, id: u32, color_tag: &str, depth: Option<CameraModel>) {
    assert_eq!(frame.id, id.to_string());
    assert_eq!(frame.color, COLOR);
    assert_eq!(frame.depth, depth);
    let want = matrix(&AXIS_ALIGNMENT) * matrix(&scan_pose(id));
    assert_close(
        &frame.world_from_camera.to_homogeneous(),
        &want,
        &format!("frame {id} world_from_camera"),
    );
    let bytes = read_color_bytes(frame.color_image.as_ref().expect("colour image")).unwrap();
    assert_eq!(bytes, jpeg(color_tag), "frame {id} colour bytes");
    let decoded = image::load_from_memory(&bytes).expect("the corpus JPEG decodes");
    assert_eq!((decoded.width(), decoded.height()), (16, 12));
}

fn check_depth(frame: &Frame, id: u32) {
    let depth = read_sensor_depth(frame.sensor_depth.as_ref().expect("sensor depth")).unwrap();
    assert_eq!((depth.width, depth.height), (8, 6));
    let want: Vec<f32> = depth_raw(id).iter().map(|&d| d as f32 / 1000.0).collect();
    for (pixel, (got, want)) in depth.depth_m.iter().zip(&want).enumerate() {
        assert!(
            (got - want).abs() < 1e-6,
            "frame {id} pixel {pixel}: {got} vs {want}"
        );
    }
    assert_eq!(depth.depth_m[0], 0.0);
}

fn counts(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

// ------------------------------------------------------------------ good scenes

#[test]
fn python_export() {
    let scene = read(&format!("good/{SCENE}"));
    check_geometry_and_instances(&scene);
    assert_eq!(scene.meta.frame_layout, FrameLayout::ScanNetPythonExport);
    // Unpadded indices sort as numbers: 10 comes after 2. Frame 1 lost tracking.
    let ids: Vec<&str> = scene.frames.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["0", "2", "10"]);
    assert_eq!(scene.skipped_frames, counts(&[(SKIP_LOST_TRACKING, 1)]));
    for (frame, id) in scene.frames.iter().zip([0, 2, 10]) {
        check_frame(frame, id, &format!("python frame {id}"), Some(DEPTH));
        check_depth(frame, id);
        assert!(
            matches!(&frame.sensor_depth, Some(DepthSource::Png16 { shift, .. }) if *shift == 1000.0)
        );
    }
    assert!(scene.warnings.is_empty(), "{:?}", scene.warnings);
}

#[test]
fn cpp_export() {
    let scene = read(&format!("good/cpp/{SCENE}"));
    check_geometry_and_instances(&scene);
    assert_eq!(scene.meta.frame_layout, FrameLayout::ScanNetCppExport);
    let ids: Vec<&str> = scene.frames.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["0", "2"]);
    // Frame 1 lost tracking; frame 3 has a pose but no colour image.
    assert_eq!(
        scene.skipped_frames,
        counts(&[(SKIP_LOST_TRACKING, 1), (SKIP_MISSING_COLOR, 1)])
    );
    check_frame(&scene.frames[0], 0, "cpp frame 0", Some(DEPTH));
    check_depth(&scene.frames[0], 0);
    assert!(matches!(
        &scene.frames[0].sensor_depth,
        Some(DepthSource::PgmBigEndian { .. })
    ));
    // Frame 2 has no depth image: kept, without sensor depth, with a warning.
    check_frame(&scene.frames[1], 2, "cpp frame 2", Some(DEPTH));
    assert_eq!(scene.frames[1].sensor_depth, None);
    assert!(
        scene
            .warnings
            .iter()
            .any(|w| w.contains("1 frames have no depth image")),
        "{:?}",
        scene.warnings
    );
}

#[test]
fn sens_stream() {
    let scene = read(&format!("good/sens/{SCENE}"));
    check_geometry_and_instances(&scene);
    assert_eq!(scene.meta.frame_layout, FrameLayout::ScanNetSens);
    let ids: Vec<&str> = scene.frames.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["0", "2"]);
    assert_eq!(scene.skipped_frames, counts(&[(SKIP_LOST_TRACKING, 1)]));
    for (frame, id) in scene.frames.iter().zip([0, 2]) {
        check_frame(frame, id, &format!("sens frame {id}"), Some(DEPTH));
        check_depth(frame, id);
        assert!(matches!(
            &frame.color_image,
            Some(ImageSource::SensJpeg { .. })
        ));
        assert!(matches!(
            &frame.sensor_depth,
            Some(DepthSource::SensZlib { width: 8, height: 6, shift, .. }) if *shift == 1000.0
        ));
    }
    // Frame 0's colour payload starts right after the header (304 + name) and its record.
    let Some(ImageSource::SensJpeg { offset, len, .. }) = &scene.frames[0].color_image else {
        unreachable!()
    };
    assert_eq!(
        (*offset, *len),
        (304 + 15 + 96, jpeg("sens frame 0").len() as u64)
    );
}

#[test]
fn v1_aggregation_and_label_map_without_alignment() {
    let scene = read(&format!("good/v1/{SCENE}"));
    assert!(!scene.meta.axis_alignment_given);
    assert_eq!(scene.aligned_from_scan, nalgebra::Isometry3::identity());
    // Positions as in the file.
    assert_eq!(scene.mesh.positions_m[8], [0.25, 0.25, 0.5]);
    let got: Vec<_> = scene
        .instances
        .iter()
        .map(|inst| {
            (
                inst.id.0,
                inst.label.as_str(),
                inst.label_ids.nyu40_id,
                inst.label_ids.scannet_id,
            )
        })
        .collect();
    // The v1 map knows its own v1-era labels; it has no ScanNet `id` column.
    assert_eq!(
        got,
        vec![
            (1, "trashcan", Some(39), None),
            (2, "dishrack", None, None),
            (3, "floor", Some(2), None)
        ]
    );
    assert_eq!(
        scene.instance(InstanceId(1)).unwrap().vertex_indices,
        (4..12).collect::<Vec<u32>>()
    );
    assert_eq!(scene.meta.frame_layout, FrameLayout::None);
    assert!(scene.frames.is_empty());
    assert!(
        scene
            .warnings
            .iter()
            .any(|w| w.contains("no usable frames")),
        "{:?}",
        scene.warnings
    );
}

#[test]
fn test_split_scene_has_no_instances() {
    let scene = read("good/test/scene0707_00");
    assert_eq!(scene.meta.scene_id, "scene0707_00");
    assert!(scene.instances.is_empty());
    assert_eq!(scene.vertex_instance, vec![0; 20]);
    assert_eq!(scene.face_instance, vec![0; 26]);
    assert!(
        scene.warnings.iter().any(|w| w.contains("no annotation")),
        "{:?}",
        scene.warnings
    );
}

#[test]
fn load_scene_dispatches_here() {
    let scene = msmu_data::io::load_scene(
        &corpus(&format!("good/sens/{SCENE}")),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(scene.meta.frame_layout, FrameLayout::ScanNetSens);
}

#[test]
fn skip_frames_option() {
    let options = ReadOptions {
        skip_frames: true,
        ..ReadOptions::default()
    };
    let scene = read_with(&corpus(&format!("good/{SCENE}")), &options);
    assert_eq!(scene.meta.frame_layout, FrameLayout::None);
    assert!(scene.frames.is_empty() && scene.skipped_frames.is_empty());
    assert_eq!(scene.instances.len(), 4);
}

/// Copies a scene folder (recursively) into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn python_export_is_preferred_over_sens() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join(SCENE);
    copy_dir(&corpus(&format!("good/{SCENE}")), &dir);
    let sens_name = format!("{SCENE}.sens");
    std::fs::copy(
        corpus(&format!("good/sens/{SCENE}/{sens_name}")),
        dir.join(&sens_name),
    )
    .unwrap();
    let options = ReadOptions {
        scannet_label_map: Some(corpus("good/scannetv2-labels.combined.tsv")),
        ..ReadOptions::default()
    };
    let scene = read_with(&dir, &options);
    assert_eq!(scene.meta.frame_layout, FrameLayout::ScanNetPythonExport);
    assert_eq!(scene.frames.len(), 3);
    check_geometry_and_instances(&scene);
}

#[test]
fn missing_label_map_falls_back_to_raw_labels() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join(SCENE);
    copy_dir(&corpus(&format!("good/sens/{SCENE}")), &dir);
    let scene = read_with(&dir, &ReadOptions::default());
    let labels: Vec<(&str, Option<u16>)> = scene
        .instances
        .iter()
        .map(|inst| (inst.label.as_str(), inst.label_ids.nyu40_id))
        .collect();
    assert_eq!(
        labels,
        [
            ("office chair", None),
            ("table", None),
            ("floor", None),
            ("storage box", None)
        ]
    );
    assert_eq!(
        scene
            .warnings
            .iter()
            .filter(|w| w.contains("no label map"))
            .count(),
        1,
        "{:?}",
        scene.warnings
    );
    // A label map named in the options must exist.
    let options = ReadOptions {
        scannet_label_map: Some(temp.path().join("nope.tsv")),
        ..ReadOptions::default()
    };
    let err = read_scene(&dir, &options).unwrap_err();
    assert!(matches!(err.problem, Problem::Missing { .. }), "{err}");
    assert!(err.to_string().contains("nope.tsv"), "{err}");
}

// ------------------------------------------------------------------ broken inputs

/// The one scene folder of `bad/<case>/` (named after a distinct scene id per case).
fn bad_scene(case: &str) -> (PathBuf, String) {
    let case_dir = corpus(&format!("bad/{case}"));
    let dir = std::fs::read_dir(&case_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", case_dir.display()))
        .map(|entry| entry.unwrap().path())
        .find(|path| path.is_dir())
        .unwrap_or_else(|| panic!("no scene folder in {}", case_dir.display()));
    let scene_id = dir.file_name().unwrap().to_string_lossy().into_owned();
    (dir, scene_id)
}

/// Reads `bad/<case>/` and asserts the error: its problem matches, it names the scene, and
/// it names `file` (`{scene}` is replaced by the scene id) both in the message and as its
/// file.
fn check(case: &str, expected: impl Fn(&Problem) -> bool, file: &str) {
    let (dir, scene_id) = bad_scene(case);
    let err: SceneError = match read_scene(&dir, &ReadOptions::default()) {
        Ok(_) => panic!("{case}: read without error"),
        Err(err) => err,
    };
    assert!(
        expected(&err.problem),
        "{case}: unexpected problem {:?} ({err})",
        err.problem
    );
    let file = file.replace("{scene}", &scene_id);
    let message = err.to_string();
    assert_eq!(err.scene, scene_id, "{case}");
    assert!(
        message.contains(&scene_id),
        "{case}: message lacks the scene id: {message}"
    );
    assert!(
        message.contains(&file),
        "{case}: message lacks {file}: {message}"
    );
    assert_eq!(
        err.file.file_name().unwrap().to_string_lossy(),
        file,
        "{case}: {message}"
    );
}

/// Reads `bad/<case>/`, which must succeed despite its oddity.
fn check_ok(case: &str) -> Scene {
    let (dir, _) = bad_scene(case);
    read_with(&dir, &ReadOptions::default())
}

const MESH: &str = "{scene}_vh_clean_2.ply";
const SEGS: &str = "{scene}_vh_clean_2.0.010000.segs.json";
const AGGREGATION: &str = "{scene}.aggregation.json";
const SENS: &str = "{scene}.sens";

#[test]
fn broken_meshes() {
    // The shared PLY reader reports a file cut inside the faces as a parse failure (its
    // up-front `Truncated` check only catches counts larger than the file).
    check(
        "truncated_ply",
        |p| matches!(p, Problem::Ply(m) if m.contains("end of file")),
        MESH,
    );
    check(
        "ply_header_lies",
        |p| matches!(p, Problem::Truncated { .. }),
        MESH,
    );
    check(
        "ply_nan_coordinate",
        |p| matches!(p, Problem::NonFinite { index: 5, .. }),
        MESH,
    );
    check(
        "ply_inf_coordinate",
        |p| matches!(p, Problem::NonFinite { index: 9, .. }),
        MESH,
    );
    check(
        "face_index_out_of_range",
        |p| {
            matches!(
                p,
                Problem::IndexOutOfRange {
                    index: 7,
                    value: 20,
                    len: 20,
                    ..
                }
            )
        },
        MESH,
    );
    check(
        "quad_face",
        |p| matches!(p, Problem::NonTriangleFace { index: 1, count: 4 }),
        MESH,
    );
    check(
        "missing_mesh",
        |p| matches!(p, Problem::Missing { .. }),
        MESH,
    );
}

#[test]
fn broken_annotations() {
    check(
        "segs_length_mismatch",
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
        SEGS,
    );
    check(
        "unknown_segment",
        |p| matches!(p, Problem::UnknownSegment { segment: 999, .. }),
        AGGREGATION,
    );
    check(
        "duplicate_object_id",
        |p| matches!(p, Problem::DuplicateId { id, .. } if id == "0"),
        AGGREGATION,
    );
    check(
        "missing_segs",
        |p| matches!(p, Problem::Missing { .. }),
        SEGS,
    );
    check(
        "missing_aggregation",
        |p| matches!(p, Problem::Missing { .. }),
        AGGREGATION,
    );
    check(
        "malformed_json",
        |p| matches!(p, Problem::Json(_)),
        AGGREGATION,
    );
    check(
        "non_utf8_aggregation_label",
        |p| matches!(p, Problem::NotUtf8 { .. }),
        AGGREGATION,
    );
    check(
        "non_utf8_label_map",
        |p| matches!(p, Problem::NotUtf8 { what } if what.contains("line 8")),
        "scannetv2-labels.combined.tsv",
    );
    check(
        "meta_short_alignment",
        |p| matches!(p, Problem::Invalid { what, .. } if what == "axisAlignment"),
        "{scene}.txt",
    );
}

#[test]
fn unknown_label_reads_as_unlabelled_with_one_warning() {
    let scene = check_ok("unknown_label");
    let inst = scene.instance(InstanceId(2)).unwrap();
    assert_eq!(
        (inst.raw_label.as_str(), inst.label.as_str()),
        ("trashcan", UNLABELLED)
    );
    assert_eq!(
        (inst.label_ids.nyu40_id, inst.label_ids.scannet_id),
        (None, None)
    );
    assert_eq!(inst.vertex_indices, (4..12).collect::<Vec<u32>>());
    assert_eq!(scene.instance(InstanceId(1)).unwrap().label, "table");
    let warnings: Vec<_> = scene
        .warnings
        .iter()
        .filter(|w| w.contains("trashcan"))
        .collect();
    assert_eq!(warnings.len(), 1, "{:?}", scene.warnings);
}

#[test]
fn broken_frames() {
    check(
        "sens_version_3",
        |p| matches!(p, Problem::Unsupported { detail, .. } if detail.contains("version 3")),
        SENS,
    );
    check(
        "sens_png_colour",
        |p| matches!(p, Problem::Unsupported { what, .. } if what.contains("colour")),
        SENS,
    );
    check(
        "sens_cut_mid_frame",
        |p| matches!(p, Problem::Truncated { what, .. } if what == "frame 1 colour payload"),
        SENS,
    );
    check(
        "singular_intrinsics",
        |p| matches!(p, Problem::Invalid { what, .. } if what == "colour intrinsics"),
        "intrinsic_color.txt",
    );
    check(
        "cpp_nan_intrinsics",
        |p| matches!(p, Problem::Invalid { what, .. } if what == "colour intrinsics"),
        "_info.txt",
    );
    check(
        "malformed_pose",
        |p| matches!(p, Problem::Invalid { detail, .. } if detail.contains("found 11")),
        "0.txt",
    );
}

#[test]
fn zero_frames_are_not_an_error() {
    // Every pose lost tracking.
    let scene = check_ok("zero_frames");
    assert_eq!(scene.meta.frame_layout, FrameLayout::ScanNetPythonExport);
    assert!(scene.frames.is_empty());
    assert_eq!(scene.skipped_frames, counts(&[(SKIP_LOST_TRACKING, 2)]));
    assert!(
        scene
            .warnings
            .iter()
            .any(|w| w.contains("no usable frames (2 skipped")),
        "{:?}",
        scene.warnings
    );
    // A stream that declares no frames.
    let scene = check_ok("sens_zero_frames");
    assert_eq!(scene.meta.frame_layout, FrameLayout::ScanNetSens);
    assert!(scene.frames.is_empty() && scene.skipped_frames.is_empty());
    assert_eq!(scene.instances.len(), 4);
}

#[test]
fn sizes_come_from_image_headers_when_the_meta_lacks_them() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join(SCENE);
    copy_dir(&corpus(&format!("good/{SCENE}")), &dir);
    let meta_path = dir.join(format!("{SCENE}.txt"));
    let meta = std::fs::read_to_string(&meta_path).unwrap();
    let without_sizes: String = meta
        .lines()
        .filter(|line| !line.contains("Width") && !line.contains("Height"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&meta_path, without_sizes).unwrap();
    // Also drop every colour image but one: the others are counted as missing.
    for id in [2, 10] {
        std::fs::remove_file(dir.join(format!("color/{id}.jpg"))).unwrap();
    }
    let options = ReadOptions {
        scannet_label_map: Some(corpus("good/scannetv2-labels.combined.tsv")),
        ..ReadOptions::default()
    };
    let scene = read_with(&dir, &options);
    assert_eq!(scene.frames.len(), 1);
    assert_eq!(scene.frames[0].color, COLOR);
    assert_eq!(scene.frames[0].depth, Some(DEPTH));
    assert_eq!(
        scene.skipped_frames,
        counts(&[(SKIP_LOST_TRACKING, 1), (SKIP_MISSING_COLOR, 2)])
    );
}
