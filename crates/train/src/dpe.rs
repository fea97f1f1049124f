//! Depth positional encoding (SD-VLM, docs MSMU.md section 4): a depth map pooled to the
//! vision patch grid, normalised per image, and encoded as interleaved sin/cos over the LLM
//! hidden size, added to the image tokens after the projector. No parameters.
//!
//! Exact definition (the Python reference in `tests/python/dpe_reference.py` follows it):
//! 1. depth: 16-bit PNG in millimetres, 0 = invalid. With `DpeConfig::noise_sigma > 0` every
//!    valid pixel `d` first becomes `d exp(sigma z)`, `z ~ N(0, 1)` drawn per pixel in raster
//!    order from a ChaCha8 stream seeded by [`noise_seed`] (training augmentation, see
//!    [`add_depth_noise`]); the noisy values stay f64 (not rounded back to millimetres).
//!    `DepthSense::Inverse` then turns valid pixels into 1/mm (the sense of relative depth
//!    estimators, larger = nearer).
//! 2. `DepthAlign::Padded`: pad the map to a square exactly as the image is padded
//!    (centred, offset `(long - short) / 2` rounded down), padding invalid;
//!    `DepthAlign::Official`: no padding (the official code; cells then miss the tokens).
//! 3. Pooling to `grid x grid` cells, averaging valid (non-zero) pixels only. Two rules:
//!    - adaptive (`Padded`, and `Official` with estimated depth: the official
//!      `AdaptiveAvgPool2d` path): cell `i` of `n` input pixels covers
//!      `floor(i n / g) .. ceil((i + 1) n / g)` (neighbouring cells may overlap by a pixel).
//!      A cell without valid pixels is empty: it is left out of the min-max of step 4 and
//!      gets `d = 0`.
//!    - official ground truth (`Official` with ground-truth depth, [`depth_cells_for`] with
//!      `ground_truth = true`): non-overlapping cells `floor(i n / g) .. floor((i + 1) n / g)`.
//!      A cell without valid pixels is 0 and that 0 takes part in the min-max of step 4.
//! 4. `d = alpha (d - min) / (max - min + 1e-9)`, min and max over the non-empty cells
//!    (adaptive rule) or over all `g * g` cells (official ground-truth rule).
//! 5. `w_i = 10000^(-i / (D/2))`, `PE[2i] = sin(d w_i)`, `PE[2i+1] = cos(d w_i)`; computed in
//!    f64 and returned as fp32.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// Where the depth grid comes from relative to the padded image.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DepthAlign {
    /// Depth padded like the image, so cells line up with the image tokens (default).
    Padded,
    /// As the official code: depth pooled from the unpadded map (ground-truth depth: the
    /// official ground-truth rule; estimated depth: the official adaptive pooling).
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

/// How depth reaches the LLM.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DepthFusion {
    /// SD-VLM's depth positional encoding: the sinusoidal encoding of the pooled depth added
    /// to the image tokens (no new tokens, no parameters).
    #[default]
    Add,
    /// The depth map as a second image ([`depth_image`]): it goes through the same frozen
    /// vision tower and the same projector, and its tokens follow the image's (twice the
    /// image tokens, no new parameters).
    Concat,
}

impl std::fmt::Display for DepthFusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DepthFusion::Add => "add",
            DepthFusion::Concat => "concat",
        })
    }
}

/// DPE settings, recorded in every checkpoint.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DpeConfig {
    pub enabled: bool,
    pub alpha: f64,
    pub align: DepthAlign,
    pub sense: DepthSense,
    /// Sigma of the multiplicative log-normal depth noise (0: none); absent in records
    /// written before it existed.
    #[serde(default)]
    pub noise_sigma: f64,
    /// How depth is fused with the image tokens; absent in records written before it existed
    /// (then `add`).
    #[serde(default)]
    pub fusion: DepthFusion,
}

impl Default for DpeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            alpha: 100.0,
            align: DepthAlign::Padded,
            sense: DepthSense::Metric,
            noise_sigma: 0.0,
            fusion: DepthFusion::Add,
        }
    }
}

/// Depth settings given on a command line, applied over a base configuration (the defaults
/// for training; the adapter's record for prediction, so an adapter's alpha, alignment or
/// fusion is not silently replaced by a default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DpeOverrides {
    /// `--no-dpe`: no depth at all.
    pub disabled: bool,
    pub alpha: Option<f64>,
    pub align: Option<DepthAlign>,
    pub noise_sigma: Option<f64>,
    pub fusion: Option<DepthFusion>,
}

impl DpeOverrides {
    /// `base` with every given setting replaced (the sense is resolved elsewhere, from the
    /// depth source).
    pub fn apply(&self, base: DpeConfig) -> DpeConfig {
        DpeConfig {
            enabled: base.enabled && !self.disabled,
            alpha: self.alpha.unwrap_or(base.alpha),
            align: self.align.unwrap_or(base.align),
            sense: base.sense,
            noise_sigma: self.noise_sigma.unwrap_or(base.noise_sigma),
            fusion: self.fusion.unwrap_or(base.fusion),
        }
    }
}

use msmu_data::dataset::depth_png::DepthMm;

/// Pooled depth per cell with the adaptive rule (module doc, step 3), `None` for empty cells,
/// row-major `grid x grid`.
pub fn pool(
    depth: &DepthMm,
    grid: usize,
    align: DepthAlign,
    sense: DepthSense,
) -> Vec<Option<f64>> {
    pool_adaptive(depth.width, depth.height, grid, align, sense, |i| {
        f64::from(depth.depth_mm[i])
    })
}

/// The value a valid pixel contributes in `sense` (`v > 0`).
fn sensed(v: f64, sense: DepthSense) -> f64 {
    match sense {
        DepthSense::Metric => v,
        DepthSense::Inverse => 1.0 / v,
    }
}

/// Adaptive pooling of a `w x h` map whose pixel `y * w + x` is `value(y * w + x)` (mm,
/// `<= 0` invalid).
fn pool_adaptive(
    w: usize,
    h: usize,
    grid: usize,
    align: DepthAlign,
    sense: DepthSense,
    value: impl Fn(usize) -> f64,
) -> Vec<Option<f64>> {
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
                    let v = value(sy * w + sx);
                    if v > 0.0 {
                        sum += sensed(v, sense);
                        count += 1;
                    }
                }
            }
            out.push((count > 0).then(|| sum / count as f64));
        }
    }
    out
}

/// Official ground-truth pooling of the unpadded `w x h` map (module doc, step 3): cell `i`
/// of `n` pixels covers `floor(i n / g) .. floor((i + 1) n / g)`, mean of its valid pixels,
/// 0 when it has none. Row-major `grid x grid`.
fn pool_ground_truth(
    w: usize,
    h: usize,
    grid: usize,
    sense: DepthSense,
    value: impl Fn(usize) -> f64,
) -> Vec<f64> {
    let bounds = |i: usize, n: usize| (i * n / grid, (i + 1) * n / grid);
    let mut out = Vec::with_capacity(grid * grid);
    for gy in 0..grid {
        let (y0, y1) = bounds(gy, h);
        for gx in 0..grid {
            let (x0, x1) = bounds(gx, w);
            let mut sum = 0.0f64;
            let mut count = 0usize;
            for y in y0..y1 {
                for x in x0..x1 {
                    let v = value(y * w + x);
                    if v > 0.0 {
                        sum += sensed(v, sense);
                        count += 1;
                    }
                }
            }
            out.push(if count > 0 { sum / count as f64 } else { 0.0 });
        }
    }
    out
}

/// Seed of one row's depth noise: FNV-1a (64 bit) over `run_seed` (little endian) and the
/// row id's UTF-8 bytes. Stable across Rust releases and platforms, so a row's noise depends
/// only on the run seed and its id, not on batch order.
pub fn noise_seed(run_seed: u64, row_id: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    run_seed
        .to_le_bytes()
        .iter()
        .chain(row_id.as_bytes())
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// Standard normal draws from `rng` (Box-Muller: two uniforms give two independent N(0, 1)).
struct Normals {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl Normals {
    fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    fn next(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // u1 in (0, 1] so that ln(u1) is finite.
        let u1 = 1.0 - self.rng.random::<f64>();
        let u2 = self.rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }
}

/// The depth map as f64 millimetres (row-major, 0 = invalid) with multiplicative log-normal
/// noise: every valid pixel `d` becomes `d exp(sigma z)`, `z ~ N(0, 1)`. One `z` is drawn per
/// pixel in raster order (invalid pixels included, so a pixel's draw depends only on `seed`
/// and its position) from ChaCha8 seeded with `seed`. `sigma = 0` returns the map unchanged.
pub fn add_depth_noise(depth: &DepthMm, sigma: f64, seed: u64) -> Vec<f64> {
    if sigma == 0.0 {
        return depth.depth_mm.iter().map(|&v| f64::from(v)).collect();
    }
    let mut normals = Normals::new(seed);
    depth
        .depth_mm
        .iter()
        .map(|&v| {
            let z = normals.next();
            if v > 0 {
                f64::from(v) * (sigma * z).exp()
            } else {
                0.0
            }
        })
        .collect()
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

/// Normalised depth per cell for one image (input of [`encode`]) with the adaptive rule:
/// [`depth_cells_for`] with `ground_truth = false` and noise seed 0.
pub fn depth_cells(depth: &DepthMm, grid: usize, cfg: &DpeConfig) -> Vec<f64> {
    depth_cells_for(depth, grid, cfg, false, 0)
}

/// Normalised depth per cell for one image (input of [`encode`]), row-major `grid x grid`.
/// `ground_truth`: the map is ground-truth depth, so `DepthAlign::Official` follows the
/// official ground-truth rule (non-overlapping cells, empty cells 0 inside the min-max);
/// otherwise (and always for `DepthAlign::Padded`) the adaptive rule. With
/// `cfg.noise_sigma > 0` the map first gets [`add_depth_noise`] with `noise_seed` (ignored
/// otherwise).
pub fn depth_cells_for(
    depth: &DepthMm,
    grid: usize,
    cfg: &DpeConfig,
    ground_truth: bool,
    noise_seed: u64,
) -> Vec<f64> {
    let noisy =
        (cfg.noise_sigma > 0.0).then(|| add_depth_noise(depth, cfg.noise_sigma, noise_seed));
    let value = |i: usize| match &noisy {
        Some(n) => n[i],
        None => f64::from(depth.depth_mm[i]),
    };
    let (w, h) = (depth.width, depth.height);
    if cfg.align == DepthAlign::Official && ground_truth {
        let cells: Vec<Option<f64>> = pool_ground_truth(w, h, grid, cfg.sense, value)
            .into_iter()
            .map(Some)
            .collect();
        normalise(&cells, cfg.alpha)
    } else {
        normalise(
            &pool_adaptive(w, h, grid, cfg.align, cfg.sense, value),
            cfg.alpha,
        )
    }
}

/// The depth map as a `size x size` grey image for `DepthFusion::Concat`, row-major, values in
/// `[0, 1]`: the (noisy, sensed) map padded like the image (`DepthAlign::Padded`; `Official`
/// stretches the unpadded map), averaged over the valid pixels of each output pixel with the
/// adaptive rule of step 3 (so a larger map is area-averaged and a smaller one repeated),
/// then min-max normalised over the pixels with a value; pixels without one are 0.
/// [`crate::preprocess::grey_to_clip`] turns it into the vision tower's input.
pub fn depth_image(depth: &DepthMm, size: usize, cfg: &DpeConfig, noise_seed: u64) -> Vec<f64> {
    let noisy =
        (cfg.noise_sigma > 0.0).then(|| add_depth_noise(depth, cfg.noise_sigma, noise_seed));
    let value = |i: usize| match &noisy {
        Some(n) => n[i],
        None => f64::from(depth.depth_mm[i]),
    };
    normalise(
        &pool_adaptive(depth.width, depth.height, size, cfg.align, cfg.sense, value),
        1.0,
    )
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
    fn depth_image_is_padded_normalised_and_zero_where_empty() {
        // 4 wide x 2 high, padded to 4x4 (rows 0 and 3 padding), near row 1000, far row 3000.
        let d = map(4, 2, |_, y| if y == 0 { 1000 } else { 3000 });
        let img = depth_image(&d, 4, &DpeConfig::default(), 0);
        assert_eq!(img.len(), 16);
        assert!(img[..4].iter().chain(&img[12..]).all(|&v| v == 0.0));
        assert!(img[4..8].iter().all(|&v| v.abs() < 1e-9));
        assert!(img[8..12].iter().all(|&v| (v - 1.0).abs() < 1e-9));
        // Upsampling repeats pixels; `Official` stretches the unpadded map.
        let cfg = DpeConfig {
            align: DepthAlign::Official,
            ..DpeConfig::default()
        };
        let big = depth_image(&d, 8, &cfg, 0);
        assert!(big[..32].iter().all(|&v| v.abs() < 1e-9));
        assert!(big[32..].iter().all(|&v| (v - 1.0).abs() < 1e-9));
        // Inverse sense flips it.
        let inv = DpeConfig {
            sense: DepthSense::Inverse,
            ..cfg
        };
        let flipped = depth_image(&d, 8, &inv, 0);
        // 1/mm values span ~7e-4 here, so the 1e-9 of the min-max shows at 1e-6.
        assert!(flipped[..32].iter().all(|&v| (v - 1.0).abs() < 1e-5));
        assert!(flipped[32..].iter().all(|&v| v.abs() < 1e-9));
    }

    fn official(ground_truth_noise: f64) -> DpeConfig {
        DpeConfig {
            align: DepthAlign::Official,
            noise_sigma: ground_truth_noise,
            ..DpeConfig::default()
        }
    }

    #[test]
    fn ground_truth_cells_do_not_overlap_and_empty_cells_count_in_min_max() {
        // 5 wide x 1 high, grid 2: ground-truth cells x 0..2 and 2..5 (adaptive: 0..3, 2..5).
        let d = map(5, 2, |x, _| [1000, 2000, 3000, 4000, 5000][x]);
        let cfg = official(0.0);
        let gt = pool_ground_truth(5, 2, 2, DepthSense::Metric, |i| f64::from(d.depth_mm[i]));
        assert_eq!(gt, vec![1500.0, 4000.0, 1500.0, 4000.0]);
        let adaptive = pool(&d, 2, DepthAlign::Official, DepthSense::Metric);
        assert_eq!(adaptive[0], Some(2000.0));
        // An empty cell: 0 inside the min-max (ground truth) vs left out (adaptive).
        let d = map(
            4,
            4,
            |x, y| if x < 2 && y < 2 { 0 } else { 1000 + x as u16 },
        );
        let gt = depth_cells_for(&d, 2, &cfg, true, 0);
        assert_eq!(gt[0], 0.0);
        assert!(gt[1..].iter().all(|&v| v > 99.0 && v <= 100.0), "{gt:?}");
        let adaptive = depth_cells_for(&d, 2, &cfg, false, 0);
        assert_eq!(adaptive, depth_cells(&d, 2, &cfg));
        assert_eq!(adaptive[0], 0.0);
        assert!(
            adaptive[1..].iter().all(|&v| v < 100.0 + 1e-6),
            "{adaptive:?}"
        );
        assert!((adaptive[2]).abs() < 1e-9, "{adaptive:?}");
        // Padded alignment ignores `ground_truth`.
        let padded = DpeConfig::default();
        assert_eq!(
            depth_cells_for(&d, 3, &padded, true, 0),
            depth_cells(&d, 3, &padded)
        );
    }

    fn noise_map() -> DepthMm {
        map(200, 150, |x, y| {
            if (x + y) % 7 == 0 {
                0
            } else {
                500 + (x * 13 + y * 7) as u16
            }
        })
    }

    #[test]
    fn zero_noise_changes_nothing() {
        let d = noise_map();
        let clean = add_depth_noise(&d, 0.0, 5);
        assert!(clean
            .iter()
            .zip(&d.depth_mm)
            .all(|(&a, &b)| a == f64::from(b)));
        for gt in [false, true] {
            assert_eq!(
                depth_cells_for(&d, 24, &official(0.0), gt, 1),
                depth_cells_for(&d, 24, &official(0.0), gt, 2)
            );
        }
        assert_eq!(
            depth_cells_for(&d, 24, &DpeConfig::default(), false, 9),
            depth_cells(&d, 24, &DpeConfig::default())
        );
    }

    #[test]
    fn noise_is_seeded_and_keeps_invalid_pixels() {
        let d = noise_map();
        let a = add_depth_noise(&d, 0.1, 7);
        assert_eq!(a, add_depth_noise(&d, 0.1, 7));
        assert_ne!(a, add_depth_noise(&d, 0.1, 8));
        assert!(a
            .iter()
            .zip(&d.depth_mm)
            .all(|(&n, &v)| (n == 0.0) == (v == 0)));
        let cfg = official(0.1);
        assert_eq!(
            depth_cells_for(&d, 24, &cfg, true, 7),
            depth_cells_for(&d, 24, &cfg, true, 7)
        );
        assert_ne!(
            depth_cells_for(&d, 24, &cfg, true, 7),
            depth_cells_for(&d, 24, &cfg, true, 8)
        );
        assert_ne!(
            depth_cells_for(&d, 24, &cfg, true, 7),
            depth_cells_for(&d, 24, &official(0.0), true, 7)
        );
    }

    #[test]
    fn noise_log_ratio_is_normal_with_sigma() {
        let d = map(400, 300, |_, _| 2000);
        for sigma in [0.05, 0.3] {
            let noisy = add_depth_noise(&d, sigma, 42);
            let logs: Vec<f64> = noisy.iter().map(|&v| (v / 2000.0).ln()).collect();
            let n = logs.len() as f64;
            let mean = logs.iter().sum::<f64>() / n;
            let std = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n).sqrt();
            // 120000 draws: the mean's standard error is sigma / 346, the std's sigma / 490.
            assert!(
                mean.abs() < 5.0 * sigma / 346.0,
                "sigma {sigma}: mean {mean}"
            );
            assert!(
                (std - sigma).abs() < 5.0 * sigma / 490.0,
                "sigma {sigma}: std {std}"
            );
            let kurtosis = logs.iter().map(|l| ((l - mean) / std).powi(4)).sum::<f64>() / n;
            assert!(
                (kurtosis - 3.0).abs() < 0.1,
                "sigma {sigma}: kurtosis {kurtosis}"
            );
        }
    }

    #[test]
    fn noise_seed_is_stable() {
        // FNV-1a 64 of the 8 little-endian seed bytes then the id (values from Python).
        assert_eq!(noise_seed(0, "scene0000_00/12"), 0x727c_eef0_55ff_7b06);
        assert_eq!(noise_seed(7, "x"), 0x2bc5_3a21_66be_cd2e);
        assert_ne!(
            noise_seed(0, "scene0000_00/12"),
            noise_seed(1, "scene0000_00/12")
        );
        assert_ne!(
            noise_seed(0, "scene0000_00/12"),
            noise_seed(0, "scene0000_00/13")
        );
        assert_eq!(noise_seed(3, "x"), noise_seed(3, "x"));
    }

    #[test]
    fn records_without_noise_sigma_still_parse() {
        let old = r#"{"enabled":true,"alpha":100.0,"align":"official","sense":"metric"}"#;
        let cfg: DpeConfig = serde_json::from_str(old).unwrap();
        assert_eq!(cfg, official(0.0));
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
