//! ScanNet v2 scene reader: one `scans/sceneXXXX_YY/` folder -> [`Scene`].
//!
//! What is read, in order (FORMATS.md section 1):
//! 1. `<id>.txt` ([`meta`]): `axisAlignment` (the `aligned_from_scan` transform, identity when
//!    absent), `sceneType`, fallback camera sizes and intrinsics.
//! 2. `<id>_vh_clean_2.ply` through [`crate::io::ply::read_mesh`], then aligned.
//! 3. `<id>_vh_clean_2.0.010000.segs.json` + `<id>.aggregation.json` ([`annotation`]) and the
//!    label map ([`labels`]). Test scenes have neither file and read with zero instances.
//! 4. Frames from the first layout present: the Python export, the C++ export
//!    ([`exported`]), or the `.sens` stream itself ([`sens`]). Poses in all of them are
//!    camera-to-world in the *scan* frame, so every pose is left-multiplied by
//!    `aligned_from_scan`.
//!
//! Every failure is a [`SceneError`] naming the scene, the file and the problem; soft
//! problems (unknown labels, a missing label map, lost-tracking frames) become warnings and
//! counts in the [`Scene`] instead.

pub mod annotation;
pub mod exported;
pub mod labels;
pub mod matrix;
pub mod meta;
pub mod sens;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{Context, Problem, SceneError};
use crate::io::ReadOptions;
use crate::scene::{
    face_instances, members_by_instance, pose_from_row_major, CameraModel, DepthSource, Frame,
    FrameLayout, ImageSource, Instance, InstanceId, Intrinsics, LabelIds, Mesh, Pose, Scene,
    SceneMeta, Source,
};

use self::labels::LabelMap;
use self::meta::ScanMeta;

/// `skipped_frames` key: the pose holds `-inf` / NaN (the tracker lost the camera).
pub const SKIP_LOST_TRACKING: &str = "invalid pose (lost tracking)";
/// `skipped_frames` key: the pose is finite but its rotation block is not a rotation.
pub const SKIP_NOT_RIGID: &str = "invalid pose (not a rigid transform)";
/// `skipped_frames` key: an exported frame has a pose but no colour image.
pub const SKIP_MISSING_COLOR: &str = "missing colour image";
/// `skipped_frames` key: an exported frame has a colour image but no pose file.
pub const SKIP_MISSING_POSE: &str = "missing pose file";

/// Label given to instances whose raw label the label map does not know.
pub const UNLABELLED: &str = "unlabelled";

/// File names of one scene, derived from its id.
struct ScenePaths {
    meta: PathBuf,
    mesh: PathBuf,
    segs: PathBuf,
    aggregation: PathBuf,
    sens: PathBuf,
}

impl ScenePaths {
    fn new(dir: &Path, scene_id: &str) -> ScenePaths {
        ScenePaths {
            meta: dir.join(format!("{scene_id}.txt")),
            mesh: dir.join(format!("{scene_id}_vh_clean_2.ply")),
            segs: dir.join(format!("{scene_id}_vh_clean_2.0.010000.segs.json")),
            aggregation: dir.join(format!("{scene_id}.aggregation.json")),
            sens: dir.join(format!("{scene_id}.sens")),
        }
    }
}

/// Reads one ScanNet scene folder. The scene id is the folder name.
pub fn read_scene(dir: &Path, options: &ReadOptions) -> Result<Scene, SceneError> {
    let scene_id = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let scene_id = scene_id.as_str();
    let paths = ScenePaths::new(dir, scene_id);
    let mut warnings = Vec::new();

    // 1. Scan meta. Optional: without it the scene is unaligned and the frames must carry
    //    their own intrinsics.
    let meta = if paths.meta.exists() {
        let bytes = crate::io::read_bounded(&paths.meta, crate::io::MAX_TEXT_FILE_BYTES)
            .at(scene_id, &paths.meta)?;
        meta::parse_meta(&bytes).at(scene_id, &paths.meta)?
    } else {
        warnings.push(format!(
            "no {}: no axis alignment (identity used) and no scene type",
            file_name(&paths.meta)
        ));
        ScanMeta::default()
    };
    let aligned_from_scan = match &meta.axis_alignment {
        Some(matrix) => pose_from_row_major(matrix)
            .ok_or_else(|| {
                Problem::invalid(
                    "axisAlignment",
                    "not a rigid transform (need R^T R = I and det R = 1 within 1e-4 and a last row \
                     0 0 0 1; a sheared or scaled matrix is corrupt: re-download the scene)",
                )
            })
            .at(scene_id, &paths.meta)?,
        None => Pose::identity(),
    };

    // 2. Mesh, moved into the aligned frame.
    if !paths.mesh.is_file() {
        return Err(SceneError::new(
            scene_id,
            &paths.mesh,
            Problem::Missing {
                hint: "every ScanNet scene ships its cleaned, decimated mesh `<id>_vh_clean_2.ply`"
                    .into(),
            },
        ));
    }
    let mut mesh = crate::io::ply::read_mesh(&paths.mesh).at(scene_id, &paths.mesh)?;
    align_mesh(&mut mesh, &aligned_from_scan).at(scene_id, &paths.mesh)?;

    // 3. Instances and labels.
    let (vertex_instance, instances) =
        read_instances(dir, scene_id, &paths, &mesh, options, &mut warnings)?;
    let face_instance = face_instances(&mesh.triangles, &vertex_instance);
    let ids: Vec<InstanceId> = instances.iter().map(|inst| inst.id).collect();
    let mut instances = instances;
    for (inst, (vertex_indices, face_indices)) in
        instances
            .iter_mut()
            .zip(members_by_instance(&ids, &vertex_instance, &face_instance))
    {
        if vertex_indices.is_empty() {
            warnings.push(format!(
                "instance {} ({}) lost all its vertices to later, overlapping groups",
                inst.id, inst.raw_label
            ));
        }
        inst.vertex_indices = vertex_indices;
        inst.face_indices = face_indices;
    }

    // 4. Frames.
    let frame_set = if options.skip_frames {
        FrameSet::empty(FrameLayout::None)
    } else {
        let context = FrameContext {
            scene_id,
            dir,
            meta: &meta,
            meta_path: &paths.meta,
            sens_path: &paths.sens,
            aligned_from_scan,
        };
        read_frames(&context)?
    };
    warnings.extend(frame_set.warnings);
    if frame_set.frames.is_empty() && !options.skip_frames {
        let skipped: u32 = frame_set.skipped.values().sum();
        warnings.push(format!(
            "no usable frames ({} skipped, layout {:?})",
            skipped, frame_set.layout
        ));
    }

    Ok(Scene {
        meta: SceneMeta {
            scene_id: scene_id.to_string(),
            source: Source::ScanNet,
            root: dir.to_path_buf(),
            scene_type: meta.scene_type.clone(),
            frame_layout: frame_set.layout,
            axis_alignment_given: meta.axis_alignment.is_some(),
        },
        aligned_from_scan,
        mesh,
        vertex_instance,
        face_instance,
        instances,
        frames: frame_set.frames,
        skipped_frames: frame_set.skipped,
        warnings,
    })
}

/// The last path component, for messages.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Applies `aligned_from_scan` to every vertex. The result is checked because a huge but
/// finite coordinate can overflow `f32` once moved.
fn align_mesh(mesh: &mut Mesh, aligned_from_scan: &Pose) -> Result<(), Problem> {
    for (vertex_idx, position) in mesh.positions_m.iter_mut().enumerate() {
        let point_in_scan =
            nalgebra::Point3::new(position[0] as f64, position[1] as f64, position[2] as f64);
        let point_in_aligned = aligned_from_scan * point_in_scan;
        let aligned = [
            point_in_aligned.x as f32,
            point_in_aligned.y as f32,
            point_in_aligned.z as f32,
        ];
        if let Some(bad) = aligned.iter().find(|c| !c.is_finite()) {
            return Err(Problem::NonFinite {
                what: "aligned vertex".into(),
                index: vertex_idx as u64,
                value: bad.to_string(),
            });
        }
        *position = aligned;
    }
    Ok(())
}

/// Reads segs + aggregation and resolves labels. Returns the per-vertex instance array and
/// the instances (sorted by id, member lists still empty).
fn read_instances(
    dir: &Path,
    scene_id: &str,
    paths: &ScenePaths,
    mesh: &Mesh,
    options: &ReadOptions,
    warnings: &mut Vec<String>,
) -> Result<(Vec<u32>, Vec<Instance>), SceneError> {
    let n_vertices = mesh.n_vertices();
    // `exists`, not `is_file`: a present path that is not a regular file (a symlink to a
    // device) is reported by `read_bounded` as such, not as missing.
    let has_segs = paths.segs.exists();
    let has_aggregation = paths.aggregation.exists();
    if !has_segs && !has_aggregation {
        // `scans_test/` scenes ship no annotation: a valid scene without instances.
        warnings.push(format!(
            "no annotation ({} and {} are absent): zero instances",
            file_name(&paths.segs),
            file_name(&paths.aggregation)
        ));
        return Ok((vec![0; n_vertices], Vec::new()));
    }
    // One without the other is a broken download, not a test scene.
    for (present, path, partner) in [
        (has_segs, &paths.segs, &paths.aggregation),
        (has_aggregation, &paths.aggregation, &paths.segs),
    ] {
        if !present {
            return Err(SceneError::new(
                scene_id,
                path,
                Problem::Missing {
                    hint: format!(
                        "{} is present, so the instance annotation needs this file too",
                        file_name(partner)
                    ),
                },
            ));
        }
    }
    let segs_bytes = crate::io::read_bounded(&paths.segs, crate::io::MAX_TEXT_FILE_BYTES)
        .at(scene_id, &paths.segs)?;
    let seg_indices = annotation::parse_segs(&segs_bytes, n_vertices).at(scene_id, &paths.segs)?;
    let aggregation_bytes =
        crate::io::read_bounded(&paths.aggregation, crate::io::MAX_TEXT_FILE_BYTES)
            .at(scene_id, &paths.aggregation)?;
    let annotated = annotation::apply_aggregation(&aggregation_bytes, &seg_indices)
        .at(scene_id, &paths.aggregation)?;

    let label_map = if annotated.groups.is_empty() {
        None
    } else {
        load_label_map(dir, scene_id, options)?
    };
    let mut unknown: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut instances = Vec::with_capacity(annotated.groups.len());
    for group in annotated.groups {
        let (label, label_ids) = match &label_map {
            Some((_, map)) => match map.lookup(&group.raw_label) {
                Some(row) => (
                    row.category.clone(),
                    LabelIds {
                        nyu40_id: row.nyu40_id,
                        scannet_id: row.scannet_id,
                        benchmark_id: None,
                    },
                ),
                None => {
                    unknown
                        .entry(group.raw_label.clone())
                        .or_default()
                        .push(group.id.0);
                    (UNLABELLED.to_string(), LabelIds::default())
                }
            },
            None => (group.raw_label.to_lowercase(), LabelIds::default()),
        };
        instances.push(Instance {
            id: group.id,
            raw_label: group.raw_label,
            label,
            label_ids,
            vertex_indices: Vec::new(),
            face_indices: Vec::new(),
        });
    }
    match &label_map {
        Some((path, _)) => {
            for (raw_label, ids) in &unknown {
                let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
                warnings.push(format!(
                    "label {raw_label:?} (instance {}) is not in {}: labelled {UNLABELLED:?}",
                    ids.join(", "),
                    path.display()
                ));
            }
        }
        None => warnings.push(format!(
            "no label map ({}) given or found in the scene folder or its {} parents: \
             labels are the raw annotation labels, lower-cased, without class ids",
            labels::LABEL_MAP_NAMES[0],
            3
        )),
    }
    instances.sort_by_key(|inst| inst.id);
    Ok((annotated.vertex_instance, instances))
}

/// The label map: the one given in the options (which must exist), else the nearest one
/// found above the scene, else none.
fn load_label_map(
    dir: &Path,
    scene_id: &str,
    options: &ReadOptions,
) -> Result<Option<(PathBuf, LabelMap)>, SceneError> {
    let path = match &options.scannet_label_map {
        Some(path) if !path.is_file() => {
            return Err(SceneError::new(
                scene_id,
                path,
                Problem::Missing {
                    hint: "the label map given in the options does not exist".into(),
                },
            ))
        }
        Some(path) => path.clone(),
        None => match labels::find_label_map(dir) {
            Some(path) => path,
            None => return Ok(None),
        },
    };
    let bytes =
        crate::io::read_bounded(&path, crate::io::MAX_TEXT_FILE_BYTES).at(scene_id, &path)?;
    let map = LabelMap::parse(&bytes).at(scene_id, &path)?;
    Ok(Some((path, map)))
}

/// What the frame readers need to know about the scene.
pub(crate) struct FrameContext<'a> {
    pub scene_id: &'a str,
    pub dir: &'a Path,
    pub meta: &'a ScanMeta,
    pub meta_path: &'a Path,
    pub sens_path: &'a Path,
    pub aligned_from_scan: Pose,
}

/// Frames of one layout with what was skipped and why.
pub(crate) struct FrameSet {
    pub layout: FrameLayout,
    pub frames: Vec<Frame>,
    pub skipped: BTreeMap<String, u32>,
    pub warnings: Vec<String>,
}

impl FrameSet {
    fn empty(layout: FrameLayout) -> FrameSet {
        FrameSet {
            layout,
            frames: Vec::new(),
            skipped: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }
}

/// Picks the first frame layout present (Python export, C++ export, `.sens`) and reads it.
fn read_frames(context: &FrameContext) -> Result<FrameSet, SceneError> {
    if exported::has_python_export(context.dir) {
        return exported::read_python_export(context);
    }
    if exported::has_cpp_export(context.dir) {
        return exported::read_cpp_export(context);
    }
    if context.sens_path.is_file() {
        return read_sens_frames(context);
    }
    Ok(FrameSet::empty(FrameLayout::None))
}

/// Frames straight from the `.sens` stream: payloads stay in the file, frames record where.
fn read_sens_frames(context: &FrameContext) -> Result<FrameSet, SceneError> {
    let path = context.sens_path;
    let at = |problem: Problem| SceneError::new(context.scene_id, path, problem);
    let (header, index) = sens::index_sens(path).map_err(at)?;
    let color_intrinsics = matrix::intrinsics_from_matrix(&header.color_intrinsic);
    let depth_intrinsics = matrix::intrinsics_from_matrix(&header.depth_intrinsic);
    let color = camera(
        color_intrinsics,
        (header.color_width, header.color_height),
        "colour",
    )
    .map_err(at)?;
    let depth = camera(
        depth_intrinsics,
        (header.depth_width, header.depth_height),
        "depth",
    )
    .map_err(at)?;
    let shift = header.depth_shift as f64;
    if !(shift.is_finite() && shift > 0.0) {
        return Err(at(Problem::invalid(
            "depth shift",
            format!("{shift}; expected a positive number of raw units per metre (1000)"),
        )));
    }
    let mut collector = FrameCollector::new(
        FrameLayout::ScanNetSens,
        context.aligned_from_scan,
        color,
        Some(depth),
    );
    for (frame_idx, frame) in index.iter().enumerate() {
        collector.push(
            frame_idx as u64,
            &frame.scan_from_camera,
            Some(ImageSource::SensJpeg {
                path: path.to_path_buf(),
                offset: frame.color_offset,
                len: frame.color_len,
            }),
            Some(DepthSource::SensZlib {
                path: path.to_path_buf(),
                offset: frame.depth_offset,
                len: frame.depth_len,
                width: header.depth_width,
                height: header.depth_height,
                shift,
            }),
        );
    }
    Ok(collector.finish())
}

/// A camera from intrinsics and a size, rejecting singular or non-finite calibrations and
/// empty images. `which` is "colour" or "depth"; the caller attaches the file.
pub(crate) fn camera(
    intrinsics: Intrinsics,
    (width, height): (u32, u32),
    which: &str,
) -> Result<CameraModel, Problem> {
    if !intrinsics.is_valid() {
        return Err(Problem::invalid(
            format!("{which} intrinsics"),
            format!(
                "fx = {}, fy = {}, cx = {}, cy = {}: the focal lengths must be finite and \
                 positive (the calibration matrix is singular or corrupt)",
                intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy
            ),
        ));
    }
    crate::io::check_image_size(width, height, &format!("{which} image size"))?;
    Ok(CameraModel {
        intrinsics,
        width,
        height,
    })
}

/// Builds frames in stream order, applying the alignment and counting what is skipped.
pub(crate) struct FrameCollector {
    layout: FrameLayout,
    aligned_from_scan: Pose,
    color: CameraModel,
    depth: Option<CameraModel>,
    frames: Vec<Frame>,
    skipped: BTreeMap<String, u32>,
    frames_without_depth: BTreeSet<u64>,
    warnings: Vec<String>,
}

impl FrameCollector {
    pub(crate) fn new(
        layout: FrameLayout,
        aligned_from_scan: Pose,
        color: CameraModel,
        depth: Option<CameraModel>,
    ) -> FrameCollector {
        FrameCollector {
            layout,
            aligned_from_scan,
            color,
            depth,
            frames: Vec::new(),
            skipped: BTreeMap::new(),
            frames_without_depth: BTreeSet::new(),
            warnings: Vec::new(),
        }
    }

    /// Counts a dropped frame under `reason`.
    pub(crate) fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_string()).or_insert(0) += 1;
    }

    pub(crate) fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// Adds frame `frame_idx` with its camera-to-world pose in the scan frame, or counts it
    /// as skipped when the pose is unusable.
    pub(crate) fn push(
        &mut self,
        frame_idx: u64,
        scan_from_camera: &[f64; 16],
        color_image: Option<ImageSource>,
        sensor_depth: Option<DepthSource>,
    ) {
        if scan_from_camera.iter().any(|v| !v.is_finite()) {
            self.skip(SKIP_LOST_TRACKING);
            return;
        }
        let Some(scan_from_camera) = pose_from_row_major(scan_from_camera) else {
            self.skip(SKIP_NOT_RIGID);
            return;
        };
        if sensor_depth.is_none() {
            self.frames_without_depth.insert(frame_idx);
        }
        self.frames.push(Frame {
            id: frame_idx.to_string(),
            world_from_camera: self.aligned_from_scan * scan_from_camera,
            color: self.color,
            depth: self.depth,
            color_image,
            sensor_depth,
        });
    }

    pub(crate) fn finish(mut self) -> FrameSet {
        if let Some(first) = self.frames_without_depth.first() {
            self.warnings.push(format!(
                "{} frames have no depth image (first: frame {first}); they are kept without \
                 sensor depth",
                self.frames_without_depth.len()
            ));
        }
        FrameSet {
            layout: self.layout,
            frames: self.frames,
            skipped: self.skipped,
            warnings: self.warnings,
        }
    }
}
