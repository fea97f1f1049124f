//! Small analytic scenes (boxes with known size, yaw and position) for tests and examples of
//! the geometry stage. Pure constructors, no I/O.

use std::collections::BTreeMap;
use std::path::PathBuf;

use nalgebra::{Isometry3, Point3, Vector3};

use crate::scene::{
    face_instances, members_by_instance, Camera, CameraModel, FrameLayout, Instance, InstanceId,
    Intrinsics, LabelIds, Mesh, Pose, Scene, SceneMeta, Source,
};

/// A box: `size = [along yaw, across yaw, vertical]`, `center` its centre, `yaw_rad` the
/// direction of its first side from +X towards +Y.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoxSpec {
    pub center: [f64; 3],
    pub size: [f64; 3],
    pub yaw_rad: f64,
}

/// The 12-triangle closed mesh of a box. Vertices: bottom four then top four, each
/// counter-clockwise seen from above starting at the (-, -) corner.
pub fn box_mesh(spec: &BoxSpec) -> Mesh {
    let (s, c) = spec.yaw_rad.sin_cos();
    let [hl, hw, hh] = spec.size.map(|v| v / 2.0);
    let signs = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)];
    let mut positions_m = Vec::with_capacity(8);
    for dz in [-hh, hh] {
        for (sl, sw) in signs {
            let (x, y) = (sl * hl, sw * hw);
            positions_m.push([
                (spec.center[0] + c * x - s * y) as f32,
                (spec.center[1] + s * x + c * y) as f32,
                (spec.center[2] + dz) as f32,
            ]);
        }
    }
    let triangles = vec![
        [0, 2, 1],
        [0, 3, 2], // bottom
        [4, 5, 6],
        [4, 6, 7], // top
        [0, 1, 5],
        [0, 5, 4],
        [1, 2, 6],
        [1, 6, 5],
        [2, 3, 7],
        [2, 7, 6],
        [3, 0, 4],
        [3, 4, 7],
    ];
    Mesh {
        colors_rgb: vec![[128, 128, 128]; 8],
        positions_m,
        triangles,
    }
}

/// A scene made of the given meshes, instance `i + 1` for `objects[i]`, no frames.
pub fn scene_from_meshes(objects: &[(Mesh, &str)]) -> Scene {
    let mut mesh = Mesh::default();
    let mut vertex_instance = Vec::new();
    for (i, (part, _)) in objects.iter().enumerate() {
        let offset = mesh.positions_m.len() as u32;
        mesh.positions_m.extend_from_slice(&part.positions_m);
        mesh.colors_rgb.extend_from_slice(&part.colors_rgb);
        mesh.colors_rgb
            .resize(mesh.positions_m.len(), [128, 128, 128]);
        mesh.triangles
            .extend(part.triangles.iter().map(|t| t.map(|v| v + offset)));
        vertex_instance.resize(mesh.positions_m.len(), i as u32 + 1);
    }
    let face_instance = face_instances(&mesh.triangles, &vertex_instance);
    let ids: Vec<InstanceId> = (1..=objects.len() as u32).map(InstanceId).collect();
    let members = members_by_instance(&ids, &vertex_instance, &face_instance);
    let instances = ids
        .iter()
        .zip(members)
        .zip(objects)
        .map(
            |((&id, (vertex_indices, face_indices)), (_, label))| Instance {
                id,
                raw_label: label.to_string(),
                label: label.to_string(),
                label_ids: LabelIds::default(),
                vertex_indices,
                face_indices,
            },
        )
        .collect();
    Scene {
        meta: SceneMeta {
            scene_id: "fixture".into(),
            source: Source::Synthetic,
            root: PathBuf::new(),
            scene_type: None,
            frame_layout: FrameLayout::None,
            axis_alignment_given: false,
        },
        aligned_from_scan: Pose::identity(),
        mesh,
        vertex_instance,
        face_instance,
        instances,
        frames: Vec::new(),
        skipped_frames: BTreeMap::new(),
        warnings: Vec::new(),
    }
}

/// A scene of boxes, instance `i + 1` for `boxes[i]`.
pub fn scene_from_objects(boxes: &[(BoxSpec, &str)]) -> Scene {
    let meshes: Vec<(Mesh, &str)> = boxes
        .iter()
        .map(|(spec, label)| (box_mesh(spec), *label))
        .collect();
    scene_from_meshes(&meshes)
}

/// A camera at `eye` looking at `target` with the world +Z as up (OpenCV axes: +Y of the
/// camera points down, towards -Z of the world when the view is horizontal).
pub fn look_at_camera(eye: [f64; 3], target: [f64; 3], width: u32, height: u32, fx: f64) -> Camera {
    let eye_p = Point3::from(eye);
    let forward = (Point3::from(target) - eye_p).normalize();
    let world_up = if forward.z.abs() > 0.999 {
        Vector3::y()
    } else {
        Vector3::z()
    };
    let right = forward.cross(&world_up).normalize();
    let down = forward.cross(&right);
    let rotation = nalgebra::Rotation3::from_basis_unchecked(&[right, down, forward]);
    let world_from_camera = Isometry3::from_parts(
        eye_p.coords.into(),
        nalgebra::UnitQuaternion::from_rotation_matrix(&rotation),
    );
    Camera {
        model: CameraModel {
            intrinsics: Intrinsics {
                fx,
                fy: fx,
                cx: (width as f64 - 1.0) / 2.0,
                cy: (height as f64 - 1.0) / 2.0,
            },
            width,
            height,
        },
        world_from_camera,
    }
}
