//! End-to-end tests of the dataset tools through the `msmu` binary: `stats`, `export` (hf,
//! llava, sdvlm), `validate` (OK and failing cases) and `merge` of `--shard K/N` builds. The
//! bundled fixtures are built once per test process (unsharded and as two parts).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::support::{msmu, ok, s};
use msmu_data::dataset::manifest::Manifest;
use msmu_data::dataset::shard::{list_shards, read_shard};
use msmu_data::dataset::SampleRow;

struct Builds {
    _root: tempfile::TempDir,
    full: PathBuf,
    part0: PathBuf,
    part1: PathBuf,
}

/// The fixtures built unsharded and as parts 0/2 and 1/2 (once per process).
fn builds() -> &'static Builds {
    static BUILDS: OnceLock<Builds> = OnceLock::new();
    BUILDS.get_or_init(|| {
        let root = tempfile::tempdir().unwrap();
        let full = root.path().join("full");
        let part0 = root.path().join("part0");
        let part1 = root.path().join("part1");
        let build = |out: &Path, extra: &[&str]| {
            let mut args = vec!["build", "--out", s(out), "--frame-stride", "1"];
            args.extend_from_slice(extra);
            let out = msmu(&args);
            // 0 = every scene built, 3 = some skipped; both leave a finished dataset.
            assert!(
                matches!(out.status.code(), Some(0 | 3)),
                "msmu {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        build(&full, &[]);
        build(&part0, &["--shard", "0/2"]);
        build(&part1, &["--shard", "1/2"]);
        Builds {
            _root: root,
            full,
            part0,
            part1,
        }
    })
}

fn all_rows(dir: &Path) -> Vec<SampleRow> {
    list_shards(dir)
        .unwrap()
        .iter()
        .flat_map(|p| read_shard(p).unwrap())
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("data")).unwrap();
    std::fs::copy(from.join("manifest.json"), to.join("manifest.json")).unwrap();
    for shard in list_shards(from).unwrap() {
        std::fs::copy(&shard, to.join("data").join(shard.file_name().unwrap())).unwrap();
    }
}

#[test]
fn stats_agree_with_the_manifest() {
    let b = builds();
    let manifest = Manifest::read(&b.full).unwrap();
    let rows: u64 = manifest.totals.rows.values().sum();
    let qa: u64 = manifest.totals.qa.values().sum();
    assert!(rows > 0 && qa > 0);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["stats", s(&b.full), "--json"])).unwrap();
    assert_eq!(json["rows"], rows);
    assert_eq!(json["qa"], qa);
    assert_eq!(json["manifest_rows"], rows);
    let families: u64 = json["qa_by_family"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(families, qa);
    for (split, n) in &manifest.totals.rows {
        assert_eq!(json["rows_by_split"][split], *n);
    }
    assert!(json["numeric_annotations"].as_u64().unwrap() > 0);
    assert_eq!(json["scenes"], manifest.totals.scenes);
    let md = ok(&["stats", s(&b.full)]);
    assert!(md.contains(&format!("| images (rows) | {rows} |")), "{md}");
    assert!(md.contains(&format!("| QA pairs | {qa} |")), "{md}");
    assert!(md.contains("## QA per family"));
}

/// `--compare official`: the density figures and family shares next to the published ones,
/// computed from the same counts as the plain report (JSON, Markdown, chart).
#[test]
fn stats_compare_official() {
    let b = builds();
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "stats",
        s(&b.full),
        "--json",
        "--compare",
        "official",
    ]))
    .unwrap();
    let c = &json["compare_official"];
    let qa = json["qa"].as_f64().unwrap();
    let per_image = &c["density"][0];
    assert_eq!(per_image["metric"], "QA per image");
    assert_eq!(per_image["official"].as_f64(), Some(28.0));
    assert!(
        (per_image["msmu"].as_f64().unwrap() - qa / json["rows"].as_f64().unwrap()).abs() < 1e-12
    );
    let shares: f64 = c["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["msmu"].as_f64().unwrap())
        .sum();
    assert!((shares - 100.0).abs() < 1e-9, "{shares}");
    let count = c["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "count")
        .unwrap();
    let n_count = json["qa_by_family"]["count"].as_f64().unwrap_or(0.0);
    assert!((count["msmu"].as_f64().unwrap() - 100.0 * n_count / qa).abs() < 1e-9);
    let md = ok(&["stats", s(&b.full), "--compare", "official"]);
    assert!(
        md.contains("## Compared with the official MSMU data"),
        "{md}"
    );
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("plots");
    ok(&[
        "stats",
        s(&b.full),
        "--plots",
        s(&plots),
        "--compare",
        "official",
    ]);
    assert!(image::open(plots.join("compare_official.png")).is_ok());
    let report = std::fs::read_to_string(plots.join("report.md")).unwrap();
    assert!(report.contains("compare_official.png"));
}

#[test]
fn stats_plots_write_pngs_and_report() {
    let b = builds();
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("plots");
    ok(&["stats", s(&b.full), "--plots", s(&plots)]);
    let report = std::fs::read_to_string(plots.join("report.md")).unwrap();
    let mut pngs = 0;
    for name in [
        "qa_by_family.png",
        "length_m.png",
        "distance_m.png",
        "qa_per_image.png",
    ] {
        assert!(
            report.contains(&format!("]({name})")),
            "{name} not embedded"
        );
        let bytes = std::fs::read(plots.join(name)).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{name} is not a PNG"
        );
        pngs += 1;
    }
    assert_eq!(pngs, 4);
}

#[test]
fn export_hf_repo() {
    let b = builds();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hf");
    ok(&["export", s(&b.full), "--format", "hf", "--out", s(&out)]);
    let manifest = Manifest::read(&b.full).unwrap();
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(card.starts_with("---\n"));
    assert!(card.contains("configs:\n- config_name: default\n"));
    assert!(
        card.contains("  - split: train\n    path: data/train-*\n"),
        "{card}"
    );
    assert!(card.contains("- name: image\n    dtype: image\n"), "{card}");
    assert!(card.contains("- name: depth\n    dtype: image\n"));
    for (split, n) in &manifest.totals.rows {
        assert!(card.contains(&format!("  - name: {split}\n")));
        assert!(card.contains(&format!("    num_examples: {n}\n")));
    }
    assert!(card.contains("ScanNet++ Terms of Use"));
    assert!(card.contains("2509.17664"));
    for shard in &manifest.shards {
        assert_eq!(
            std::fs::read(out.join(&shard.file)).unwrap(),
            std::fs::read(b.full.join(&shard.file)).unwrap()
        );
    }
    assert!(out.join("manifest.json").exists());
    // Refuses a non-empty output folder.
    let again = msmu(&["export", s(&b.full), "--format", "hf", "--out", s(&out)]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}

#[test]
fn export_llava_json_and_images() {
    let b = builds();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("llava");
    ok(&[
        "export",
        s(&b.full),
        "--format",
        "llava",
        "--out",
        s(&out),
        "--with-depth",
    ]);
    let rows = all_rows(&b.full);
    let by_id: BTreeMap<&str, &SampleRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let manifest = Manifest::read(&b.full).unwrap();
    let mut seen = 0;
    for (split, n) in &manifest.totals.rows {
        let text = std::fs::read_to_string(out.join(format!("{split}.json"))).unwrap();
        let samples: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(samples.len() as u64, *n);
        for sample in samples {
            let row = by_id[sample["id"].as_str().unwrap()];
            let image = sample["image"].as_str().unwrap();
            assert!(image.starts_with("images/") && image.ends_with(".jpg"));
            assert_eq!(std::fs::read(out.join(image)).unwrap(), row.image.bytes);
            let depth = sample["depth"].as_str().unwrap();
            assert_eq!(std::fs::read(out.join(depth)).unwrap(), row.depth.bytes);
            let turns = sample["conversations"].as_array().unwrap();
            assert_eq!(turns.len(), row.conversations.len());
            assert!(turns[0]["value"].as_str().unwrap().starts_with("<image>\n"));
            seen += 1;
        }
    }
    assert_eq!(seen, rows.len());
}

#[test]
fn export_sdvlm_one_row_per_qa() {
    use arrow::array::{AsArray, RecordBatch};
    use base64::Engine as _;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let b = builds();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sdvlm");
    ok(&["export", s(&b.full), "--format", "sdvlm", "--out", s(&out)]);
    let rows = all_rows(&b.full);
    let by_id: BTreeMap<&str, &SampleRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let manifest = Manifest::read(&b.full).unwrap();
    let mut total = 0u64;
    let mut ids = HashSet::new();
    for (split, qa) in &manifest.totals.qa {
        let file = std::fs::File::open(out.join(format!("{split}.parquet"))).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        let n: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(n as u64, *qa);
        total += n as u64;
        for batch in &batches {
            let col = |name: &str| {
                batch
                    .column_by_name(name)
                    .unwrap()
                    .as_string::<i32>()
                    .clone()
            };
            let (id, b64, size, mode, conv, ty) = (
                col("id"),
                col("image_base64"),
                col("image_size"),
                col("image_mode"),
                col("conversations"),
                col("type"),
            );
            for i in 0..batch.num_rows() {
                assert!(ids.insert(id.value(i).to_string()));
                let (row_id, k) = id.value(i).rsplit_once('#').unwrap();
                let row = by_id[row_id];
                let qa = &row.qa[k.parse::<usize>().unwrap()];
                // The official type: msmu's `surface_distance` is the official `distance`.
                assert_eq!(
                    ty.value(i),
                    msmu_data::qa::Family::official_raw_type(&qa.r#type)
                );
                assert_ne!(ty.value(i), "surface_distance");
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.value(i))
                    .unwrap();
                assert_eq!(bytes, row.image.bytes);
                assert_eq!(
                    size.value(i),
                    format!("({}, {})", row.intrinsics.width, row.intrinsics.height)
                );
                assert_eq!(mode.value(i), "RGB");
                let turns: serde_json::Value = serde_json::from_str(conv.value(i)).unwrap();
                assert_eq!(turns[0]["from"], "human");
                assert_eq!(turns[0]["value"], format!("<image>\n{}", qa.question));
                assert_eq!(turns[1]["value"], qa.answer.as_str());
            }
        }
    }
    assert_eq!(total, rows.iter().map(|r| r.qa.len() as u64).sum::<u64>());
}

#[test]
fn validate_ok_then_fails_on_corruption() {
    let b = builds();
    let out = ok(&["validate", s(&b.full)]);
    assert!(out.contains("\nOK\n"), "{out}");

    // One flipped byte in a shard.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("flipped");
    copy_dir(&b.full, &copy);
    let shard = list_shards(&copy).unwrap().remove(0);
    let mut bytes = std::fs::read(&shard).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&shard, bytes).unwrap();
    let res = msmu(&["validate", s(&copy)]);
    assert_eq!(res.status.code(), Some(1));
    let text = String::from_utf8_lossy(&res.stdout);
    let name = format!("data/{}", shard.file_name().unwrap().to_str().unwrap());
    assert!(text.contains(&format!("{name}: SHA-256 differs")), "{text}");

    // A wrong row count in the manifest.
    let copy = dir.path().join("counts");
    copy_dir(&b.full, &copy);
    let path = copy.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let rows = m["shards"][0]["rows"].as_u64().unwrap();
    m["shards"][0]["rows"] = (rows + 1).into();
    let file = m["shards"][0]["file"].as_str().unwrap().to_string();
    std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
    let res = msmu(&["validate", s(&copy)]);
    assert_eq!(res.status.code(), Some(1));
    let text = String::from_utf8_lossy(&res.stdout);
    assert!(
        text.contains(&format!(
            "{file}: {rows} rows but manifest.json says {}",
            rows + 1
        )),
        "{text}"
    );

    // The row count deleted: the manifest no longer parses.
    m["shards"][0].as_object_mut().unwrap().remove("rows");
    std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
    let res = msmu(&["validate", s(&copy)]);
    assert_eq!(res.status.code(), Some(1));
    let text = String::from_utf8_lossy(&res.stdout);
    assert!(text.contains("manifest.json: "), "{text}");
    assert!(text.contains("rows"), "{text}");

    // Leftover temporary file.
    let copy = dir.path().join("leftover");
    copy_dir(&b.full, &copy);
    std::fs::write(copy.join("data/train-00000-of-00001.parquet.tmp"), b"x").unwrap();
    let res = msmu(&["validate", s(&copy)]);
    assert_eq!(res.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&res.stdout).contains(".parquet.tmp: temporary file"));
}

#[test]
fn merge_of_parts_equals_the_unsharded_build() {
    let b = builds();
    let dir = tempfile::tempdir().unwrap();
    let merged = dir.path().join("merged");
    ok(&["merge", s(&b.part0), s(&b.part1), "--out", s(&merged)]);
    let out = ok(&["validate", s(&merged)]);
    assert!(out.contains("\nOK\n"), "{out}");

    let full = Manifest::read(&b.full).unwrap();
    let m = Manifest::read(&merged).unwrap();
    assert_eq!(m.totals.rows, full.totals.rows);
    assert_eq!(m.totals.qa, full.totals.qa);
    assert_eq!(m.totals.scenes, full.totals.scenes);
    assert!(m.partition.as_deref().unwrap().contains("0/2"));
    let ids: Vec<&str> = m.scenes.iter().map(|s| s.scene_id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);

    let per_split = |rows: Vec<SampleRow>| {
        let mut map: BTreeMap<String, BTreeMap<String, SampleRow>> = BTreeMap::new();
        for row in rows {
            map.entry(row.split.clone())
                .or_default()
                .insert(row.id.clone(), row);
        }
        map
    };
    let a = per_split(all_rows(&merged));
    let f = per_split(all_rows(&b.full));
    assert_eq!(a.keys().collect::<Vec<_>>(), f.keys().collect::<Vec<_>>());
    for (split, rows) in &f {
        assert_eq!(
            a[split].keys().collect::<Vec<_>>(),
            rows.keys().collect::<Vec<_>>(),
            "split {split}"
        );
        for (id, row) in rows {
            assert!(a[split][id] == *row, "row {id} differs");
        }
    }

    // Overlapping parts are refused.
    let res = msmu(&[
        "merge",
        s(&b.part0),
        s(&b.part0),
        "--out",
        s(&dir.path().join("x")),
    ]);
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("is in both"));

    // Parts with another seed are refused.
    let other = dir.path().join("other-seed");
    copy_dir(&b.part1, &other);
    let path = other.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    m["seed"] = 12345.into();
    std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
    let res = msmu(&[
        "merge",
        s(&b.part0),
        s(&other),
        "--out",
        s(&dir.path().join("y")),
    ]);
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains("seed") && err.contains("manifest.json"),
        "{err}"
    );
}
