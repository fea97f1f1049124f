//! LLaVA image preprocessing: pad to a square with the CLIP mean colour (`expand2square`),
//! resize to the vision tower's size with Pillow's bicubic filter, rescale to [0, 1] and apply
//! the CLIP normalisation. The resize reimplements Pillow's `ImagingResample` (8-bit
//! fixed-point, horizontal pass then vertical, each rounded to 8 bits) so the pixels match
//! transformers' `CLIPImageProcessor` (Pillow backend) exactly for the same decoded image.

use image::RgbImage;

pub const CLIP_MEAN: [f64; 3] = [0.48145466, 0.4578275, 0.40821073];
pub const CLIP_STD: [f64; 3] = [0.26862954, 0.261_302_6, 0.275_777_1];

/// LLaVA's background: `tuple(int(x * 255) for x in image_mean)` = (122, 116, 104).
pub fn mean_colour() -> [u8; 3] {
    CLIP_MEAN.map(|m| (m * 255.0) as u8)
}

/// Pads to a square, the image centred (offset rounded down), as LLaVA's `expand2square`.
pub fn expand_to_square(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    if w == h {
        return img.clone();
    }
    let side = w.max(h);
    let mut out = RgbImage::from_pixel(side, side, image::Rgb(mean_colour()));
    image::imageops::replace(
        &mut out,
        img,
        i64::from((side - w) / 2),
        i64::from((side - h) / 2),
    );
    out
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bicubic(x: f64) -> f64 {
    let a = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * a
    } else {
        0.0
    }
}

/// Pillow `precompute_coeffs` + `normalize_coeffs_8bpc`: per output pixel the first input
/// index and the fixed-point weights.
fn coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    let ss = 1.0 / filter_scale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let mut k: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - center + 0.5) * ss))
                .collect();
            let total: f64 = k.iter().sum();
            if total != 0.0 {
                k.iter_mut().for_each(|w| *w /= total);
            }
            let fixed = k
                .iter()
                .map(|&w| {
                    let v = w * f64::from(1u32 << PRECISION_BITS);
                    if w < 0.0 {
                        (v - 0.5) as i32
                    } else {
                        (v + 0.5) as i32
                    }
                })
                .collect();
            (xmin, fixed)
        })
        .collect()
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow's `Image.resize(size, Image.BICUBIC)` for RGB images.
pub fn resize_bicubic(img: &RgbImage, out_w: u32, out_h: u32) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (ow, oh) = (out_w as usize, out_h as usize);
    let src = img.as_raw();
    // Horizontal pass (skipped when the width does not change).
    let horizontal: Vec<u8> = if ow == w {
        src.clone()
    } else {
        let coeffs = coefficients(w, ow);
        let mut out = vec![0u8; h * ow * 3];
        for y in 0..h {
            for (x, (xmin, k)) in coeffs.iter().enumerate() {
                for c in 0..3 {
                    let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                    for (j, &kj) in k.iter().enumerate() {
                        acc += i64::from(src[(y * w + xmin + j) * 3 + c]) * i64::from(kj);
                    }
                    out[(y * ow + x) * 3 + c] = clip8(acc);
                }
            }
        }
        out
    };
    let vertical: Vec<u8> = if oh == h {
        horizontal
    } else {
        let coeffs = coefficients(h, oh);
        let mut out = vec![0u8; oh * ow * 3];
        for (y, (ymin, k)) in coeffs.iter().enumerate() {
            for x in 0..ow {
                for c in 0..3 {
                    let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                    for (j, &kj) in k.iter().enumerate() {
                        acc += i64::from(horizontal[((ymin + j) * ow + x) * 3 + c]) * i64::from(kj);
                    }
                    out[(y * ow + x) * 3 + c] = clip8(acc);
                }
            }
        }
        out
    };
    RgbImage::from_raw(out_w, out_h, vertical).expect("buffer size matches")
}

/// The full pipeline: `[3, size, size]` CLIP-normalised, channel-major f32.
pub fn preprocess(img: &RgbImage, size: u32) -> Vec<f32> {
    let square = expand_to_square(img);
    let resized = if square.width() == size {
        square
    } else {
        resize_bicubic(&square, size, size)
    };
    let n = (size * size) as usize;
    let mut out = vec![0f32; 3 * n];
    for (i, px) in resized.pixels().enumerate() {
        for c in 0..3 {
            // transformers: rescale (x * 1/255) then (x - mean) / std, in float32.
            let v = f32::from(px[c]) * (1.0f32 / 255.0);
            out[c * n + i] = (v - CLIP_MEAN[c] as f32) / CLIP_STD[c] as f32;
        }
    }
    out
}

/// A grey image with values in `[0, 1]` (row-major `size x size`, e.g. [`crate::dpe::depth_image`])
/// as the vision tower's input: the value in all three channels, CLIP-normalised like
/// [`preprocess`]'s rescaled pixels. `[3, size, size]` channel-major f32.
pub fn grey_to_clip(values: &[f64]) -> Vec<f32> {
    let n = values.len();
    let mut out = vec![0f32; 3 * n];
    for (c, plane) in out.chunks_exact_mut(n).enumerate() {
        for (o, &v) in plane.iter_mut().zip(values) {
            *o = (v as f32 - CLIP_MEAN[c] as f32) / CLIP_STD[c] as f32;
        }
    }
    out
}

/// Decodes an encoded image (JPEG, PNG) and preprocesses it.
pub fn preprocess_bytes(bytes: &[u8], size: u32) -> anyhow::Result<Vec<f32>> {
    let img = image::load_from_memory(bytes)?.to_rgb8();
    Ok(preprocess(&img, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_colour_matches_llava() {
        assert_eq!(mean_colour(), [122, 116, 104]);
    }

    #[test]
    fn square_padding_centres_the_image() {
        let img = RgbImage::from_pixel(4, 2, image::Rgb([0, 0, 0]));
        let sq = expand_to_square(&img);
        assert_eq!(sq.dimensions(), (4, 4));
        assert_eq!(sq.get_pixel(0, 0).0, [122, 116, 104]);
        assert_eq!(sq.get_pixel(0, 1).0, [0, 0, 0]);
        assert_eq!(sq.get_pixel(0, 3).0, [122, 116, 104]);
    }

    #[test]
    fn grey_values_fill_every_channel_normalised() {
        let out = grey_to_clip(&[0.0, 1.0]);
        assert_eq!(out.len(), 6);
        for c in 0..3 {
            let lo = (0.0 - CLIP_MEAN[c] as f32) / CLIP_STD[c] as f32;
            let hi = (1.0 - CLIP_MEAN[c] as f32) / CLIP_STD[c] as f32;
            assert_eq!(out[2 * c..2 * c + 2], [lo, hi]);
        }
    }

    #[test]
    fn resizing_a_flat_image_keeps_it_flat() {
        let img = RgbImage::from_pixel(37, 37, image::Rgb([10, 200, 77]));
        let out = resize_bicubic(&img, 14, 14);
        assert!(out.pixels().all(|p| p.0 == [10, 200, 77]));
    }
}
