//! `msmu render`: renders one frame's view of the mesh and writes `depth.png` (16-bit,
//! millimetres, 0 = no surface), `instances.png` (16-bit instance ids, 0 = none) `preview.png` (colour frame | colourised depth | instance overlay, side by side) so a user
//! can check the alignment of mesh, poses and images by eye; plus `depth.npy` (float32
//! metres, exact) and `camera.json` (intrinsics and pose) for comparisons with other tools.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use image::{ImageBuffer, Luma, Rgb, RgbImage};

use msmu_data::io::{frames, load_scene, ReadOptions};
use msmu_data::render::{render, RenderConfig, RenderedView};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu render fixtures/scannet/scans/scene0900_00 --frame 0 --out /tmp/view\n  \
msmu render fixtures/scannetpp/data/5a1f0e3c2b --frame DSC00003.JPG --out /tmp/v --width 320 --height 240")]
pub struct RenderArgs {
    /// Scene folder.
    pub scene: PathBuf,
    /// Frame id as `msmu inspect` lists it (ScanNet: frame index; ScanNet++: image name).
    #[arg(long)]
    pub frame: String,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Render width; default: the depth sensor's width when known, else the colour width.
    #[arg(long, requires = "height")]
    pub width: Option<u32>,
    /// Render height (with --width).
    #[arg(long, requires = "width")]
    pub height: Option<u32>,
}

pub fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    if let (Some(width), Some(height)) = (args.width, args.height) {
        msmu_data::io::check_image_size(width, height, "--width x --height")?;
    }
    let scene = load_scene(&args.scene, &ReadOptions::default())?;
    let Some(frame) = scene.frames.iter().find(|f| f.id == args.frame) else {
        let ids: Vec<&str> = scene
            .frames
            .iter()
            .take(10)
            .map(|f| f.id.as_str())
            .collect();
        bail!(
            "scene {}: no frame {:?}; {} frames exist, the first are {:?} (see `msmu inspect`)",
            scene.meta.scene_id,
            args.frame,
            scene.frames.len(),
            ids
        );
    };
    let (width, height) = match (args.width, args.height, frame.depth) {
        (Some(w), Some(h), _) => (w, h),
        (_, _, Some(depth)) => (depth.width, depth.height),
        _ => (frame.color.width, frame.color.height),
    };
    let mut camera = frame.color_camera();
    camera.model = frame.color.resized(width, height);
    let view = render(
        &scene.mesh,
        &scene.face_instance,
        &camera,
        &RenderConfig::default(),
    )
    .with_context(|| format!("scene {}, frame {}", scene.meta.scene_id, args.frame))?;

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_depth_png(&view, &args.out.join("depth.png"))?;
    write_instance_png(&view, &args.out.join("instances.png"))?;
    write_npy_f32(
        &view.depth_m,
        view.height,
        view.width,
        &args.out.join("depth.npy"),
    )?;
    let k = camera.model.intrinsics;
    let camera_json = serde_json::json!({
        "scene_id": scene.meta.scene_id,
        "frame_id": frame.id,
        "width": width,
        "height": height,
        "fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy,
        "world_from_camera": msmu_data::scene::pose_to_row_major(&camera.world_from_camera),
        "aligned_from_scan": msmu_data::scene::pose_to_row_major(&scene.aligned_from_scan),
        "near_m": RenderConfig::default().near_m,
        "far_m": RenderConfig::default().far_m,
    });
    std::fs::write(
        args.out.join("camera.json"),
        serde_json::to_string_pretty(&camera_json)?,
    )?;
    let color = match &frame.color_image {
        Some(source) => {
            let expected = (frame.color.width, frame.color.height);
            let bytes = frames::read_color_checked(source, expected).with_context(|| {
                format!(
                    "scene {}: frame {}: reading the colour image",
                    scene.meta.scene_id, frame.id
                )
            })?;
            let decoded = image::load_from_memory(&bytes).with_context(|| {
                format!(
                    "scene {}: frame {}: decoding the colour image",
                    scene.meta.scene_id, frame.id
                )
            })?;
            Some(decoded.to_rgb8())
        }
        None => None,
    };
    preview(&view, color.as_ref()).save(args.out.join("preview.png"))?;
    let covered = view.depth_m.iter().filter(|&&d| d > 0.0).count();
    println!(
        "scene {} frame {}: {}x{} rendered, {:.1} % of pixels hit the mesh; wrote depth.png, instances.png, preview.png to {}",
        scene.meta.scene_id,
        frame.id,
        width,
        height,
        100.0 * covered as f64 / view.depth_m.len() as f64,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn write_depth_png(view: &RenderedView, path: &Path) -> anyhow::Result<()> {
    let img: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_raw(
        view.width,
        view.height,
        msmu_data::dataset::depth_png::metres_to_mm(&view.depth_m),
    )
    .context("depth buffer size")?;
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

fn write_instance_png(view: &RenderedView, path: &Path) -> anyhow::Result<()> {
    let ids: Vec<u16> = view
        .instance
        .iter()
        .map(|&i| i.min(u16::MAX as u32) as u16)
        .collect();
    let img: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_raw(view.width, view.height, ids).context("instance buffer size")?;
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes a 2-D little-endian float32 array in NumPy's `.npy` format (version 1.0), so the
/// exact rendered depth can be compared with other tools without 1 mm quantisation.
pub fn write_npy_f32(values: &[f32], rows: u32, cols: u32, path: &Path) -> anyhow::Result<()> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple
    // of 64 bytes and ended by a newline.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + values.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// A stable, well-spread colour for an instance id.
pub fn instance_color(id: u32) -> [u8; 3] {
    let h = id.wrapping_mul(2654435761);
    [
        (h >> 24) as u8 | 0x40,
        (h >> 16) as u8 | 0x40,
        (h >> 8) as u8 | 0x40,
    ]
}

/// Turbo-like colour ramp for t in [0, 1] (near = warm).
fn ramp(t: f64) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let r = (255.0 * (1.5 - (4.0 * t - 3.0).abs()).clamp(0.0, 1.0)) as u8;
    let g = (255.0 * (1.5 - (4.0 * t - 2.0).abs()).clamp(0.0, 1.0)) as u8;
    let b = (255.0 * (1.5 - (4.0 * t - 1.0).abs()).clamp(0.0, 1.0)) as u8;
    [r, g, b]
}

fn preview(view: &RenderedView, color: Option<&RgbImage>) -> RgbImage {
    let (w, h) = (view.width, view.height);
    let base = match color {
        Some(c) => image::imageops::resize(c, w, h, image::imageops::FilterType::Triangle),
        None => RgbImage::new(w, h),
    };
    let valid: Vec<f32> = view.depth_m.iter().copied().filter(|&d| d > 0.0).collect();
    let (lo, hi) = valid
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &d| {
            (lo.min(d), hi.max(d))
        });
    let mut out = RgbImage::new(w * 3, h);
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) as usize;
            let c = base.get_pixel(x, y).0;
            out.put_pixel(x, y, Rgb(c));
            let d = view.depth_m[i];
            let depth_rgb = if d > 0.0 {
                ramp(1.0 - ((d - lo) / (hi - lo).max(1e-6)) as f64)
            } else {
                [0, 0, 0]
            };
            out.put_pixel(w + x, y, Rgb(depth_rgb));
            let id = view.instance[i];
            let overlay = if id == 0 {
                c.map(|v| v / 2)
            } else {
                let k = instance_color(id);
                [0, 1, 2].map(|ch| ((c[ch] as u16 + k[ch] as u16) / 2) as u8)
            };
            out.put_pixel(2 * w + x, y, Rgb(overlay));
        }
    }
    out
}
