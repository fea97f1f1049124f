//! ScanNet++ scene reader: `data/<scene_id>/` as released by the official toolkit
//! (FORMATS.md section 2).
//!
//! What is read:
//! - geometry: `scans/mesh_aligned_0.05.ply` (already in the aligned frame, so
//!   `aligned_from_scan` is the identity and `axis_alignment_given` is false);
//! - instances: `scans/segments.json` + `scans/segments_anno.json`, overlaps resolved as in
//!   [`annotation`]; labels lower-cased and, when `map_benchmark.csv` is found, mapped to the
//!   semantic benchmark classes;
//! - frames, from **one** capture device:
//!   - the DSLR when the scene has a `dslr/` folder: COLMAP poses (`dslr/colmap/images.txt`),
//!     the undistorted pinhole of `dslr/nerfstudio/transforms_undistorted.json`, colour from
//!     `dslr/resized_undistorted_images/`, no sensor depth. Frames are sorted by image name
//!     (the camera numbers its files in capture order);
//!   - otherwise the iPhone when there is an `iphone/` folder: `pose_intrinsic_imu.json`
//!     aligned poses, colour `iphone/rgb/frame_XXXXXX.jpg`, sensor depth from
//!     `iphone/depth.bin` (256x192, read lazily), sorted by frame index;
//!   - otherwise no frames (a warning), as for `ReadOptions::skip_frames`.
//!
//!   The DSLR is preferred because its images are sharp, high-resolution and posed by
//!   COLMAP against the laser scan; iPhone frames are not appended to DSLR ones, since the two
//!   cameras would make one frame list with two very different image qualities.
//!
//! Frames listed by the pose file but unusable are skipped and counted by reason in
//! `Scene::skipped_frames` (`"missing image"`, `"invalid pose"`, ...). A frame source whose
//! every frame is unusable is an error ([`Problem::NoFrames`]): the data is there but broken or
//! not yet extracted, which the user must hear about. Every error names the scene and the file.

pub mod annotation;
pub mod colmap;
pub mod iphone;
pub mod nerfstudio;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use crate::error::{Context, Problem, SceneError};
use crate::io::iphone_depth;
use crate::io::ReadOptions;
use crate::scene::{
    face_instances, members_by_instance, CameraModel, DepthSource, Frame, FrameLayout, ImageSource,
    Instance, InstanceId, LabelIds, Pose, Scene, SceneMeta, Source,
};

use annotation::BenchmarkMap;

/// Size of every iPhone `depth.bin` frame (FORMATS.md 2.4).
pub const IPHONE_DEPTH_WIDTH: u32 = 256;
pub const IPHONE_DEPTH_HEIGHT: u32 = 192;

/// Skip reason for a frame whose colour image file does not exist.
pub const SKIP_MISSING_IMAGE: &str = "missing image";

const MESH: &str = "scans/mesh_aligned_0.05.ply";
const SEGMENTS: &str = "scans/segments.json";
const ANNOTATION: &str = "scans/segments_anno.json";
const BENCHMARK_MAP: &str = "metadata/semantic_benchmark/map_benchmark.csv";
const DSLR_IMAGES_TXT: &str = "dslr/colmap/images.txt";
const DSLR_CAMERAS_TXT: &str = "dslr/colmap/cameras.txt";
const DSLR_TRANSFORMS: &str = "dslr/nerfstudio/transforms_undistorted.json";
const DSLR_IMAGE_DIR: &str = "dslr/resized_undistorted_images";
const IPHONE_POSES: &str = "iphone/pose_intrinsic_imu.json";
const IPHONE_RGB_DIR: &str = "iphone/rgb";
const IPHONE_DEPTH: &str = "iphone/depth.bin";

const UNDISTORT_HINT: &str = "the DSLR images must be undistorted first: run the official \
     scannetpp `dslr/undistort.py`, which writes `dslr/nerfstudio/transforms_undistorted.json` \
     and `dslr/resized_undistorted_images/`";
const IPHONE_EXTRACT_HINT: &str = "extract the iPhone frames first with the official scannetpp \
     `iphone/prepare_iphone_data.py` (writes `iphone/rgb/frame_XXXXXX.jpg`)";

/// Everything a step needs to name its errors.
struct SceneFiles<'a> {
    scene: &'a str,
    dir: &'a Path,
}

impl SceneFiles<'_> {
    fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    fn error(&self, file: &Path, problem: Problem) -> SceneError {
        SceneError::new(self.scene, file, problem)
    }

    /// A whole text file; a missing file becomes [`Problem::Missing`] with `hint`.
    fn read_text(&self, file: &Path, hint: &str) -> Result<String, SceneError> {
        let bytes = match crate::io::read_bounded(file, crate::io::MAX_TEXT_FILE_BYTES) {
            Ok(bytes) => bytes,
            Err(Problem::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.error(
                    file,
                    Problem::Missing {
                        hint: hint.to_string(),
                    },
                ))
            }
            Err(problem) => return Err(self.error(file, problem)),
        };
        String::from_utf8(bytes).map_err(|_| {
            self.error(
                file,
                Problem::NotUtf8 {
                    what: "the file".into(),
                },
            )
        })
    }
}

/// Frames of the scene plus what was dropped on the way.
#[derive(Default)]
struct FrameSet {
    frames: Vec<Frame>,
    skipped: BTreeMap<String, u32>,
    warnings: Vec<String>,
}

impl FrameSet {
    fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_string()).or_insert(0) += 1;
    }

    fn skipped_summary(&self) -> String {
        let parts: Vec<String> = self
            .skipped
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        if parts.is_empty() {
            "none listed".into()
        } else {
            format!("all skipped ({})", parts.join(", "))
        }
    }
}

/// Reads one ScanNet++ scene folder (`data/<scene_id>/`). The scene id is the folder name.
pub fn read_scene(dir: &Path, options: &ReadOptions) -> Result<Scene, SceneError> {
    let scene_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| dir.display().to_string());
    let files = SceneFiles {
        scene: &scene_id,
        dir,
    };
    let mut warnings = Vec::new();

    let mesh_path = files.path(MESH);
    if !mesh_path.is_file() {
        return Err(files.error(
            &mesh_path,
            Problem::Missing {
                hint: "not a ScanNet++ scene folder (`data/<scene_id>/`), or the scans were not downloaded".into(),
            },
        ));
    }
    let mesh = crate::io::ply::read_mesh(&mesh_path).at(&scene_id, &mesh_path)?;

    let segments_path = files.path(SEGMENTS);
    let seg_indices = annotation::parse_segments(
        &files.read_text(&segments_path, "part of the ScanNet++ scans download")?,
    )
    .at(&scene_id, &segments_path)?;
    if seg_indices.len() != mesh.n_vertices() {
        return Err(files.error(
            &segments_path,
            Problem::LengthMismatch {
                what: format!("segIndices entries (one per vertex of {MESH})"),
                expected: mesh.n_vertices() as u64,
                found: seg_indices.len() as u64,
            },
        ));
    }
    let annotation_path = files.path(ANNOTATION);
    let groups = annotation::parse_annotation(
        &files.read_text(&annotation_path, "part of the ScanNet++ scans download")?,
    )
    .at(&scene_id, &annotation_path)?;
    let (vertex_instance, groups) =
        annotation::resolve_instances(&seg_indices, &groups).at(&scene_id, &annotation_path)?;
    let face_instance = face_instances(&mesh.triangles, &vertex_instance);

    let benchmark = read_benchmark_map(&files, options)?;
    let ids: Vec<InstanceId> = groups.iter().map(|g| InstanceId(g.object_id + 1)).collect();
    let members = members_by_instance(&ids, &vertex_instance, &face_instance);
    let mut unknown_labels = Vec::new();
    let mut instances = Vec::with_capacity(groups.len());
    for ((group, id), (vertex_indices, face_indices)) in groups.iter().zip(&ids).zip(members) {
        let normalized = annotation::normalize_label(&group.label);
        let (label, benchmark_id) = match &benchmark {
            Some(map) => {
                let mapped = map.map(&normalized);
                if !mapped.known {
                    unknown_labels.push(normalized.clone());
                }
                (mapped.label, mapped.benchmark_id)
            }
            None => (normalized, None),
        };
        if vertex_indices.is_empty() {
            warnings.push(format!(
                "instance {id} ({label:?}) owns no vertices after overlap resolution"
            ));
        }
        instances.push(Instance {
            id: *id,
            raw_label: group.label.clone(),
            label,
            label_ids: LabelIds {
                benchmark_id,
                ..LabelIds::default()
            },
            vertex_indices,
            face_indices,
        });
    }
    for (label, count) in annotation::count_labels(unknown_labels.iter().map(String::as_str)) {
        warnings.push(format!(
            "label {label:?} ({count} instance(s)) is not in map_benchmark.csv; kept as is"
        ));
    }

    let (frame_layout, frame_set) = if options.skip_frames {
        (FrameLayout::None, FrameSet::default())
    } else if dir.join("dslr").is_dir() {
        (FrameLayout::ScanNetPPDslr, read_dslr_frames(&files)?)
    } else if dir.join("iphone").is_dir() {
        (FrameLayout::ScanNetPPIphone, read_iphone_frames(&files)?)
    } else {
        warnings.push("no `dslr/` or `iphone/` folder: the scene has no frames".into());
        (FrameLayout::None, FrameSet::default())
    };
    warnings.extend(frame_set.warnings);

    Ok(Scene {
        meta: SceneMeta {
            scene_id: scene_id.clone(),
            source: Source::ScanNetPP,
            root: dir.to_path_buf(),
            scene_type: None,
            frame_layout,
            axis_alignment_given: false,
        },
        aligned_from_scan: Pose::identity(),
        mesh,
        vertex_instance,
        face_instance,
        instances,
        frames: frame_set.frames,
        skipped_frames: frame_set.skipped,
        warnings,
    })
}

/// The benchmark map: the one given in the options (which must exist), else the first
/// `metadata/semantic_benchmark/map_benchmark.csv` in the scene folder or its ancestors up to
/// three levels (the release puts it two levels above `data/<scene_id>/`). `top100.txt` beside
/// it is optional.
fn read_benchmark_map(
    files: &SceneFiles,
    options: &ReadOptions,
) -> Result<Option<BenchmarkMap>, SceneError> {
    let csv_path = match &options.scannetpp_benchmark_map {
        Some(path) => path.clone(),
        None => {
            let base = files
                .dir
                .canonicalize()
                .unwrap_or_else(|_| files.dir.to_path_buf());
            match base
                .ancestors()
                .take(4)
                .map(|a| a.join(BENCHMARK_MAP))
                .find(|p| p.is_file())
            {
                Some(path) => path,
                None => return Ok(None),
            }
        }
    };
    let csv = files.read_text(
        &csv_path,
        "given as the ScanNet++ benchmark map (ReadOptions::scannetpp_benchmark_map)",
    )?;
    let top100_path = csv_path.with_file_name("top100.txt");
    let top100 = if top100_path.is_file() {
        Some(files.read_text(&top100_path, "")?)
    } else {
        None
    };
    BenchmarkMap::parse(&csv, top100.as_deref())
        .map(Some)
        .at(files.scene, &csv_path)
}

/// Whether an image name from a pose file stays inside the image folder.
fn is_plain_relative(name: &str) -> bool {
    !name.is_empty()
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn read_dslr_frames(files: &SceneFiles) -> Result<FrameSet, SceneError> {
    let mut set = FrameSet::default();
    let images_path = files.path(DSLR_IMAGES_TXT);
    let mut images = colmap::parse_images(&files.read_text(
        &images_path,
        "the DSLR COLMAP model is part of the ScanNet++ dslr download",
    )?)
    .at(files.scene, &images_path)?;

    // cameras.txt is only checked: frames use the undistorted pinhole below, not the
    // fisheye model COLMAP estimated for the original images.
    let cameras_path = files.path(DSLR_CAMERAS_TXT);
    if cameras_path.is_file() {
        let cameras = colmap::parse_cameras(&files.read_text(&cameras_path, "")?)
            .at(files.scene, &cameras_path)?;
        if let Some(image) = images.iter().find(|i| !cameras.contains_key(&i.camera_id)) {
            return Err(files.error(
                &images_path,
                Problem::invalid(
                    format!("line {}", image.line),
                    format!("CAMERA_ID {} is not in cameras.txt", image.camera_id),
                ),
            ));
        }
    } else {
        set.warnings.push(format!(
            "{DSLR_CAMERAS_TXT} is missing; camera ids were not checked"
        ));
    }

    let transforms_path = files.path(DSLR_TRANSFORMS);
    let camera: CameraModel =
        nerfstudio::parse_undistorted_camera(&files.read_text(&transforms_path, UNDISTORT_HINT)?)
            .at(files.scene, &transforms_path)?;

    images.sort_by(|a, b| a.name.cmp(&b.name));
    let mut names = BTreeSet::new();
    for image in &images {
        if !is_plain_relative(&image.name) {
            return Err(files.error(
                &images_path,
                Problem::invalid(
                    format!("line {}", image.line),
                    format!(
                        "image name {:?} must be a relative path inside the image folder",
                        image.name
                    ),
                ),
            ));
        }
        if !names.insert(image.name.as_str()) {
            return Err(files.error(
                &images_path,
                Problem::DuplicateId {
                    what: "image NAME".into(),
                    id: image.name.clone(),
                },
            ));
        }
    }

    let image_dir = files.path(DSLR_IMAGE_DIR);
    for image in &images {
        let image_path = image_dir.join(&image.name);
        if !image_path.is_file() {
            set.skip(SKIP_MISSING_IMAGE);
            continue;
        }
        set.frames.push(Frame {
            id: image.name.clone(),
            world_from_camera: image.camera_from_world.inverse(),
            color: camera,
            depth: None,
            color_image: Some(ImageSource::File(image_path)),
            sensor_depth: None,
        });
    }
    if set.frames.is_empty() {
        return Err(files.error(
            &images_path,
            Problem::NoFrames {
                detail: format!(
                    "{} image(s) listed, {}; {UNDISTORT_HINT}",
                    images.len(),
                    set.skipped_summary()
                ),
            },
        ));
    }
    Ok(set)
}

fn read_iphone_frames(files: &SceneFiles) -> Result<FrameSet, SceneError> {
    let mut set = FrameSet::default();
    let poses_path = files.path(IPHONE_POSES);
    let poses = iphone::parse_poses(
        &files.read_text(&poses_path, "part of the ScanNet++ iphone download")?,
    )
    .at(files.scene, &poses_path)?;
    set.skipped = poses.skipped;

    // depth.bin is checked once here (layout, record headers) so that a truncated file is
    // reported with the scene rather than at the first frame read.
    let depth_path = files.path(IPHONE_DEPTH);
    let depth_info = if depth_path.is_file() {
        Some(
            iphone_depth::inspect(&depth_path, IPHONE_DEPTH_WIDTH, IPHONE_DEPTH_HEIGHT)
                .at(files.scene, &depth_path)?,
        )
    } else {
        set.warnings.push(format!(
            "{IPHONE_DEPTH} is missing; frames have no sensor depth"
        ));
        None
    };

    let rgb_dir = files.path(IPHONE_RGB_DIR);
    // Every frame of the video has the same size; read it from the first JPEG header.
    let mut color_size: Option<(u32, u32)> = None;
    let mut beyond_depth = 0u32;
    for pose in &poses.frames {
        let image_path = rgb_dir.join(format!("{}.jpg", pose.name));
        if !image_path.is_file() {
            set.skip(SKIP_MISSING_IMAGE);
            continue;
        }
        let (width, height) = match color_size {
            Some(size) => size,
            None => {
                let size = crate::io::frames::image_file_dimensions(&image_path)
                    .and_then(|(w, h)| {
                        crate::io::check_image_size(w, h, "colour image size").map(|()| (w, h))
                    })
                    .map_err(|problem| files.error(&image_path, problem))?;
                color_size = Some(size);
                size
            }
        };
        let color = CameraModel {
            intrinsics: pose.intrinsics,
            width,
            height,
        };
        let has_depth = match depth_info {
            Some(info) => info.n_frames.is_none_or(|n| pose.frame_index < n),
            None => false,
        };
        if depth_info.is_some() && !has_depth {
            beyond_depth += 1;
        }
        set.frames.push(Frame {
            id: pose.name.clone(),
            world_from_camera: pose.world_from_camera,
            color,
            depth: has_depth.then(|| color.resized(IPHONE_DEPTH_WIDTH, IPHONE_DEPTH_HEIGHT)),
            color_image: Some(ImageSource::File(image_path)),
            sensor_depth: has_depth.then(|| DepthSource::IphoneBin {
                path: depth_path.clone(),
                frame_index: pose.frame_index,
                width: IPHONE_DEPTH_WIDTH,
                height: IPHONE_DEPTH_HEIGHT,
            }),
        });
    }
    if beyond_depth > 0 {
        set.warnings.push(format!(
            "{beyond_depth} frame(s) have no record in {IPHONE_DEPTH}; they have no sensor depth"
        ));
    }
    if set.frames.is_empty() {
        let hint = if set.skipped.contains_key(SKIP_MISSING_IMAGE) {
            format!("; {IPHONE_EXTRACT_HINT}")
        } else {
            String::new()
        };
        return Err(files.error(
            &poses_path,
            Problem::NoFrames {
                detail: format!("{}{hint}", set.skipped_summary()),
            },
        ));
    }
    Ok(set)
}
