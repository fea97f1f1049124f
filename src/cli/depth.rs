//! `msmu depth`: Depth-Anything-V2 depth maps for image files or for every row of msmu shards.
//!
//! Per image NAME (the file stem; for shards the row's `id`, in a subfolder per split, since the
//! same frame may be in the train and the test split of a fixture-style dataset) it writes into
//! `--out`:
//! - `NAME.png`: 16-bit grayscale. Metric models: millimetres (`dataset::depth_png`, 0 = no
//!   value, as every depth PNG msmu writes). Relative models: the disparity mapped linearly onto
//!   0..65535 (min -> 0, max -> 65535).
//! - `NAME.json`: how to read the PNG back, `value = png * scale + offset` (metric: scale
//!   0.001, offset 0, in metres; relative: the image's own scale and offset), with the model
//!   kind, size, min and max.
//! - `NAME.npy`: the float32 depth map `[height, width]` as the model gave it (NPY 1.0).
//! - `NAME_preview.png`: an 8-bit colour rendering (turbo colour map, near = warm).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use image::RgbImage;
use msmu_data::dataset::depth_png::{encode_png_gray16, metres_to_mm};
use msmu_train::depth_anything::{DepthAnything, DepthEstimate, DepthKind};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu depth --model Depth-Anything-V2-Small-hf/ photo.jpg other.png --out depth/\n  \
msmu depth --model depth_anything_v2_vitl/ --shards out/dataset --out depth/ --batch 4\n  \
msmu depth --model SD-VLM-7B/ frame.jpg --out depth/   # the model.depth.* weights inside\n  \
MSMU_DEVICE=cuda msmu depth --model Depth-Anything-V2-Metric-Indoor-Large-hf/ *.jpg --out depth/\n\n\
The model folder is either a transformers Depth-Anything checkpoint (config.json,\n\
model.safetensors, preprocessor_config.json) or the original repository's weights as\n\
safetensors (pretrained.*, depth_head.*, possibly under a prefix such as model.depth.), with an\n\
optional depth_anything_v2.json giving depth_estimation_type / max_depth.")]
pub struct DepthArgs {
    /// Model folder (transformers or original layout), or an original-layout .safetensors file.
    #[arg(long)]
    pub model: PathBuf,
    /// Image files (JPEG, PNG).
    #[arg(required_unless_present = "shards", conflicts_with = "shards")]
    pub images: Vec<PathBuf>,
    /// An msmu dataset folder: estimate depth for the image of every row of every shard
    /// (written as OUT/{split}/{row id}.*).
    #[arg(long)]
    pub shards: Option<PathBuf>,
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Images per forward pass (images of the same size are batched together).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Benchmark: after one warm-up pass, time N passes over each image (model only, and with
    /// decoding and pre/post-processing), print one JSON line per image and write nothing.
    #[arg(long, hide = true)]
    pub bench: Option<usize>,
}

/// One image to process: its output name (a plain name, or `split/name` for shard rows) and
/// its decoded pixels.
struct Item {
    name: String,
    image: RgbImage,
}

pub fn run(args: &DepthArgs) -> anyhow::Result<ExitCode> {
    ensure!(args.batch > 0, "--batch must be at least 1");
    let device = msmu_train::device()?;
    let model = DepthAnything::load(&args.model, device)?;
    tracing::info!(
        "Depth-Anything-V2 {} ({:?} layout, hidden {}, {} blocks) on {device:?}",
        model.kind().as_str(),
        model.layout,
        model.cfg.hidden_size,
        model.cfg.num_hidden_layers
    );
    if let Some(repeats) = args.bench {
        return bench(&model, &args.images, repeats);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let written = match &args.shards {
        Some(dir) => run_shards(&model, dir, &args.out, args.batch)?,
        None => run_files(&model, &args.images, &args.out, args.batch)?,
    };
    eprintln!("{written} depth maps -> {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// A name that is safe to join to the output folder.
fn plain_name(name: &str) -> anyhow::Result<&str> {
    ensure!(
        !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains(['/', '\\'])
            && !name.contains('\0'),
        "{name:?} is not a plain file name"
    );
    Ok(name)
}

fn decode(bytes: &[u8], what: &str) -> anyhow::Result<RgbImage> {
    Ok(image::load_from_memory(bytes)
        .with_context(|| format!("decoding {what}"))?
        .to_rgb8())
}

fn run_files(
    model: &DepthAnything,
    images: &[PathBuf],
    out: &Path,
    batch: usize,
) -> anyhow::Result<usize> {
    let mut names = std::collections::BTreeMap::new();
    for path in images {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("{}: no usable file name", path.display()))?;
        plain_name(stem)?;
        if let Some(other) = names.insert(stem.to_string(), path) {
            bail!(
                "{} and {} would both write {stem}.*",
                other.display(),
                path.display()
            );
        }
    }
    let bar = msmu_data::progress::bar(images.len() as u64, "images");
    let mut written = 0;
    for chunk in images.chunks(batch) {
        let mut items = Vec::with_capacity(chunk.len());
        for path in chunk {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            items.push(Item {
                name,
                image: decode(&bytes, &path.display().to_string())?,
            });
        }
        written += estimate_and_write(model, items, out)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(written)
}

fn run_shards(
    model: &DepthAnything,
    dir: &Path,
    out: &Path,
    batch: usize,
) -> anyhow::Result<usize> {
    let shards = msmu_data::dataset::shard::list_shards(dir)?;
    ensure!(!shards.is_empty(), "{}: no shards in data/", dir.display());
    let mut total = 0u64;
    for shard in &shards {
        let builder =
            msmu_data::dataset::reader::open_parquet(shard).context("not a Parquet file")?;
        total += builder.metadata().file_metadata().num_rows() as u64;
    }
    let bar = msmu_data::progress::bar(total, "images");
    let mut written = 0;
    let mut seen = std::collections::BTreeSet::new();
    let mut pending: Vec<Item> = Vec::with_capacity(batch);
    for shard in &shards {
        for rows in msmu_data::dataset::shard::read_shard_batches(shard)? {
            for row in rows? {
                plain_name(&row.id).with_context(|| format!("{}: row id", shard.display()))?;
                plain_name(&row.split).with_context(|| format!("{}: split", shard.display()))?;
                let name = format!("{}/{}", row.split, row.id);
                ensure!(
                    seen.insert(name.clone()),
                    "{}: row {} of split {} appears twice",
                    shard.display(),
                    row.id,
                    row.split
                );
                if !out.join(&row.split).is_dir() {
                    std::fs::create_dir_all(out.join(&row.split))
                        .with_context(|| format!("creating {}", out.join(&row.split).display()))?;
                }
                let image = decode(&row.image.bytes, &format!("the image of row {}", row.id))?;
                pending.push(Item { name, image });
                if pending.len() == batch {
                    let n = pending.len() as u64;
                    written += estimate_and_write(model, std::mem::take(&mut pending), out)?;
                    bar.inc(n);
                }
            }
        }
    }
    if !pending.is_empty() {
        let n = pending.len() as u64;
        written += estimate_and_write(model, pending, out)?;
        bar.inc(n);
    }
    bar.finish_and_clear();
    Ok(written)
}

fn estimate_and_write(
    model: &DepthAnything,
    items: Vec<Item>,
    out: &Path,
) -> anyhow::Result<usize> {
    let (names, images): (Vec<String>, Vec<RgbImage>) =
        items.into_iter().map(|i| (i.name, i.image)).unzip();
    let estimates = model.estimate_batch(&images)?;
    for (name, est) in names.iter().zip(&estimates) {
        write_outputs(est, out, name).with_context(|| format!("writing the depth of {name}"))?;
    }
    Ok(estimates.len())
}

/// The 16-bit PNG samples and the (scale, offset) that read them back.
fn png_samples(est: &DepthEstimate) -> (Vec<u16>, f64, f64) {
    match est.kind {
        DepthKind::Metric => (metres_to_mm(&est.values), 0.001, 0.0),
        DepthKind::Relative => {
            let (min, max) = min_max(&est.values);
            let range = f64::from(max) - f64::from(min);
            if range <= 0.0 {
                return (vec![0; est.values.len()], 0.0, f64::from(min));
            }
            let samples = est
                .values
                .iter()
                .map(|&v| ((f64::from(v) - f64::from(min)) / range * 65535.0).round() as u16)
                .collect();
            (samples, range / 65535.0, f64::from(min))
        }
    }
}

fn min_max(values: &[f32]) -> (f32, f32) {
    values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

fn write_outputs(est: &DepthEstimate, out: &Path, name: &str) -> anyhow::Result<()> {
    let (samples, scale, offset) = png_samples(est);
    std::fs::write(
        out.join(format!("{name}.png")),
        encode_png_gray16(&samples, est.width, est.height)?,
    )?;
    let (min, max) = min_max(&est.values);
    let side = serde_json::json!({
        "kind": est.kind.as_str(),
        "width": est.width,
        "height": est.height,
        "png": format!("{}.png", name.rsplit('/').next().unwrap_or(name)),
        "scale": scale,
        "offset": offset,
        "decode": "value = png * scale + offset",
        "unit": match est.kind { DepthKind::Metric => "metre", DepthKind::Relative => "disparity (relative, larger = nearer)" },
        "min": f64::from(min),
        "max": f64::from(max),
    });
    std::fs::write(
        out.join(format!("{name}.json")),
        serde_json::to_string_pretty(&side)? + "\n",
    )?;
    std::fs::write(
        out.join(format!("{name}.npy")),
        npy_f32(&est.values, est.height as usize, est.width as usize),
    )?;
    preview(est)
        .save(out.join(format!("{name}_preview.png")))
        .context("writing the preview")?;
    Ok(())
}

/// An NPY 1.0 file holding a C-order little-endian float32 array `[rows, cols]`: the magic
/// `\x93NUMPY`, version 1.0, a u16 little-endian header length, the header (a Python dict
/// literal padded with spaces and ended by `\n` so that the data starts at a multiple of 64
/// bytes), then the data.
pub fn npy_f32(values: &[f32], rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let unpadded = 10 + dict.len() + 1;
    let padding = (64 - unpadded % 64) % 64;
    let header = format!("{dict}{}\n", " ".repeat(padding));
    let mut out = Vec::with_capacity(10 + header.len() + 4 * values.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Turbo colour map (Mikhailov 2019), polynomial approximation, for t in [0, 1].
fn turbo(t: f64) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let poly = |c: [f64; 6]| c[0] + t * (c[1] + t * (c[2] + t * (c[3] + t * (c[4] + t * c[5]))));
    let r = poly([
        0.13572138,
        4.61539260,
        -42.66032258,
        132.13108234,
        -152.94239396,
        59.28637943,
    ]);
    let g = poly([
        0.09140261,
        2.19418839,
        4.84296658,
        -14.18503333,
        4.27729857,
        2.82956604,
    ]);
    let b = poly([
        0.10667330,
        12.64194608,
        -60.58204836,
        110.36276771,
        -89.90310912,
        27.34824973,
    ]);
    [r, g, b].map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8)
}

/// The colour preview: min..max of the map stretched over the colour map, nearer = warmer
/// (relative values are disparities, metric values distances).
fn preview(est: &DepthEstimate) -> RgbImage {
    let (min, max) = min_max(&est.values);
    let range = f64::from(max) - f64::from(min);
    RgbImage::from_fn(est.width, est.height, |x, y| {
        let v = est.values[(y * est.width + x) as usize];
        let t = if range > 0.0 && v.is_finite() {
            (f64::from(v) - f64::from(min)) / range
        } else {
            0.0
        };
        image::Rgb(turbo(match est.kind {
            DepthKind::Relative => t,
            DepthKind::Metric => 1.0 - t,
        }))
    })
}

/// `--bench N`: per image, milliseconds per pass of the model alone (preprocessed input) and of
/// the whole pipeline (decode, preprocess, model, output resize), as one JSON line each.
fn bench(model: &DepthAnything, images: &[PathBuf], repeats: usize) -> anyhow::Result<ExitCode> {
    ensure!(repeats > 0, "--bench needs at least 1 pass");
    for path in images {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let image = decode(&bytes, &path.display().to_string())?;
        let pixels = model.preprocessing.pixels(&image, model.device());
        // CUDA runs asynchronously: wait for the kernels before reading the clock.
        let sync = || {
            if let msmu_train::tch::Device::Cuda(i) = model.device() {
                msmu_train::tch::Cuda::synchronize(i as i64);
            }
        };
        let _ = model.forward(&pixels);
        sync();
        let start = Instant::now();
        for _ in 0..repeats {
            let _ = model.forward(&pixels);
        }
        sync();
        let model_ms = start.elapsed().as_secs_f64() * 1e3 / repeats as f64;
        let start = Instant::now();
        for _ in 0..repeats {
            let image = decode(&bytes, &path.display().to_string())?;
            let _ = model.estimate(&image)?;
        }
        let pipeline_ms = start.elapsed().as_secs_f64() * 1e3 / repeats as f64;
        let s = pixels.size();
        let line = serde_json::json!({
            "image": path.display().to_string(),
            "input": [s[2], s[3]],
            "threads": msmu_train::tch::get_num_threads(),
            "model_ms": model_ms,
            "pipeline_ms": pipeline_ms,
        });
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_parsable() {
        let bytes = npy_f32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3);
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert!(header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + header_len + 24);
        assert_eq!(
            &bytes[10 + header_len..10 + header_len + 4],
            &1.0f32.to_le_bytes()
        );
    }

    #[test]
    fn relative_png_spans_the_16_bit_range_and_decodes_back() {
        let est = DepthEstimate {
            width: 2,
            height: 2,
            values: vec![0.5, 1.0, 2.0, 4.5],
            kind: DepthKind::Relative,
        };
        let (samples, scale, offset) = png_samples(&est);
        assert_eq!(samples[0], 0);
        assert_eq!(samples[3], 65535);
        for (s, v) in samples.iter().zip(&est.values) {
            assert!((f64::from(*s) * scale + offset - f64::from(*v)).abs() <= scale);
        }
    }

    #[test]
    fn names_must_be_plain() {
        assert!(plain_name("scene0000_00_000010").is_ok());
        for bad in ["", "..", "a/b", "a\\b"] {
            assert!(plain_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn turbo_runs_cold_to_warm() {
        // Turbo starts dark (t = 0 is near-black purple), is blue in its first fifth and red
        // in its last fifth; the ends are clamped.
        let dark = turbo(0.0);
        assert!(dark.iter().all(|&c| c < 64), "{dark:?}");
        let cold = turbo(0.15);
        let warm = turbo(0.85);
        assert!(cold[2] > 2 * cold[0], "{cold:?}");
        assert!(warm[0] > 2 * warm[2], "{warm:?}");
        assert_eq!(turbo(-1.0), turbo(0.0));
        assert_eq!(turbo(2.0), turbo(1.0));
    }
}
