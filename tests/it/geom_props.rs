//! Property tests of the geometry invariants the dataset relies on: pose algebra, projection
//! of rendered surfaces, rendered depth against analytic depth, rotation invariance of the
//! gravity-aligned box, and BVH distances against brute force.

use std::f64::consts::PI;

use msmu_data::geom::distance::{
    brute_force_closest_pair, brute_force_closest_point, Triangle, TriangleBvh,
};
use msmu_data::geom::fixtures::{look_at_camera, scene_from_objects, BoxSpec};
use msmu_data::geom::measure::{gravity_box, rect_candidates};
use msmu_data::geom::visibility::back_project;
use msmu_data::render::{render, RenderConfig};
use msmu_data::scene::{Camera, CameraModel, Intrinsics, Mesh, Pose};
use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector3};
use proptest::prelude::*;

fn pose_strategy() -> impl Strategy<Value = Pose> {
    (
        prop::array::uniform3(-10.0..10.0f64),
        prop::array::uniform3(-PI..PI),
    )
        .prop_map(|(t, r)| {
            Isometry3::from_parts(
                Translation3::new(t[0], t[1], t[2]),
                UnitQuaternion::from_euler_angles(r[0], r[1], r[2]),
            )
        })
}

fn triangle_soup(max: usize) -> impl Strategy<Value = Vec<Triangle>> {
    prop::collection::vec(
        (
            prop::array::uniform3(-2.0..2.0f64),
            prop::array::uniform3(prop::array::uniform3(-0.5..0.5f64)),
        ),
        1..max,
    )
    .prop_map(|tris| {
        tris.into_iter()
            .map(|(c, offsets)| {
                offsets.map(|o| Vector3::new(c[0] + o[0], c[1] + o[1], c[2] + o[2]))
            })
            .collect()
    })
}

proptest! {
    // 256 cases by default; PROPTEST_CASES overrides.

    #[test]
    fn a_from_b_times_b_from_a_is_identity(a_from_b in pose_strategy(), p in prop::array::uniform3(-5.0..5.0f64)) {
        let b_from_a = a_from_b.inverse();
        let product = (a_from_b * b_from_a).to_homogeneous();
        let identity = nalgebra::Matrix4::<f64>::identity();
        prop_assert!((product - identity).abs().max() < 1e-12);
        let point = Point3::from(p);
        prop_assert!((b_from_a * (a_from_b * point) - point).norm() < 1e-12);
    }

    #[test]
    fn visible_surfaces_project_inside_the_image(
        size in prop::array::uniform3(0.2..2.0f64),
        yaw in 0.0..PI,
        eye in (2.0..6.0f64, -PI..PI, -1.0..2.5f64),
    ) {
        let spec = BoxSpec { center: [0.0, 0.0, size[2] / 2.0], size, yaw_rad: yaw };
        let scene = scene_from_objects(&[(spec, "box")]);
        let (radius, azimuth, height) = eye;
        let camera = look_at_camera([radius * azimuth.cos(), radius * azimuth.sin(), height], [0.0, 0.0, size[2] / 2.0], 64, 48, 40.0);
        let view = render(&scene.mesh, &scene.face_instance, &camera, &RenderConfig::default()).unwrap();
        let bvh = TriangleBvh::from_faces(&scene.mesh, &scene.instances[0].face_indices);
        let mut n_visible = 0;
        for (idx, &d) in view.depth_m.iter().enumerate() {
            if d <= 0.0 { continue; }
            n_visible += 1;
            prop_assert_eq!(view.instance[idx], 1);
            let (u, v) = ((idx % 64) as f64, (idx / 64) as f64);
            let p = back_project(&camera, u, v, d as f64);
            let (pu, pv, pz) = camera.project(&p);
            prop_assert!(pz > 0.0);
            prop_assert!((-0.5..63.5).contains(&pu) && (-0.5..47.5).contains(&pv));
            prop_assert!((pu - u).abs() < 1e-6 && (pv - v).abs() < 1e-6);
            // The point lies on the object's surface, up to the coverage test's 1/256 pixel
            // vertex snapping (a silhouette pixel may extrapolate its triangle's plane a
            // little): within one pixel footprint (depth / focal length).
            let on_surface = bvh.closest_point(&p).unwrap().distance_m;
            prop_assert!(on_surface < d as f64 / 40.0, "{} m off the surface", on_surface);
        }
        prop_assert!(n_visible > 0);
    }

    #[test]
    fn rendered_depth_matches_analytic_plane(
        distance in 0.5..8.0f64,
        tilt in prop::array::uniform2(-0.9..0.9f64),
        pose in pose_strategy(),
    ) {
        // A large quad in camera space: points q with n . q = distance, n = (tx, ty, 1).
        let n = Vector3::new(tilt[0], tilt[1], 1.0);
        let on_plane = |x: f64, y: f64| {
            let z = (distance - n.x * x - n.y * y) / n.z;
            pose * Point3::new(x, y, z)
        };
        let corners = [on_plane(-50.0, -50.0), on_plane(50.0, -50.0), on_plane(50.0, 50.0), on_plane(-50.0, 50.0)];
        let mesh = Mesh {
            positions_m: corners.iter().map(|p| [p.x as f32, p.y as f32, p.z as f32]).collect(),
            colors_rgb: vec![[0, 0, 0]; 4],
            triangles: vec![[0, 1, 2], [0, 2, 3]],
        };
        let k = Intrinsics { fx: 60.0, fy: 60.0, cx: 31.5, cy: 23.5 };
        let camera = Camera { model: CameraModel { intrinsics: k, width: 64, height: 48 }, world_from_camera: pose };
        let config = RenderConfig { far_m: 1000.0, ..RenderConfig::default() };
        let view = render(&mesh, &[], &camera, &config).unwrap();
        // The plane as stored (f32 corners) in camera space, for the analytic depth.
        let stored: Vec<Point3<f64>> = mesh.positions_m.iter().map(|p| pose.inverse_transform_point(&Point3::new(p[0] as f64, p[1] as f64, p[2] as f64))).collect();
        let normal = (stored[1] - stored[0]).cross(&(stored[2] - stored[0]));
        let offset = normal.dot(&stored[0].coords);
        let mut n_checked = 0;
        for (idx, &d) in view.depth_m.iter().enumerate() {
            let (u, v) = ((idx % 64) as f64, (idx / 64) as f64);
            let ray = Vector3::new((u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0);
            let analytic = offset / normal.dot(&ray);
            if analytic > config.near_m * 1.01 && analytic < config.far_m * 0.99 {
                prop_assert!(d > 0.0, "pixel {} not drawn (analytic depth {})", idx, analytic);
                prop_assert!((d as f64 - analytic).abs() < 1e-3, "depth {} vs analytic {}", d, analytic);
                n_checked += 1;
            }
        }
        prop_assert!(n_checked > 0);
    }

    #[test]
    fn gravity_box_is_invariant_under_rotation(
        points in prop::collection::vec(prop::array::uniform3(-3.0..3.0f64), 1..40),
        angle in -PI..PI,
        shift in prop::array::uniform3(-5.0..5.0f64),
    ) {
        let (s, c) = angle.sin_cos();
        let moved: Vec<[f64; 3]> = points.iter().map(|p| [c * p[0] - s * p[1] + shift[0], s * p[0] + c * p[1] + shift[1], p[2] + shift[2]]).collect();
        let (r0, lo0, hi0) = gravity_box(&points).unwrap();
        let (r1, lo1, hi1) = gravity_box(&moved).unwrap();
        let tol = 1e-9 * (1.0 + shift.iter().map(|v| v.abs()).sum::<f64>());
        prop_assert!(((hi0 - lo0) - (hi1 - lo1)).abs() < tol);
        prop_assert!(r0.yaw_rad >= 0.0 && r0.yaw_rad < PI);
        // The minimum area is unique even when the rectangle is not.
        prop_assert!((r0.area() - r1.area()).abs() < tol * (1.0 + r0.area()), "area {} vs {}", r0.area(), r1.area());
        // The calipers find the minimum over all hull edges.
        let flat: Vec<[f64; 2]> = points.iter().map(|p| [p[0], p[1]]).collect();
        let candidates = rect_candidates(&flat);
        let min_area = candidates.iter().map(|r| r.area()).fold(f64::INFINITY, f64::min);
        prop_assert!((r0.area() - min_area).abs() <= 1e-9 * (1.0 + min_area));
        // Length, width and yaw are compared only where the minimum-area rectangle is unique
        // (e.g. an acute triangle has three equal-area rectangles, resolved by smallest yaw).
        let unique = candidates.iter().filter(|r| r.area() <= min_area + 1e-7 * (1.0 + min_area)).all(|r| {
            let dyaw = (r.yaw_rad - r0.yaw_rad).rem_euclid(PI);
            (r.length - r0.length).abs() < 1e-7 && dyaw.min(PI - dyaw) < 1e-7
        });
        if unique {
            prop_assert!((r0.length - r1.length).abs() < tol, "length {} vs {}", r0.length, r1.length);
            prop_assert!((r0.width - r1.width).abs() < tol, "width {} vs {}", r0.width, r1.width);
            // Yaw shifts by the rotation, modulo pi (meaningless for a square or a point).
            if r0.length - r0.width > 1e-6 {
                let diff = (r1.yaw_rad - r0.yaw_rad - angle).rem_euclid(PI);
                prop_assert!(diff.min(PI - diff) < 1e-6, "yaw {} -> {} for rotation {}", r0.yaw_rad, r1.yaw_rad, angle);
            }
            // The centre moves with the points.
            let expected = [c * r0.center[0] - s * r0.center[1] + shift[0], s * r0.center[0] + c * r0.center[1] + shift[1]];
            prop_assert!((r1.center[0] - expected[0]).abs() < 1e-6 && (r1.center[1] - expected[1]).abs() < 1e-6);
        }
    }

    #[test]
    fn bvh_distance_equals_brute_force(a in triangle_soup(40), b in triangle_soup(40), offset in prop::array::uniform3(-4.0..4.0f64), q in prop::array::uniform3(-4.0..4.0f64)) {
        let b: Vec<Triangle> = b.into_iter().map(|t| t.map(|p| p + Vector3::from(offset))).collect();
        let bvh_a = TriangleBvh::new(a.clone());
        let bvh_b = TriangleBvh::new(b.clone());
        let fast = bvh_a.closest_pair(&bvh_b).unwrap().distance_m;
        let slow = brute_force_closest_pair(&a, &b).unwrap();
        prop_assert!((fast - slow).abs() < 1e-12, "bvh {} vs brute {}", fast, slow);
        let point = Point3::from(q);
        let fast = bvh_a.closest_point(&point).unwrap().distance_m;
        let slow = brute_force_closest_point(&a, &point).unwrap();
        prop_assert!((fast - slow).abs() < 1e-12);
    }
}
