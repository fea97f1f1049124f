//! The DINOv2 ViT backbone of Depth-Anything-V2 (patch 14, one CLS token, learned position
//! embeddings interpolated to the input grid, LayerScale, no register tokens, GELU MLP).
//!
//! Variables live under the original repository's names (`pretrained.*`, see
//! [`super::weights`] for how the transformers names map onto them); the attention's query, key
//! and value projections are one fused `attn.qkv` matrix, as in the original checkpoints.

use std::collections::HashMap;
use std::sync::Mutex;

use tch::{nn, Tensor};

use super::{DepthAnythingConfig, PosInterpolation};
use crate::clip::LayerNorm;

/// A linear layer under the checkpoint names `weight` / `bias`.
#[derive(Debug)]
pub(crate) struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    pub fn new(p: &nn::Path, in_dim: i64, out_dim: i64) -> Self {
        Self {
            weight: p.zeros_no_train("weight", &[out_dim, in_dim]),
            bias: p.zeros_no_train("bias", &[out_dim]),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

#[derive(Debug)]
struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    ls1: Tensor,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    ls2: Tensor,
    heads: i64,
}

impl Block {
    fn new(p: &nn::Path, cfg: &DepthAnythingConfig) -> Self {
        let d = cfg.hidden_size;
        let attn = p / "attn";
        let mlp = p / "mlp";
        Self {
            norm1: LayerNorm::new(&(p / "norm1"), d, cfg.layer_norm_eps),
            qkv: Linear::new(&(&attn / "qkv"), d, 3 * d),
            proj: Linear::new(&(&attn / "proj"), d, d),
            ls1: (p / "ls1").ones_no_train("gamma", &[d]),
            norm2: LayerNorm::new(&(p / "norm2"), d, cfg.layer_norm_eps),
            fc1: Linear::new(&(&mlp / "fc1"), d, cfg.intermediate_size),
            fc2: Linear::new(&(&mlp / "fc2"), cfg.intermediate_size, d),
            ls2: (p / "ls2").ones_no_train("gamma", &[d]),
            heads: cfg.num_attention_heads,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let (b, n, d) = x.size3().expect("[batch, tokens, hidden]");
        let head_dim = d / self.heads;
        let qkv = self
            .qkv
            .forward(&self.norm1.forward(x))
            .view([b, n, 3, self.heads, head_dim])
            .permute([2, 0, 3, 1, 4]);
        let attn = Tensor::scaled_dot_product_attention::<Tensor>(
            &qkv.get(0),
            &qkv.get(1),
            &qkv.get(2),
            None,
            0.0,
            false,
            None::<f64>,
            false,
        )
        .transpose(1, 2)
        .reshape([b, n, d]);
        let x = x + self.proj.forward(&attn) * &self.ls1;
        let h = self.fc1.forward(&self.norm2.forward(&x)).gelu("none");
        &x + self.fc2.forward(&h) * &self.ls2
    }
}

/// The backbone. [`Dinov2::features`] returns the normalised hidden states after the blocks
/// named by `out_indices` (CLS token first), what the DPT head reassembles.
#[derive(Debug)]
pub struct Dinov2 {
    patch_weight: Tensor,
    patch_bias: Tensor,
    cls_token: Tensor,
    pos_embed: Tensor,
    /// Loaded for checkpoint completeness; only masked pre-training uses it.
    _mask_token: Tensor,
    blocks: Vec<Block>,
    norm: LayerNorm,
    patch_size: i64,
    out_indices: Vec<usize>,
    interpolation: PosInterpolation,
    /// Interpolated position embeddings per patch grid (rows, columns).
    pos_cache: Mutex<HashMap<(i64, i64), Tensor>>,
}

impl Dinov2 {
    /// `p` is `pretrained`.
    pub fn new(p: &nn::Path, cfg: &DepthAnythingConfig, interpolation: PosInterpolation) -> Self {
        let d = cfg.hidden_size;
        let n_positions = cfg.position_grid * cfg.position_grid + 1;
        let blocks = p / "blocks";
        Self {
            patch_weight: (p / "patch_embed" / "proj")
                .zeros_no_train("weight", &[d, 3, cfg.patch_size, cfg.patch_size]),
            patch_bias: (p / "patch_embed" / "proj").zeros_no_train("bias", &[d]),
            cls_token: p.zeros_no_train("cls_token", &[1, 1, d]),
            pos_embed: p.zeros_no_train("pos_embed", &[1, n_positions, d]),
            _mask_token: p.zeros_no_train("mask_token", &[1, d]),
            blocks: (0..cfg.num_hidden_layers)
                .map(|i| Block::new(&(&blocks / i), cfg))
                .collect(),
            norm: LayerNorm::new(&(p / "norm"), d, cfg.layer_norm_eps),
            patch_size: cfg.patch_size,
            out_indices: cfg.out_indices.clone(),
            interpolation,
            pos_cache: Mutex::new(HashMap::new()),
        }
    }

    /// Position embeddings `[1, 1 + rows * cols, D]` for a grid of `rows x cols` patches.
    ///
    /// Both references return the stored table when the input is the pre-training square.
    /// Otherwise they resize the `[D, g, g]` patch table with bicubic interpolation (A = -0.75,
    /// half-pixel centres, no antialiasing) in fp32 and differ in how: transformers asks for the
    /// output size (source step `g / rows`), the original DINOv2 code for a scale factor of
    /// `(rows + 0.1) / g` (source step `g / (rows + 0.1)`, output size `floor(g * factor)`).
    pub fn position_embeddings(&self, rows: i64, cols: i64) -> Tensor {
        let n_positions = self.pos_embed.size()[1] - 1;
        if rows == cols && rows * cols == n_positions {
            return self.pos_embed.shallow_clone();
        }
        let mut cache = self.pos_cache.lock().expect("position cache lock");
        if let Some(t) = cache.get(&(rows, cols)) {
            return t.shallow_clone();
        }
        let d = self.pos_embed.size()[2];
        let grid = (n_positions as f64).sqrt() as i64;
        let class_pos = self.pos_embed.narrow(1, 0, 1);
        let table = self
            .pos_embed
            .narrow(1, 1, n_positions)
            .reshape([1, grid, grid, d])
            .permute([0, 3, 1, 2])
            .to_kind(tch::Kind::Float);
        let resized = match self.interpolation {
            PosInterpolation::Size => table.upsample_bicubic2d([rows, cols], false, None, None),
            PosInterpolation::ScaleFactorOffset(offset) => {
                let scale_h = (rows as f64 + offset) / grid as f64;
                let scale_w = (cols as f64 + offset) / grid as f64;
                // F.interpolate: output size floor(in * factor); the kernel steps by 1 / factor.
                let out_h = (grid as f64 * scale_h).floor() as i64;
                let out_w = (grid as f64 * scale_w).floor() as i64;
                debug_assert_eq!((out_h, out_w), (rows, cols));
                table.upsample_bicubic2d([out_h, out_w], false, scale_h, scale_w)
            }
        };
        let patch_pos = resized
            .permute([0, 2, 3, 1])
            .reshape([1, rows * cols, d])
            .to_kind(self.pos_embed.kind());
        let pos = Tensor::cat(&[class_pos, patch_pos], 1);
        cache.insert((rows, cols), pos.shallow_clone());
        pos
    }

    /// `pixels` `[B, 3, H, W]` (H, W multiples of the patch size) -> the normalised hidden
    /// states `[B, 1 + rows * cols, D]` of the blocks in `out_indices`, in order.
    pub fn features(&self, pixels: &Tensor) -> Vec<Tensor> {
        let b = pixels.size()[0];
        let patches = pixels.conv2d(
            &self.patch_weight,
            Some(&self.patch_bias),
            [self.patch_size; 2],
            [0, 0],
            [1, 1],
            1,
        );
        let (rows, cols) = (patches.size()[2], patches.size()[3]);
        let patches = patches.flatten(2, 3).transpose(1, 2);
        let d = patches.size()[2];
        let cls = self.cls_token.expand([b, 1, d], false);
        let mut x = Tensor::cat(&[cls, patches], 1) + self.position_embeddings(rows, cols);
        let last = self.out_indices.iter().copied().max().unwrap_or(0);
        let mut out = Vec::with_capacity(self.out_indices.len());
        for (i, block) in self.blocks.iter().enumerate().take(last + 1) {
            x = block.forward(&x);
            if self.out_indices.contains(&i) {
                out.push(self.norm.forward(&x));
            }
        }
        out
    }
}
