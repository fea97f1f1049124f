//! Writes a [`SynthScene`] in the ScanNet++ layout (FORMATS.md section 2):
//! `root/data/<scene_id>/` with the mesh in the **aligned** frame (ScanNet++ is released
//! aligned), segments and overlapping annotation groups, the DSLR COLMAP / nerfstudio files
//! with undistorted pinhole images, and the iPhone poses, RGB frames and `depth.bin`.
//!
//! Quirks kept on purpose: one pair of groups overlaps (the smaller object's segments are also
//! listed in a bigger object's group) so the reader's smallest-instance-wins rule is
//! exercised; the nerfstudio `transform_matrix` is in the OpenGL / nerfstudio convention and
//! must not be used for rendering; only a subset of iPhone frames has a pose (every 7th frame
//! and lost-tracking frames are missing from `pose_intrinsic_imu.json`); the raw iPhone `pose`
//! is not in the mesh frame, only `aligned_pose` is.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::encode::{depth_to_u16, encode_jpeg, u16_le_bytes};
use crate::write_common::{
    create_dir, frame_chunk_len, render_frame, segment_mesh, write_file, write_truth, Truth,
    TruthCamera,
};
use crate::SynthScene;
use msmu_data::scene::{face_instances, pose_to_row_major, CameraModel, Pose};

/// How the iPhone `depth.bin` is encoded (FORMATS.md 2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IphoneDepthEncoding {
    /// (a) The whole file is one raw-deflate stream of float32 metres.
    DeflateF32,
    /// (b) Per frame `[u32 LE size][LZ4 block of u16 millimetres]`.
    Lz4U16,
}

/// How to write one ScanNet++ scene.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanNetPPWriteOptions {
    /// Write the DSLR part (COLMAP, nerfstudio, undistorted images at the camera size).
    pub dslr: bool,
    /// Write the iPhone part.
    pub iphone: bool,
    /// iPhone RGB size (real: 1920x1440); the scene camera is rescaled to it.
    pub iphone_width: u32,
    pub iphone_height: u32,
    /// iPhone depth size (real: 256x192).
    pub iphone_depth_width: u32,
    pub iphone_depth_height: u32,
    pub depth_encoding: IphoneDepthEncoding,
}

impl Default for ScanNetPPWriteOptions {
    fn default() -> Self {
        ScanNetPPWriteOptions {
            dslr: true,
            iphone: true,
            iphone_width: 1920,
            iphone_height: 1440,
            iphone_depth_width: 256,
            iphone_depth_height: 192,
            depth_encoding: IphoneDepthEncoding::DeflateF32,
        }
    }
}

/// Folder of one scene: `root/data/<scene_id>`.
pub fn scene_dir(root: &Path, scene_id: &str) -> PathBuf {
    root.join("data").join(scene_id)
}

/// DSLR image name of camera `i` (`DSC00001.JPG`, ...): also the frame id readers report.
pub fn dslr_image_name(i: usize) -> String {
    format!("DSC{:05}.JPG", i + 1)
}

/// iPhone frame name of video frame `i` (`frame_000000`): the json key and frame id.
pub fn iphone_frame_name(i: usize) -> String {
    format!("frame_{i:06}")
}

/// Whether video frame `i` is left out of `pose_intrinsic_imu.json` by the every-7th rule.
pub fn iphone_frame_skipped(i: usize) -> bool {
    i % 7 == 6
}

/// The nerfstudio / instant-ngp `transform_matrix` for an OpenCV camera-to-world pose
/// (`common/utils/nerfstudio.py`): columns 1-2 negated (OpenGL camera), rows 0 and 1 swapped,
/// then row 2 negated (nerfstudio world).
pub fn nerfstudio_transform(world_from_camera: &Pose) -> [f64; 16] {
    let m = pose_to_row_major(world_from_camera);
    let mut c2w = m;
    for r in 0..3 {
        c2w[r * 4 + 1] = -c2w[r * 4 + 1];
        c2w[r * 4 + 2] = -c2w[r * 4 + 2];
    }
    let mut out = c2w;
    for c in 0..4 {
        out[c] = c2w[4 + c];
        out[4 + c] = c2w[c];
        out[8 + c] = -c2w[8 + c];
    }
    out
}

/// Rows of a row-major 4x4 as nested arrays (how the json files store matrices).
fn nested4(m: &[f64; 16]) -> Value {
    json!([&m[0..4], &m[4..8], &m[8..12], &m[12..16]])
}

/// The mesh header: float xyz + uchar rgb, triangle lists.
pub fn mesh_header(n_vertices: usize, n_faces: usize) -> String {
    format!(
        "ply\nformat binary_little_endian 1.0\nelement vertex {n_vertices}\nproperty float x\n\
property float y\nproperty float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n\
element face {n_faces}\nproperty list uchar int vertex_indices\nend_header\n"
    )
}

fn write_mesh(path: &Path, scene: &SynthScene) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let mesh = &scene.mesh;
    out.write_all(mesh_header(mesh.n_vertices(), mesh.n_faces()).as_bytes())?;
    for (p, c) in mesh.positions_m.iter().zip(&mesh.colors_rgb) {
        for x in p {
            out.write_all(&x.to_le_bytes())?;
        }
        out.write_all(c)?;
    }
    for t in &mesh.triangles {
        out.write_all(&[3u8])?;
        for &i in t {
            out.write_all(&(i as i32).to_le_bytes())?;
        }
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// Picks the overlapping pair `(small, large)`: a pillow inside a bed when both exist,
/// otherwise the non-structural objects with the fewest and the most vertices. Listing the
/// small group's segments in the large group makes the large group strictly bigger, so the
/// smallest-instance rule gives those vertices back to the small object even on a tie.
fn overlap_pair(scene: &SynthScene) -> Option<(u32, u32)> {
    let count = |id: u32| scene.vertex_instance.iter().filter(|&&i| i == id).count();
    let furniture: Vec<(u32, usize, &str)> = scene
        .objects
        .iter()
        .filter(|o| !o.structural)
        .map(|o| (o.instance_id, count(o.instance_id), o.raw_label.as_str()))
        .filter(|(_, n, _)| *n > 0)
        .collect();
    let find = |label: &str| {
        furniture
            .iter()
            .filter(|f| f.2 == label)
            .max_by_key(|f| (f.1, f.0))
    };
    if let (Some(pillow), Some(bed)) = (find("pillow"), find("bed")) {
        return Some((pillow.0, bed.0));
    }
    let small = furniture.iter().min_by_key(|f| (f.1, f.0))?;
    let large = furniture.iter().max_by_key(|f| (f.1, f.0))?;
    (small.0 != large.0).then_some((small.0, large.0))
}

/// Writes the scene under `root/data/<scene_id>/`.
pub fn write_scannetpp(
    scene: &SynthScene,
    root: &Path,
    opts: &ScanNetPPWriteOptions,
) -> anyhow::Result<()> {
    let id = scene.scene_id.as_str();
    let dir = scene_dir(root, id);
    let scans = dir.join("scans");
    create_dir(&scans)?;
    let mesh = &scene.mesh;
    anyhow::ensure!(
        scene.vertex_instance.len() == mesh.n_vertices()
            && mesh.colors_rgb.len() == mesh.n_vertices(),
        "{id}: vertex_instance / colours do not match the {} vertices",
        mesh.n_vertices()
    );
    write_mesh(&scans.join("mesh_aligned_0.05.ply"), scene)?;

    let segmentation = segment_mesh(mesh, &scene.vertex_instance);
    let segments = json!({
        "params": {"kThresh": "0.0001", "segMinVerts": "20", "minPoints": "750", "maxPoints": "30000"},
        "sceneId": id,
        "segIndices": segmentation.seg_indices,
    });
    write_file(
        &scans.join("segments.json"),
        serde_json::to_string(&segments)?.as_bytes(),
    )?;
    let overlap = overlap_pair(scene);
    let mut groups = Vec::new();
    for (k, object) in scene.objects.iter().enumerate() {
        let mut segs: Vec<u32> = segmentation
            .segments_by_instance
            .get(&object.instance_id)
            .cloned()
            .unwrap_or_default();
        if let Some((small, large)) = overlap {
            if object.instance_id == large {
                segs.extend(
                    segmentation
                        .segments_by_instance
                        .get(&small)
                        .into_iter()
                        .flatten(),
                );
                segs.sort_unstable();
            }
        }
        let (s, c) = object.yaw_rad.sin_cos();
        groups.push(json!({
            "id": k,
            "objectId": object.instance_id - 1,
            "label": object.raw_label,
            "segments": segs,
            "obb": {
                "centroid": object.center,
                "axesLengths": [object.length_m, object.width_m, object.height_m],
                "normalizedAxes": [c, s, 0.0, -s, c, 0.0, 0.0, 0.0, 1.0],
            },
        }));
    }
    let anno = json!({"sceneId": id, "segGroups": groups, "segmentsFile": "segments.json"});
    write_file(
        &scans.join("segments_anno.json"),
        serde_json::to_string(&anno)?.as_bytes(),
    )?;

    let face_instance = face_instances(&mesh.triangles, &scene.vertex_instance);
    let lost: BTreeSet<usize> = scene.lost_tracking.iter().copied().collect();
    let mut frame_layouts = Vec::new();
    let mut cameras = Vec::new();
    let mut iphone_cameras = None;
    let mut iphone_unposed = None;
    if opts.dslr && !scene.cameras.is_empty() {
        write_dslr(scene, &dir, &face_instance, &lost)?;
        frame_layouts.push("dslr".to_string());
        cameras = scene
            .cameras
            .iter()
            .enumerate()
            .filter(|(i, _)| !lost.contains(i))
            .map(|(i, c)| TruthCamera::new(dslr_image_name(i), c, None))
            .collect();
    }
    if opts.iphone && !scene.cameras.is_empty() {
        let (posed, unposed) = write_iphone(scene, &dir, opts, &face_instance, &lost)?;
        frame_layouts.push("iphone".to_string());
        iphone_cameras = Some(posed);
        iphone_unposed = Some(unposed);
    }

    let truth = Truth {
        scene_id: id.to_string(),
        layout: "scannetpp".into(),
        frame_layouts,
        aligned_from_scan: pose_to_row_major(&Pose::identity()),
        objects: scene.objects.clone(),
        cameras,
        lost_tracking: lost.iter().map(|&i| dslr_image_name(i)).collect(),
        iphone_cameras,
        iphone_unposed,
        legacy_label_instance: None,
        overlapping_instances: overlap,
    };
    write_truth(&dir, &truth)
}

/// DSLR: COLMAP text model, nerfstudio transforms, train/test lists, undistorted images.
/// Lost-tracking cameras get an image but no pose anywhere, as unregistered images do.
fn write_dslr(
    scene: &SynthScene,
    dir: &Path,
    face_instance: &[u32],
    lost: &BTreeSet<usize>,
) -> anyhow::Result<()> {
    let dslr = dir.join("dslr");
    let colmap = dslr.join("colmap");
    let nerfstudio = dslr.join("nerfstudio");
    let images = dslr.join("resized_undistorted_images");
    for d in [&colmap, &nerfstudio, &images] {
        create_dir(d)?;
    }
    let model = scene.cameras[0].model;
    anyhow::ensure!(
        scene.cameras.iter().all(|c| c.model == model),
        "{}: the DSLR has one calibration; cameras differ",
        scene.scene_id
    );
    let k = model.intrinsics;
    // The fisheye k's are 0: the undistorted images are the pinhole renders themselves.
    let cameras_txt = format!(
        "# Camera list with one line of data per camera:\n#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n\
# Number of cameras: 1\n1 OPENCV_FISHEYE {} {} {} {} {} {} 0 0 0 0\n",
        model.width, model.height, k.fx, k.fy, k.cx, k.cy
    );
    write_file(&colmap.join("cameras.txt"), cameras_txt.as_bytes())?;
    let registered: Vec<usize> = (0..scene.cameras.len())
        .filter(|i| !lost.contains(i))
        .collect();
    let mut images_txt = format!(
        "# Image list with two lines of data per image:\n\
#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n\
#   POINTS2D[] as (X, Y, POINT3D_ID)\n\
# Number of images: {}, mean observations per image: 0\n",
        registered.len()
    );
    for (image_id, &i) in registered.iter().enumerate() {
        let camera_from_world = scene.cameras[i].world_from_camera.inverse();
        let q = camera_from_world.rotation.quaternion();
        let t = camera_from_world.translation.vector;
        images_txt.push_str(&format!(
            "{} {} {} {} {} {} {} {} 1 {}\n\n",
            image_id + 1,
            q.w,
            q.i,
            q.j,
            q.k,
            t.x,
            t.y,
            t.z,
            dslr_image_name(i)
        ));
    }
    write_file(&colmap.join("images.txt"), images_txt.as_bytes())?;
    write_file(
        &colmap.join("points3D.txt"),
        b"# 3D point list with one line of data per point:\n#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n# Number of points: 0, mean track length: 0\n",
    )?;

    // Every 8th registered image is a test image, like the released splits.
    let is_test = |rank: usize| rank % 8 == 7;
    let frame_entry = |i: usize| {
        let name = dslr_image_name(i);
        json!({
            "file_path": name,
            "transform_matrix": nested4(&nerfstudio_transform(&scene.cameras[i].world_from_camera)),
            "mask_path": name.replace(".JPG", ".png"),
        })
    };
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (rank, &i) in registered.iter().enumerate() {
        if is_test(rank) {
            test.push(i)
        } else {
            train.push(i)
        }
    }
    for (file, model_name) in [
        ("transforms.json", "OPENCV_FISHEYE"),
        ("transforms_undistorted.json", "PINHOLE"),
    ] {
        let doc = json!({
            "fl_x": k.fx, "fl_y": k.fy, "cx": k.cx, "cy": k.cy,
            "w": model.width, "h": model.height,
            "k1": 0.0, "k2": 0.0, "k3": 0.0, "k4": 0.0,
            "camera_model": model_name,
            "frames": train.iter().map(|&i| frame_entry(i)).collect::<Vec<_>>(),
            "test_frames": test.iter().map(|&i| frame_entry(i)).collect::<Vec<_>>(),
        });
        write_file(
            &nerfstudio.join(file),
            serde_json::to_string_pretty(&doc)?.as_bytes(),
        )?;
    }
    let lists = json!({
        "train": train.iter().map(|&i| dslr_image_name(i)).collect::<Vec<_>>(),
        "test": test.iter().map(|&i| dslr_image_name(i)).collect::<Vec<_>>(),
    });
    write_file(
        &dslr.join("train_test_lists.json"),
        serde_json::to_string_pretty(&lists)?.as_bytes(),
    )?;

    let indices: Vec<usize> = (0..scene.cameras.len()).collect();
    for chunk in indices.chunks(frame_chunk_len()) {
        let encoded: Vec<anyhow::Result<Vec<u8>>> = chunk
            .par_iter()
            .map(|&i| {
                let camera = &scene.cameras[i];
                let rendered = render_frame(&scene.mesh, face_instance, camera, &camera.model)?;
                encode_jpeg(&rendered.color_rgb, model.width, model.height)
            })
            .collect();
        for (&i, jpeg) in chunk.iter().zip(encoded) {
            write_file(&images.join(dslr_image_name(i)), &jpeg?)?;
        }
    }
    Ok(())
}

/// Where the iPhone depth frames go, per encoding.
enum DepthSink {
    Deflate(flate2::write::DeflateEncoder<BufWriter<File>>),
    Records(BufWriter<File>),
}

/// A fixed, non-trivial "ARKit world from mesh" offset so the raw iPhone `pose` differs from
/// `aligned_pose` (readers must use `aligned_pose`).
fn arkit_from_aligned() -> Pose {
    Isometry3::from_parts(
        Translation3::new(1.25, -0.5, 0.3),
        UnitQuaternion::from_axis_angle(&Vector3::x_axis(), -std::f64::consts::FRAC_PI_2)
            * UnitQuaternion::from_axis_angle(&Vector3::z_axis(), 0.6),
    )
}

/// iPhone: `rgb/`, `depth.bin` (every video frame), `pose_intrinsic_imu.json` (posed subset).
/// Returns the truth of posed frames and the names of unposed ones.
fn write_iphone(
    scene: &SynthScene,
    dir: &Path,
    opts: &ScanNetPPWriteOptions,
    face_instance: &[u32],
    lost: &BTreeSet<usize>,
) -> anyhow::Result<(Vec<TruthCamera>, Vec<String>)> {
    let iphone = dir.join("iphone");
    let rgb_dir = iphone.join("rgb");
    create_dir(&rgb_dir)?;
    let depth_path = iphone.join("depth.bin");
    let depth_file = BufWriter::new(
        File::create(&depth_path).with_context(|| format!("creating {}", depth_path.display()))?,
    );
    // Encoding (a) is one deflate stream across all frames; (b) independent records.
    let mut depth_sink = match opts.depth_encoding {
        IphoneDepthEncoding::DeflateF32 => DepthSink::Deflate(flate2::write::DeflateEncoder::new(
            depth_file,
            flate2::Compression::default(),
        )),
        IphoneDepthEncoding::Lz4U16 => DepthSink::Records(depth_file),
    };

    let color_model_of = |model: &CameraModel| model.resized(opts.iphone_width, opts.iphone_height);
    let depth_model_of =
        |model: &CameraModel| model.resized(opts.iphone_depth_width, opts.iphone_depth_height);
    let arkit = arkit_from_aligned();
    let mut poses = serde_json::Map::new();
    let mut posed = Vec::new();
    let mut unposed = Vec::new();
    let indices: Vec<usize> = (0..scene.cameras.len()).collect();
    for chunk in indices.chunks(frame_chunk_len()) {
        let encoded: Vec<anyhow::Result<(Vec<u8>, Vec<f32>)>> = chunk
            .par_iter()
            .map(|&i| {
                let camera = msmu_data::scene::Camera {
                    model: color_model_of(&scene.cameras[i].model),
                    world_from_camera: scene.cameras[i].world_from_camera,
                };
                let depth_model = depth_model_of(&scene.cameras[i].model);
                let rendered = render_frame(&scene.mesh, face_instance, &camera, &depth_model)?;
                let jpeg =
                    encode_jpeg(&rendered.color_rgb, camera.model.width, camera.model.height)?;
                Ok((jpeg, rendered.depth_m))
            })
            .collect();
        for (&i, result) in chunk.iter().zip(encoded) {
            let (jpeg, depth_m) = result?;
            let name = iphone_frame_name(i);
            write_file(&rgb_dir.join(format!("{name}.jpg")), &jpeg)?;
            match &mut depth_sink {
                DepthSink::Deflate(stream) => {
                    let bytes: Vec<u8> = depth_m.iter().flat_map(|d| d.to_le_bytes()).collect();
                    stream.write_all(&bytes)?;
                }
                DepthSink::Records(out) => {
                    let mm = depth_to_u16(&depth_m, 1000.0);
                    let block = lz4_flex::block::compress(&u16_le_bytes(&mm));
                    out.write_all(&(block.len() as u32).to_le_bytes())?;
                    out.write_all(&block)?;
                }
            }
            let camera = &scene.cameras[i];
            let color_model = color_model_of(&camera.model);
            if iphone_frame_skipped(i) || lost.contains(&i) {
                unposed.push(name);
                continue;
            }
            let k = color_model.intrinsics;
            let aligned = pose_to_row_major(&camera.world_from_camera);
            let raw = pose_to_row_major(&(arkit * camera.world_from_camera));
            poses.insert(
                name.clone(),
                json!({
                    "timestamp": i as f64 / 60.0,
                    "intrinsic": [[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]],
                    "pose": nested4(&raw),
                    "aligned_pose": nested4(&aligned),
                    "imu": {},
                }),
            );
            posed.push(TruthCamera::new(
                name,
                &msmu_data::scene::Camera {
                    model: color_model,
                    world_from_camera: camera.world_from_camera,
                },
                Some(depth_model_of(&camera.model)),
            ));
        }
    }
    match depth_sink {
        DepthSink::Deflate(stream) => stream.finish()?.flush()?,
        DepthSink::Records(mut out) => out.flush()?,
    }
    write_file(
        &iphone.join("pose_intrinsic_imu.json"),
        serde_json::to_string_pretty(&Value::Object(poses))?.as_bytes(),
    )?;
    Ok((posed, unposed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_common::test_scene;
    use msmu_data::scene::pose_from_row_major;

    fn opts(encoding: IphoneDepthEncoding) -> ScanNetPPWriteOptions {
        ScanNetPPWriteOptions {
            iphone_width: 64,
            iphone_height: 48,
            iphone_depth_width: 32,
            iphone_depth_height: 24,
            depth_encoding: encoding,
            ..ScanNetPPWriteOptions::default()
        }
    }

    /// Eight cameras so the every-7th rule and a lost frame both show up.
    fn scene() -> SynthScene {
        let mut scene = test_scene::scene(48, 36);
        scene.scene_id = "0a1b2c3d4e".into();
        let model = scene.cameras[0].model;
        scene.cameras = (0..8)
            .map(|k| {
                let a = k as f64 * 0.3;
                test_scene::look_at(
                    [2.0 + 3.0 * a.cos(), 1.8 + 3.0 * a.sin(), 1.5],
                    [2.0, 1.8, 0.3],
                    model,
                )
            })
            .collect();
        scene.lost_tracking = vec![2];
        scene
    }

    fn read_json(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    fn matrix(v: &Value) -> [f64; 16] {
        let mut out = [0.0; 16];
        for r in 0..4 {
            for c in 0..4 {
                out[r * 4 + c] = v[r][c].as_f64().unwrap();
            }
        }
        out
    }

    #[test]
    fn writes_the_scannetpp_layout() {
        let scene = scene();
        let root = tempfile::tempdir().unwrap();
        write_scannetpp(&scene, root.path(), &opts(IphoneDepthEncoding::DeflateF32)).unwrap();
        let dir = scene_dir(root.path(), "0a1b2c3d4e");
        let (n_v, n_f) = (scene.mesh.n_vertices(), scene.mesh.n_faces());

        // Mesh in the aligned frame.
        let ply = std::fs::read(dir.join("scans/mesh_aligned_0.05.ply")).unwrap();
        let header = mesh_header(n_v, n_f);
        assert!(ply.starts_with(header.as_bytes()));
        assert_eq!(ply.len(), header.len() + 15 * n_v + 13 * n_f);
        let x = f32::from_le_bytes(ply[header.len()..header.len() + 4].try_into().unwrap());
        assert_eq!(x, scene.mesh.positions_m[0][0]);

        // Annotation: bed group also lists the pillow's segments; truth keeps the pillow.
        let segs = read_json(&dir.join("scans/segments.json"));
        let seg_indices: Vec<u64> = segs["segIndices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(seg_indices.len(), n_v);
        let anno = read_json(&dir.join("scans/segments_anno.json"));
        let groups = anno["segGroups"].as_array().unwrap();
        let members = |g: &Value| -> BTreeSet<usize> {
            let segs: BTreeSet<u64> = g["segments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_u64().unwrap())
                .collect();
            (0..n_v)
                .filter(|v| segs.contains(&seg_indices[*v]))
                .collect()
        };
        let bed = groups.iter().find(|g| g["label"] == "bed").unwrap();
        let pillow = groups.iter().find(|g| g["label"] == "pillow").unwrap();
        let (bed_v, pillow_v) = (members(bed), members(pillow));
        assert!(pillow_v.is_subset(&bed_v) && pillow_v.len() < bed_v.len());
        // Even when both objects have the same vertex count the merged group is bigger.
        let mut tied = scene.clone();
        tied.vertex_instance
            .iter_mut()
            .filter(|i| **i == 2)
            .take(8)
            .for_each(|i| *i = 1);
        assert_eq!(overlap_pair(&tied), Some((3, 2)));
        // Smallest-instance-wins reproduces vertex_instance.
        for v in 0..n_v {
            let mut best: Option<(usize, u64)> = None;
            for g in groups {
                let m = members(g);
                if m.contains(&v) && best.is_none_or(|(n, _)| m.len() < n) {
                    best = Some((m.len(), g["objectId"].as_u64().unwrap() + 1));
                }
            }
            assert_eq!(
                best.map(|b| b.1 as u32).unwrap_or(0),
                scene.vertex_instance[v]
            );
        }
        assert_eq!(bed["obb"]["normalizedAxes"].as_array().unwrap().len(), 9);
        assert_eq!(bed["obb"]["axesLengths"][0].as_f64().unwrap(), 2.0);

        // COLMAP: one fisheye camera with zero k's, world-to-camera per registered image.
        let cameras = std::fs::read_to_string(dir.join("dslr/colmap/cameras.txt")).unwrap();
        assert!(cameras
            .lines()
            .any(|l| l.starts_with("1 OPENCV_FISHEYE 48 36 ") && l.ends_with(" 0 0 0 0")));
        let images = std::fs::read_to_string(dir.join("dslr/colmap/images.txt")).unwrap();
        let lines: Vec<&str> = images.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines.len(),
            14,
            "7 registered images, each followed by an empty line"
        );
        assert!(lines.iter().skip(1).step_by(2).all(|l| l.is_empty()));
        assert!(
            !images.contains(&dslr_image_name(2)),
            "lost frame is not registered"
        );
        let transforms = read_json(&dir.join("dslr/nerfstudio/transforms_undistorted.json"));
        assert_eq!(transforms["camera_model"], "PINHOLE");
        let mut frames: Vec<Value> = transforms["frames"].as_array().unwrap().clone();
        frames.extend(
            transforms["test_frames"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
        assert_eq!(frames.len(), 7);
        for line in lines.iter().step_by(2) {
            let f: Vec<&str> = line.split(' ').collect();
            let v: Vec<f64> = f[1..8].iter().map(|x| x.parse().unwrap()).collect();
            let q =
                UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(v[0], v[1], v[2], v[3]));
            let camera_from_world = Isometry3::from_parts(Translation3::new(v[4], v[5], v[6]), q);
            let i: usize = f[9][3..8].parse::<usize>().unwrap() - 1;
            let world_from_camera = camera_from_world.inverse();
            let e = pose_to_row_major(&scene.cameras[i].world_from_camera);
            let got = pose_to_row_major(&world_from_camera);
            for k in 0..16 {
                assert!((got[k] - e[k]).abs() < 1e-9);
            }
            // nerfstudio = P * c2w * diag(1,-1,-1,1), P swapping x/y rows and negating z.
            let ns = frames.iter().find(|fr| fr["file_path"] == f[9]).unwrap();
            let m = matrix(&ns["transform_matrix"]);
            let p = nalgebra::Matrix4::new(
                0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
            );
            let expected = p
                * world_from_camera.to_homogeneous()
                * nalgebra::Matrix4::from_diagonal(&nalgebra::Vector4::new(1.0, -1.0, -1.0, 1.0));
            for r in 0..4 {
                for c in 0..4 {
                    assert!((m[r * 4 + c] - expected[(r, c)]).abs() < 1e-9);
                }
            }
        }
        let lists = read_json(&dir.join("dslr/train_test_lists.json"));
        assert_eq!(
            lists["train"].as_array().unwrap().len() + lists["test"].as_array().unwrap().len(),
            7
        );
        let jpg = image::open(
            dir.join("dslr/resized_undistorted_images")
                .join(dslr_image_name(0)),
        )
        .unwrap();
        assert_eq!((jpg.width(), jpg.height()), (48, 36));

        // iPhone: frames 2 (lost) and 6 (every 7th) have no pose; aligned_pose is exact.
        let poses = read_json(&dir.join("iphone/pose_intrinsic_imu.json"));
        let keys: Vec<&String> = poses.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "frame_000000",
                "frame_000001",
                "frame_000003",
                "frame_000004",
                "frame_000005",
                "frame_000007"
            ]
        );
        let f0 = &poses["frame_000000"];
        let aligned = pose_from_row_major(&matrix(&f0["aligned_pose"])).unwrap();
        assert!(
            (aligned.translation.vector - scene.cameras[0].world_from_camera.translation.vector)
                .norm()
                < 1e-12
        );
        let raw = pose_from_row_major(&matrix(&f0["pose"])).unwrap();
        assert!((raw.translation.vector - aligned.translation.vector).norm() > 0.1);
        assert_eq!(
            f0["intrinsic"][0][0].as_f64().unwrap(),
            scene.cameras[0].model.resized(64, 48).intrinsics.fx
        );
        assert!(dir.join("iphone/rgb/frame_000006.jpg").is_file());

        // depth.bin (raw deflate f32) decodes to the rendered depth of every frame.
        let bytes = std::fs::read(dir.join("iphone/depth.bin")).unwrap();
        let frames = msmu_data::io::iphone_depth::decode_all(&bytes, 32, 24).unwrap();
        assert_eq!(frames.len(), 8);
        let face_instance = face_instances(&scene.mesh.triangles, &scene.vertex_instance);
        let depth_model = scene.cameras[3].model.resized(32, 24);
        let camera = msmu_data::scene::Camera {
            model: scene.cameras[3].model.resized(64, 48),
            ..scene.cameras[3]
        };
        let rendered = render_frame(&scene.mesh, &face_instance, &camera, &depth_model).unwrap();
        assert_eq!(frames[3], rendered.depth_m);
        assert!(rendered.depth_m.iter().any(|&d| d > 0.0));

        let truth = read_json(&dir.join("truth.json"));
        assert_eq!(truth["cameras"].as_array().unwrap().len(), 7);
        assert_eq!(truth["iphone_cameras"].as_array().unwrap().len(), 6);
        assert_eq!(truth["overlapping_instances"], json!([3, 2]));
        assert_eq!(truth["lost_tracking"], json!([dslr_image_name(2)]));
    }

    #[test]
    fn lz4_depth_bin_decodes_to_millimetres() {
        let scene = scene();
        let root = tempfile::tempdir().unwrap();
        let mut o = opts(IphoneDepthEncoding::Lz4U16);
        o.dslr = false;
        write_scannetpp(&scene, root.path(), &o).unwrap();
        let dir = scene_dir(root.path(), "0a1b2c3d4e");
        let bytes = std::fs::read(dir.join("iphone/depth.bin")).unwrap();
        assert_eq!(
            msmu_data::io::iphone_depth::detect_layout(&bytes, 32, 24),
            msmu_data::io::iphone_depth::DepthBinLayout::Records
        );
        let frames = msmu_data::io::iphone_depth::decode_all(&bytes, 32, 24).unwrap();
        assert_eq!(frames.len(), 8);
        let face_instance = face_instances(&scene.mesh.triangles, &scene.vertex_instance);
        for (i, frame) in frames.iter().enumerate() {
            let camera = msmu_data::scene::Camera {
                model: scene.cameras[i].model.resized(64, 48),
                ..scene.cameras[i]
            };
            let rendered = render_frame(
                &scene.mesh,
                &face_instance,
                &camera,
                &scene.cameras[i].model.resized(32, 24),
            )
            .unwrap();
            let mm = depth_to_u16(&rendered.depth_m, 1000.0);
            let expected: Vec<f32> = mm.iter().map(|&d| d as f32 / 1000.0).collect();
            assert_eq!(frame, &expected);
        }
        assert!(!dir.join("dslr").exists());
    }

    #[test]
    fn same_scene_gives_identical_bytes() {
        let scene = scene();
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let o = opts(IphoneDepthEncoding::DeflateF32);
        write_scannetpp(&scene, a.path(), &o).unwrap();
        write_scannetpp(&scene, b.path(), &o).unwrap();
        assert_eq!(
            crate::tree_bytes(a.path()).unwrap(),
            crate::tree_bytes(b.path()).unwrap()
        );
    }
}
