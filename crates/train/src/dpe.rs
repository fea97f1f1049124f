//! Depth positional encoding (SD-VLM, docs MSMU.md section 4): a depth map pooled to the
//! vision patch grid, normalised per image, and encoded as interleaved sin/cos over the LLM
//! hidden size, added to the image tokens after the projector. No parameters.
//!
//! Exact definition (the Python reference in `tests/python/test_train_dpe.py` follows it):
//! 1. depth: 16-bit PNG in millimetres, 0 = invalid. `DepthSense::Inverse` turns valid
//!    pixels into 1/mm first (the sense of relative depth estimators, larger = nearer).
//! 2. `DepthAlign::Padded`: pad the map to a square exactly as the image is padded
//!    (centred, offset `(long - short) / 2` rounded down), padding invalid;
//!    `DepthAlign::Official`: no padding (the official code; cells then miss the tokens).
//! 3. Adaptive average pooling to `grid x grid` cells over valid pixels only (cell `i` of `n`
//!    input pixels covers `floor(i n / g) .. ceil((i + 1) n / g)`). A cell without valid pixels
//!    is empty.
//! 4. `d = alpha (d - min) / (max - min + 1e-9)`, min and max over non-empty cells; empty
//!    cells get `d = 0`.
//! 5. `w_i = 10000^(-i / (D/2))`, `PE[2i] = sin(d w_i)`, `PE[2i+1] = cos(d w_i)`; computed in
//!    f64 and returned as fp32.

use tch::{Device, Kind, Tensor};

/// Where the depth grid comes from relative to the padded image.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DepthAlign {
    /// Depth padded like the image, so cells line up with the image tokens (default).
    Padded,
    /// As the official code: depth pooled from the unpadded map.
    Official,
}

/// Which way depth values point.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DepthSense {
    /// Metric depth as stored (larger = farther): ground truth.
    Metric,
    /// 1 / depth (larger = nearer), the sense of Depth-Anything relative depth.
    Inverse,
}

/// DPE settings, recorded in every checkpoint.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DpeConfig {
    pub enabled: bool,
    pub alpha: f64,
    pub align: DepthAlign,
    pub sense: DepthSense,
}

impl Default for DpeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            alpha: 100.0,
            align: DepthAlign::Padded,
            sense: DepthSense::Metric,
        }
    }
}

use msmu_data::dataset::depth_png::DepthMm;

/// Pooled depth per cell, `None` for empty cells, row-major `grid x grid`.
pub fn pool(
    depth: &DepthMm,
    grid: usize,
    align: DepthAlign,
    sense: DepthSense,
) -> Vec<Option<f64>> {
    let (w, h) = (depth.width, depth.height);
    let (side_w, side_h, off_x, off_y) = match align {
        DepthAlign::Official => (w, h, 0, 0),
        DepthAlign::Padded => {
            let side = w.max(h);
            (side, side, (side - w) / 2, (side - h) / 2)
        }
    };
    let bounds = |i: usize, n: usize| (i * n / grid, ((i + 1) * n).div_ceil(grid));
    let mut out = Vec::with_capacity(grid * grid);
    for gy in 0..grid {
        let (y0, y1) = bounds(gy, side_h);
        for gx in 0..grid {
            let (x0, x1) = bounds(gx, side_w);
            let mut sum = 0.0f64;
            let mut count = 0usize;
            for y in y0..y1 {
                let Some(sy) = y.checked_sub(off_y).filter(|&sy| sy < h) else {
                    continue;
                };
                for x in x0..x1 {
                    let Some(sx) = x.checked_sub(off_x).filter(|&sx| sx < w) else {
                        continue;
                    };
                    let v = depth.depth_mm[sy * w + sx];
                    if v > 0 {
                        sum += match sense {
                            DepthSense::Metric => f64::from(v),
                            DepthSense::Inverse => 1.0 / f64::from(v),
                        };
                        count += 1;
                    }
                }
            }
            out.push((count > 0).then(|| sum / count as f64));
        }
    }
    out
}

/// Per-image min-max normalisation times `alpha`; empty cells become 0.
pub fn normalise(cells: &[Option<f64>], alpha: f64) -> Vec<f64> {
    let valid = cells.iter().flatten();
    let min = valid.clone().fold(f64::INFINITY, |a, &b| a.min(b));
    let max = valid.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    cells
        .iter()
        .map(|c| c.map_or(0.0, |d| alpha * (d - min) / (max - min + 1e-9)))
        .collect()
}

/// Normalised depth per cell for one image (input of [`encode`]).
pub fn depth_cells(depth: &DepthMm, grid: usize, cfg: &DpeConfig) -> Vec<f64> {
    normalise(&pool(depth, grid, cfg.align, cfg.sense), cfg.alpha)
}

/// Interleaved sin/cos encoding: `cells` `[B, N]` (f64) -> `[B, N, hidden]` fp32 on `device`.
pub fn encode(cells: &[Vec<f64>], hidden: i64, device: Device) -> Tensor {
    assert!(hidden % 2 == 0, "DPE needs an even hidden size");
    let b = cells.len() as i64;
    let n = cells.first().map_or(0, |c| c.len()) as i64;
    let flat: Vec<f64> = cells.iter().flatten().copied().collect();
    let d = Tensor::from_slice(&flat).to_device(device).view([b, n, 1]);
    let half = hidden / 2;
    let i = Tensor::arange(half, (Kind::Double, device));
    let w = (i * (-(10000f64).ln() / half as f64))
        .exp()
        .view([1, 1, half]);
    let theta = d * w;
    Tensor::stack(&[theta.sin(), theta.cos()], -1)
        .view([b, n, hidden])
        .to_kind(Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(w: usize, h: usize, f: impl Fn(usize, usize) -> u16) -> DepthMm {
        let depth_mm = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| f(x, y))
            .collect();
        DepthMm {
            width: w,
            height: h,
            depth_mm,
        }
    }

    #[test]
    fn pooling_skips_invalid_pixels() {
        // 4x4 map, 2x2 grid; the top-left cell has one invalid pixel.
        let d = map(4, 4, |x, y| {
            if (x, y) == (0, 0) {
                0
            } else {
                1000 + (x / 2 + 2 * (y / 2)) as u16
            }
        });
        let cells = pool(&d, 2, DepthAlign::Official, DepthSense::Metric);
        assert_eq!(
            cells,
            vec![Some(1000.0), Some(1001.0), Some(1002.0), Some(1003.0)]
        );
    }

    #[test]
    fn padded_rows_are_empty_cells() {
        // 4 wide x 2 high, padded to 4x4: offset 1 row; grid 4 -> rows 0 and 3 empty.
        let d = map(4, 2, |_, _| 500);
        let cells = pool(&d, 4, DepthAlign::Padded, DepthSense::Metric);
        assert!(cells[..4].iter().all(Option::is_none));
        assert!(cells[4..12].iter().all(|c| *c == Some(500.0)));
        assert!(cells[12..].iter().all(Option::is_none));
    }

    #[test]
    fn normalisation_spans_zero_to_alpha() {
        let n = normalise(&[Some(2.0), None, Some(4.0), Some(3.0)], 100.0);
        assert_eq!(n[1], 0.0);
        assert!((n[0]).abs() < 1e-9 && (n[2] - 100.0).abs() < 1e-6 && (n[3] - 50.0).abs() < 1e-6);
    }

    #[test]
    fn encoding_interleaves_sin_and_cos() {
        let pe = encode(&[vec![0.0, 2.0]], 8, Device::Cpu);
        assert_eq!(pe.size(), vec![1, 2, 8]);
        let v: Vec<f32> = pe.flatten(0, -1).try_into().unwrap();
        assert_eq!(&v[..8], &[0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
        // i = 1 of D/2 = 4: w = 10000^(-1/4) = 0.1.
        assert!((v[8 + 2] - (0.2f64).sin() as f32).abs() < 1e-7);
        assert!((v[8 + 3] - (0.2f64).cos() as f32).abs() < 1e-7);
    }
}
