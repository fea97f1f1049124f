//! Writes a [`SynthScene`] byte-for-byte in the ScanNet v2 layout (FORMATS.md section 1):
//! `root/scans/<scene_id>/` with the VCGLIB mesh in the **scan** frame, the MLIB labels mesh,
//! segments, aggregation, scan meta, frames (Python export, C++ export and/or `.sens`), and
//! `root/scannetv2-labels.combined.tsv`.
//!
//! The files carry the quirks of real ScanNet on purpose (FORMATS.md "Quirks"): non-constant
//! vertex alpha, ScanNet label ids (not nyu40) in the labels mesh, sparse segment ids, a
//! CRLF label map full of empty cells, `-inf` poses for lost tracking, meta depth intrinsics
//! that differ from the calibration, and optionally a v1 aggregation and a v1-era label
//! (`trashcan`) that the v2 label map does not know.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rayon::prelude::*;
use serde_json::json;

use crate::encode::{
    depth_to_u16, encode_jpeg, encode_pgm16_be, encode_png_gray16, format_cpp_float,
    format_percent_f, matrix_text_cpp, matrix_text_percent_f, u16_le_bytes, zlib_compress,
};
use crate::sens::{ImuFrame, SensFrame, SensHeader, SensWriter};
use crate::write_common::{
    create_dir, frame_chunk_len, pose_f32_or_lost, render_frame, segment_mesh, write_file,
    write_truth, Truth, TruthCamera,
};
use crate::SynthScene;
use msmu_data::scene::{face_instances, pose_to_row_major, CameraModel, Intrinsics, Pose};

/// ScanNet depth calibration of the exported `intrinsic_depth.txt` (scene0000_00), at 640x480.
pub const SCANNET_DEPTH_INTRINSICS: Intrinsics = Intrinsics {
    fx: 577.590698,
    fy: 578.729797,
    cx: 318.905426,
    cy: 242.683609,
};
/// Depth shift of every ScanNet stream: raw u16 / 1000 = metres.
pub const DEPTH_SHIFT: f64 = 1000.0;
/// The v1-era raw label that the v2 label map does not contain.
pub const LEGACY_LABEL: &str = "trashcan";
/// Name of the label map, written at the dataset root.
pub const LABEL_MAP_FILE: &str = "scannetv2-labels.combined.tsv";

/// One way of putting the frames on disk (several can be written side by side).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FrameLayout {
    /// Python `SensReader/python/reader.py`: `color/<i>.jpg`, `depth/<i>.png`,
    /// `pose/<i>.txt`, `intrinsic/*.txt`, in the scene folder.
    PythonExport,
    /// C++ `SensReader` `saveToImages`: `frame-XXXXXX.{color.jpg,depth.pgm,pose.txt}` and
    /// `_info.txt`, in the scene folder.
    CppExport,
    /// `<id>.sens` in the scene folder.
    Sens,
}

impl FrameLayout {
    fn truth_name(self) -> &'static str {
        match self {
            FrameLayout::PythonExport => "python_export",
            FrameLayout::CppExport => "cpp_export",
            FrameLayout::Sens => "sens",
        }
    }
}

/// `aggregation.json` flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregationStyle {
    /// `scannet.`-prefixed `sceneId` / `segmentsFile`, `appId` `Aggregator.v2`.
    V2,
    /// Bare scene id and file name (older files).
    V1,
}

/// How to write one ScanNet scene.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanNetWriteOptions {
    /// Frame layouts to write; empty writes geometry and annotations only.
    pub frame_layouts: Vec<FrameLayout>,
    pub aggregation: AggregationStyle,
    /// Give one non-structural object's group the v1 label [`LEGACY_LABEL`].
    pub legacy_label: bool,
    /// Depth image size; the ScanNet depth calibration is scaled to it (640x480 is real).
    pub depth_width: u32,
    pub depth_height: u32,
    /// `sceneType` of the meta file (free text).
    pub scene_type: String,
    /// IMU samples after the `.sens` frames (real files have thousands; readers skip them).
    pub sens_imu_frames: usize,
    /// Also write `root/scannetv2-labels.combined.tsv` for this scene's labels. Turn off when
    /// writing many scenes under one root in parallel and call [`write_label_map`] once.
    pub write_label_map: bool,
}

impl Default for ScanNetWriteOptions {
    fn default() -> Self {
        ScanNetWriteOptions {
            frame_layouts: vec![FrameLayout::PythonExport],
            aggregation: AggregationStyle::V2,
            legacy_label: false,
            depth_width: 640,
            depth_height: 480,
            scene_type: "Living room / Lounge".into(),
            sens_imu_frames: 3,
            write_label_map: true,
        }
    }
}

/// One row of the label map. Only the columns we fill are fields; the others stay empty,
/// as they do for most rows of the real file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelRow {
    pub raw_category: &'static str,
    /// ScanNet label id (the `id` column, ScanNet200 id).
    pub id: u32,
    pub category: &'static str,
    pub nyu40_id: u16,
    pub nyu40_class: &'static str,
    pub eigen13_id: u16,
    pub eigen13_class: &'static str,
    pub mpcat40: &'static str,
    pub mpcat40_index: u16,
}

// Positional on purpose: each call reads like one line of the TSV.
#[allow(clippy::too_many_arguments)]
const fn row(
    raw_category: &'static str,
    id: u32,
    nyu40_id: u16,
    nyu40_class: &'static str,
    eigen13_id: u16,
    eigen13_class: &'static str,
    mpcat40: &'static str,
    mpcat40_index: u16,
) -> LabelRow {
    LabelRow {
        raw_category,
        id,
        category: raw_category,
        nyu40_id,
        nyu40_class,
        eigen13_id,
        eigen13_class,
        mpcat40,
        mpcat40_index,
    }
}

/// Label map rows for the raw labels the synthetic scenes use, with the real v2 ids.
///
/// It carries the columns the generator's catalog (`synth::catalog`) does not (eigen13,
/// mpcat40); a test checks that both agree on every label the generator uses. Labels missing
/// here still get a row from [`label_row`] (nyu40 40 `otherprop`).
pub const LABEL_TABLE: &[LabelRow] = &[
    row("wall", 1, 1, "wall", 12, "Wall", "wall", 1),
    row("chair", 2, 5, "chair", 4, "Chair", "chair", 3),
    row("floor", 3, 2, "floor", 5, "Floor", "floor", 2),
    row("table", 4, 7, "table", 10, "Table", "table", 5),
    row("door", 5, 8, "door", 12, "Wall", "door", 4),
    row("couch", 6, 6, "sofa", 9, "Sofa", "sofa", 10),
    row("sofa", 6, 6, "sofa", 9, "Sofa", "sofa", 10),
    row("cabinet", 7, 3, "cabinet", 6, "Furniture", "cabinet", 7),
    row("shelf", 8, 15, "shelves", 6, "Furniture", "shelving", 31),
    row("desk", 9, 14, "desk", 10, "Table", "table", 5),
    row("office chair", 10, 5, "chair", 4, "Chair", "chair", 3),
    row("bed", 11, 4, "bed", 1, "Bed", "bed", 11),
    row("pillow", 13, 18, "pillow", 7, "Objects", "cushion", 8),
    row("sink", 14, 34, "sink", 7, "Objects", "sink", 15),
    row("picture", 15, 11, "picture", 8, "Picture", "picture", 6),
    row("window", 16, 9, "window", 13, "Window", "window", 9),
    row("toilet", 17, 33, "toilet", 7, "Objects", "toilet", 18),
    row(
        "bookshelf",
        18,
        10,
        "bookshelf",
        6,
        "Furniture",
        "shelving",
        31,
    ),
    row("monitor", 19, 40, "otherprop", 11, "TV", "tv_monitor", 22),
    row("curtain", 21, 16, "curtain", 13, "Window", "curtain", 12),
    row("book", 22, 23, "books", 2, "Books", "objects", 39),
    row("armchair", 23, 5, "chair", 4, "Chair", "chair", 3),
    row("coffee table", 24, 7, "table", 10, "Table", "table", 5),
    row("box", 26, 29, "box", 7, "Objects", "objects", 39),
    row(
        "refrigerator",
        27,
        24,
        "refridgerator",
        6,
        "Furniture",
        "appliances",
        37,
    ),
    row("lamp", 28, 35, "lamp", 7, "Objects", "lighting", 28),
    row(
        "kitchen cabinet",
        29,
        3,
        "cabinet",
        6,
        "Furniture",
        "cabinet",
        7,
    ),
    row("tv", 33, 25, "television", 11, "TV", "tv_monitor", 22),
    row(
        "nightstand",
        34,
        32,
        "night stand",
        6,
        "Furniture",
        "chest_of_drawers",
        13,
    ),
    row("counter", 35, 12, "counter", 6, "Furniture", "counter", 26),
    row(
        "dresser",
        36,
        17,
        "dresser",
        6,
        "Furniture",
        "chest_of_drawers",
        13,
    ),
    row("stool", 38, 40, "otherprop", 4, "Chair", "stool", 19),
    row(
        "cushion",
        39,
        39,
        "otherfurniture",
        7,
        "Objects",
        "cushion",
        8,
    ),
    row("plant", 40, 40, "otherprop", 7, "Objects", "plant", 14),
    row("ceiling", 41, 22, "ceiling", 3, "Ceiling", "ceiling", 17),
    row("bathtub", 42, 36, "bathtub", 7, "Objects", "bathtub", 25),
    row("end table", 44, 7, "table", 10, "Table", "table", 5),
    row("dining table", 45, 7, "table", 10, "Table", "table", 5),
    row("backpack", 48, 37, "bag", 7, "Objects", "objects", 39),
    row(
        "tv stand",
        51,
        39,
        "otherfurniture",
        6,
        "Furniture",
        "furniture",
        36,
    ),
    row(
        "whiteboard",
        52,
        30,
        "whiteboard",
        7,
        "Objects",
        "board_panel",
        35,
    ),
    row(
        "trash can",
        56,
        39,
        "otherfurniture",
        7,
        "Objects",
        "objects",
        39,
    ),
    row("sofa chair", 100, 5, "chair", 4, "Chair", "chair", 3),
];

/// The label-map row for a raw label: from [`LABEL_TABLE`], or a stable made-up row
/// (`otherprop`) for labels the table does not list. `None` for [`LEGACY_LABEL`], which must
/// stay unknown.
pub fn label_row(raw: &str) -> Option<LabelRow> {
    if raw == LEGACY_LABEL {
        return None;
    }
    if let Some(known) = LABEL_TABLE.iter().find(|r| r.raw_category == raw) {
        return Some(*known);
    }
    // FNV-1a of the text keeps the made-up id stable across runs and platforms.
    let hash = raw.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    Some(LabelRow {
        raw_category: "",
        id: 1200 + (hash % 800) as u32,
        category: "",
        nyu40_id: 40,
        nyu40_class: "otherprop",
        eigen13_id: 7,
        eigen13_class: "Objects",
        mpcat40: "objects",
        mpcat40_index: 39,
    })
}

/// The 17 columns of the v2 label map, in order.
pub const LABEL_MAP_HEADER: [&str; 17] = [
    "id",
    "raw_category",
    "category",
    "count",
    "nyu40id",
    "eigen13id",
    "nyuClass",
    "nyu40class",
    "eigen13class",
    "ModelNet40",
    "ModelNet10",
    "ShapeNetCore55",
    "synsetoffset",
    "wnsynsetid",
    "wnsynsetkey",
    "mpcat40",
    "mpcat40index",
];

/// The label map text for these raw labels (one row each, sorted by label; the legacy label
/// is left out on purpose): tab-separated, CRLF, empty cells where real rows have them.
pub fn label_map_text<'a>(raw_labels: impl IntoIterator<Item = &'a str>) -> String {
    let labels: BTreeSet<&str> = raw_labels.into_iter().collect();
    let mut out = LABEL_MAP_HEADER.join("\t");
    out.push_str("\r\n");
    for raw in labels {
        let Some(r) = label_row(raw) else { continue };
        let category = if r.category.is_empty() {
            raw
        } else {
            r.category
        };
        let cells = [
            r.id.to_string(),
            raw.to_string(),
            category.to_string(),
            // A plausible count; the readers never use it.
            (10 + r.id * 7).to_string(),
            r.nyu40_id.to_string(),
            r.eigen13_id.to_string(),
            // nyuClass, then nyu40class / eigen13class.
            category.to_string(),
            r.nyu40_class.to_string(),
            r.eigen13_class.to_string(),
            // ModelNet40, ModelNet10, ShapeNetCore55, synsetoffset, wnsynsetid, wnsynsetkey:
            // empty for most rows of the real file.
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            r.mpcat40.to_string(),
            r.mpcat40_index.to_string(),
        ];
        out.push_str(&cells.join("\t"));
        out.push_str("\r\n");
    }
    out
}

/// Writes `root/scannetv2-labels.combined.tsv` for these raw labels.
pub fn write_label_map<'a>(
    root: &Path,
    raw_labels: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<()> {
    create_dir(root)?;
    write_file(
        &root.join(LABEL_MAP_FILE),
        label_map_text(raw_labels).as_bytes(),
    )
}

/// The raw labels a scene's annotation uses (after the legacy substitution).
pub fn raw_labels_used(scene: &SynthScene, opts: &ScanNetWriteOptions) -> BTreeSet<String> {
    annotation_labels(scene, opts)
        .into_values()
        .filter(|l| l != LEGACY_LABEL)
        .collect()
}

/// Instance whose group gets the legacy label: the last non-structural object.
fn legacy_instance(scene: &SynthScene, opts: &ScanNetWriteOptions) -> Option<u32> {
    if !opts.legacy_label {
        return None;
    }
    scene
        .objects
        .iter()
        .rev()
        .find(|o| !o.structural)
        .map(|o| o.instance_id)
}

/// Raw label written for each instance.
fn annotation_labels(scene: &SynthScene, opts: &ScanNetWriteOptions) -> BTreeMap<u32, String> {
    let legacy = legacy_instance(scene, opts);
    scene
        .objects
        .iter()
        .map(|o| {
            let label = if Some(o.instance_id) == legacy {
                LEGACY_LABEL.to_string()
            } else {
                o.raw_label.clone()
            };
            (o.instance_id, label)
        })
        .collect()
}

/// Folder of one scene: `root/scans/<scene_id>`.
pub fn scene_dir(root: &Path, scene_id: &str) -> PathBuf {
    root.join("scans").join(scene_id)
}

/// The PLY header of `_vh_clean_2.ply` (VCGLIB) or, with `with_label`, of
/// `_vh_clean_2.labels.ply` (MLIB). 284 bytes for a 5-digit vertex and 6-digit face count.
pub fn ply_header(n_vertices: usize, n_faces: usize, with_label: bool) -> String {
    let comment = if with_label { "MLIB" } else { "VCGLIB" };
    let label = if with_label {
        "property ushort label\n"
    } else {
        ""
    };
    format!(
        "ply\nformat binary_little_endian 1.0\ncomment {comment} generated\nelement vertex {n_vertices}\n\
property float x\nproperty float y\nproperty float z\nproperty uchar red\nproperty uchar green\n\
property uchar blue\nproperty uchar alpha\n{label}element face {n_faces}\n\
property list uchar int vertex_indices\nend_header\n"
    )
}

/// Vertex alpha: not constant, like real files (mostly 255, scattered low values).
fn vertex_alpha(v: usize) -> u8 {
    if v % 3 == 0 {
        255
    } else {
        ((v * 37) % 64) as u8
    }
}

/// Writes a VCGLIB (`labels = None`) or MLIB (`labels = Some`) mesh with positions as given.
fn write_scannet_ply(
    path: &Path,
    positions: &[[f32; 3]],
    colors: &[[u8; 3]],
    triangles: &[[u32; 3]],
    labels: Option<&[u16]>,
) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    out.write_all(ply_header(positions.len(), triangles.len(), labels.is_some()).as_bytes())?;
    for (v, (p, c)) in positions.iter().zip(colors).enumerate() {
        for x in p {
            out.write_all(&x.to_le_bytes())?;
        }
        out.write_all(&[c[0], c[1], c[2], vertex_alpha(v)])?;
        if let Some(labels) = labels {
            out.write_all(&labels[v].to_le_bytes())?;
        }
    }
    for t in triangles {
        out.write_all(&[3u8])?;
        for &i in t {
            out.write_all(&(i as i32).to_le_bytes())?;
        }
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

fn intrinsic_matrix(k: &Intrinsics) -> [f64; 16] {
    [
        k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
    ]
}

const IDENTITY: [f64; 16] = [
    1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
];

/// The depth camera for these options: the ScanNet depth calibration (640x480) scaled to the
/// requested depth size.
pub fn depth_model(opts: &ScanNetWriteOptions) -> CameraModel {
    CameraModel {
        intrinsics: SCANNET_DEPTH_INTRINSICS,
        width: 640,
        height: 480,
    }
    .resized(opts.depth_width, opts.depth_height)
}

/// `<id>.txt`: `key = value` lines, keys alphabetical, matrices as 16 `%f` numbers followed
/// by a space. The meta depth intrinsics differ from the calibration like real files do
/// (571.623718 / centred principal point at 640x480).
fn meta_text(scene: &SynthScene, opts: &ScanNetWriteOptions, color: &CameraModel) -> String {
    let matrix_line = |m: &[f64; 16]| {
        m.iter()
            .map(|&v| format_percent_f(v) + " ")
            .collect::<String>()
    };
    let sx = opts.depth_width as f64 / 640.0;
    let sy = opts.depth_height as f64 / 480.0;
    let meta_depth = Intrinsics {
        fx: 571.623718,
        fy: 571.623718,
        cx: 319.5,
        cy: 239.5,
    }
    .scaled(sx, sy);
    let k = color.intrinsics;
    let n = scene.cameras.len();
    let entries: Vec<(&str, String)> = vec![
        (
            "axisAlignment",
            matrix_line(&pose_to_row_major(&scene.aligned_from_scan)),
        ),
        ("colorHeight", color.height.to_string()),
        ("colorToDepthExtrinsics", matrix_line(&IDENTITY)),
        ("colorWidth", color.width.to_string()),
        ("depthHeight", opts.depth_height.to_string()),
        ("depthWidth", opts.depth_width.to_string()),
        ("fx_color", format_percent_f(k.fx)),
        ("fx_depth", format_percent_f(meta_depth.fx)),
        ("fy_color", format_percent_f(k.fy)),
        ("fy_depth", format_percent_f(meta_depth.fy)),
        ("mx_color", format_percent_f(k.cx)),
        ("mx_depth", format_percent_f(meta_depth.cx)),
        ("my_color", format_percent_f(k.cy)),
        ("my_depth", format_percent_f(meta_depth.cy)),
        ("numColorFrames", n.to_string()),
        ("numDepthFrames", n.to_string()),
        ("numIMUmeasurements", opts.sens_imu_frames.to_string()),
        ("sceneType", opts.scene_type.clone()),
    ];
    debug_assert!(
        entries.windows(2).all(|w| w[0].0 < w[1].0),
        "meta keys must be sorted"
    );
    entries
        .iter()
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect()
}

/// Writes the scene under `root/scans/<scene_id>/` (and the label map at `root` when
/// `opts.write_label_map`).
pub fn write_scannet(
    scene: &SynthScene,
    root: &Path,
    opts: &ScanNetWriteOptions,
) -> anyhow::Result<()> {
    let id = scene.scene_id.as_str();
    let dir = scene_dir(root, id);
    create_dir(&dir)?;
    let mesh = &scene.mesh;
    anyhow::ensure!(
        scene.vertex_instance.len() == mesh.n_vertices()
            && mesh.colors_rgb.len() == mesh.n_vertices(),
        "{id}: vertex_instance / colours do not match the {} vertices",
        mesh.n_vertices()
    );
    let color_model = scene
        .cameras
        .first()
        .map(|c| c.model)
        .unwrap_or_else(crate::scannet_color_camera);
    anyhow::ensure!(
        scene.cameras.iter().all(|c| c.model == color_model),
        "{id}: ScanNet has one colour calibration per scan; cameras differ"
    );

    // Meshes, in the scan frame.
    let scan_from_aligned = scene.aligned_from_scan.inverse();
    let positions_scan: Vec<[f32; 3]> = mesh
        .positions_m
        .iter()
        .map(|p| {
            let q = scan_from_aligned.transform_point(&nalgebra::Point3::new(
                p[0] as f64,
                p[1] as f64,
                p[2] as f64,
            ));
            [q.x as f32, q.y as f32, q.z as f32]
        })
        .collect();
    write_scannet_ply(
        &dir.join(format!("{id}_vh_clean_2.ply")),
        &positions_scan,
        &mesh.colors_rgb,
        &mesh.triangles,
        None,
    )?;
    let labels = annotation_labels(scene, opts);
    let label_id_of_instance: BTreeMap<u32, u16> = labels
        .iter()
        .map(|(&inst, raw)| (inst, label_row(raw).map(|r| r.id as u16).unwrap_or(0)))
        .collect();
    let vertex_label: Vec<u16> = scene
        .vertex_instance
        .iter()
        .map(|i| label_id_of_instance.get(i).copied().unwrap_or(0))
        .collect();
    // The labels mesh is coloured by label, as the real visualisation meshes are.
    let label_colors: Vec<[u8; 3]> = vertex_label
        .iter()
        .map(|&l| {
            let h = (l as u32).wrapping_mul(2_654_435_761);
            [(h >> 24) as u8, (h >> 16) as u8, (h >> 8) as u8]
        })
        .collect();
    write_scannet_ply(
        &dir.join(format!("{id}_vh_clean_2.labels.ply")),
        &positions_scan,
        &label_colors,
        &mesh.triangles,
        Some(&vertex_label),
    )?;

    // Segments and aggregation.
    let segmentation = segment_mesh(mesh, &scene.vertex_instance);
    let segs_name = format!("{id}_vh_clean_2.0.010000.segs.json");
    let segs = json!({
        "params": {
            "kThresh": "0.0001",
            "segMinVerts": "20",
            "minPoints": "750",
            "maxPoints": "30000",
            "thinThresh": "0.05",
            "flatThresh": "0.001",
            "minLength": "0.02",
            "maxLength": "1"
        },
        "sceneId": id,
        "segIndices": segmentation.seg_indices,
    });
    write_file(
        &dir.join(&segs_name),
        serde_json::to_string(&segs)?.as_bytes(),
    )?;
    let mut groups = Vec::new();
    for object in &scene.objects {
        let object_id = object
            .instance_id
            .checked_sub(1)
            .context("instance ids are 1-based")?;
        let segments = segmentation
            .segments_by_instance
            .get(&object.instance_id)
            .cloned()
            .unwrap_or_default();
        groups.push(json!({
            "id": object_id,
            "objectId": object_id,
            "segments": segments,
            "label": labels[&object.instance_id],
        }));
    }
    let aggregation = match opts.aggregation {
        AggregationStyle::V2 => json!({
            "sceneId": format!("scannet.{id}"),
            "appId": "Aggregator.v2",
            "segGroups": groups,
            "segmentsFile": format!("scannet.{segs_name}"),
        }),
        AggregationStyle::V1 => json!({
            "sceneId": id,
            "appId": "Aggregator.v1",
            "segGroups": groups,
            "segmentsFile": segs_name,
        }),
    };
    write_file(
        &dir.join(format!("{id}.aggregation.json")),
        serde_json::to_string(&aggregation)?.as_bytes(),
    )?;

    write_file(
        &dir.join(format!("{id}.txt")),
        meta_text(scene, opts, &color_model).as_bytes(),
    )?;
    if opts.write_label_map {
        let used = raw_labels_used(scene, opts);
        write_label_map(root, used.iter().map(String::as_str))?;
    }

    let depth = depth_model(opts);
    write_frames(scene, &dir, opts, &color_model, &depth)?;

    let lost: BTreeSet<usize> = scene.lost_tracking.iter().copied().collect();
    let mut layouts: Vec<FrameLayout> = opts.frame_layouts.clone();
    layouts.sort();
    layouts.dedup();
    let mut objects = scene.objects.clone();
    for o in &mut objects {
        o.raw_label = labels[&o.instance_id].clone();
    }
    let truth = Truth {
        scene_id: id.to_string(),
        layout: "scannet".into(),
        frame_layouts: layouts.iter().map(|l| l.truth_name().to_string()).collect(),
        aligned_from_scan: pose_to_row_major(&scene.aligned_from_scan),
        objects,
        cameras: scene
            .cameras
            .iter()
            .enumerate()
            .filter(|(i, _)| !lost.contains(i))
            .map(|(i, c)| TruthCamera::new(i.to_string(), c, Some(depth)))
            .collect(),
        lost_tracking: lost.iter().map(|i| i.to_string()).collect(),
        iphone_cameras: None,
        iphone_unposed: None,
        legacy_label_instance: legacy_instance(scene, opts),
        overlapping_instances: None,
    };
    write_truth(&dir, &truth)
}

/// A frame ready to be written in any layout.
struct EncodedFrame {
    color_jpeg: Vec<u8>,
    depth_mm: Vec<u16>,
    /// Camera-to-scan, row-major; all `-inf` for lost tracking.
    pose_scan: [f64; 16],
}

fn write_frames(
    scene: &SynthScene,
    dir: &Path,
    opts: &ScanNetWriteOptions,
    color: &CameraModel,
    depth: &CameraModel,
) -> anyhow::Result<()> {
    let layouts: BTreeSet<FrameLayout> = opts.frame_layouts.iter().copied().collect();
    if layouts.is_empty() || scene.cameras.is_empty() {
        return Ok(());
    }
    let id = &scene.scene_id;
    let python = layouts.contains(&FrameLayout::PythonExport);
    let cpp = layouts.contains(&FrameLayout::CppExport);
    let sensor_name = "StructureSensor";
    let color_k = intrinsic_matrix(&color.intrinsics);
    let depth_k = intrinsic_matrix(&depth.intrinsics);
    if python {
        for sub in ["color", "depth", "pose", "intrinsic"] {
            create_dir(&dir.join(sub))?;
        }
        let intrinsic = dir.join("intrinsic");
        write_file(
            &intrinsic.join("intrinsic_color.txt"),
            matrix_text_percent_f(&color_k).as_bytes(),
        )?;
        write_file(
            &intrinsic.join("extrinsic_color.txt"),
            matrix_text_percent_f(&IDENTITY).as_bytes(),
        )?;
        write_file(
            &intrinsic.join("intrinsic_depth.txt"),
            matrix_text_percent_f(&depth_k).as_bytes(),
        )?;
        write_file(
            &intrinsic.join("extrinsic_depth.txt"),
            matrix_text_percent_f(&IDENTITY).as_bytes(),
        )?;
    }
    if cpp {
        // `saveToImages` writes calibration as 16 values each followed by a space.
        let line = |m: &[f64; 16]| -> String {
            m.iter()
                .map(|&v| format_cpp_float(v as f32 as f64) + " ")
                .collect()
        };
        let info = format!(
            "m_versionNumber = 4\nm_sensorName = {sensor_name}\nm_colorWidth = {}\nm_colorHeight = {}\n\
m_depthWidth = {}\nm_depthHeight = {}\nm_depthShift = {}\nm_calibrationColorIntrinsic = {}\n\
m_calibrationColorExtrinsic = {}\nm_calibrationDepthIntrinsic = {}\nm_calibrationDepthExtrinsic = {}\n\
m_frames.size = {}\n",
            color.width,
            color.height,
            depth.width,
            depth.height,
            format_cpp_float(DEPTH_SHIFT),
            line(&color_k),
            line(&IDENTITY),
            line(&depth_k),
            line(&IDENTITY),
            scene.cameras.len()
        );
        write_file(&dir.join("_info.txt"), info.as_bytes())?;
    }
    let mut sens = if layouts.contains(&FrameLayout::Sens) {
        let path = dir.join(format!("{id}.sens"));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let header = SensHeader {
            sensor_name: sensor_name.into(),
            color_intrinsic: color_k.map(|v| v as f32),
            color_extrinsic: IDENTITY.map(|v| v as f32),
            depth_intrinsic: depth_k.map(|v| v as f32),
            depth_extrinsic: IDENTITY.map(|v| v as f32),
            color_width: color.width,
            color_height: color.height,
            depth_width: depth.width,
            depth_height: depth.height,
            depth_shift: DEPTH_SHIFT as f32,
        };
        Some(SensWriter::new(
            BufWriter::new(file),
            &header,
            scene.cameras.len() as u64,
        )?)
    } else {
        None
    };

    let face_instance = face_instances(&scene.mesh.triangles, &scene.vertex_instance);
    let lost: BTreeSet<usize> = scene.lost_tracking.iter().copied().collect();
    let scan_from_aligned: Pose = scene.aligned_from_scan.inverse();
    let indices: Vec<usize> = (0..scene.cameras.len()).collect();
    for chunk in indices.chunks(frame_chunk_len()) {
        let encoded: Vec<anyhow::Result<EncodedFrame>> = chunk
            .par_iter()
            .map(|&i| {
                let camera = &scene.cameras[i];
                let rendered = render_frame(&scene.mesh, &face_instance, camera, depth)?;
                let pose = scan_from_aligned * camera.world_from_camera;
                Ok(EncodedFrame {
                    color_jpeg: encode_jpeg(&rendered.color_rgb, color.width, color.height)?,
                    depth_mm: depth_to_u16(&rendered.depth_m, DEPTH_SHIFT),
                    pose_scan: if lost.contains(&i) {
                        [f64::NEG_INFINITY; 16]
                    } else {
                        pose_to_row_major(&pose)
                    },
                })
            })
            .collect();
        for (&i, frame) in chunk.iter().zip(encoded) {
            let frame = frame.with_context(|| format!("{id}: frame {i}"))?;
            if python {
                write_file(
                    &dir.join("color").join(format!("{i}.jpg")),
                    &frame.color_jpeg,
                )?;
                let png = encode_png_gray16(&frame.depth_mm, depth.width, depth.height)?;
                write_file(&dir.join("depth").join(format!("{i}.png")), &png)?;
                write_file(
                    &dir.join("pose").join(format!("{i}.txt")),
                    matrix_text_percent_f(&frame.pose_scan).as_bytes(),
                )?;
            }
            if cpp {
                let stem = format!("frame-{i:06}");
                write_file(&dir.join(format!("{stem}.color.jpg")), &frame.color_jpeg)?;
                let pgm = encode_pgm16_be(
                    &frame.depth_mm,
                    depth.width,
                    depth.height,
                    DEPTH_SHIFT as f32,
                );
                write_file(&dir.join(format!("{stem}.depth.pgm")), &pgm)?;
                write_file(
                    &dir.join(format!("{stem}.pose.txt")),
                    matrix_text_cpp(&frame.pose_scan).as_bytes(),
                )?;
            }
            if let Some(writer) = sens.as_mut() {
                let pose = scan_from_aligned * scene.cameras[i].world_from_camera;
                // ~30 Hz stream; colour stamped a little after depth, as real streams are.
                let timestamp_depth_us = 1_000_000 + 33_333 * i as u64;
                writer.write_frame(&SensFrame {
                    camera_to_world: pose_f32_or_lost(&pose, lost.contains(&i)),
                    timestamp_color_us: timestamp_depth_us + 517,
                    timestamp_depth_us,
                    color_jpeg: frame.color_jpeg,
                    depth_zlib: zlib_compress(&u16_le_bytes(&frame.depth_mm)),
                })?;
            }
        }
    }
    if let Some(writer) = sens {
        let imu: Vec<ImuFrame> = (0..opts.sens_imu_frames)
            .map(|k| {
                let t = k as f64 * 0.01;
                ImuFrame {
                    rotation_rate: [0.01 * t.sin(), 0.02, -0.01],
                    acceleration: [0.0, 0.0, 0.05 * t.cos()],
                    magnetic_field: [0.3, -0.1, 0.4],
                    attitude: [0.0, 0.0, t],
                    gravity: [0.0, 0.0, -1.0],
                    timestamp_us: 1_000_000 + 10_000 * k as u64,
                }
            })
            .collect();
        writer.finish(&imu)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn label_table_agrees_with_the_generator_catalog() {
        let mut problems = Vec::new();
        for entry in crate::catalog::label_map() {
            match LABEL_TABLE
                .iter()
                .find(|r| r.raw_category == entry.raw_label)
            {
                None => problems.push(format!("{}: no row", entry.raw_label)),
                Some(row) if (row.id, row.nyu40_id) != (entry.scannet_id, entry.nyu40_id) => {
                    problems.push(format!(
                        "{}: table ({}, {}) catalog ({}, {})",
                        entry.raw_label, row.id, row.nyu40_id, entry.scannet_id, entry.nyu40_id
                    ))
                }
                Some(_) => {}
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }

    use std::io::Read;

    use super::*;
    use crate::write_common::test_scene;

    fn opts(layouts: Vec<FrameLayout>) -> ScanNetWriteOptions {
        ScanNetWriteOptions {
            frame_layouts: layouts,
            depth_width: 80,
            depth_height: 60,
            ..ScanNetWriteOptions::default()
        }
    }

    fn all_layouts() -> Vec<FrameLayout> {
        vec![
            FrameLayout::PythonExport,
            FrameLayout::CppExport,
            FrameLayout::Sens,
        ]
    }

    fn digits(n: usize) -> usize {
        n.to_string().len()
    }

    #[test]
    fn vh_clean_header_is_284_bytes_for_a_scannet_sized_mesh() {
        assert_eq!(ply_header(81369, 153587, false).len(), 284);
        // MLIB is two letters shorter than VCGLIB; the label property adds its line.
        assert_eq!(
            ply_header(81369, 153587, true).len(),
            284 - 2 + "property ushort label\n".len()
        );
        // And it is written that way: a 5-digit / 6-digit mesh on disk.
        let dir = tempfile::tempdir().unwrap();
        let n_v = 10_000usize;
        let n_f = 100_000usize;
        let positions: Vec<[f32; 3]> = (0..n_v).map(|i| [i as f32, 0.0, 1.0]).collect();
        let colors = vec![[1u8, 2, 3]; n_v];
        let triangles: Vec<[u32; 3]> = (0..n_f as u32)
            .map(|f| [f % 10_000, (f + 1) % 10_000, (f + 2) % 10_000])
            .collect();
        let path = dir.path().join("m.ply");
        write_scannet_ply(&path, &positions, &colors, &triangles, None).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 284 + 16 * n_v + 13 * n_f);
        assert!(bytes[..284].ends_with(b"end_header\n"));
    }

    #[test]
    fn writes_the_scannet_layout() {
        let scene = test_scene::scene(64, 48);
        let root = tempfile::tempdir().unwrap();
        let mut o = opts(all_layouts());
        o.legacy_label = true;
        write_scannet(&scene, root.path(), &o).unwrap();
        let dir = scene_dir(root.path(), "scene0900_00");
        let (n_v, n_f) = (scene.mesh.n_vertices(), scene.mesh.n_faces());

        // Mesh: header, size, scan-frame positions, non-constant alpha.
        let ply = std::fs::read(dir.join("scene0900_00_vh_clean_2.ply")).unwrap();
        let header_len = 273 + digits(n_v) + digits(n_f);
        assert_eq!(&ply[..header_len], ply_header(n_v, n_f, false).as_bytes());
        assert!(std::str::from_utf8(&ply[..header_len])
            .unwrap()
            .contains("comment VCGLIB generated\n"));
        assert_eq!(ply.len(), header_len + 16 * n_v + 13 * n_f);
        let v0 = &ply[header_len..header_len + 16];
        let x = f32::from_le_bytes(v0[0..4].try_into().unwrap()) as f64;
        let y = f32::from_le_bytes(v0[4..8].try_into().unwrap()) as f64;
        let z = f32::from_le_bytes(v0[8..12].try_into().unwrap()) as f64;
        let back = scene
            .aligned_from_scan
            .transform_point(&nalgebra::Point3::new(x, y, z));
        let p = scene.mesh.point(0);
        assert!(
            (back - p).norm() < 1e-5,
            "vertex 0 must be in the scan frame"
        );
        assert!((nalgebra::Point3::new(x, y, z) - p).norm() > 0.1);
        let alphas: BTreeSet<u8> = (0..n_v).map(|v| ply[header_len + 16 * v + 15]).collect();
        assert!(alphas.len() > 2);
        let face0 = &ply[header_len + 16 * n_v..header_len + 16 * n_v + 13];
        assert_eq!(face0[0], 3);

        // Labels mesh: MLIB, 18-byte stride, ScanNet ids (bed = 11, not nyu40 4).
        let labels = std::fs::read(dir.join("scene0900_00_vh_clean_2.labels.ply")).unwrap();
        let lh = ply_header(n_v, n_f, true);
        assert!(labels.starts_with(lh.as_bytes()));
        assert!(lh.contains("comment MLIB generated\n"));
        assert_eq!(labels.len(), lh.len() + 18 * n_v + 13 * n_f);
        let bed_vertex = scene.vertex_instance.iter().position(|&i| i == 2).unwrap();
        let off = lh.len() + 18 * bed_vertex + 16;
        assert_eq!(u16::from_le_bytes([labels[off], labels[off + 1]]), 11);

        // Segments + aggregation: v2 style, objectId = instance - 1, every vertex covered.
        let segs: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("scene0900_00_vh_clean_2.0.010000.segs.json")).unwrap(),
        )
        .unwrap();
        assert!(segs["params"]["kThresh"].is_string());
        let seg_indices: Vec<u64> = segs["segIndices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(seg_indices.len(), n_v);
        let agg: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("scene0900_00.aggregation.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(agg["sceneId"], "scannet.scene0900_00");
        assert_eq!(agg["appId"], "Aggregator.v2");
        assert_eq!(
            agg["segmentsFile"],
            "scannet.scene0900_00_vh_clean_2.0.010000.segs.json"
        );
        let groups = agg["segGroups"].as_array().unwrap();
        assert_eq!(groups.len(), 3);
        // Label transfer reproduces vertex_instance exactly.
        let mut seg_to_instance = BTreeMap::new();
        for g in groups {
            let inst = g["objectId"].as_u64().unwrap() + 1;
            assert!(
                g["segments"].as_array().unwrap().len() >= 2,
                "several segments per object"
            );
            for s in g["segments"].as_array().unwrap() {
                seg_to_instance.insert(s.as_u64().unwrap(), inst as u32);
            }
        }
        for (v, s) in seg_indices.iter().enumerate() {
            assert_eq!(
                seg_to_instance.get(s).copied().unwrap_or(0),
                scene.vertex_instance[v]
            );
        }
        // Legacy label on the last non-structural object (the pillow), absent from the TSV.
        assert_eq!(groups[2]["label"], LEGACY_LABEL);
        let tsv = std::fs::read_to_string(root.path().join(LABEL_MAP_FILE)).unwrap();
        assert!(tsv.starts_with(
            "id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyuClass\tnyu40class"
        ));
        assert!(tsv.ends_with("\r\n"));
        assert_eq!(
            tsv.matches("\r\n").count(),
            tsv.matches('\n').count(),
            "CRLF only"
        );
        assert_eq!(tsv.lines().count(), 3, "header + bed + floor");
        assert!(!tsv.contains(LEGACY_LABEL));
        assert!(tsv.contains("\t\t"), "empty cells");
        for line in tsv.lines() {
            assert_eq!(line.trim_end_matches('\r').split('\t').count(), 17);
        }

        // Meta: sorted keys, trailing space on axisAlignment, values row-major.
        let meta = std::fs::read_to_string(dir.join("scene0900_00.txt")).unwrap();
        let keys: Vec<&str> = meta
            .lines()
            .map(|l| l.split(" = ").next().unwrap())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        let axis = meta
            .lines()
            .find(|l| l.starts_with("axisAlignment = "))
            .unwrap();
        assert!(axis.ends_with(' '));
        let values: Vec<f64> = axis["axisAlignment = ".len()..]
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        let expected = pose_to_row_major(&scene.aligned_from_scan);
        for (a, b) in values.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6);
        }
        assert!(meta.contains("sceneType = Living room / Lounge\n"));
        assert!(meta.contains("colorWidth = 64\n"));

        // Python export pose: %f, 4 lines, scan frame; lost frame is -inf.
        let pose0 = std::fs::read_to_string(dir.join("pose/0.txt")).unwrap();
        assert_eq!(pose0.lines().count(), 4);
        assert!(pose0.ends_with('\n'));
        let scan_pose = scene.aligned_from_scan.inverse() * scene.cameras[0].world_from_camera;
        let expected = pose_to_row_major(&scan_pose);
        let got: Vec<&str> = pose0.split_whitespace().collect();
        for (g, e) in got.iter().zip(expected) {
            assert_eq!(*g, format!("{e:.6}"));
        }
        let pose1 = std::fs::read_to_string(dir.join("pose/1.txt")).unwrap();
        assert_eq!(pose1, "-inf -inf -inf -inf\n".repeat(4));
        let cpp1 = std::fs::read_to_string(dir.join("frame-000001.pose.txt")).unwrap();
        assert_eq!(cpp1, ["-inf -inf -inf -inf"; 4].join("\n"));
        let cpp0 = std::fs::read_to_string(dir.join("frame-000000.pose.txt")).unwrap();
        assert!(!cpp0.ends_with('\n'));
        assert_eq!(cpp0.lines().count(), 4);
        assert!(std::fs::read_to_string(dir.join("_info.txt"))
            .unwrap()
            .contains("m_frames.size = 3\n"));
        let intrinsic = std::fs::read_to_string(dir.join("intrinsic/intrinsic_depth.txt")).unwrap();
        let d = depth_model(&o).intrinsics;
        assert!(intrinsic.starts_with(&format!("{:.6} 0.000000 {:.6} 0.000000\n", d.fx, d.cx)));

        // Depth: PNG, PGM and .sens payloads all decode to the rendered depth.
        let face_instance = face_instances(&scene.mesh.triangles, &scene.vertex_instance);
        let depth_cam = depth_model(&o);
        let rendered =
            render_frame(&scene.mesh, &face_instance, &scene.cameras[2], &depth_cam).unwrap();
        let mm = depth_to_u16(&rendered.depth_m, DEPTH_SHIFT);
        assert!(
            mm.iter().filter(|&&d| d > 0).count() > mm.len() / 4,
            "the camera sees the scene"
        );
        let png = image::open(dir.join("depth/2.png"))
            .unwrap()
            .into_luma16()
            .into_raw();
        assert_eq!(png, mm);
        let pgm = std::fs::read(dir.join("frame-000002.depth.pgm")).unwrap();
        let body = &pgm[pgm.len() - mm.len() * 2..];
        let be: Vec<u16> = body
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(be, mm);

        // .sens: walk the file with the documented layout.
        let sens = std::fs::read(dir.join("scene0900_00.sens")).unwrap();
        let u64_at = |o: usize| u64::from_le_bytes(sens[o..o + 8].try_into().unwrap());
        let name_len = u64_at(4) as usize;
        let base = 12 + name_len;
        assert_eq!(
            u32::from_le_bytes(sens[base + 264..base + 268].try_into().unwrap()),
            64
        );
        assert_eq!(
            u32::from_le_bytes(sens[base + 272..base + 276].try_into().unwrap()),
            80
        );
        assert_eq!(u64_at(base + 284), 3);
        let mut pos = base + 292;
        for i in 0..3 {
            let c2w: Vec<f32> = (0..16)
                .map(|k| f32::from_le_bytes(sens[pos + 4 * k..pos + 4 * k + 4].try_into().unwrap()))
                .collect();
            if i == 1 {
                assert!(c2w.iter().all(|v| *v == f32::NEG_INFINITY));
            } else {
                let scan_pose =
                    scene.aligned_from_scan.inverse() * scene.cameras[i].world_from_camera;
                let e = pose_to_row_major(&scan_pose);
                for k in 0..16 {
                    assert!((c2w[k] as f64 - e[k]).abs() < 1e-5);
                }
            }
            let color_len = u64_at(pos + 80) as usize;
            let depth_len = u64_at(pos + 88) as usize;
            let color = &sens[pos + 96..pos + 96 + color_len];
            let depth = &sens[pos + 96 + color_len..pos + 96 + color_len + depth_len];
            let img = image::load_from_memory_with_format(color, image::ImageFormat::Jpeg).unwrap();
            assert_eq!((img.width(), img.height()), (64, 48));
            assert_eq!(
                color,
                std::fs::read(dir.join(format!("color/{i}.jpg")))
                    .unwrap()
                    .as_slice()
            );
            let mut raw = Vec::new();
            flate2::read::ZlibDecoder::new(depth)
                .read_to_end(&mut raw)
                .unwrap();
            let samples: Vec<u16> = raw
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            if i == 2 {
                assert_eq!(samples, mm);
            }
            assert_eq!(samples.len(), 80 * 60);
            pos += 96 + color_len + depth_len;
        }
        assert_eq!(u64_at(pos), 3, "IMU count");
        assert_eq!(sens.len(), pos + 8 + 3 * 128);

        // Colour: the JPEG decodes close to the rendered colour.
        let rendered_color = render_frame(
            &scene.mesh,
            &face_instance,
            &scene.cameras[2],
            &scene.cameras[2].model,
        )
        .unwrap();
        let jpg = image::open(dir.join("color/2.jpg")).unwrap().into_rgb8();
        let mean_err: f64 = jpg
            .pixels()
            .zip(&rendered_color.color_rgb)
            .map(|(a, b)| {
                (0..3)
                    .map(|c| (a[c] as f64 - b[c] as f64).abs())
                    .sum::<f64>()
            })
            .sum::<f64>()
            / (64.0 * 48.0 * 3.0);
        assert!(mean_err < 8.0, "JPEG mean error {mean_err}");

        // Truth: lost frame left out, legacy label recorded.
        let truth: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
        assert_eq!(truth["lost_tracking"], json!(["1"]));
        assert_eq!(truth["cameras"].as_array().unwrap().len(), 2);
        assert_eq!(truth["legacy_label_instance"], 3);
        assert_eq!(truth["objects"][2]["raw_label"], LEGACY_LABEL);
    }

    #[test]
    fn v1_aggregation_uses_bare_names() {
        let scene = test_scene::scene(16, 12);
        let root = tempfile::tempdir().unwrap();
        let mut o = opts(vec![]);
        o.aggregation = AggregationStyle::V1;
        write_scannet(&scene, root.path(), &o).unwrap();
        let dir = scene_dir(root.path(), "scene0900_00");
        let agg: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("scene0900_00.aggregation.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(agg["sceneId"], "scene0900_00");
        assert_eq!(
            agg["segmentsFile"],
            "scene0900_00_vh_clean_2.0.010000.segs.json"
        );
        assert!(!dir.join("color").exists());
        let tsv = std::fs::read_to_string(root.path().join(LABEL_MAP_FILE)).unwrap();
        assert_eq!(tsv.lines().count(), 4, "header + bed + floor + pillow");
    }

    #[test]
    fn same_scene_gives_identical_bytes() {
        let scene = test_scene::scene(40, 30);
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let o = opts(all_layouts());
        write_scannet(&scene, a.path(), &o).unwrap();
        write_scannet(&scene, b.path(), &o).unwrap();
        assert_eq!(
            crate::tree_bytes(a.path()).unwrap(),
            crate::tree_bytes(b.path()).unwrap()
        );
    }
}
