//! Analytic truth round trip: a synthetic scene is written in every on-disk layout the
//! writers support, read back by the real readers (`io::load_scene`), measured, and compared
//! with the generator's in-memory truth (and `truth.json`).
//!
//! One `#[test]` per layout (they run in parallel). Each prints the worst error it measured
//! (`cargo test --test truth_roundtrip -- --nocapture`). The bundled `fixtures/` scenes are
//! checked against their `truth.json` too, and one round trip runs at the real 150K faces.

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use msmu_data::geom::distance::{build_instance_bvhs, center_to_center, closest_surface, find_bvh};
use msmu_data::geom::measure::{find_measurement, measure_scene, ObjectMeasurement};
use msmu_data::io::frames::{read_color_bytes, read_sensor_depth};
use msmu_data::io::scannet::{SKIP_LOST_TRACKING, UNLABELLED};
use msmu_data::io::{load_scene, ReadOptions};
use msmu_data::render::{render, RenderConfig};
use msmu_data::scene::{face_instances, Camera, CameraModel, DepthSource, InstanceId, Pose, Scene};
use msmu_synth::write_scannet::{
    depth_model, write_scannet, AggregationStyle, FrameLayout as ScanNetFrames,
    ScanNetWriteOptions, LEGACY_LABEL,
};
use msmu_synth::write_scannetpp::{
    dslr_image_name, iphone_frame_name, write_scannetpp, IphoneDepthEncoding, ScanNetPPWriteOptions,
};
use msmu_synth::{generate, scannet_color_camera, GenerateConfig, SynthScene, TruthObject};
use serde_json::Value;

/// Tolerances of the brief.
const SIZE_TOL_M: f64 = 1e-3;
const YAW_TOL_RAD: f64 = 0.5 * PI / 180.0;
const POSE_T_TOL_M: f64 = 1e-4;
const POSE_R_TOL_RAD: f64 = 1e-4;
const INTRINSICS_TOL_PX: f64 = 1e-4;
const DEPTH_TOL_M: f64 = 1e-3;
const DEPTH_AGREEMENT: f64 = 0.999;

/// Worst errors seen in one case, printed at the end.
#[derive(Default, Debug)]
struct Worst {
    size_mm: f64,
    center_mm: f64,
    aabb_mm: f64,
    yaw_deg: f64,
    pose_t_m: f64,
    pose_r_rad: f64,
    intrinsics_px: f64,
    depth_agreement_min: Option<f64>,
    depth_max_err_mm_where_both: f64,
    support_pairs: usize,
    /// Of which the lower object is furniture (tv on cabinet, pillow on bed).
    furniture_support_pairs: usize,
    closest_surface_max_m: f64,
    c2c_mm: f64,
}

fn max_into(slot: &mut f64, value: f64) {
    assert!(value.is_finite(), "non-finite error {value}");
    *slot = slot.max(value);
}

/// Difference of two yaws modulo pi, radians in [0, pi/2].
fn yaw_diff(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(PI);
    d.min(PI - d)
}

fn pose_errors(a: &Pose, b: &Pose) -> (f64, f64) {
    let t = (a.translation.vector - b.translation.vector).norm();
    let r = (a.rotation.inverse() * b.rotation).angle();
    (t, r)
}

/// Largest intrinsics difference, px. With `relative`, each difference is divided by the
/// expected value (the C++ exporter writes `_info.txt` with C++'s default 6 significant
/// digits, so 292.405 px is only known to 5e-4 px there).
fn intrinsics_error(a: &CameraModel, b: &CameraModel, relative: bool) -> f64 {
    assert_eq!(
        (a.width, a.height),
        (b.width, b.height),
        "image sizes differ"
    );
    let (p, q) = (a.intrinsics, b.intrinsics);
    [(p.fx, q.fx), (p.fy, q.fy), (p.cx, q.cx), (p.cy, q.cy)]
        .iter()
        .fold(0.0f64, |m, (got, want)| {
            let d = (got - want).abs();
            m.max(if relative { d / want.abs() } else { d })
        })
}

/// Intrinsics tolerance of a layout: 1e-4 px, or 6 significant digits for the C++ export.
fn intrinsics_relative(layout: &Layout) -> bool {
    matches!(layout, Layout::ScanNet(o) if o.frame_layouts.contains(&ScanNetFrames::CppExport))
}

/// Half a unit in the 6th significant digit, relative.
const SIX_DIGITS_REL: f64 = 5e-6;

/// Compares one measured instance with its analytic truth; returns nothing, records worst.
fn check_measurement(what: &str, m: &ObjectMeasurement, t: &TruthObject, worst: &mut Worst) {
    let sizes = [
        (m.length_m, t.length_m),
        (m.width_m, t.width_m),
        (m.height_m, t.height_m),
    ];
    for (got, want) in sizes {
        let e = (got - want).abs();
        assert!(
            e <= SIZE_TOL_M,
            "{what}: size {got} vs truth {want} ({:.3} mm)",
            e * 1e3
        );
        max_into(&mut worst.size_mm, e * 1e3);
    }
    for i in 0..3 {
        let e = (m.center[i] - t.center[i]).abs();
        assert!(
            e <= SIZE_TOL_M,
            "{what}: centre {:?} vs {:?}",
            m.center,
            t.center
        );
        max_into(&mut worst.center_mm, e * 1e3);
        let e = (m.aabb_min[i] - t.aabb_min[i])
            .abs()
            .max((m.aabb_max[i] - t.aabb_max[i]).abs());
        assert!(
            e <= SIZE_TOL_M,
            "{what}: aabb {:?}..{:?} vs {:?}..{:?}",
            m.aabb_min,
            m.aabb_max,
            t.aabb_min,
            t.aabb_max
        );
        max_into(&mut worst.aabb_mm, e * 1e3);
    }
    if t.length_m - t.width_m >= 0.01 {
        let e = yaw_diff(m.yaw_rad, t.yaw_rad);
        assert!(
            e <= YAW_TOL_RAD,
            "{what}: yaw {} vs truth {} ({} deg)",
            m.yaw_rad,
            t.yaw_rad,
            e.to_degrees()
        );
        max_into(&mut worst.yaw_deg, e.to_degrees());
    }
}

// ------------------------------------------------------------------ the cases

#[derive(Clone, Debug)]
enum Layout {
    ScanNet(ScanNetWriteOptions),
    ScanNetPP(ScanNetPPWriteOptions),
}

/// ScanNet depth size used by the round trip (the real 640x480 is slow in debug builds).
const SCANNET_DEPTH: (u32, u32) = (160, 120);

fn scannet_opts(frames: ScanNetFrames, legacy: bool) -> ScanNetWriteOptions {
    ScanNetWriteOptions {
        frame_layouts: vec![frames],
        aggregation: if legacy {
            AggregationStyle::V1
        } else {
            AggregationStyle::V2
        },
        legacy_label: legacy,
        depth_width: SCANNET_DEPTH.0,
        depth_height: SCANNET_DEPTH.1,
        ..ScanNetWriteOptions::default()
    }
}

fn scannetpp_opts(dslr: bool, encoding: IphoneDepthEncoding) -> ScanNetPPWriteOptions {
    ScanNetPPWriteOptions {
        dslr,
        iphone: true,
        // The reader expects the real 256x192 depth; the RGB size is free (4:3 like real).
        iphone_width: 192,
        iphone_height: 144,
        iphone_depth_width: 256,
        iphone_depth_height: 192,
        depth_encoding: encoding,
    }
}

fn synth_scene(scene_id: &str, faces: usize, frames: u32, seed: u64) -> SynthScene {
    let config = GenerateConfig {
        faces_target: faces,
        n_frames: frames,
        color_camera: scannet_color_camera().resized(324, 242),
        scene_id: scene_id.to_string(),
    };
    let scene = generate(&config, seed, 0);
    assert!(
        !scene.lost_tracking.is_empty(),
        "the case needs at least one lost-tracking frame"
    );
    scene
}

/// Writes `synth` in `layout` under `root`; returns the scene folder.
fn write(synth: &SynthScene, root: &Path, layout: &Layout) -> PathBuf {
    match layout {
        Layout::ScanNet(opts) => {
            write_scannet(synth, root, opts).expect("write_scannet");
            root.join("scans").join(&synth.scene_id)
        }
        Layout::ScanNetPP(opts) => {
            write_scannetpp(synth, root, opts).expect("write_scannetpp");
            root.join("data").join(&synth.scene_id)
        }
    }
}

/// Index into `synth.cameras` of a frame id.
fn camera_index(layout: &Layout, id: &str) -> usize {
    match layout {
        Layout::ScanNet(_) => id.parse().expect("ScanNet frame ids are indices"),
        Layout::ScanNetPP(opts) if opts.dslr => {
            id.strip_prefix("DSC")
                .and_then(|s| s.strip_suffix(".JPG"))
                .and_then(|s| s.parse::<usize>().ok())
                .expect("DSLR image name")
                - 1
        }
        Layout::ScanNetPP(_) => id
            .strip_prefix("frame_")
            .and_then(|s| s.parse().ok())
            .expect("iPhone frame name"),
    }
}

/// Sensor depth vs a fresh render of the truth mesh at the truth pose: fraction of pixels
/// that agree (within 1 mm where both have depth, same validity elsewhere), and the worst
/// error where both have depth.
fn depth_agreement(sensor: &[f32], rendered: &[f32]) -> (f64, f64) {
    assert_eq!(sensor.len(), rendered.len());
    let mut agree = 0usize;
    let mut worst = 0.0f64;
    for (&s, &r) in sensor.iter().zip(rendered) {
        let ok = if s > 0.0 && r > 0.0 {
            let e = (s as f64 - r as f64).abs();
            if e <= DEPTH_TOL_M {
                worst = worst.max(e);
            }
            e <= DEPTH_TOL_M
        } else {
            (s > 0.0) == (r > 0.0)
        };
        agree += ok as usize;
    }
    (agree as f64 / sensor.len() as f64, worst)
}

fn check_depth(
    what: &str,
    source: &DepthSource,
    truth_camera: &Camera,
    synth: &SynthScene,
    truth_face_instance: &[u32],
    worst: &mut Worst,
) {
    let sensor = read_sensor_depth(source).unwrap_or_else(|e| panic!("{what}: depth: {e}"));
    assert_eq!(
        (sensor.width, sensor.height),
        (truth_camera.model.width, truth_camera.model.height),
        "{what}: depth size"
    );
    let view = render(
        &synth.mesh,
        truth_face_instance,
        truth_camera,
        &RenderConfig::default(),
    )
    .unwrap();
    let (agreement, max_err) = depth_agreement(&sensor.depth_m, &view.depth_m);
    assert!(
        agreement >= DEPTH_AGREEMENT,
        "{what}: sensor depth agrees with the render on only {:.4} % of pixels",
        agreement * 100.0
    );
    assert!(
        view.depth_m.iter().filter(|&&d| d > 0.0).count() * 2 > view.depth_m.len(),
        "{what}: the view should mostly see the room"
    );
    worst.depth_agreement_min = Some(
        worst
            .depth_agreement_min
            .map_or(agreement, |a| a.min(agreement)),
    );
    max_into(&mut worst.depth_max_err_mm_where_both, max_err * 1e3);
}

/// Supported pairs of the truth: (upper, lower) with upper's bottom on lower's top and its
/// centre over lower's footprint box.
fn support_pairs(objects: &[TruthObject]) -> Vec<(u32, u32)> {
    let mut pairs = Vec::new();
    for up in objects.iter().filter(|o| !o.structural) {
        for low in objects {
            if up.instance_id == low.instance_id || (up.aabb_min[2] - low.aabb_max[2]).abs() > 1e-9
            {
                continue;
            }
            let inside = (0..2).all(|i| {
                up.center[i] > low.aabb_min[i] + 1e-3 && up.center[i] < low.aabb_max[i] - 1e-3
            });
            if inside {
                pairs.push((up.instance_id, low.instance_id));
            }
        }
    }
    pairs
}

fn check_distances(what: &str, scene: &Scene, synth: &SynthScene, worst: &mut Worst) {
    let measurements = measure_scene(scene);
    let bvhs = build_instance_bvhs(scene);
    let truth: BTreeMap<u32, &TruthObject> =
        synth.objects.iter().map(|o| (o.instance_id, o)).collect();
    let pairs = support_pairs(&synth.objects);
    // Every generated room has furniture on the floor, at least.
    assert!(!pairs.is_empty(), "{what}: no supported object found");
    // Objects standing on something other than structure (tv on cabinet, pillow on bed).
    for (up, low) in &pairs {
        let (a, b) = (InstanceId(*up), InstanceId(*low));
        let d = closest_surface(find_bvh(&bvhs, a).unwrap(), find_bvh(&bvhs, b).unwrap())
            .expect("both instances have faces")
            .distance_m;
        assert!(
            d <= 1e-6,
            "{what}: {} ({up}) on {} ({low}): closest surface {d}",
            truth[up].raw_label,
            truth[low].raw_label
        );
        max_into(&mut worst.closest_surface_max_m, d);
        let c2c = center_to_center(
            find_measurement(&measurements, a).unwrap(),
            find_measurement(&measurements, b).unwrap(),
        )
        .distance_m;
        let (ta, tb) = (truth[up].center, truth[low].center);
        let expected =
            ((ta[0] - tb[0]).powi(2) + (ta[1] - tb[1]).powi(2) + (ta[2] - tb[2]).powi(2)).sqrt();
        let e = (c2c - expected).abs();
        assert!(
            e <= SIZE_TOL_M,
            "{what}: c2c {up}-{low} {c2c} vs {expected}"
        );
        max_into(&mut worst.c2c_mm, e * 1e3);
    }
    worst.support_pairs = pairs.len();
    worst.furniture_support_pairs = pairs
        .iter()
        .filter(|(_, low)| !truth[low].structural)
        .count();
}

fn run_case(name: &str, layout: Layout, synth: &SynthScene) -> Worst {
    let root = tempfile::tempdir().unwrap();
    let dir = write(synth, root.path(), &layout);
    let truth_json: Value =
        serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
    let scene = load_scene(&dir, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{name}: reading {}: {e}", dir.display()));
    let mut worst = Worst::default();

    // Geometry: vertex instances reproduce the truth exactly (ScanNet++: the overlap is
    // resolved by smallest-instance-wins, which gives back the generator's assignment).
    assert_eq!(scene.mesh.n_vertices(), synth.mesh.n_vertices(), "{name}");
    assert_eq!(scene.mesh.triangles, synth.mesh.triangles, "{name}");
    assert_eq!(
        scene.vertex_instance, synth.vertex_instance,
        "{name}: per-vertex instances differ from the truth"
    );
    let mut max_vertex_err = 0.0f64;
    for (a, b) in scene.mesh.positions_m.iter().zip(&synth.mesh.positions_m) {
        for i in 0..3 {
            max_vertex_err = max_vertex_err.max((a[i] as f64 - b[i] as f64).abs());
        }
    }
    assert!(
        max_vertex_err < 1e-5,
        "{name}: vertices moved by {max_vertex_err}"
    );
    if let Layout::ScanNetPP(_) = layout {
        let pair = &truth_json["overlapping_instances"];
        assert!(
            pair.is_array(),
            "{name}: the writer should declare an overlap"
        );
        let small = pair[0].as_u64().unwrap() as u32;
        assert!(
            scene.vertex_instance.contains(&small),
            "{name}: the smaller overlapping instance must keep its vertices"
        );
    }

    // Instances: ids and raw labels.
    let ids: Vec<u32> = scene.instances.iter().map(|i| i.id.0).collect();
    let truth_ids: Vec<u32> = synth.objects.iter().map(|o| o.instance_id).collect();
    assert_eq!(ids, truth_ids, "{name}: instance ids");
    let legacy = truth_json["legacy_label_instance"]
        .as_u64()
        .map(|v| v as u32);
    if let Layout::ScanNet(opts) = &layout {
        assert_eq!(legacy.is_some(), opts.legacy_label, "{name}");
    }
    for (inst, t) in scene.instances.iter().zip(&synth.objects) {
        if Some(inst.id.0) == legacy {
            assert_eq!(inst.raw_label, LEGACY_LABEL, "{name}");
            assert_eq!(
                inst.label, UNLABELLED,
                "{name}: legacy label must be unlabelled"
            );
            assert!(scene.warnings.iter().any(|w| w.contains(LEGACY_LABEL)));
        } else {
            assert_eq!(
                inst.raw_label, t.raw_label,
                "{name}: raw label of {}",
                inst.id
            );
            assert_ne!(
                inst.label, UNLABELLED,
                "{name}: {} should be known",
                t.raw_label
            );
        }
    }

    // Measurements against the analytic boxes, and against truth.json.
    let measurements = measure_scene(&scene);
    assert_eq!(
        measurements.len(),
        synth.objects.len(),
        "{name}: every instance measurable"
    );
    for (t, tj) in synth
        .objects
        .iter()
        .zip(truth_json["objects"].as_array().unwrap())
    {
        assert_eq!(tj["instance_id"].as_u64().unwrap() as u32, t.instance_id);
        // serde_json parses floats to within an ulp, not exactly.
        assert!((tj["length_m"].as_f64().unwrap() - t.length_m).abs() < 1e-12);
        let m = find_measurement(&measurements, InstanceId(t.instance_id)).unwrap();
        check_measurement(
            &format!("{name} {} {}", t.instance_id, t.raw_label),
            m,
            t,
            &mut worst,
        );
    }
    check_distances(name, &scene, synth, &mut worst);

    // Frames.
    let lost: Vec<usize> = synth.lost_tracking.clone();
    let truth_face_instance = face_instances(&synth.mesh.triangles, &synth.vertex_instance);
    let expected_indices: Vec<usize> = match &layout {
        Layout::ScanNetPP(opts) if !opts.dslr => (0..synth.cameras.len())
            .filter(|&i| {
                !lost.contains(&i) && !msmu_synth::write_scannetpp::iphone_frame_skipped(i)
            })
            .collect(),
        _ => (0..synth.cameras.len())
            .filter(|i| !lost.contains(i))
            .collect(),
    };
    let got_indices: Vec<usize> = scene
        .frames
        .iter()
        .map(|f| camera_index(&layout, &f.id))
        .collect();
    assert_eq!(got_indices, expected_indices, "{name}: frame ids");
    match &layout {
        Layout::ScanNet(_) => {
            assert_eq!(scene.frames.len(), synth.cameras.len() - lost.len());
            let skipped: BTreeMap<String, u32> =
                [(SKIP_LOST_TRACKING.to_string(), lost.len() as u32)].into();
            assert_eq!(scene.skipped_frames, skipped, "{name}: skipped frames");
            let names: Vec<String> = lost.iter().map(|i| i.to_string()).collect();
            assert_eq!(truth_json["lost_tracking"], serde_json::json!(names));
        }
        Layout::ScanNetPP(opts) => {
            // Lost DSLR images are unregistered (not in images.txt) and lost iPhone frames
            // have no pose entry: the reader never sees them, so nothing is "skipped".
            assert!(
                scene.skipped_frames.is_empty(),
                "{name}: {:?}",
                scene.skipped_frames
            );
            if opts.dslr {
                let names: Vec<String> = lost.iter().map(|&i| dslr_image_name(i)).collect();
                assert_eq!(truth_json["lost_tracking"], serde_json::json!(names));
                for n in &names {
                    assert!(scene.frames.iter().all(|f| &f.id != n));
                }
            } else {
                let unposed = truth_json["iphone_unposed"].as_array().unwrap();
                for &i in &lost {
                    assert!(unposed.contains(&Value::String(iphone_frame_name(i))));
                }
            }
        }
    }
    let expected_depth_model = match &layout {
        Layout::ScanNet(opts) => Some(depth_model(opts)),
        Layout::ScanNetPP(o) if o.dslr => None,
        Layout::ScanNetPP(o) => Some(
            synth.cameras[0]
                .model
                .resized(o.iphone_depth_width, o.iphone_depth_height),
        ),
    };
    let relative = intrinsics_relative(&layout);
    let intrinsics_tol = if relative {
        SIX_DIGITS_REL
    } else {
        INTRINSICS_TOL_PX
    };
    for frame in &scene.frames {
        let i = camera_index(&layout, &frame.id);
        let truth_cam = &synth.cameras[i];
        let (t, r) = pose_errors(&frame.world_from_camera, &truth_cam.world_from_camera);
        assert!(
            t <= POSE_T_TOL_M && r <= POSE_R_TOL_RAD,
            "{name} frame {}: pose off by {t} m, {r} rad",
            frame.id
        );
        max_into(&mut worst.pose_t_m, t);
        max_into(&mut worst.pose_r_rad, r);
        let color_model = match &layout {
            Layout::ScanNetPP(o) if !o.dslr => {
                truth_cam.model.resized(o.iphone_width, o.iphone_height)
            }
            _ => truth_cam.model,
        };
        let e = intrinsics_error(&frame.color, &color_model, relative);
        assert!(
            e <= intrinsics_tol,
            "{name} frame {}: colour intrinsics off by {e}",
            frame.id
        );
        max_into(&mut worst.intrinsics_px, e);
        match (&frame.depth, &expected_depth_model) {
            (Some(d), Some(expected)) => {
                let e = intrinsics_error(d, expected, relative);
                assert!(
                    e <= intrinsics_tol,
                    "{name} frame {}: depth intrinsics off by {e}",
                    frame.id
                );
                max_into(&mut worst.intrinsics_px, e);
                let source = frame
                    .sensor_depth
                    .as_ref()
                    .expect("a depth camera has depth");
                let camera = Camera {
                    model: *expected,
                    world_from_camera: truth_cam.world_from_camera,
                };
                check_depth(
                    &format!("{name} frame {}", frame.id),
                    source,
                    &camera,
                    synth,
                    &truth_face_instance,
                    &mut worst,
                );
            }
            (None, None) => assert!(frame.sensor_depth.is_none()),
            (got, want) => panic!(
                "{name} frame {}: depth camera {got:?}, expected {want:?}",
                frame.id
            ),
        }
        let bytes = read_color_bytes(frame.color_image.as_ref().expect("colour image"))
            .unwrap_or_else(|e| panic!("{name} frame {}: colour: {e}", frame.id));
        let img = image::load_from_memory(&bytes).expect("colour decodes");
        assert_eq!(
            (img.width(), img.height()),
            (frame.color.width, frame.color.height),
            "{name} frame {}",
            frame.id
        );
    }

    // ScanNet++ with DSLR: the reader does not read the iPhone stream, so check its depth.bin
    // (the deflate encoding) directly through the lazy depth source.
    if let Layout::ScanNetPP(o) = &layout {
        if o.dslr && o.iphone {
            for i in (0..synth.cameras.len()).step_by(5) {
                let source = DepthSource::IphoneBin {
                    path: dir.join("iphone/depth.bin"),
                    frame_index: i as u32,
                    width: o.iphone_depth_width,
                    height: o.iphone_depth_height,
                };
                let camera = Camera {
                    model: synth.cameras[i]
                        .model
                        .resized(o.iphone_depth_width, o.iphone_depth_height),
                    world_from_camera: synth.cameras[i].world_from_camera,
                };
                check_depth(
                    &format!("{name} iphone {i}"),
                    &source,
                    &camera,
                    synth,
                    &truth_face_instance,
                    &mut worst,
                );
            }
        }
    }
    println!(
        "{name}: {} frames, worst errors {worst:?}",
        scene.frames.len()
    );
    worst
}

fn case(name: &str, layout: Layout, seed: u64) {
    let scene_id = match layout {
        Layout::ScanNet(_) => "scene0950_00",
        Layout::ScanNetPP(_) => "0a1b2c3d4e",
    };
    let synth = synth_scene(scene_id, 6000, 12, seed);
    run_case(name, layout, &synth);
}

#[test]
fn roundtrip_scannet_python_export() {
    case(
        "scannet/python",
        Layout::ScanNet(scannet_opts(ScanNetFrames::PythonExport, false)),
        11,
    );
}

#[test]
fn roundtrip_scannet_cpp_export() {
    case(
        "scannet/cpp",
        Layout::ScanNet(scannet_opts(ScanNetFrames::CppExport, false)),
        12,
    );
}

#[test]
fn roundtrip_scannet_sens() {
    case(
        "scannet/sens",
        Layout::ScanNet(scannet_opts(ScanNetFrames::Sens, false)),
        13,
    );
}

#[test]
fn roundtrip_scannet_legacy_aggregation() {
    case(
        "scannet/v1-legacy",
        Layout::ScanNet(scannet_opts(ScanNetFrames::PythonExport, true)),
        14,
    );
}

#[test]
fn roundtrip_scannetpp_dslr_and_iphone_deflate() {
    case(
        "scannetpp/dslr+iphone-deflate",
        Layout::ScanNetPP(scannetpp_opts(true, IphoneDepthEncoding::DeflateF32)),
        15,
    );
}

#[test]
fn roundtrip_scannetpp_iphone_only_lz4() {
    case(
        "scannetpp/iphone-lz4",
        Layout::ScanNetPP(scannetpp_opts(false, IphoneDepthEncoding::Lz4U16)),
        16,
    );
}

/// The full-size scene `msmu synth` writes by default (150K faces). Slow in debug builds.
#[test]
fn roundtrip_slow_150k_faces() {
    let synth = synth_scene("scene0951_00", 150_000, 12, 21);
    run_case(
        "scannet/sens-150k",
        Layout::ScanNet(scannet_opts(ScanNetFrames::Sens, false)),
        &synth,
    );
    let mut synth = synth;
    synth.scene_id = "0f0e0d0c0b".into();
    run_case(
        "scannetpp/dslr+iphone-150k",
        Layout::ScanNetPP(scannetpp_opts(true, IphoneDepthEncoding::DeflateF32)),
        &synth,
    );
}

// ------------------------------------------------------------------ bundled fixtures

fn fixture_scene_dirs() -> Vec<PathBuf> {
    let root = Path::new(crate::support::repo()).join("fixtures");
    let mut dirs = Vec::new();
    for base in [root.join("scannet/scans"), root.join("scannetpp/data")] {
        for entry in std::fs::read_dir(&base).unwrap_or_else(|e| panic!("{}: {e}", base.display()))
        {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            }
        }
    }
    dirs.sort();
    dirs
}

#[test]
fn bundled_fixtures_match_their_truth() {
    let dirs = fixture_scene_dirs();
    assert!(
        dirs.len() >= 4,
        "expected the four bundled fixture scenes, got {dirs:?}"
    );
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let truth: Value =
            serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
        let scene = load_scene(&dir, &ReadOptions::default())
            .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
        let measurements = measure_scene(&scene);
        let objects = truth["objects"].as_array().unwrap();
        assert_eq!(scene.instances.len(), objects.len(), "{name}");
        let mut worst = Worst::default();
        for o in objects {
            let t: TruthObject = serde_json::from_value(o.clone()).unwrap();
            let m = find_measurement(&measurements, InstanceId(t.instance_id))
                .unwrap_or_else(|| panic!("{name}: instance {} not measured", t.instance_id));
            let inst = scene.instance(InstanceId(t.instance_id)).unwrap();
            assert_eq!(inst.raw_label, t.raw_label, "{name}");
            check_measurement(
                &format!("fixture {name} {}", t.instance_id),
                m,
                &t,
                &mut worst,
            );
        }
        let cameras = truth["cameras"].as_array().unwrap();
        let ids: Vec<&str> = scene.frames.iter().map(|f| f.id.as_str()).collect();
        let truth_ids: Vec<&str> = cameras.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids, truth_ids, "{name}: frame ids");
        for (frame, c) in scene.frames.iter().zip(cameras) {
            let m: Vec<f64> = c["world_from_camera"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let pose = msmu_data::scene::pose_from_row_major(&m.try_into().unwrap()).unwrap();
            let (t, r) = pose_errors(&frame.world_from_camera, &pose);
            assert!(
                t <= POSE_T_TOL_M && r <= POSE_R_TOL_RAD,
                "{name} {}: {t} m {r} rad",
                frame.id
            );
            max_into(&mut worst.pose_t_m, t);
            max_into(&mut worst.pose_r_rad, r);
        }
        println!("fixture {name}: worst {worst:?}");
    }
}
