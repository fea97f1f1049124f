//! End-to-end tests of the `msmu` binary: synth -> inspect -> render on a tiny scene in a temp
//! dir, the skip-and-report policy for bad scenes, and the help texts.

use crate::support::{msmu, ok};
use std::path::Path;

fn synth(root: &Path, extra: &[&str]) {
    let root = root.to_str().unwrap();
    let mut args = vec![
        "synth",
        "--out",
        root,
        "--faces-per-scene",
        "3000",
        "--frames",
        "4",
    ];
    args.extend_from_slice(extra);
    ok(&args);
}

#[test]
fn synth_inspect_render_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), &["--scenes", "2", "--seed", "5"]);
    let scene = dir.path().join("scans/scene0900_00");
    let report: serde_json::Value = serde_json::from_str(&ok(&[
        "inspect",
        scene.to_str().unwrap(),
        "--json",
        "--views",
    ]))
    .unwrap();
    assert_eq!(report["scene_id"], "scene0900_00");
    assert_eq!(report["axis_alignment_given"], true);
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scene.join("truth.json")).unwrap()).unwrap();
    let n_truth = truth["objects"].as_array().unwrap().len();
    assert_eq!(report["instances"].as_array().unwrap().len(), n_truth);
    // Sizes agree with the analytic truth to well under a millimetre.
    for (inst, obj) in report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .zip(truth["objects"].as_array().unwrap())
    {
        assert_eq!(inst["id"], obj["instance_id"]);
        for key in ["length_m", "width_m", "height_m"] {
            let (a, b) = (inst[key].as_f64().unwrap(), obj[key].as_f64().unwrap());
            assert!((a - b).abs() < 1e-3, "{key}: {a} vs {b}");
        }
    }
    assert!(report["views"]["stats"]["frames_total"].as_u64().unwrap() > 0);

    let frame = report["frames"]["ids"][0].as_str().unwrap().to_string();
    let out = dir.path().join("render");
    ok(&[
        "render",
        scene.to_str().unwrap(),
        "--frame",
        &frame,
        "--out",
        out.to_str().unwrap(),
    ]);
    for (name, width, height) in [
        ("depth.png", 640, 480),
        ("instances.png", 640, 480),
        ("preview.png", 1920, 480),
    ] {
        let img = image::open(out.join(name)).unwrap();
        assert_eq!((img.width(), img.height()), (width, height), "{name}");
    }
    let depth = image::open(out.join("depth.png")).unwrap().into_luma16();
    assert!(depth.pixels().filter(|p| p.0[0] > 0).count() > 640 * 480 / 2);

    let bad = msmu(&[
        "render",
        scene.to_str().unwrap(),
        "--frame",
        "no-such-frame",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no frame \"no-such-frame\""));
}

#[test]
fn a_bad_scene_is_skipped_reported_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), &["--scenes", "3", "--seed", "9"]);
    let broken = dir
        .path()
        .join("scans/scene0901_00/scene0901_00.aggregation.json");
    std::fs::write(&broken, b"{ not json").unwrap();
    let out = msmu(&["inspect", dir.path().to_str().unwrap(), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "exit status says some scenes were skipped"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        2,
        "the two good scenes are still reported"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("scene scene0901_00"), "{stderr}");
    assert!(stderr.contains("scene0901_00.aggregation.json"), "{stderr}");
    assert!(stderr.contains("malformed JSON"), "{stderr}");
}

#[test]
fn synth_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    synth(a.path(), &["--layout", "scannetpp", "--seed", "11"]);
    synth(b.path(), &["--layout", "scannetpp", "--seed", "11"]);
    let files = |root: &Path| {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push((
                        path.strip_prefix(root).unwrap().to_path_buf(),
                        std::fs::read(&path).unwrap(),
                    ));
                }
            }
        }
        out.sort();
        out
    };
    assert_eq!(files(a.path()), files(b.path()));
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for sub in ["inspect", "synth", "render"] {
        let help = ok(&[sub, "--help"]);
        assert!(help.contains("Examples:"), "{sub} --help has no examples");
    }
    assert!(ok(&["--help"]).contains("Examples:"));
}
