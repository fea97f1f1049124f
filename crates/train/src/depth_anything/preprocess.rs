//! Image preprocessing and output resizing of the two Depth-Anything-V2 references.
//!
//! | | transformers (`DPTImageProcessor`, Pillow backend) | original repository (`image2tensor`) |
//! |---|---|---|
//! | size rule | `keep_aspect_ratio`: "scale as little as possible" (the side whose scale is nearer 1 decides), each side rounded to a multiple of `ensure_multiple_of` (half to even) | `lower_bound`: the larger scale decides so both sides are >= 518; rounded to a multiple of 14 (half to even), rounded up when that falls under 518 |
//! | resampling | Pillow bicubic (A = -0.5, antialiased when shrinking) on the 8-bit image, result rounded to 8 bits | OpenCV `INTER_CUBIC` (A = -0.75, no antialiasing, f32 positions and weights) on the f64 image in [0, 1] ([`cv2_resize_cubic`]) |
//! | normalisation | `x * rescale_factor` (f64, cast to f32), then `(x - mean) / std` in f32 | `(x / 255 - mean) / std` in f64, cast to f32 |
//! | output resize | bicubic (`post_process_depth_estimation`: `F.interpolate(mode="bicubic", align_corners=False)`) | bilinear with aligned corners (`infer_image`) |
//!
//! The two size rules agree when both sides of the image are at least 518 px; for smaller
//! images transformers keeps them smaller (e.g. 300x200 -> 518x350, original 784x518).
//! Note: transformers' torchvision backend (used when torchvision is installed) resizes with
//! torch's antialiased bicubic on the uint8 tensor instead of Pillow; msmu follows the Pillow
//! backend, the one transformers falls back to without torchvision.

use image::RgbImage;
use tch::{Device, Tensor};

/// Which reference's preprocessing and output resizing to follow.
#[derive(Clone, Debug, PartialEq)]
pub enum Preprocessing {
    /// transformers `DPTImageProcessor` (values from `preprocessor_config.json`).
    Transformers(DptProcessorConfig),
    /// The original repository's `image2tensor` / `infer_image` at this input size (518).
    Original { input_size: u32 },
}

/// The fields of a DPT `preprocessor_config.json` that Depth-Anything uses.
#[derive(Clone, Debug, PartialEq)]
pub struct DptProcessorConfig {
    pub do_resize: bool,
    /// (height, width)
    pub size: (u32, u32),
    pub keep_aspect_ratio: bool,
    pub ensure_multiple_of: u32,
    pub do_rescale: bool,
    pub rescale_factor: f64,
    pub do_normalize: bool,
    pub image_mean: [f64; 3],
    pub image_std: [f64; 3],
}

impl Default for DptProcessorConfig {
    /// The values the released `-hf` Depth-Anything-V2 repositories ship.
    fn default() -> Self {
        Self {
            do_resize: true,
            size: (518, 518),
            keep_aspect_ratio: true,
            ensure_multiple_of: 14,
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            image_mean: IMAGENET_MEAN,
            image_std: IMAGENET_STD,
        }
    }
}

pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

impl DptProcessorConfig {
    /// Reads `preprocessor_config.json`. Only Pillow's bicubic filter (`resample` 3) and no
    /// padding are supported, which is what Depth-Anything ships; anything else is an error
    /// rather than a silent difference.
    pub fn from_json(v: &serde_json::Value) -> anyhow::Result<Self> {
        let d = Self::default();
        let flag = |key: &str, default: bool| v[key].as_bool().unwrap_or(default);
        let resample = v["resample"].as_i64().unwrap_or(3);
        anyhow::ensure!(
            resample == 3,
            "preprocessor_config.json: resample {resample} is not supported (only 3 = bicubic)"
        );
        anyhow::ensure!(
            !flag("do_pad", false),
            "preprocessor_config.json: do_pad is not supported"
        );
        let size = match (&v["size"]["height"], &v["size"]["width"]) {
            (serde_json::Value::Null, _) | (_, serde_json::Value::Null) => {
                anyhow::ensure!(
                    v["size"].is_null(),
                    "preprocessor_config.json: size must have height and width, got {}",
                    v["size"]
                );
                d.size
            }
            (h, w) => (
                h.as_u64().unwrap_or(0) as u32,
                w.as_u64().unwrap_or(0) as u32,
            ),
        };
        anyhow::ensure!(
            size.0 > 0 && size.1 > 0,
            "preprocessor_config.json: bad size {}",
            v["size"]
        );
        let triple = |key: &str, default: [f64; 3]| -> anyhow::Result<[f64; 3]> {
            match v[key].as_array() {
                None => Ok(default),
                Some(a) => {
                    let vals: Vec<f64> = a.iter().filter_map(|x| x.as_f64()).collect();
                    anyhow::ensure!(
                        vals.len() == 3,
                        "preprocessor_config.json: {key} needs 3 numbers, got {}",
                        v[key]
                    );
                    Ok([vals[0], vals[1], vals[2]])
                }
            }
        };
        Ok(Self {
            do_resize: flag("do_resize", d.do_resize),
            size,
            keep_aspect_ratio: flag("keep_aspect_ratio", false),
            ensure_multiple_of: v["ensure_multiple_of"].as_u64().unwrap_or(1).max(1) as u32,
            do_rescale: flag("do_rescale", d.do_rescale),
            rescale_factor: v["rescale_factor"].as_f64().unwrap_or(d.rescale_factor),
            do_normalize: flag("do_normalize", d.do_normalize),
            image_mean: triple("image_mean", d.image_mean)?,
            image_std: triple("image_std", d.image_std)?,
        })
    }
}

/// OpenCV's `cv2.resize(..., interpolation=cv2.INTER_CUBIC)` of an interleaved RGB f64 image
/// (`h x w x 3` -> `out_h x out_w x 3`), as the original preprocessing calls it on the image
/// divided by 255: per axis, source `fx = (dst + 0.5) * scale - 0.5` computed in f32, taps at
/// `floor(fx) - 1 ..= floor(fx) + 2` clamped to the image (replicated border), Keys weights with
/// A = -0.75 in f32; the horizontal pass then the vertical one, summed in f64. No antialiasing.
pub fn cv2_resize_cubic(src: &[f64], h: usize, w: usize, out_h: usize, out_w: usize) -> Vec<f64> {
    let taps = |n_in: usize, n_out: usize| -> Vec<([usize; 4], [f64; 4])> {
        // cv::resize: inv_scale = dsize / ssize, scale = 1 / inv_scale.
        let scale = 1.0 / (n_out as f64 / n_in as f64);
        (0..n_out)
            .map(|d| {
                let fx = ((d as f64 + 0.5) * scale - 0.5) as f32;
                let sx = fx.floor();
                let x = fx - sx;
                let a = -0.75f32;
                let c0 = ((a * (x + 1.0) - 5.0 * a) * (x + 1.0) + 8.0 * a) * (x + 1.0) - 4.0 * a;
                let c1 = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
                let c2 = ((a + 2.0) * (1.0 - x) - (a + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
                let c3 = 1.0 - c0 - c1 - c2;
                let sx = sx as i64;
                let idx = [-1i64, 0, 1, 2].map(|k| (sx + k).clamp(0, n_in as i64 - 1) as usize);
                (idx, [c0, c1, c2, c3].map(f64::from))
            })
            .collect()
    };
    let tx = taps(w, out_w);
    let ty = taps(h, out_h);
    let mut rows = vec![0f64; h * out_w * 3];
    for y in 0..h {
        for (x, (idx, c)) in tx.iter().enumerate() {
            for ch in 0..3 {
                rows[(y * out_w + x) * 3 + ch] =
                    (0..4).map(|k| src[(y * w + idx[k]) * 3 + ch] * c[k]).sum();
            }
        }
    }
    let mut out = vec![0f64; out_h * out_w * 3];
    for (y, (idx, c)) in ty.iter().enumerate() {
        for x in 0..out_w * 3 {
            out[y * out_w * 3 + x] = (0..4).map(|k| rows[idx[k] * out_w * 3 + x] * c[k]).sum();
        }
    }
    out
}

/// Python's `round` (half to even), as both references round sizes.
fn round_half_even(x: f64) -> f64 {
    x.round_ties_even()
}

/// transformers' `get_resize_output_image_size` (DPT): returns (height, width).
pub fn transformers_size(
    height: u32,
    width: u32,
    target: (u32, u32),
    keep_aspect_ratio: bool,
    multiple: u32,
) -> (u32, u32) {
    let mut scale_h = f64::from(target.0) / f64::from(height);
    let mut scale_w = f64::from(target.1) / f64::from(width);
    if keep_aspect_ratio {
        if (1.0 - scale_w).abs() < (1.0 - scale_h).abs() {
            scale_h = scale_w;
        } else {
            scale_w = scale_h;
        }
    }
    let m = f64::from(multiple);
    let constrain = |val: f64| (round_half_even(val / m) * m) as u32;
    (
        constrain(scale_h * f64::from(height)),
        constrain(scale_w * f64::from(width)),
    )
}

/// The original `Resize(keep_aspect_ratio=True, ensure_multiple_of=14,
/// resize_method="lower_bound")`: returns (height, width).
pub fn original_size(height: u32, width: u32, input_size: u32, multiple: u32) -> (u32, u32) {
    let mut scale_h = f64::from(input_size) / f64::from(height);
    let mut scale_w = f64::from(input_size) / f64::from(width);
    if scale_w > scale_h {
        scale_h = scale_w;
    } else {
        scale_w = scale_h;
    }
    let m = f64::from(multiple);
    let constrain = |val: f64| {
        let y = round_half_even(val / m) * m;
        if y < f64::from(input_size) {
            ((val / m).ceil() * m) as u32
        } else {
            y as u32
        }
    };
    (
        constrain(scale_h * f64::from(height)),
        constrain(scale_w * f64::from(width)),
    )
}

impl Preprocessing {
    /// The network input size (height, width) for an image of `height x width`.
    pub fn input_size(&self, height: u32, width: u32) -> (u32, u32) {
        match self {
            Preprocessing::Transformers(c) if c.do_resize => transformers_size(
                height,
                width,
                c.size,
                c.keep_aspect_ratio,
                c.ensure_multiple_of,
            ),
            Preprocessing::Transformers(_) => (height, width),
            Preprocessing::Original { input_size } => original_size(height, width, *input_size, 14),
        }
    }

    /// The network input `[1, 3, H, W]` (f32, on `device`) for one RGB image.
    pub fn pixels(&self, img: &RgbImage, device: Device) -> Tensor {
        let (h, w) = self.input_size(img.height(), img.width());
        match self {
            Preprocessing::Transformers(c) => {
                let resized;
                let img = if (img.height(), img.width()) == (h, w) {
                    img
                } else {
                    resized = crate::preprocess::resize_bicubic(img, w, h);
                    &resized
                };
                let n = (h * w) as usize;
                let mut out = vec![0f32; 3 * n];
                let mean = c.image_mean.map(|m| m as f32);
                let std = c.image_std.map(|s| s as f32);
                for (i, px) in img.pixels().enumerate() {
                    for ch in 0..3 {
                        // numpy: uint8 -> float64 * factor -> float32; normalise in float32.
                        let mut v = if c.do_rescale {
                            (f64::from(px[ch]) * c.rescale_factor) as f32
                        } else {
                            f32::from(px[ch])
                        };
                        if c.do_normalize {
                            v = (v - mean[ch]) / std[ch];
                        }
                        out[ch * n + i] = v;
                    }
                }
                Tensor::from_slice(&out)
                    .view([1, 3, i64::from(h), i64::from(w)])
                    .to_device(device)
            }
            Preprocessing::Original { .. } => {
                let (ih, iw) = (img.height() as usize, img.width() as usize);
                let unit: Vec<f64> = img.as_raw().iter().map(|&v| f64::from(v) / 255.0).collect();
                let resized = if (ih, iw) == (h as usize, w as usize) {
                    unit
                } else {
                    cv2_resize_cubic(&unit, ih, iw, h as usize, w as usize)
                };
                let n = (h * w) as usize;
                let mut out = vec![0f32; 3 * n];
                for (i, px) in resized.chunks_exact(3).enumerate() {
                    for ch in 0..3 {
                        out[ch * n + i] = ((px[ch] - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch]) as f32;
                    }
                }
                Tensor::from_slice(&out)
                    .view([1, 3, i64::from(h), i64::from(w)])
                    .to_device(device)
            }
        }
    }

    /// Resizes the network output `[H', W']` back to the image's `height x width`.
    pub fn resize_output(&self, depth: &Tensor, height: u32, width: u32) -> Tensor {
        let s = depth.size();
        if (s[0], s[1]) == (i64::from(height), i64::from(width))
            && matches!(self, Preprocessing::Original { .. })
        {
            // Bilinear with aligned corners at the same size is the identity.
            return depth.shallow_clone();
        }
        let x = depth.view([1, 1, s[0], s[1]]);
        let size = [i64::from(height), i64::from(width)];
        let y = match self {
            Preprocessing::Transformers(_) => x.upsample_bicubic2d(size, false, None, None),
            Preprocessing::Original { .. } => x.upsample_bilinear2d(size, true, None, None),
        };
        y.view([size[0], size[1]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transformers_scales_as_little_as_possible() {
        // 640x480 (w x h): the height's scale 518/480 is nearer 1, the width follows.
        assert_eq!(
            transformers_size(480, 640, (518, 518), true, 14),
            (518, 686)
        );
        assert_eq!(
            transformers_size(640, 480, (518, 518), true, 14),
            (686, 518)
        );
        assert_eq!(
            transformers_size(300, 300, (518, 518), true, 14),
            (518, 518)
        );
        // Small images stay small along the side nearer its target.
        assert_eq!(
            transformers_size(200, 300, (518, 518), true, 14),
            (350, 518)
        );
        // Without keep_aspect_ratio both sides go to the target, rounded to the multiple.
        assert_eq!(
            transformers_size(200, 300, (518, 518), false, 14),
            (518, 518)
        );
    }

    #[test]
    fn original_is_a_lower_bound() {
        assert_eq!(original_size(480, 640, 518, 14), (518, 686));
        assert_eq!(original_size(640, 480, 518, 14), (686, 518));
        assert_eq!(original_size(300, 300, 518, 14), (518, 518));
        // 300x200 -> scale 2.59 -> width 777 = 55.5 x 14 rounds half to even: 56 x 14.
        assert_eq!(original_size(200, 300, 518, 14), (518, 784));
        // Never under 518 on either side.
        for (h, w) in [(517, 900), (1000, 519), (37, 41), (1080, 1920)] {
            let (nh, nw) = original_size(h, w, 518, 14);
            assert!(nh >= 518 && nw >= 518 && nh % 14 == 0 && nw % 14 == 0);
        }
    }

    #[test]
    fn cv2_cubic_keeps_flat_images_and_matches_libtorch_closely() {
        let (h, w) = (7, 9);
        let flat = vec![0.25; h * w * 3];
        for (oh, ow) in [(7, 9), (14, 20), (4, 5)] {
            let out = cv2_resize_cubic(&flat, h, w, oh, ow);
            assert!(out.iter().all(|v| (v - 0.25).abs() < 1e-6));
        }
        // Same kernel as libtorch's bicubic (A = -0.75, clamped taps): equal up to cv2's f32
        // positions and weights.
        let src: Vec<f64> = (0..h * w * 3)
            .map(|i| ((i * 37) % 101) as f64 / 100.0)
            .collect();
        let out = cv2_resize_cubic(&src, h, w, 11, 13);
        let t = Tensor::from_slice(&src)
            .view([h as i64, w as i64, 3])
            .permute([2, 0, 1])
            .unsqueeze(0)
            .upsample_bicubic2d([11, 13], false, None, None)
            .squeeze_dim(0)
            .permute([1, 2, 0])
            .contiguous()
            .view([-1]);
        let torch: Vec<f64> = Vec::try_from(t).unwrap();
        let max = out
            .iter()
            .zip(&torch)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(max < 1e-5, "{max}");
    }

    #[test]
    fn processor_config_reads_the_shipped_fields() {
        let v: serde_json::Value = serde_json::json!({
            "do_normalize": true, "do_rescale": true, "do_resize": true,
            "ensure_multiple_of": 14, "image_mean": [0.485, 0.456, 0.406],
            "image_processor_type": "DPTImageProcessor", "image_std": [0.229, 0.224, 0.225],
            "keep_aspect_ratio": true, "resample": 3, "rescale_factor": 0.00392156862745098,
            "size": {"height": 518, "width": 518}
        });
        assert_eq!(
            DptProcessorConfig::from_json(&v).unwrap(),
            DptProcessorConfig::default()
        );
        let bad = serde_json::json!({"resample": 2});
        assert!(DptProcessorConfig::from_json(&bad).is_err());
    }
}
