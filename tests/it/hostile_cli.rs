//! Hostile inputs to the commands (issue #18, docs/RELIABILITY.md): crafted manifests for
//! `merge` and `export`, `--force` against an input root, the `--out` lock, `--resume` on
//! another build, configuration checked before work, a bad scene among good ones, corrupt
//! Arrow IPC benches, a Parquet footer that would spin for minutes and oversized prediction
//! lines for `eval`, `render --width 100000`.
//!
//! Every case that could write or delete takes a snapshot (path -> bytes) of the whole
//! temporary tree before and compares it after: nothing outside `--out` may change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::support::{copy_tree, fixtures, msmu, s};

/// Every file and folder under `root` with its bytes (folders: empty).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.insert(path.clone(), Vec::new());
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs msmu, expects exit status 1 (an error, not a panic or an abort) with every word of
/// `words` in stderr.
fn fails_with(args: &[&str], words: &[&str]) -> String {
    let out = msmu(args);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "msmu {args:?}: {text}");
    for word in words {
        assert!(
            text.contains(word),
            "{word:?} not in stderr of {args:?}: {text}"
        );
    }
    text
}

struct Built {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    out: PathBuf,
    code: Option<i32>,
    stderr: String,
}

/// One ScanNet root with a good scene (scene0900_00) and a scene whose `_info.txt` declares a
/// 100000 x 100000 depth camera (scene0902_00), built once per process.
fn built() -> &'static Arc<Built> {
    static BUILT: OnceLock<Arc<Built>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("scannet");
        for scene in ["scene0900_00", "scene0902_00"] {
            copy_tree(
                &fixtures().join("scannet/scans").join(scene),
                &root.join("scans").join(scene),
            );
        }
        std::fs::copy(
            fixtures().join("scannet/scannetv2-labels.combined.tsv"),
            root.join("scannetv2-labels.combined.tsv"),
        )
        .unwrap();
        let info = root.join("scans/scene0902_00/_info.txt");
        let text = std::fs::read_to_string(&info).unwrap();
        std::fs::write(
            &info,
            text.replace("m_depthWidth = 640", "m_depthWidth = 100000")
                .replace("m_depthHeight = 480", "m_depthHeight = 100000"),
        )
        .unwrap();
        let out = tmp.path().join("dataset");
        let run = msmu(&[
            "build",
            "--scannet-root",
            s(&root),
            "--out",
            s(&out),
            "--frame-stride",
            "1",
            "--split",
            "train",
        ]);
        Arc::new(Built {
            code: run.status.code(),
            stderr: stderr(&run),
            _tmp: tmp,
            root,
            out,
        })
    })
}

/// A private copy of the built dataset.
fn dataset_copy(dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    copy_tree(&built().out, &to);
    to
}

fn edit_manifest(dataset: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dataset.join("manifest.json");
    let mut value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

// ------------------------------------------------------- 3. one bad scene, the run goes on

#[test]
fn a_scene_with_a_huge_camera_is_skipped_and_the_build_goes_on() {
    let b = built();
    assert_eq!(b.code, Some(3), "{}", b.stderr);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(b.out.join("manifest.json")).unwrap()).unwrap();
    let scenes = manifest["scenes"].as_array().unwrap();
    let status = |id: &str| {
        scenes
            .iter()
            .find(|sc| sc["scene_id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {manifest}"))
            .clone()
    };
    assert_eq!(status("scene0900_00")["status"], "done", "{manifest}");
    let bad = status("scene0902_00");
    assert_eq!(bad["status"], "skipped");
    let reason = bad["reason"].as_str().unwrap();
    assert!(
        reason.contains("_info.txt") && reason.contains("16384"),
        "{reason}"
    );
}

// ------------------------------------------- 1. merge and export stay inside --out

/// A named manifest edit and a word its error must contain.
type ManifestCase = (&'static str, Box<dyn Fn(&mut Value)>, &'static str);

#[test]
fn merge_refuses_manifest_paths_that_leave_the_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let cases: Vec<ManifestCase> = vec![
        (
            "split",
            Box::new(|m: &mut Value| m["shards"][0]["split"] = "../../X".into()),
            "shards[].split",
        ),
        (
            "absolute",
            Box::new(|m: &mut Value| {
                m["shards"][0]["file"] = "/etc/hostname".into();
            }),
            "shards[].file",
        ),
        (
            "dotdot",
            Box::new(|m: &mut Value| m["shards"][0]["file"] = "../victim.txt".into()),
            "shards[].file",
        ),
        (
            "twice",
            Box::new(|m: &mut Value| {
                let first = m["shards"][0].clone();
                m["shards"].as_array_mut().unwrap().push(first);
            }),
            "listed twice",
        ),
    ];
    for (case, edit, words) in cases {
        let work = tmp.path().join(case).join("a");
        let part = dataset_copy(&work, "part");
        edit_manifest(&part, edit);
        let before = snapshot(tmp.path());
        let out = work.join("merged");
        fails_with(&["merge", s(&part), "--out", s(&out)], &[words]);
        assert_eq!(snapshot(tmp.path()), before, "{case}: files changed");
        assert!(!out.exists());
    }
}

#[test]
fn export_refuses_escaping_or_duplicate_shards_and_truncates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim.parquet");
    std::fs::write(&victim, b"precious").unwrap();
    let victim_abs = victim.to_str().unwrap().to_string();
    let cases: Vec<ManifestCase> = vec![
        (
            "absolute",
            Box::new(move |m: &mut Value| m["shards"][0]["file"] = victim_abs.clone().into()),
            "shards[].file",
        ),
        (
            "dotdot",
            Box::new(|m: &mut Value| m["shards"][0]["file"] = "../../victim.parquet".into()),
            "shards[].file",
        ),
        (
            "twice",
            Box::new(|m: &mut Value| {
                let first = m["shards"][0].clone();
                m["shards"].as_array_mut().unwrap().push(first);
            }),
            "listed twice",
        ),
    ];
    for (case, edit, words) in cases {
        let work = tmp.path().join(case);
        let dataset = dataset_copy(&work, "dataset");
        edit_manifest(&dataset, edit);
        let before = snapshot(tmp.path());
        let out = work.join("hf");
        fails_with(
            &["export", s(&dataset), "--format", "hf", "--out", s(&out)],
            &[words],
        );
        assert_eq!(snapshot(tmp.path()), before, "{case}: files changed");
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
}

#[test]
fn a_failed_export_leaves_no_half_written_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = dataset_copy(tmp.path(), "dataset");
    // The shard on disk no longer matches its manifest: found after it was linked.
    edit_manifest(&dataset, |m| {
        m["shards"][0]["sha256"] = "0".repeat(64).into();
    });
    for format in ["hf", "llava", "sdvlm"] {
        let out = tmp.path().join(format!("out-{format}"));
        let before = snapshot(tmp.path());
        let run = msmu(&["export", s(&dataset), "--format", format, "--out", s(&out)]);
        if format == "hf" {
            assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
            assert!(stderr(&run).contains("checksum"), "{}", stderr(&run));
            assert!(!out.exists(), "a half-written {} is left", out.display());
            assert_eq!(snapshot(tmp.path()), before);
        } else {
            // llava and sdvlm do not check the checksums: they succeed, whole.
            assert!(run.status.success(), "{format}: {}", stderr(&run));
            assert!(out.is_dir());
        }
        let leftovers: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("msmu-partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

// ------------------------------------------------------- 2. --force never deletes an input

#[test]
fn force_refuses_an_out_that_overlaps_an_input_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("scannetpp");
    copy_tree(&fixtures().join("scannetpp"), &root);
    let before = snapshot(tmp.path());
    let sub = root.join("sub");
    for (flag, out) in [
        ("--scannetpp-root", root.clone()),
        ("--scannetpp-root", sub.clone()),
        ("--scannetpp-root", tmp.path().to_path_buf()),
    ] {
        fails_with(
            &["build", flag, s(&root), "--out", s(&out), "--force"],
            &["--force refused", "overlaps"],
        );
        assert_eq!(snapshot(tmp.path()), before, "--out {}", out.display());
    }
    assert!(root
        .join("data/a7acc711d8/scans/mesh_aligned_0.05.ply")
        .is_file());
}

// --------------------------------------------- 8, 10. resume, lock, configuration order

#[test]
fn resume_of_a_finished_dataset_built_otherwise_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = dataset_copy(tmp.path(), "dataset");
    let before = snapshot(&out);
    let root = built().root.clone();
    fails_with(
        &[
            "build",
            "--scannet-root",
            s(&root),
            "--out",
            s(&out),
            "--frame-stride",
            "1",
            "--split",
            "train",
            "--resume",
            "--seed",
            "987654",
        ],
        &["--resume", "seed"],
    );
    // Another root (one scene fewer) with the same seed.
    let other = tmp.path().join("other");
    copy_tree(
        &root.join("scans/scene0900_00"),
        &other.join("scans/scene0900_00"),
    );
    assert_eq!(snapshot(&out), before);
    fails_with(
        &[
            "build",
            "--scannet-root",
            s(&other),
            "--out",
            s(&out),
            "--frame-stride",
            "1",
            "--split",
            "train",
            "--resume",
        ],
        &["--resume", "scene list"],
    );
    assert_eq!(snapshot(&out), before);
}

#[test]
fn resume_of_an_unfinished_build_over_changed_scene_files_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    copy_tree(&fixtures().join("scannet"), &root);
    let out = tmp.path().join("out");
    let args = [
        "build",
        "--scannet-root",
        s(&root),
        "--out",
        s(&out),
        "--threads",
        "1",
    ];
    // Kill the build as soon as its resume state exists (before the first scene finishes).
    let mut landed = false;
    for _ in 0..5 {
        let _ = std::fs::remove_dir_all(&out);
        let mut child = crate::support::msmu_command()
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let state = out.join(".msmu-build/state.json");
        while !state.exists() && child.try_wait().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let _ = child.kill();
        child.wait().unwrap();
        if !out.join("manifest.json").exists() && state.exists() {
            landed = true;
            break;
        }
    }
    assert!(
        landed,
        "the build finished before it could be killed five times"
    );
    std::fs::remove_file(out.join(".msmu-lock")).ok();
    // Same names, same arguments, other content: the annotation of one scene grew.
    let aggregation = root.join("scans/scene0901_00/scene0901_00.aggregation.json");
    let mut bytes = std::fs::read(&aggregation).unwrap();
    bytes.push(b'\n');
    std::fs::write(&aggregation, bytes).unwrap();
    let mut resume = args.to_vec();
    resume.push("--resume");
    let before = snapshot(&out);
    fails_with(
        &resume,
        &["scene0901_00", "changed since the unfinished build started"],
    );
    // Nothing was built over the old state: only the lock came and went.
    let mut after = snapshot(&out);
    after.remove(&out.join(".msmu-lock"));
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    // `--force` starts over from the current files and finishes.
    let mut force = args.to_vec();
    force.push("--force");
    let done = msmu(&force);
    assert!(out.join("manifest.json").exists(), "{}", stderr(&done));
}

#[test]
fn out_is_locked_while_a_build_runs_and_stale_locks_are_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let lock = out.join(".msmu-lock");
    // A live process (this test) holds it.
    std::fs::write(&lock, format!("{}\n", std::process::id())).unwrap();
    let root = fixtures().join("scannet");
    fails_with(
        &["build", "--scannet-root", s(&root), "--out", s(&out)],
        &["in use by another msmu build"],
    );
    assert!(!out.join("data").exists() && !out.join(".msmu-build").exists());
    // A dead one (a killed build): replaced with a warning. The run then stops at the
    // --resume check, and its own lock is gone when it exits.
    let dataset = dataset_copy(tmp.path(), "dataset");
    std::fs::write(dataset.join(".msmu-lock"), "4294967295\n").unwrap();
    fails_with(
        &[
            "build",
            "--scannet-root",
            s(&built().root),
            "--out",
            s(&dataset),
            "--resume",
            "--seed",
            "5",
        ],
        &["stale lock", "--resume"],
    );
    assert!(!dataset.join(".msmu-lock").exists());
}

#[test]
fn a_bad_zstd_level_is_refused_before_any_scene_is_built() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.json");
    std::fs::write(&config, r#"{"limits": {"zstd_level": 99}}"#).unwrap();
    let out = tmp.path().join("out");
    fails_with(
        &["build", "--config", s(&config), "--out", s(&out)],
        &["zstd_level", "99"],
    );
    assert!(!out.exists(), "the build started before the check");
}

#[test]
fn render_with_an_absurd_size_is_an_error_not_an_abort() {
    let tmp = tempfile::tempdir().unwrap();
    let scene = fixtures().join("scannet/scans/scene0900_00");
    fails_with(
        &[
            "render",
            s(&scene),
            "--frame",
            "0",
            "--out",
            s(&tmp.path().join("view")),
            "--width",
            "100000",
            "--height",
            "100000",
        ],
        &["16384"],
    );
}

// ------------------------------------------------------------------------ 5, 7. eval

fn ipc_bench(path: &Path) {
    use arrow::array::{ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    let conversations: Vec<String> = (0..6)
        .map(|i| {
            format!(
                r#"[{{"from": "human", "value": "<image>\nHow wide is the chair {i}?"}}, {{"from": "gpt", "value": "0.{i}5 m"}}]"#
            )
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("conversations", DataType::Utf8, true),
        Field::new("type", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(conversations)) as ArrayRef,
            Arc::new(StringArray::from(vec!["width"; 6])) as ArrayRef,
        ],
    )
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = arrow::ipc::writer::FileWriter::try_new(file, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
}

#[test]
fn byte_flipped_arrow_ipc_benches_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.arrow");
    ipc_bench(&good);
    let pred = tmp.path().join("pred.jsonl");
    std::fs::write(
        &pred,
        "{\"question\": \"How wide is the chair 1?\", \"pred\": \"0.15 m\"}\n",
    )
    .unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let mut panicked = Vec::new();
    for i in 0..80usize {
        let mut flipped = bytes.clone();
        // Spread over the whole file, three bytes per case (a deterministic pattern).
        for k in 0..3 {
            let at = (i * bytes.len() / 80 + k * 37) % bytes.len();
            flipped[at] ^= 0xFF ^ (i as u8);
        }
        let path = tmp.path().join(format!("flip-{i:02}.arrow"));
        std::fs::write(&path, &flipped).unwrap();
        let run = msmu(&["eval", "--bench", s(&path), "--pred", s(&pred)]);
        if !matches!(run.status.code(), Some(0 | 1)) {
            panicked.push(format!("{i}: {:?} {}", run.status.code(), stderr(&run)));
        }
    }
    assert!(panicked.is_empty(), "{}", panicked.join("\n"));
}

#[test]
fn parquet_benches_that_would_spin_for_hours_are_refused_at_the_deadline() {
    // Two files the parquet crate's Thrift decoder spins on (docs/RELIABILITY.md):
    // - parquet-footer-bool-lists.parquet: 200 unknown footer fields, each a list of 2^31 - 1
    //   booleans, walked element by element (crafted after the `bench` fuzz target found a
    //   milder one);
    // - bench-page-header-spin.parquet: found by the `bench` fuzz target (a byte-mutated msmu
    //   shard, 30 KB); the footer decodes, reading the rows spins (over 300 s before the fix).
    // `msmu eval` gives up at the deadline of a small file (20 s) with an error naming it.
    let tmp = tempfile::tempdir().unwrap();
    let pred = tmp.path().join("pred.jsonl");
    std::fs::write(
        &pred,
        "{\"question\": \"How tall is the chair?\", \"pred\": \"1 m\"}\n",
    )
    .unwrap();
    for name in [
        "parquet-footer-bool-lists.parquet",
        "bench-page-header-spin.parquet",
    ] {
        let bench = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/fuzz")
            .join(name);
        let started = std::time::Instant::now();
        fails_with(
            &["eval", "--bench", s(&bench), "--pred", s(&pred)],
            &[name, "did not decode within 20.0 s"],
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
    }
}

#[test]
fn an_oversized_prediction_line_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bench = tmp.path().join("bench.arrow");
    ipc_bench(&bench);
    let pred = tmp.path().join("pred.jsonl");
    let long = "1".repeat(3 << 20);
    std::fs::write(
        &pred,
        format!("{{\"question\": \"How wide is the chair 1?\", \"pred\": \"{long}\"}}\n"),
    )
    .unwrap();
    fails_with(
        &["eval", "--bench", s(&bench), "--pred", s(&pred)],
        &["pred.jsonl:1", "longer than 1048576 bytes"],
    );
}

/// Truncated colour JPEGs and whole JPEGs of another size than the camera (every other frame
/// each): the views whose image cannot be read or is resized are dropped (never stored),
/// counted per scene and in the totals (`views_dropped`), each with a warning, and
/// `msmu stats` reports the count; the build completes.
#[test]
fn views_with_unreadable_colour_images_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let scene = root.join("scans/scene0900_00");
    copy_tree(&fixtures().join("scannet/scans/scene0900_00"), &scene);
    std::fs::copy(
        fixtures().join("scannet/scannetv2-labels.combined.tsv"),
        root.join("scannetv2-labels.combined.tsv"),
    )
    .unwrap();
    let mut frames: Vec<PathBuf> = std::fs::read_dir(scene.join("color"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    frames.sort();
    assert!(frames.len() >= 2);
    for (i, path) in frames.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        if i % 2 == 0 {
            std::fs::write(path, &bytes[..bytes.len().min(64)]).unwrap();
        } else {
            // A sound JPEG at half the camera's size.
            let image = image::load_from_memory(&bytes).unwrap();
            let half = image.resize_exact(
                image.width() / 2,
                image.height() / 2,
                image::imageops::FilterType::Triangle,
            );
            let mut jpeg = Vec::new();
            half.to_rgb8()
                .write_to(
                    &mut std::io::Cursor::new(&mut jpeg),
                    image::ImageFormat::Jpeg,
                )
                .unwrap();
            std::fs::write(path, jpeg).unwrap();
        }
    }
    let out = dir.path().join("out");
    let result = msmu(&[
        "build",
        "--scannet-root",
        s(&root),
        "--out",
        s(&out),
        "--frame-stride",
        "1",
    ]);
    assert!(
        result.status.code().is_some(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let rec = &manifest["scenes"][0];
    let dropped = rec["views_dropped"].as_u64().unwrap_or(0);
    assert!(dropped >= 1, "{manifest}");
    assert_eq!(rec["images"], 0, "{manifest}");
    let warnings = rec["warnings"].as_array().unwrap();
    let about = warnings
        .iter()
        .filter(|w| w.as_str().unwrap().contains("view dropped"))
        .count();
    assert_eq!(about as u64, dropped, "{warnings:?}");
    for kind in ["the image was resized", "the file is truncated"] {
        assert!(
            warnings.iter().any(|w| w.as_str().unwrap().contains(kind)),
            "no {kind:?} warning: {warnings:?}"
        );
    }
    assert_eq!(manifest["totals"]["views_dropped"], dropped);
    let stats = msmu(&["stats", s(&out), "--json"]);
    let json: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(json["views_dropped"], dropped);
    let md = String::from_utf8_lossy(&msmu(&["stats", s(&out)]).stdout).to_string();
    assert!(md.contains(&format!("Views dropped (colour image unreadable or not the camera's size; see the manifest's scene warnings): {dropped}")), "{md}");
}

/// Found by `fuzz/fuzz_targets/bench.rs`: one flipped bit in a 13 KB Arrow IPC file made arrow's
/// `FileReader` allocate (and zero) each footer block at its declared size, 2.6 GB before any
/// error. The bench reader now decodes the bytes it read with `StreamDecoder`: the same file is
/// refused naming it, using little memory (checked with GNU time where it is installed).
#[test]
fn fuzzed_arrow_file_with_a_huge_footer_block_is_refused_without_allocating_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bench = tmp.path().join("bench.arrow");
    std::fs::copy(
        fixtures().join("../tests/data/fuzz/bench-footer-block-oom.arrow"),
        &bench,
    )
    .unwrap();
    let pred = tmp.path().join("pred.jsonl");
    std::fs::write(&pred, "{\"id\": \"x\", \"pred\": \"1 m\"}\n").unwrap();
    let args = ["eval", "--bench", s(&bench), "--pred", s(&pred)];
    let time = Path::new("/usr/bin/time");
    if time.exists() {
        let out = std::process::Command::new(time)
            .args(["-f", "maxrss_kb=%M"])
            .arg(env!("CARGO_BIN_EXE_msmu"))
            .args(args)
            .output()
            .unwrap();
        let text = stderr(&out);
        let rss_kb: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("maxrss_kb="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{text}"));
        assert!(rss_kb < 300_000, "peak RSS {rss_kb} kB: {text}");
        assert!(text.contains("bench.arrow"), "{text}");
    }
    fails_with(&args, &["bench.arrow", "Arrow IPC"]);
}
