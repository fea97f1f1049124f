//! The DPT head of Depth-Anything-V2 (Ranftl et al. 2021, as the original
//! `depth_anything_v2/dpt.py` builds it): reassemble (the token grid of four backbone layers ->
//! feature maps at 4x, 2x, 1x and 1/2x the patch grid), per-level 3x3 convolutions to the fusion
//! width, fusion from the deepest level up (pre-activation residual conv units, bilinear
//! upsampling with aligned corners, 1x1 projection), and the head (3x3 conv, bilinear upsampling
//! to the input size, 3x3 conv, ReLU, 1x1 conv, then ReLU for relative depth or sigmoid x
//! `max_depth` for metric depth).
//!
//! Variables live under the original names (`depth_head.projects.i`,
//! `depth_head.resize_layers.i`, `depth_head.scratch.*`).

use tch::{nn, Tensor};

use super::{DepthAnythingConfig, DepthKind};

#[derive(Debug)]
struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: i64,
    padding: i64,
}

impl Conv {
    fn new(p: &nn::Path, c_in: i64, c_out: i64, kernel: i64, stride: i64, bias: bool) -> Self {
        Self {
            weight: p.zeros_no_train("weight", &[c_out, c_in, kernel, kernel]),
            bias: bias.then(|| p.zeros_no_train("bias", &[c_out])),
            stride,
            padding: kernel / 2,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(
            &self.weight,
            self.bias.as_ref(),
            [self.stride; 2],
            [self.padding; 2],
            [1, 1],
            1,
        )
    }
}

/// How one reassembled level changes the patch grid's resolution.
#[derive(Debug)]
enum Resize {
    /// Transposed convolution, kernel = stride = factor (factor > 1).
    Up {
        weight: Tensor,
        bias: Tensor,
        factor: i64,
    },
    Identity,
    /// 3x3 convolution with stride 1 / factor (factor < 1).
    Down(Conv),
}

impl Resize {
    fn new(p: &nn::Path, channels: i64, factor: f64) -> Self {
        if factor > 1.0 {
            let f = factor as i64;
            Resize::Up {
                weight: p.zeros_no_train("weight", &[channels, channels, f, f]),
                bias: p.zeros_no_train("bias", &[channels]),
                factor: f,
            }
        } else if factor == 1.0 {
            Resize::Identity
        } else {
            Resize::Down(Conv::new(
                p,
                channels,
                channels,
                3,
                (1.0 / factor) as i64,
                true,
            ))
        }
    }

    fn forward(&self, x: Tensor) -> Tensor {
        match self {
            Resize::Up {
                weight,
                bias,
                factor,
            } => x.conv_transpose2d(weight, Some(bias), [*factor; 2], [0, 0], [0, 0], 1, [1, 1]),
            Resize::Identity => x,
            Resize::Down(conv) => conv.forward(&x),
        }
    }
}

/// Pre-activation residual unit: `x + conv2(relu(conv1(relu(x))))`.
#[derive(Debug)]
struct ResidualConvUnit {
    conv1: Conv,
    conv2: Conv,
}

impl ResidualConvUnit {
    fn new(p: &nn::Path, features: i64) -> Self {
        Self {
            conv1: Conv::new(&(p / "conv1"), features, features, 3, 1, true),
            conv2: Conv::new(&(p / "conv2"), features, features, 3, 1, true),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.conv2.forward(&self.conv1.forward(&x.relu()).relu()) + x
    }
}

#[derive(Debug)]
struct FusionBlock {
    res_conf_unit1: ResidualConvUnit,
    res_conf_unit2: ResidualConvUnit,
    out_conv: Conv,
}

impl FusionBlock {
    fn new(p: &nn::Path, features: i64) -> Self {
        Self {
            res_conf_unit1: ResidualConvUnit::new(&(p / "resConfUnit1"), features),
            res_conf_unit2: ResidualConvUnit::new(&(p / "resConfUnit2"), features),
            out_conv: Conv::new(&(p / "out_conv"), features, features, 1, 1, true),
        }
    }

    /// `size`: the next level's resolution; `None` doubles the resolution.
    fn forward(&self, x: &Tensor, skip: Option<&Tensor>, size: Option<[i64; 2]>) -> Tensor {
        let x = match skip {
            Some(skip) => {
                // transformers resizes a mismatched skip (bilinear, corners not aligned); with
                // the released reassemble factors the sizes always agree.
                let skip = if skip.size() != x.size() {
                    let s = x.size();
                    skip.upsample_bilinear2d([s[2], s[3]], false, None, None)
                } else {
                    skip.shallow_clone()
                };
                x + self.res_conf_unit1.forward(&skip)
            }
            None => x.shallow_clone(),
        };
        let x = self.res_conf_unit2.forward(&x);
        let s = x.size();
        let size = size.unwrap_or([2 * s[2], 2 * s[3]]);
        self.out_conv
            .forward(&x.upsample_bilinear2d(size, true, None, None))
    }
}

/// The DPT head.
#[derive(Debug)]
pub struct DptHead {
    projects: Vec<Conv>,
    resize_layers: Vec<Resize>,
    layer_rn: Vec<Conv>,
    /// `refinenet1` .. `refinenetN`; `refinenetN` fuses the deepest level first.
    refinenets: Vec<FusionBlock>,
    output_conv1: Conv,
    output_conv2_0: Conv,
    output_conv2_2: Conv,
    kind: DepthKind,
    output_scale: f64,
    patch_size: i64,
}

impl DptHead {
    /// `p` is `depth_head`.
    pub fn new(p: &nn::Path, cfg: &DepthAnythingConfig) -> Self {
        let scratch = p / "scratch";
        let features = cfg.fusion_hidden_size;
        let n = cfg.neck_hidden_sizes.len();
        Self {
            projects: cfg
                .neck_hidden_sizes
                .iter()
                .enumerate()
                .map(|(i, &c)| Conv::new(&(p / "projects" / i), cfg.hidden_size, c, 1, 1, true))
                .collect(),
            resize_layers: cfg
                .neck_hidden_sizes
                .iter()
                .zip(&cfg.reassemble_factors)
                .enumerate()
                .map(|(i, (&c, &f))| Resize::new(&(p / "resize_layers" / i), c, f))
                .collect(),
            layer_rn: cfg
                .neck_hidden_sizes
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    Conv::new(
                        &(&scratch / format!("layer{}_rn", i + 1)),
                        c,
                        features,
                        3,
                        1,
                        false,
                    )
                })
                .collect(),
            refinenets: (1..=n)
                .map(|i| FusionBlock::new(&(&scratch / format!("refinenet{i}")), features))
                .collect(),
            output_conv1: Conv::new(
                &(&scratch / "output_conv1"),
                features,
                features / 2,
                3,
                1,
                true,
            ),
            output_conv2_0: Conv::new(
                &(&scratch / "output_conv2" / 0),
                features / 2,
                cfg.head_hidden_size,
                3,
                1,
                true,
            ),
            output_conv2_2: Conv::new(
                &(&scratch / "output_conv2" / 2),
                cfg.head_hidden_size,
                1,
                1,
                1,
                true,
            ),
            kind: cfg.kind,
            output_scale: cfg.output_scale(),
            patch_size: cfg.patch_size,
        }
    }

    /// `features`: the backbone's hidden states `[B, 1 + rows * cols, D]` (CLS first) ->
    /// depth `[B, rows * patch, cols * patch]`.
    pub fn forward(&self, features: &[Tensor], rows: i64, cols: i64) -> Tensor {
        let levels: Vec<Tensor> = features
            .iter()
            .enumerate()
            .map(|(i, hidden)| {
                let (b, n, d) = hidden.size3().expect("[batch, tokens, hidden]");
                let grid = hidden
                    .narrow(1, 1, n - 1)
                    .permute([0, 2, 1])
                    .reshape([b, d, rows, cols]);
                let x = self.resize_layers[i].forward(self.projects[i].forward(&grid));
                self.layer_rn[i].forward(&x)
            })
            .collect();
        let n = levels.len();
        let mut path: Option<Tensor> = None;
        for level in (0..n).rev() {
            let size = (level > 0).then(|| {
                let s = levels[level - 1].size();
                [s[2], s[3]]
            });
            let block = &self.refinenets[level];
            path = Some(match path {
                None => block.forward(&levels[level], None, size),
                Some(prev) => block.forward(&prev, Some(&levels[level]), size),
            });
        }
        let path = path.expect("at least one level");
        let out = self.output_conv1.forward(&path).upsample_bilinear2d(
            [rows * self.patch_size, cols * self.patch_size],
            true,
            None,
            None,
        );
        let out = self
            .output_conv2_2
            .forward(&self.output_conv2_0.forward(&out).relu());
        let out = match self.kind {
            DepthKind::Relative => out.relu(),
            DepthKind::Metric => out.sigmoid(),
        };
        let out = if self.output_scale == 1.0 {
            out
        } else {
            out * self.output_scale
        };
        out.squeeze_dim(1)
    }
}
