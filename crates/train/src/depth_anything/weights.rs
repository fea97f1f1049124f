//! Checkpoint names and files of the two Depth-Anything-V2 layouts.
//!
//! The model's variables use the original repository's names (`pretrained.*` DINOv2,
//! `depth_head.*` DPT head). [`hf_to_original`] maps the transformers names
//! (`backbone.*`, `neck.*`, `head.*`; both the names on the Hub, e.g.
//! `attention.attention.query`, and the transformers 5 in-memory names, e.g.
//! `attention.q_proj`) onto them, and [`original_to_hf`] goes back for error messages.
//! transformers stores query, key and value separately; the original one `attn.qkv` matrix
//! (rows: query, key, value), which the loader assembles.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context};
use tch::{Kind, Tensor};

/// Where a transformers tensor goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A variable of this (original) name.
    Var(String),
    /// Rows `part * D .. (part + 1) * D` (0 query, 1 key, 2 value) of
    /// `pretrained.blocks.{block}.attn.qkv.{param}`.
    Qkv {
        block: usize,
        part: usize,
        param: String,
    },
}

/// Splits `"{i}.rest"` into `(i, "rest")`.
fn index_and_rest(s: &str) -> Option<(usize, &str)> {
    let (i, rest) = s.split_once('.')?;
    Some((i.parse().ok()?, rest))
}

/// The original name of a transformers tensor; `levels` is the number of DPT levels (4).
pub fn hf_to_original(name: &str, levels: usize) -> Option<Target> {
    let var = |s: String| Some(Target::Var(s));
    if let Some(rest) = name.strip_prefix("backbone.") {
        match rest {
            "embeddings.cls_token" => return var("pretrained.cls_token".into()),
            "embeddings.mask_token" => return var("pretrained.mask_token".into()),
            "embeddings.position_embeddings" => return var("pretrained.pos_embed".into()),
            "layernorm.weight" => return var("pretrained.norm.weight".into()),
            "layernorm.bias" => return var("pretrained.norm.bias".into()),
            _ => {}
        }
        if let Some(param) = rest.strip_prefix("embeddings.patch_embeddings.projection.") {
            return var(format!("pretrained.patch_embed.proj.{param}"));
        }
        let (block, tail) = index_and_rest(rest.strip_prefix("encoder.layer.")?)?;
        for (part, names) in [
            ["attention.attention.query.", "attention.q_proj."],
            ["attention.attention.key.", "attention.k_proj."],
            ["attention.attention.value.", "attention.v_proj."],
        ]
        .iter()
        .enumerate()
        {
            for prefix in names {
                if let Some(param) = tail.strip_prefix(prefix) {
                    return Some(Target::Qkv {
                        block,
                        part,
                        param: param.to_string(),
                    });
                }
            }
        }
        let mapped = match tail {
            "layer_scale1.lambda1" => "ls1.gamma".to_string(),
            "layer_scale2.lambda1" => "ls2.gamma".to_string(),
            t => {
                if let Some(param) = t
                    .strip_prefix("attention.output.dense.")
                    .or_else(|| t.strip_prefix("attention.o_proj."))
                {
                    format!("attn.proj.{param}")
                } else if ["norm1.", "norm2.", "mlp.fc1.", "mlp.fc2."]
                    .iter()
                    .any(|p| t.starts_with(p))
                {
                    t.to_string()
                } else {
                    return None;
                }
            }
        };
        return var(format!("pretrained.blocks.{block}.{mapped}"));
    }
    if let Some(rest) = name.strip_prefix("neck.reassemble_stage.layers.") {
        let (i, tail) = index_and_rest(rest)?;
        if let Some(param) = tail.strip_prefix("projection.") {
            return var(format!("depth_head.projects.{i}.{param}"));
        }
        let param = tail.strip_prefix("resize.")?;
        return var(format!("depth_head.resize_layers.{i}.{param}"));
    }
    if let Some(rest) = name.strip_prefix("neck.convs.") {
        let (i, tail) = index_and_rest(rest)?;
        return (tail == "weight")
            .then(|| Target::Var(format!("depth_head.scratch.layer{}_rn.weight", i + 1)));
    }
    if let Some(rest) = name.strip_prefix("neck.fusion_stage.layers.") {
        let (j, tail) = index_and_rest(rest)?;
        if j >= levels {
            return None;
        }
        let refinenet = format!("depth_head.scratch.refinenet{}", levels - j);
        if let Some(param) = tail.strip_prefix("projection.") {
            return var(format!("{refinenet}.out_conv.{param}"));
        }
        for unit in 1..=2 {
            for conv in 1..=2 {
                let prefix = format!("residual_layer{unit}.convolution{conv}.");
                if let Some(param) = tail.strip_prefix(&prefix) {
                    return var(format!("{refinenet}.resConfUnit{unit}.conv{conv}.{param}"));
                }
            }
        }
        return None;
    }
    let head = [
        ("head.conv1.", "output_conv1"),
        ("head.conv2.", "output_conv2.0"),
        ("head.conv3.", "output_conv2.2"),
    ];
    for (prefix, target) in head {
        if let Some(param) = name.strip_prefix(prefix) {
            return var(format!("depth_head.scratch.{target}.{param}"));
        }
    }
    None
}

/// The transformers (Hub) name of an original variable name, for error messages.
pub fn original_to_hf(name: &str, levels: usize) -> String {
    let fixed = [
        ("pretrained.cls_token", "backbone.embeddings.cls_token"),
        ("pretrained.mask_token", "backbone.embeddings.mask_token"),
        (
            "pretrained.pos_embed",
            "backbone.embeddings.position_embeddings",
        ),
        ("pretrained.norm.weight", "backbone.layernorm.weight"),
        ("pretrained.norm.bias", "backbone.layernorm.bias"),
    ];
    if let Some((_, hf)) = fixed.iter().find(|(o, _)| *o == name) {
        return hf.to_string();
    }
    if let Some(param) = name.strip_prefix("pretrained.patch_embed.proj.") {
        return format!("backbone.embeddings.patch_embeddings.projection.{param}");
    }
    if let Some((block, tail)) = name
        .strip_prefix("pretrained.blocks.")
        .and_then(index_and_rest)
    {
        let tail = match tail {
            "ls1.gamma" => "layer_scale1.lambda1".to_string(),
            "ls2.gamma" => "layer_scale2.lambda1".to_string(),
            t => {
                if let Some(param) = t.strip_prefix("attn.qkv.") {
                    format!("attention.attention.{{query,key,value}}.{param}")
                } else if let Some(param) = t.strip_prefix("attn.proj.") {
                    format!("attention.output.dense.{param}")
                } else {
                    t.to_string()
                }
            }
        };
        return format!("backbone.encoder.layer.{block}.{tail}");
    }
    if let Some((i, param)) = name
        .strip_prefix("depth_head.projects.")
        .and_then(index_and_rest)
    {
        return format!("neck.reassemble_stage.layers.{i}.projection.{param}");
    }
    if let Some((i, param)) = name
        .strip_prefix("depth_head.resize_layers.")
        .and_then(index_and_rest)
    {
        return format!("neck.reassemble_stage.layers.{i}.resize.{param}");
    }
    if let Some(rest) = name.strip_prefix("depth_head.scratch.") {
        if let Some((level, tail)) = rest
            .strip_prefix("layer")
            .and_then(|r| r.split_once("_rn."))
        {
            if let Ok(level) = level.parse::<usize>() {
                return format!("neck.convs.{}.{tail}", level.saturating_sub(1));
            }
        }
        if let Some((n, tail)) = rest
            .strip_prefix("refinenet")
            .and_then(|r| r.split_once('.'))
        {
            if let Ok(n) = n.parse::<usize>() {
                let j = levels.saturating_sub(n);
                let tail = if let Some(param) = tail.strip_prefix("out_conv.") {
                    format!("projection.{param}")
                } else {
                    tail.replace("resConfUnit", "residual_layer")
                        .replace(".conv", ".convolution")
                };
                return format!("neck.fusion_stage.layers.{j}.{tail}");
            }
        }
        for (target, hf) in [
            ("output_conv1.", "head.conv1."),
            ("output_conv2.0.", "head.conv2."),
            ("output_conv2.2.", "head.conv3."),
        ] {
            if let Some(param) = rest.strip_prefix(target) {
                return format!("{hf}{param}");
            }
        }
    }
    name.to_string()
}

/// An original-layout name as the model names it: LayerScale stored as `ls1.weight` /
/// `ls2.weight` (as some re-exports, e.g. the SD-VLM checkpoint, write it) is `ls*.gamma`.
pub fn original_alias(name: &str) -> String {
    for ls in ["ls1", "ls2"] {
        if let Some(stem) = name.strip_suffix(&format!(".{ls}.weight")) {
            if stem.starts_with("pretrained.blocks.") {
                return format!("{stem}.{ls}.gamma");
            }
        }
    }
    name.to_string()
}

/// The safetensors files of a model: `path` itself when it is a file, else the shards listed
/// in `model.safetensors.index.json` that hold a tensor `wanted` accepts, else
/// `model.safetensors`, else the folder's only `*.safetensors` file.
pub fn safetensors_files(
    path: &Path,
    wanted: &dyn Fn(&str) -> bool,
) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let index = path.join("model.safetensors.index.json");
    if index.exists() {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&index)
                .with_context(|| format!("reading {}", index.display()))?,
        )
        .with_context(|| format!("parsing {}", index.display()))?;
        let map = v["weight_map"]
            .as_object()
            .with_context(|| format!("{}: no weight_map", index.display()))?;
        let files: BTreeSet<&str> = map
            .iter()
            .filter(|(name, _)| wanted(name))
            .filter_map(|(_, file)| file.as_str())
            .collect();
        return Ok(files.into_iter().map(|f| path.join(f)).collect());
    }
    let single = path.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("listing {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found),
        0 => bail!("{}: no safetensors weights", path.display()),
        n => bail!(
            "{}: {n} safetensors files and no model.safetensors.index.json; pass the file",
            path.display()
        ),
    }
}

/// The tensor names in a safetensors file's header (the file's data is not read).
pub fn header_names(file: &Path) -> anyhow::Result<Vec<String>> {
    use std::io::Read;
    let mut f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .with_context(|| format!("{}: not a safetensors file", file.display()))?;
    let len = u64::from_le_bytes(len);
    ensure!(
        len <= 100_000_000,
        "{}: header of {len} bytes, not a safetensors file",
        file.display()
    );
    let mut header = vec![0u8; len as usize];
    f.read_exact(&mut header)
        .with_context(|| format!("{}: truncated header", file.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&header)
        .with_context(|| format!("{}: bad safetensors header", file.display()))?;
    let map = v
        .as_object()
        .with_context(|| format!("{}: bad safetensors header", file.display()))?;
    Ok(map
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect())
}

/// Reads the tensors whose names `wanted` accepts (as f32, on the CPU).
pub fn read_tensors(
    files: &[PathBuf],
    wanted: &dyn Fn(&str) -> bool,
) -> anyhow::Result<Vec<(String, Tensor)>> {
    let mut out = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{}: not a safetensors file", file.display()))?;
        let mut names: Vec<String> = st
            .names()
            .into_iter()
            .filter(|n| wanted(n))
            .map(str::to_string)
            .collect();
        names.sort();
        for name in names {
            let view = st.tensor(&name)?;
            let kind = match view.dtype() {
                safetensors::Dtype::F32 => Kind::Float,
                safetensors::Dtype::F16 => Kind::Half,
                safetensors::Dtype::BF16 => Kind::BFloat16,
                safetensors::Dtype::F64 => Kind::Double,
                other => bail!(
                    "{}: {name} has dtype {other:?}, expected a float type",
                    file.display()
                ),
            };
            let shape: Vec<i64> = view.shape().iter().map(|&s| s as i64).collect();
            let t = Tensor::f_from_data_size(view.data(), &shape, kind)
                .with_context(|| format!("{}: {name}", file.display()))?
                .to_kind(Kind::Float);
            out.push((name, t));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(hf: &str, original: &str) {
        assert_eq!(
            hf_to_original(hf, 4),
            Some(Target::Var(original.to_string())),
            "{hf}"
        );
        assert_eq!(original_to_hf(original, 4), hf, "{original}");
    }

    #[test]
    fn names_map_both_ways() {
        check("backbone.embeddings.cls_token", "pretrained.cls_token");
        check(
            "backbone.embeddings.position_embeddings",
            "pretrained.pos_embed",
        );
        check(
            "backbone.embeddings.patch_embeddings.projection.weight",
            "pretrained.patch_embed.proj.weight",
        );
        check(
            "backbone.encoder.layer.7.norm1.bias",
            "pretrained.blocks.7.norm1.bias",
        );
        check(
            "backbone.encoder.layer.7.attention.output.dense.weight",
            "pretrained.blocks.7.attn.proj.weight",
        );
        check(
            "backbone.encoder.layer.7.layer_scale2.lambda1",
            "pretrained.blocks.7.ls2.gamma",
        );
        check(
            "backbone.encoder.layer.11.mlp.fc2.bias",
            "pretrained.blocks.11.mlp.fc2.bias",
        );
        check("backbone.layernorm.weight", "pretrained.norm.weight");
        check(
            "neck.reassemble_stage.layers.0.resize.weight",
            "depth_head.resize_layers.0.weight",
        );
        check(
            "neck.reassemble_stage.layers.3.projection.bias",
            "depth_head.projects.3.bias",
        );
        check("neck.convs.0.weight", "depth_head.scratch.layer1_rn.weight");
        check(
            "neck.fusion_stage.layers.0.projection.weight",
            "depth_head.scratch.refinenet4.out_conv.weight",
        );
        check(
            "neck.fusion_stage.layers.3.residual_layer2.convolution1.bias",
            "depth_head.scratch.refinenet1.resConfUnit2.conv1.bias",
        );
        check("head.conv3.bias", "depth_head.scratch.output_conv2.2.bias");
        assert_eq!(
            hf_to_original("backbone.encoder.layer.2.attention.attention.key.weight", 4),
            Some(Target::Qkv {
                block: 2,
                part: 1,
                param: "weight".into()
            })
        );
        assert_eq!(
            hf_to_original("backbone.encoder.layer.2.attention.v_proj.bias", 4),
            Some(Target::Qkv {
                block: 2,
                part: 2,
                param: "bias".into()
            })
        );
        assert_eq!(
            hf_to_original("backbone.encoder.layer.2.attention.o_proj.bias", 4),
            Some(Target::Var("pretrained.blocks.2.attn.proj.bias".into()))
        );
        assert_eq!(
            hf_to_original("backbone.encoder.layer.2.attention.extra", 4),
            None
        );
        assert_eq!(hf_to_original("neck.convs.0.bias", 4), None);
        assert_eq!(hf_to_original("lm_head.weight", 4), None);
    }

    #[test]
    fn layer_scale_aliases() {
        assert_eq!(
            original_alias("pretrained.blocks.3.ls1.weight"),
            "pretrained.blocks.3.ls1.gamma"
        );
        assert_eq!(
            original_alias("pretrained.blocks.3.ls2.gamma"),
            "pretrained.blocks.3.ls2.gamma"
        );
        assert_eq!(
            original_alias("pretrained.blocks.3.norm1.weight"),
            "pretrained.blocks.3.norm1.weight"
        );
    }
}
