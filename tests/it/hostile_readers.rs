//! Hostile inputs to the scene readers (issue #18, docs/RELIABILITY.md): every case copies a
//! bundled synthetic scene (written by `msmu synth`), breaks one file the way the issue
//! describes and checks that the reader answers with a `SceneError` naming that file and what
//! is wrong, quickly and without a panic or a huge allocation.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use msmu_data::error::SceneError;
use msmu_data::io::frames::{read_color_bytes, read_color_checked};
use msmu_data::io::{load_scene, ReadOptions};
use msmu_data::scene::Scene;
use serde_json::Value;

use crate::support::{copy_tree, fixtures};

const PYTHON_EXPORT: &str = "scannet/scans/scene0900_00";
const SENS: &str = "scannet/scans/scene0901_00";
const CPP_EXPORT: &str = "scannet/scans/scene0902_00";
const SCANNETPP: &str = "scannetpp/data/a7acc711d8";

/// A private copy of a fixture scene (same folder name, so the scene id is kept).
fn scene_copy(dir: &Path, fixture: &str) -> PathBuf {
    let from = fixtures().join(fixture);
    let to = dir.join(from.file_name().unwrap());
    copy_tree(&from, &to);
    to
}

fn read(scene: &Path) -> Result<Scene, SceneError> {
    load_scene(scene, &ReadOptions::default())
}

/// Reads `scene`, expects an error naming `file` (its last component) whose message contains
/// every one of `words`, within a few seconds.
fn expect_error(scene: &Path, file: &str, words: &[&str]) -> SceneError {
    let start = Instant::now();
    let err = match read(scene) {
        Ok(_) => panic!("{}: read without error", scene.display()),
        Err(err) => err,
    };
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(
        err.file.file_name().and_then(|n| n.to_str()),
        Some(file),
        "{err}"
    );
    let text = err.to_string();
    for word in words {
        assert!(text.contains(word), "{word:?} not in: {text}");
    }
    err
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, serde_json::to_vec(&value).unwrap()).unwrap();
}

fn edit_text(path: &Path, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    let edited = edit(text.clone());
    assert_ne!(
        edited,
        text,
        "the edit changed nothing in {}",
        path.display()
    );
    std::fs::write(path, edited).unwrap();
}

// ------------------------------------------------------------ 3. huge ids and image sizes

#[test]
fn instance_id_near_u32_max_is_refused_by_both_readers() {
    let dir = tempfile::tempdir().unwrap();
    // objectId 4294967293 -> instance id 4294967294.
    let scannet = scene_copy(dir.path(), PYTHON_EXPORT);
    edit_json(&scannet.join("scene0900_00.aggregation.json"), |v| {
        v["segGroups"][0]["objectId"] = 4_294_967_293u64.into()
    });
    expect_error(
        &scannet,
        "scene0900_00.aggregation.json",
        &["4294967293", "16-bit"],
    );
    let scannetpp = scene_copy(dir.path(), SCANNETPP);
    edit_json(&scannetpp.join("scans/segments_anno.json"), |v| {
        v["segGroups"][0]["objectId"] = 4_294_967_293u64.into();
        v["segGroups"][0]["id"] = 4_294_967_293u64.into();
    });
    expect_error(&scannetpp, "segments_anno.json", &["16-bit"]);
}

#[test]
fn huge_image_sizes_are_refused_where_they_are_declared() {
    let dir = tempfile::tempdir().unwrap();
    // `<id>.txt` of the Python export.
    let python = scene_copy(dir.path(), PYTHON_EXPORT);
    edit_text(&python.join("scene0900_00.txt"), |t| {
        t.replace("colorWidth = 1296", "colorWidth = 100000")
            .replace("colorHeight = 968", "colorHeight = 100000")
    });
    expect_error(&python, "scene0900_00.txt", &["100000x100000", "16384"]);
    // `_info.txt` of the C++ export.
    let cpp = scene_copy(dir.path(), CPP_EXPORT);
    edit_text(&cpp.join("_info.txt"), |t| {
        t.replace("m_depthWidth = 640", "m_depthWidth = 100000")
            .replace("m_depthHeight = 480", "m_depthHeight = 100000")
    });
    expect_error(&cpp, "_info.txt", &["100000x100000", "16384"]);
    // `transforms_undistorted.json` of ScanNet++.
    let pp = scene_copy(dir.path(), SCANNETPP);
    edit_json(
        &pp.join("dslr/nerfstudio/transforms_undistorted.json"),
        |v| {
            v["w"] = 100_000.into();
            v["h"] = 100_000.into();
        },
    );
    expect_error(
        &pp,
        "transforms_undistorted.json",
        &["100000x100000", "16384"],
    );
}

/// Offset of the colour width in a `.sens` header: version (4), name length (8), name, four
/// 4x4 f32 matrices (256), two compression types (8).
fn sens_color_width_offset(bytes: &[u8]) -> usize {
    let name_len = u64::from_le_bytes(bytes[4..12].try_into().unwrap()) as usize;
    12 + name_len + 256 + 8
}

#[test]
fn huge_sens_header_sizes_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (width, height) in [(100_000u32, 100_000u32), (u32::MAX, u32::MAX)] {
        let scene = dir.path().join(format!("{width}"));
        let scene = scene_copy(&scene, SENS);
        let sens = scene.join("scene0901_00.sens");
        let mut bytes = std::fs::read(&sens).unwrap();
        let at = sens_color_width_offset(&bytes);
        assert_eq!(
            u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()),
            1296,
            "the offset points at the colour width"
        );
        for (slot, value) in [
            (at, width),
            (at + 4, height),
            (at + 8, width),
            (at + 12, height),
        ] {
            bytes[slot..slot + 4].copy_from_slice(&value.to_le_bytes());
        }
        std::fs::write(&sens, bytes).unwrap();
        expect_error(
            &scene,
            "scene0901_00.sens",
            &[&format!("{width}x{height}"), "16384"],
        );
    }
}

// ------------------------------------------------------------------- 4. colour frames

fn first_color_source(scene: &Path) -> (msmu_data::scene::ImageSource, (u32, u32), PathBuf) {
    let scene = read(scene).unwrap();
    let frame = &scene.frames[0];
    let source = frame.color_image.clone().unwrap();
    let path = match &source {
        msmu_data::scene::ImageSource::File(path) => path.clone(),
        other => panic!("expected an image file, got {other:?}"),
    };
    (source, (frame.color.width, frame.color.height), path)
}

#[test]
fn empty_zeroed_truncated_and_resized_jpegs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene_copy(dir.path(), PYTHON_EXPORT);
    let (source, size, path) = first_color_source(&scene);
    let good = std::fs::read(&path).unwrap();
    assert_eq!(read_color_checked(&source, size).unwrap(), good);

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "empty"),
        ("zeroed", vec![0u8; good.len()], "neither JPEG nor PNG"),
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
    ];
    for (case, bytes, words) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let err = read_color_bytes(&source).expect_err(case);
        assert!(err.to_string().contains(words), "{case}: {err}");
    }
    // Resized: a whole, valid JPEG of another size.
    let small = image::RgbImage::from_pixel(size.0 / 2, size.1 / 2, image::Rgb([90, 90, 90]));
    small.save(&path).unwrap();
    assert!(read_color_bytes(&source).is_ok());
    let err = read_color_checked(&source, size).unwrap_err();
    assert!(err.to_string().contains("resized"), "{err}");
}

// ---------------------------------------------------- 6. a segment listed two million times

#[test]
fn a_segment_repeated_two_million_times_reads_fast() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene_copy(dir.path(), PYTHON_EXPORT);
    let before = read(&scene).unwrap();
    // The segment with the most vertices, repeated in the first group.
    let segs: Value = serde_json::from_slice(
        &std::fs::read(scene.join("scene0900_00_vh_clean_2.0.010000.segs.json")).unwrap(),
    )
    .unwrap();
    let mut counts = std::collections::BTreeMap::<i64, usize>::new();
    for s in segs["segIndices"].as_array().unwrap() {
        *counts.entry(s.as_i64().unwrap()).or_default() += 1;
    }
    let aggregation = scene.join("scene0900_00.aggregation.json");
    let mut group_segments = Vec::new();
    edit_json(&aggregation, |v| {
        let group = &mut v["segGroups"][0]["segments"];
        let segments: Vec<i64> = group
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_i64().unwrap())
            .collect();
        let biggest = *segments.iter().max_by_key(|s| counts[s]).unwrap();
        group_segments = segments.clone();
        let mut repeated = segments;
        repeated.extend(std::iter::repeat_n(biggest, 2_000_000));
        *group = serde_json::json!(repeated);
    });
    assert!(!group_segments.is_empty());
    let start = Instant::now();
    let after = read(&scene).unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert_eq!(after.vertex_instance, before.vertex_instance);
}

// --------------------------------------------------------------- 9. integer coordinates

#[test]
fn integer_vertex_coordinates_are_read_as_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("int.ply");
    std::fs::write(
        &path,
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty int x\nproperty int y\n\
         property int z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n\
         0 0 0\n2 0 0\n0 3 -1\n3 0 1 2\n",
    )
    .unwrap();
    let mesh = msmu_data::io::ply::read_mesh(&path).unwrap();
    assert_eq!(
        mesh.positions_m,
        vec![[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 3.0, -1.0]]
    );
    // The same in binary, with shorts and unsigned chars.
    let mut bytes = b"ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty short x\n\
property uchar y\nproperty ushort z\nelement face 0\nproperty list uchar int vertex_indices\n\
end_header\n"
        .to_vec();
    for (x, y, z) in [(-5i16, 7u8, 9u16), (300, 255, 65535)] {
        bytes.extend_from_slice(&x.to_le_bytes());
        bytes.push(y);
        bytes.extend_from_slice(&z.to_le_bytes());
    }
    std::fs::write(&path, bytes).unwrap();
    let mesh = msmu_data::io::ply::read_mesh(&path).unwrap();
    assert_eq!(
        mesh.positions_m,
        vec![[-5.0, 7.0, 9.0], [300.0, 255.0, 65535.0]]
    );
}

// ------------------------------------------------ 10. sheared transforms, device files

#[test]
fn sheared_alignment_and_pose_with_determinant_one_are_not_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene_copy(dir.path(), PYTHON_EXPORT);
    // [[1, 0.5, 0], [0, 1, 0], [0, 0, 1]]: det 1, not orthonormal.
    let shear = "axisAlignment = 1 0.5 0 0 0 1 0 0 0 0 1 0 0 0 0 1 ";
    edit_text(&scene.join("scene0900_00.txt"), |t| {
        let line = t.lines().find(|l| l.starts_with("axisAlignment")).unwrap();
        t.replace(line, shear)
    });
    expect_error(&scene, "scene0900_00.txt", &["axisAlignment", "rigid"]);

    let scene = scene_copy(&dir.path().join("pose"), PYTHON_EXPORT);
    let before = read(&scene).unwrap();
    std::fs::write(
        scene.join("pose/0.txt"),
        "1 0.5 0 0\n0 1 0 0\n0 0 1 1\n0 0 0 1\n",
    )
    .unwrap();
    let after = read(&scene).unwrap();
    assert_eq!(after.frames.len() + 1, before.frames.len());
    assert_eq!(
        after
            .skipped_frames
            .get(msmu_data::io::scannet::SKIP_NOT_RIGID),
        Some(&1),
        "{:?}",
        after.skipped_frames
    );
    assert!(msmu_data::scene::pose_from_row_major(&[
        1.0, 0.5, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0
    ])
    .is_none());
    // A last row other than 0 0 0 1 is not rigid either.
    assert!(msmu_data::scene::pose_from_row_major(&[
        1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.3, 0.0, 0.0, 1.0
    ])
    .is_none());
}

#[cfg(unix)]
#[test]
fn symlink_to_dev_zero_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene_copy(dir.path(), PYTHON_EXPORT);
    let segs = scene.join("scene0900_00_vh_clean_2.0.010000.segs.json");
    std::fs::remove_file(&segs).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &segs).unwrap();
    expect_error(
        &scene,
        "scene0900_00_vh_clean_2.0.010000.segs.json",
        &["not a regular file"],
    );
    let scene = scene_copy(&dir.path().join("mesh"), SCANNETPP);
    let anno = scene.join("scans/segments_anno.json");
    std::fs::remove_file(&anno).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &anno).unwrap();
    expect_error(&scene, "segments_anno.json", &["not a regular file"]);
}

/// Found by `scripts/fuzz.sh 3600 ply` (2026-11-27): a vertex count of u64::MAX plus the face
/// count overflowed the header's claimed-size sum (a panic with overflow checks; without them
/// the wrapped sum passed the size check). It is refused as a header that claims more than
/// the file holds.
#[test]
fn fuzzed_ply_whose_element_counts_overflow_is_refused() {
    let path = crate::support::repo().join("tests/data/fuzz/ply-element-count-sum-overflow.ply");
    let err = msmu_data::io::ply::read_mesh(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("header counts"), "{err}");
}
