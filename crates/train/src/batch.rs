//! From shard rows to model inputs: a [`ModelRow`] becomes a [`Sample`] (CLIP pixels, DPE
//! depth cells, token ids and loss labels), samples are padded into a [`Batch`] on the device.
//! Decoded images are kept in an [`ImageCache`]: decoding and resizing a large JPEG costs more
//! than a step of the tiny model.

use std::collections::HashMap;

use anyhow::{bail, Context};
use msmu_data::dataset::depth_png::DepthSource;
use msmu_data::dataset::ModelRow;
use msmu_data::pipeline::DepthEstimator as _;
use tch::{Device, Tensor};

use crate::config::LlavaConfig;
use crate::depth::{self, DepthInput, DepthMode, DepthRecord};
use crate::dpe::{self, DepthFusion, DepthSense, DpeConfig};
use crate::llava::DepthTokens;
use crate::preprocess;
use crate::tokenize::{TextTokenizer, IGNORE};

/// The depth side of a prepared image, by [`DepthFusion`].
#[derive(Clone, Debug, PartialEq)]
pub enum PreparedDepth {
    /// Normalised DPE cells (`grid x grid`, input of [`dpe::encode`]).
    Cells(Vec<f64>),
    /// The depth image's CLIP pixels (`[3, size, size]`, [`dpe::depth_image`]).
    Pixels(Vec<f32>),
}

/// A row's image side: CLIP pixels and, with depth, the DPE cells or the depth image.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedImage {
    pub pixels: Vec<f32>,
    pub depth: Option<PreparedDepth>,
}

/// One preprocessed row.
#[derive(Debug)]
pub struct Sample {
    pub input_ids: Vec<i64>,
    pub labels: Vec<i64>,
    pub pixel_values: Vec<f32>,
    pub depth: Option<PreparedDepth>,
}

/// Prepared images of rows already seen, by row id, up to a number of rows (the first ones
/// seen stay).
#[derive(Default)]
pub struct ImageCache {
    rows: HashMap<String, PreparedImage>,
    capacity: usize,
}

impl ImageCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            rows: HashMap::new(),
            capacity,
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// How a run turns a row's depth into DPE cells: the DPE settings (with the sense resolved),
/// where depth comes from, and the depth source every row must have.
#[derive(Clone, Debug)]
pub struct ImagePrep {
    pub dpe: DpeConfig,
    pub depth: DepthInput,
    /// The run's depth source (`None` without DPE); a row of another source is an error.
    pub source: Option<DepthSource>,
    /// Run seed of `--depth-noise` (each row's noise is seeded by this and its id, so it is
    /// the same whatever the batch order, and the same in every epoch).
    pub noise_seed: u64,
}

impl ImagePrep {
    /// No DPE: images only.
    pub fn without_dpe() -> Self {
        Self {
            dpe: DpeConfig {
                enabled: false,
                ..DpeConfig::default()
            },
            depth: DepthInput {
                mode: DepthMode::None,
                estimator: None,
            },
            source: None,
            noise_seed: 0,
        }
    }

    /// Resolves a run's depth: `none` (or DPE off) needs nothing; otherwise the source is the
    /// estimator's (`estimate`) or that of the first row (`shard`), and the sense is `sense`
    /// or the source's default ([`depth::default_sense`]).
    pub fn resolve(
        mut dpe: DpeConfig,
        depth: DepthInput,
        sense: Option<DepthSense>,
        first_row: Option<&ModelRow>,
    ) -> anyhow::Result<Self> {
        if depth.mode == DepthMode::None {
            dpe.enabled = false;
        }
        if !dpe.enabled {
            return Ok(Self {
                dpe,
                depth,
                source: None,
                noise_seed: 0,
            });
        }
        let source = match (depth.fixed_source(), first_row) {
            (Some(s), _) => s,
            (None, Some(row)) if row.depth.is_some() => row.depth_source,
            (None, Some(row)) => match &depth.estimator {
                Some(e) => e.source(),
                None => depth.depth_of(row).map(|_| DepthSource::Mesh)?,
            },
            (None, None) => DepthSource::Mesh,
        };
        dpe.sense = sense.unwrap_or_else(|| depth::default_sense(source));
        Ok(Self {
            dpe,
            depth,
            source: Some(source),
            noise_seed: 0,
        })
    }

    /// Image placeholder tokens per prompt: the vision grid's, twice with
    /// `DepthFusion::Concat` (the depth image's tokens follow the image's).
    pub fn image_tokens(&self, cfg: &LlavaConfig) -> usize {
        let grid = cfg.vision.grid() as usize;
        let per_image = grid * grid;
        if self.dpe.enabled && self.dpe.fusion == DepthFusion::Concat {
            2 * per_image
        } else {
            per_image
        }
    }

    /// What a checkpoint records of this depth.
    pub fn record(&self) -> DepthRecord {
        DepthRecord {
            source: self.source,
            sense: self.source.map(|_| self.dpe.sense),
        }
    }
}

/// Turns a shard row into model inputs.
pub fn prepare_sample(
    row: &ModelRow,
    model: &LlavaConfig,
    tokenizer: &TextTokenizer,
    prep: &ImagePrep,
    max_len: usize,
) -> anyhow::Result<Sample> {
    prepare_sample_cached(
        row,
        model,
        tokenizer,
        prep,
        max_len,
        &mut ImageCache::default(),
    )
}

/// [`prepare_sample`] with a cache of the image side.
pub fn prepare_sample_cached(
    row: &ModelRow,
    model: &LlavaConfig,
    tokenizer: &TextTokenizer,
    prep: &ImagePrep,
    max_len: usize,
    cache: &mut ImageCache,
) -> anyhow::Result<Sample> {
    let image = match cache.rows.get(&row.id) {
        Some(hit) => hit.clone(),
        None => {
            let image = prepare_images(row, model, prep)?;
            if cache.rows.len() < cache.capacity {
                cache.rows.insert(row.id.clone(), image.clone());
            }
            image
        }
    };
    let n_tokens = prep.image_tokens(model);
    let enc = tokenizer.encode_conversation(
        &row.conversations,
        n_tokens,
        model.image_token_id,
        max_len,
    )?;
    let n_image = enc
        .input_ids
        .iter()
        .filter(|&&i| i == model.image_token_id)
        .count();
    if n_image != n_tokens {
        bail!(
            "{}: {n_image} image tokens after truncation to {max_len} (need {n_tokens})",
            row.id,
        );
    }
    Ok(Sample {
        input_ids: enc.input_ids,
        labels: enc.labels,
        pixel_values: image.pixels,
        depth: image.depth,
    })
}

/// CLIP pixels and (with depth) the normalised DPE cells or the depth image of a row: the one
/// image path of training and prediction.
pub fn prepare_images(
    row: &ModelRow,
    model: &LlavaConfig,
    prep: &ImagePrep,
) -> anyhow::Result<PreparedImage> {
    let vcfg = &model.vision;
    let grid = vcfg.grid() as usize;
    let pixels = preprocess::preprocess_bytes(&row.image.bytes, vcfg.image_size as u32)
        .with_context(|| format!("{}: decoding the image", row.id))?;
    if !prep.dpe.enabled {
        return Ok(PreparedImage {
            pixels,
            depth: None,
        });
    }
    let Some((depth, source)) = prep.depth.depth_of(row)? else {
        bail!("{}: DPE is on but the run has no depth source", row.id);
    };
    if let Some(expected) = prep.source.filter(|&s| s != source) {
        bail!(
            "{}: {source} depth in a run whose depth is {expected} (the first row's, or the \
             estimator's): DPE values of different sources mean different things. Build the \
             shards with one --depth-source, or use --depth-source estimate",
            row.id
        );
    }
    let cfg = DpeConfig {
        sense: depth::pool_sense(source, prep.dpe.sense),
        ..prep.dpe.clone()
    };
    let noise_seed = dpe::noise_seed(prep.noise_seed, &row.id);
    let depth =
        match cfg.fusion {
            // Ground truth (mesh) depth takes the official ground-truth pooling under
            // `--depth-align official`; estimates the official AdaptiveAvgPool2d path.
            DepthFusion::Add => PreparedDepth::Cells(dpe::depth_cells_for(
                &depth,
                grid,
                &cfg,
                source.is_ground_truth(),
                noise_seed,
            )),
            DepthFusion::Concat => PreparedDepth::Pixels(preprocess::grey_to_clip(
                &dpe::depth_image(&depth, vcfg.image_size as usize, &cfg, noise_seed),
            )),
        };
    Ok(PreparedImage {
        pixels,
        depth: Some(depth),
    })
}

/// A padded batch on the device.
pub struct Batch {
    pub input_ids: Tensor,
    pub labels: Tensor,
    pub pixel_values: Tensor,
    pub depth: Option<DepthTokens>,
    /// Non-padding tokens.
    pub n_tokens: usize,
}

/// The device side of the samples' depth: encoded DPE when every sample has cells, the depth
/// images when every sample has one, else none.
pub fn depth_tokens(
    depths: &[Option<&PreparedDepth>],
    image_size: i64,
    hidden: i64,
    device: Device,
) -> Option<DepthTokens> {
    let b = depths.len() as i64;
    let cells: Option<Vec<Vec<f64>>> = depths
        .iter()
        .map(|d| match d {
            Some(PreparedDepth::Cells(c)) => Some(c.clone()),
            _ => None,
        })
        .collect();
    if let Some(cells) = cells.filter(|c| !c.is_empty()) {
        return Some(DepthTokens::Pe(dpe::encode(&cells, hidden, device)));
    }
    let pixels: Option<Vec<f32>> = depths
        .iter()
        .map(|d| match d {
            Some(PreparedDepth::Pixels(p)) => Some(p.as_slice()),
            _ => None,
        })
        .collect::<Option<Vec<&[f32]>>>()
        .map(|v| v.concat());
    pixels.filter(|p| !p.is_empty()).map(|p| {
        DepthTokens::Image(
            Tensor::from_slice(&p)
                .view([b, 3, image_size, image_size])
                .to_device(device),
        )
    })
}

/// Right-pads to the longest row; padding is `pad_id` / [`IGNORE`]. Depth as [`depth_tokens`].
pub fn collate(
    samples: &[Sample],
    pad_id: i64,
    image_size: i64,
    hidden: i64,
    device: Device,
) -> Batch {
    let b = samples.len() as i64;
    let max_len = samples.iter().map(|s| s.input_ids.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(samples.len() * max_len);
    let mut labels = Vec::with_capacity(samples.len() * max_len);
    let mut pixels: Vec<f32> = Vec::new();
    for s in samples {
        ids.extend(&s.input_ids);
        ids.extend(std::iter::repeat_n(pad_id, max_len - s.input_ids.len()));
        labels.extend(&s.labels);
        labels.extend(std::iter::repeat_n(IGNORE, max_len - s.labels.len()));
        pixels.extend(&s.pixel_values);
    }
    let depths: Vec<Option<&PreparedDepth>> = samples.iter().map(|s| s.depth.as_ref()).collect();
    let depth = depth_tokens(&depths, image_size, hidden, device);
    Batch {
        input_ids: Tensor::from_slice(&ids)
            .view([b, max_len as i64])
            .to_device(device),
        labels: Tensor::from_slice(&labels)
            .view([b, max_len as i64])
            .to_device(device),
        pixel_values: Tensor::from_slice(&pixels)
            .view([b, 3, image_size, image_size])
            .to_device(device),
        depth,
        n_tokens: samples.iter().map(|s| s.input_ids.len()).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ids: &[i64], labels: &[i64], pixel: f32, cells: Option<Vec<f64>>) -> Sample {
        Sample {
            input_ids: ids.to_vec(),
            labels: labels.to_vec(),
            pixel_values: vec![pixel; 3 * 2 * 2],
            depth: cells.map(PreparedDepth::Cells),
        }
    }

    fn values(t: &Tensor) -> Vec<i64> {
        Vec::<i64>::try_from(t.flatten(0, -1)).unwrap()
    }

    #[test]
    fn collate_pads_to_the_longest_row() {
        let samples = [
            sample(&[5, 6, 7], &[IGNORE, 6, 7], 0.5, Some(vec![0.0, 1.0])),
            sample(&[8], &[IGNORE], -1.0, Some(vec![2.0, 3.0])),
        ];
        let batch = collate(&samples, 3, 2, 4, Device::Cpu);
        assert_eq!(batch.input_ids.size(), vec![2, 3]);
        assert_eq!(values(&batch.input_ids), vec![5, 6, 7, 8, 3, 3]);
        assert_eq!(
            values(&batch.labels),
            vec![IGNORE, 6, 7, IGNORE, IGNORE, IGNORE]
        );
        assert_eq!(batch.n_tokens, 4);
        assert_eq!(batch.pixel_values.size(), vec![2, 3, 2, 2]);
        let pixels = Vec::<f32>::try_from(batch.pixel_values.flatten(0, -1)).unwrap();
        assert_eq!(pixels[..12], [0.5; 12]);
        assert_eq!(pixels[12..], [-1.0; 12]);
        let Some(DepthTokens::Pe(dpe)) = batch.depth else {
            panic!("every sample has depth cells");
        };
        assert_eq!(dpe.size(), vec![2, 2, 4]);
        let expected = dpe::encode(&[vec![0.0, 1.0], vec![2.0, 3.0]], 4, Device::Cpu);
        assert!(dpe.equal(&expected));
    }

    #[test]
    fn no_dpe_when_a_sample_has_no_depth() {
        let samples = [
            sample(&[1], &[1], 0.0, Some(vec![0.0])),
            sample(&[2], &[2], 0.0, None),
        ];
        assert!(collate(&samples, 0, 2, 4, Device::Cpu).depth.is_none());
    }

    #[test]
    fn depth_images_are_batched_as_images() {
        let mut samples = [sample(&[1], &[1], 0.0, None), sample(&[2], &[2], 0.0, None)];
        samples[0].depth = Some(PreparedDepth::Pixels(vec![0.25; 12]));
        samples[1].depth = Some(PreparedDepth::Pixels(vec![-0.5; 12]));
        let Some(DepthTokens::Image(images)) = collate(&samples, 0, 2, 4, Device::Cpu).depth else {
            panic!("every sample has a depth image");
        };
        assert_eq!(images.size(), vec![2, 3, 2, 2]);
        let v = Vec::<f32>::try_from(images.flatten(0, -1)).unwrap();
        assert_eq!(v[..12], [0.25; 12]);
        assert_eq!(v[12..], [-0.5; 12]);
    }
}
