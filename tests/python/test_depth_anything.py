"""msmu's Depth-Anything-V2 (`msmu depth`) against two references, on tiny random models.

1. transformers layout: a tiny random `DepthAnythingForDepthEstimation` (relative and metric)
   saved with `save_pretrained` beside its `DPTImageProcessor` config; msmu's depth maps equal
   transformers' pipeline (Pillow-backend processor, model, `post_process_depth_estimation`)
   within 1e-4 (fp32) on images of four aspect ratios.
2. original-repository layout: the same weights renamed to `pretrained.*` / `depth_head.*`
   (fused qkv), plain, under the SD-VLM prefix `model.depth.` among unrelated tensors, with
   LayerScale as `ls*.gamma` or `ls*.weight`; msmu's maps equal an independent functional
   re-implementation of the original code (`depth_anything_v2/dpt.py`, `dinov2.py`,
   `util/transform.py`: lower-bound resize with OpenCV's INTER_CUBIC written in numpy,
   position embeddings scaled by (grid + 0.1) / 37, bilinear output resize with aligned
   corners) within 1e-4.
3. A missing or unexpected tensor fails with its name; the files `msmu depth` writes (16-bit
   PNG + JSON side file, NPY, preview) agree with each other; `--shards` covers every row
   (`OUT/{split}/{id}.*`).

Requires the `train` build of msmu (`MSMU_BIN`)."""

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file

from conftest import FIXTURES, msmu_bin

transformers = pytest.importorskip("transformers", reason="transformers is in requirements.txt")

# (width, height): landscape, portrait, square (the pre-training grid: no interpolation), and
# a small one where the two references' size rules differ (input 378x518 vs 518x714, h x w).
SIZES = [(640, 480), (480, 640), (300, 300), (250, 180)]
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
HIDDEN, LAYERS, HEADS = 32, 4, 2
OUT_INDICES = [1, 2, 3, 4]  # transformers stages; blocks 0..3
NECK = [8, 16, 24, 32]
FUSION, HEAD_HIDDEN = 16, 8
MAX_DEPTH = 20  # transformers 5 types max_depth as int


def make_images(folder: Path):
    """Smooth colour gradients with structure and noise, as lossless PNGs (so msmu and PIL
    decode the same pixels)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for w, h in SIZES:
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        r = 128 + 100 * np.sin(x / 37.0) * np.cos(y / 23.0)
        g = 255 * x / w
        b = 255 * (1 - y / h) * (((x // 40 + y // 40) % 2) * 0.5 + 0.5)
        img = np.stack([r, g, b], -1) + rng.normal(0, 12, (h, w, 3))
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
        path = folder / f"img_{w}x{h}.png"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


def build_hf(kind: str, seed: int = 0):
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    torch.manual_seed(seed)
    backbone = Dinov2Config(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                            image_size=518, patch_size=14, out_indices=OUT_INDICES,
                            reshape_hidden_states=False)
    extra = {"max_depth": MAX_DEPTH} if kind == "metric" else {}
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=HIDDEN,
                                 neck_hidden_sizes=NECK, fusion_hidden_size=FUSION,
                                 head_hidden_size=HEAD_HIDDEN, depth_estimation_type=kind, **extra)
    model = DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():
        # Weights of unit gain (normal, std 1 / sqrt(fan in)) instead of transformers' small
        # init, so that the depth maps vary by whole units and any difference shows; LayerScale
        # away from 1; position embeddings large enough that their interpolation matters.
        for name, p in model.named_parameters():
            if "lambda1" in name:
                p.copy_(0.5 + torch.rand_like(p))
            elif "position_embeddings" in name or "cls_token" in name:
                p.copy_(torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if "norm" in name else 0.0))
            else:
                p.copy_(torch.randn_like(p) / math.sqrt(p[0].numel()))
        # Keep most of the relative map above the final ReLU.
        model.head.conv3.bias.fill_(1.0 if kind == "relative" else 0.0)
    return model


def processor():
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    return DPTImageProcessorPil(size={"height": 518, "width": 518}, keep_aspect_ratio=True,
                                ensure_multiple_of=14, resample=3, do_rescale=True,
                                rescale_factor=1 / 255, do_normalize=True,
                                image_mean=MEAN.tolist(), image_std=STD.tolist())


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp("depth_images"))


@pytest.fixture(scope="module", params=["relative", "metric"])
def tiny_hf(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"da_{request.param}")
    model = build_hf(request.param)
    model.save_pretrained(out)
    processor().save_pretrained(out)
    return request.param, out, model


def run_depth(model_dir, images, out, *extra, check=True):
    cmd = [msmu_bin(), "depth", "--model", str(model_dir), *map(str, images), "--out", str(out), *extra]
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def msmu_maps(model_dir, images, out, *extra):
    result = run_depth(model_dir, images, out, *extra, check=False)
    assert result.returncode == 0, result.stderr
    return [np.load(out / f"{p.stem}.npy") for p in images]


def hf_reference(model, image_path):
    proc = processor()
    img = Image.open(image_path).convert("RGB")
    inputs = proc(images=img, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs)
    depth = proc.post_process_depth_estimation(outputs, target_sizes=[(img.height, img.width)])
    return depth[0]["predicted_depth"].numpy(), tuple(inputs["pixel_values"].shape[-2:])


def test_transformers_layout_matches_transformers(tiny_hf, images, tmp_path):
    kind, model_dir, model = tiny_hf
    ours = msmu_maps(model_dir, images, tmp_path / "out", "--batch", "2")
    for path, got in zip(images, ours):
        ref, input_size = hf_reference(model, path)
        assert got.shape == ref.shape, (path.name, got.shape, ref.shape)
        assert got.dtype == np.float32
        assert (ref > 0).mean() > 0.5 and ref.std() > 1e-3, f"{path.name}: degenerate reference"
        diff = np.abs(got - ref).max()
        print(f"transformers layout, {kind}, {path.name} (input {input_size}): max abs diff {diff:.2e}")
        assert diff < 1e-4, f"{kind} {path.name}: max abs diff {diff}"


# --------------------------------------------------------------------------------------------
# The original repository's layout and pipeline, written independently of transformers.

def to_original(state: dict) -> dict:
    """transformers names (Hub or transformers 5 in-memory) -> the original repository's names
    (query/key/value fused)."""
    renames = {"attention.q_proj.": "attention.attention.query.", "attention.k_proj.": "attention.attention.key.",
               "attention.v_proj.": "attention.attention.value.", "attention.o_proj.": "attention.output.dense."}
    hub = {}
    for name, t in state.items():
        for new, old in renames.items():
            name = name.replace(new, old)
        hub[name] = t
    state = hub
    out = {}
    levels = len(NECK)
    for name, t in state.items():
        if name.startswith("backbone.encoder.layer."):
            i, rest = name[len("backbone.encoder.layer."):].split(".", 1)
            pre = f"pretrained.blocks.{i}."
            if rest.startswith("attention.attention."):
                part, param = rest[len("attention.attention."):].split(".")
                if part != "query":
                    continue
                base = f"backbone.encoder.layer.{i}.attention.attention."
                out[pre + f"attn.qkv.{param}"] = torch.cat(
                    [state[base + f"{p}.{param}"] for p in ("query", "key", "value")], 0)
                continue
            rest = (rest.replace("attention.output.dense.", "attn.proj.")
                    .replace("layer_scale1.lambda1", "ls1.gamma").replace("layer_scale2.lambda1", "ls2.gamma"))
            out[pre + rest] = t
            continue
        fixed = {
            "backbone.embeddings.cls_token": "pretrained.cls_token",
            "backbone.embeddings.mask_token": "pretrained.mask_token",
            "backbone.embeddings.position_embeddings": "pretrained.pos_embed",
            "backbone.embeddings.patch_embeddings.projection.weight": "pretrained.patch_embed.proj.weight",
            "backbone.embeddings.patch_embeddings.projection.bias": "pretrained.patch_embed.proj.bias",
            "backbone.layernorm.weight": "pretrained.norm.weight",
            "backbone.layernorm.bias": "pretrained.norm.bias",
            "head.conv1.weight": "depth_head.scratch.output_conv1.weight",
            "head.conv1.bias": "depth_head.scratch.output_conv1.bias",
            "head.conv2.weight": "depth_head.scratch.output_conv2.0.weight",
            "head.conv2.bias": "depth_head.scratch.output_conv2.0.bias",
            "head.conv3.weight": "depth_head.scratch.output_conv2.2.weight",
            "head.conv3.bias": "depth_head.scratch.output_conv2.2.bias",
        }
        if name in fixed:
            out[fixed[name]] = t
        elif name.startswith("neck.reassemble_stage.layers."):
            i, rest = name[len("neck.reassemble_stage.layers."):].split(".", 1)
            rest = rest.replace("projection.", f"projects.{i}.", 1) if rest.startswith("projection.") \
                else rest.replace("resize.", f"resize_layers.{i}.", 1)
            out["depth_head." + rest] = t
        elif name.startswith("neck.convs."):
            i, param = name[len("neck.convs."):].split(".")
            out[f"depth_head.scratch.layer{int(i) + 1}_rn.{param}"] = t
        elif name.startswith("neck.fusion_stage.layers."):
            j, rest = name[len("neck.fusion_stage.layers."):].split(".", 1)
            rest = (rest.replace("projection.", "out_conv.").replace("residual_layer", "resConfUnit")
                    .replace("convolution", "conv"))
            out[f"depth_head.scratch.refinenet{levels - int(j)}.{rest}"] = t
        else:
            raise AssertionError(f"unmapped {name}")
    return {k: v.contiguous() for k, v in out.items()}


def original_size(h, w, lower=518, multiple=14):
    """util/transform.py Resize(keep_aspect_ratio=True, resize_method='lower_bound')."""
    def constrain(x, min_val):
        y = (np.round(x / multiple) * multiple).astype(int)
        if y < min_val:
            y = (np.ceil(x / multiple) * multiple).astype(int)
        return int(y)
    sh, sw = lower / h, lower / w
    if sw > sh:
        sh = sw
    else:
        sw = sh
    return constrain(sh * h, lower), constrain(sw * w, lower)


def cv2_cubic_matrix(n_in, n_out):
    """OpenCV INTER_CUBIC along one axis as a matrix: A = -0.75, float32 coefficients,
    source x = (dst + 0.5) * in / out - 0.5, replicated border."""
    a = np.float32(-0.75)
    scale = 1.0 / (n_out / n_in)
    m = np.zeros((n_out, n_in))
    for d in range(n_out):
        fx = np.float32((d + 0.5) * scale - 0.5)
        sx = int(np.floor(fx))
        x = np.float32(fx - sx)
        c0 = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a
        c1 = ((a + 2) * x - (a + 3)) * x * x + 1
        c2 = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1
        c3 = np.float32(1) - c0 - c1 - c2
        for k, c in enumerate((c0, c1, c2, c3)):
            m[d, min(max(sx - 1 + k, 0), n_in - 1)] += float(np.float32(c))
    return m


def original_pixels(path):
    """image2tensor: RGB / 255 (float64), lower-bound resize, normalise, float32 NCHW."""
    img = np.asarray(Image.open(path).convert("RGB")).astype(np.float64) / 255.0
    h, w = img.shape[:2]
    nh, nw = original_size(h, w)
    if (nh, nw) != (h, w):
        mh, mw = cv2_cubic_matrix(h, nh), cv2_cubic_matrix(w, nw)
        img = np.einsum("ij,jkc->ikc", mh, img)  # vertical
        img = np.einsum("ikc,lk->ilc", img, mw)  # horizontal (linear: the order does not matter)
    img = (img - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)).astype(np.float32))[None], (h, w)


def original_pos_embed(pos, H, W):
    """DinoVisionTransformer.interpolate_pos_encoding (interpolate_offset 0.1, no antialias)."""
    n = pos.shape[1] - 1
    if n == (H // 14) * (W // 14) and H == W:
        return pos
    dim = pos.shape[-1]
    w0, h0 = H // 14 + 0.1, W // 14 + 0.1
    sqrt_n = math.sqrt(n)
    sx, sy = w0 / sqrt_n, h0 / sqrt_n
    patch = F.interpolate(pos[:, 1:].reshape(1, int(sqrt_n), int(sqrt_n), dim).permute(0, 3, 1, 2),
                          scale_factor=(sx, sy), mode="bicubic", antialias=False)
    assert patch.shape[-2:] == (H // 14, W // 14)
    return torch.cat([pos[:, :1], patch.permute(0, 2, 3, 1).reshape(1, -1, dim)], 1)


def original_forward(sd, x, kind, blocks=(0, 1, 2, 3), heads=HEADS):
    """DepthAnythingV2.forward (relative) / metric_depth's (sigmoid x max_depth)."""
    B, _, H, W = x.shape
    ph, pw = H // 14, W // 14
    D = sd["pretrained.cls_token"].shape[-1]
    ln = lambda t, p: F.layer_norm(t, (D,), sd[p + ".weight"], sd[p + ".bias"], 1e-6)
    lin = lambda t, p: F.linear(t, sd[p + ".weight"], sd[p + ".bias"])
    t = F.conv2d(x, sd["pretrained.patch_embed.proj.weight"], sd["pretrained.patch_embed.proj.bias"], stride=14)
    t = torch.cat([sd["pretrained.cls_token"].expand(B, -1, -1), t.flatten(2).transpose(1, 2)], 1)
    t = t + original_pos_embed(sd["pretrained.pos_embed"], H, W)
    n_blocks = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("pretrained.blocks."))
    outs = []
    for i in range(n_blocks):
        p = f"pretrained.blocks.{i}"
        N = t.shape[1]
        qkv = lin(ln(t, p + ".norm1"), p + ".attn.qkv").reshape(B, N, 3, heads, D // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (D // heads) ** -0.5, qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)).softmax(-1) @ v
        t = t + lin(a.transpose(1, 2).reshape(B, N, D), p + ".attn.proj") * sd[p + ".ls1.gamma"]
        h = lin(F.gelu(lin(ln(t, p + ".norm2"), p + ".mlp.fc1")), p + ".mlp.fc2")
        t = t + h * sd[p + ".ls2.gamma"]
        if i in blocks:
            outs.append(ln(t, "pretrained.norm"))
    conv = lambda t, p, **kw: F.conv2d(t, sd[p + ".weight"], sd.get(p + ".bias"), **kw)
    layers = []
    for i, o in enumerate(outs):
        f = o[:, 1:].permute(0, 2, 1).reshape(B, D, ph, pw)
        f = conv(f, f"depth_head.projects.{i}")
        r = f"depth_head.resize_layers.{i}"
        if i in (0, 1):
            f = F.conv_transpose2d(f, sd[r + ".weight"], sd[r + ".bias"], stride=4 if i == 0 else 2)
        elif i == 3:
            f = conv(f, r, stride=2, padding=1)
        layers.append(conv(f, f"depth_head.scratch.layer{i + 1}_rn", padding=1))

    def rcu(t, p):
        out = conv(F.relu(t), p + ".conv1", padding=1)
        return conv(F.relu(out), p + ".conv2", padding=1) + t

    def fuse(n, x0, x1=None, size=None):
        p = f"depth_head.scratch.refinenet{n}"
        out = x0 if x1 is None else x0 + rcu(x1, p + ".resConfUnit1")
        out = rcu(out, p + ".resConfUnit2")
        kw = {"scale_factor": 2} if size is None else {"size": size}
        return conv(F.interpolate(out, **kw, mode="bilinear", align_corners=True), p + ".out_conv")

    l1, l2, l3, l4 = layers
    path = fuse(4, l4, size=l3.shape[2:])
    path = fuse(3, path, l3, size=l2.shape[2:])
    path = fuse(2, path, l2, size=l1.shape[2:])
    path = fuse(1, path, l1)
    out = conv(path, "depth_head.scratch.output_conv1", padding=1)
    out = F.interpolate(out, (ph * 14, pw * 14), mode="bilinear", align_corners=True)
    out = conv(F.relu(conv(out, "depth_head.scratch.output_conv2.0", padding=1)), "depth_head.scratch.output_conv2.2")
    out = F.relu(F.relu(out)) if kind == "relative" else torch.sigmoid(out) * MAX_DEPTH
    return out.squeeze(1)


def original_reference(sd, path, kind):
    x, (h, w) = original_pixels(path)
    with torch.no_grad():
        depth = original_forward(sd, x, kind)
        depth = F.interpolate(depth[:, None], (h, w), mode="bilinear", align_corners=True)[0, 0]
    return depth.numpy(), tuple(x.shape[-2:])


def side_config(kind):
    cfg = {"num_attention_heads": HEADS, "out_indices": [0, 1, 2, 3], "depth_estimation_type": kind}
    if kind == "metric":
        cfg["max_depth"] = MAX_DEPTH
    return cfg


def write_original(folder: Path, state: dict, kind: str, variant: str):
    folder.mkdir(parents=True, exist_ok=True)
    sd = to_original(state)
    if variant == "sdvlm":
        # As the released SD-VLM-7B checkpoint: under model.depth., LayerScale as ls*.weight,
        # among the language model's tensors, in a sharded folder with an index.
        sd = {("model.depth." + k).replace(".ls1.gamma", ".ls1.weight").replace(".ls2.gamma", ".ls2.weight"): v
              for k, v in sd.items()}
        other = {"model.embed_tokens.weight": torch.randn(10, 4), "lm_head.weight": torch.randn(10, 4),
                 "model.mm_projector.0.weight": torch.randn(4, 4)}
        save_file(other, str(folder / "model-00001-of-00002.safetensors"))
        save_file(sd, str(folder / "model-00002-of-00002.safetensors"))
        weight_map = {k: "model-00001-of-00002.safetensors" for k in other}
        weight_map.update({k: "model-00002-of-00002.safetensors" for k in sd})
        (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
        (folder / "config.json").write_text(json.dumps({"architectures": ["LlavaLlamaForCausalLM"]}))
    else:
        save_file(sd, str(folder / "model.safetensors"))
    (folder / "depth_anything_v2.json").write_text(json.dumps(side_config(kind)))
    return folder


@pytest.mark.parametrize("variant", ["plain", "sdvlm"])
def test_original_layout_matches_the_original_pipeline(tiny_hf, images, tmp_path, variant):
    kind, _, model = tiny_hf
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model_dir = write_original(tmp_path / "model", state, kind, variant)
    ours = msmu_maps(model_dir, images, tmp_path / "out")
    sd = to_original(state)
    for path, got in zip(images, ours):
        ref, input_size = original_reference(sd, path, kind)
        assert got.shape == ref.shape, (path.name, got.shape, ref.shape)
        assert (ref > 0).mean() > 0.5 and ref.std() > 1e-3, f"{path.name}: degenerate reference"
        diff = np.abs(got - ref).max()
        print(f"original layout ({variant}), {kind}, {path.name} (input {input_size}): max abs diff {diff:.2e}")
        assert diff < 1e-4, f"{variant} {kind} {path.name}: max abs diff {diff}"


def test_the_two_pipelines_differ_where_documented(tiny_hf, images):
    """The references are not interchangeable: on non-square inputs the position embeddings are
    interpolated differently, and small images are resized differently. (Guards against a
    test that compares a pipeline with itself.)"""
    kind, _, model = tiny_hf
    sd = to_original({k: v.detach().clone() for k, v in model.state_dict().items()})
    landscape = images[0]
    hf, _ = hf_reference(model, landscape)
    orig, _ = original_reference(sd, landscape, kind)
    assert np.abs(hf - orig).max() > 1e-3
    _, small_input = original_reference(sd, images[3], kind)
    _, small_input_hf = hf_reference(model, images[3])
    assert small_input != small_input_hf, (small_input, small_input_hf)


def test_missing_and_unexpected_tensors_are_named(tiny_hf, images, tmp_path):
    kind, model_dir, model = tiny_hf
    state = load_file(str(model_dir / "model.safetensors"))
    cases = []
    hf_missing = dict(state)
    del hf_missing["backbone.encoder.layer.1.mlp.fc2.weight"]
    cases.append(("hf_missing", hf_missing, "backbone.encoder.layer.1.mlp.fc2.weight"))
    hf_extra = dict(state)
    hf_extra["neck.convs.0.bias"] = torch.zeros(FUSION)
    cases.append(("hf_extra", hf_extra, "neck.convs.0.bias"))
    hf_no_key = dict(state)
    del hf_no_key["backbone.encoder.layer.2.attention.attention.key.bias"]
    cases.append(("hf_no_key", hf_no_key, "backbone.encoder.layer.2.attention.attention.key.bias"))
    for name, tensors, expected in cases:
        folder = tmp_path / name
        folder.mkdir()
        for f in ("config.json", "preprocessor_config.json"):
            (folder / f).write_text((model_dir / f).read_text())
        save_file(tensors, str(folder / "model.safetensors"))
        result = run_depth(folder, images[:1], tmp_path / f"{name}_out", check=False)
        assert result.returncode != 0, f"{name}: msmu accepted it"
        assert expected in result.stderr, f"{name}: {result.stderr}"
    # Original layout under the SD-VLM prefix: the error names the tensor as stored.
    sd = {"model.depth." + k: v for k, v in to_original(state).items()}
    del sd["model.depth.depth_head.scratch.refinenet2.resConfUnit1.conv2.bias"]
    folder = tmp_path / "orig_missing"
    folder.mkdir()
    save_file(sd, str(folder / "model.safetensors"))
    (folder / "depth_anything_v2.json").write_text(json.dumps(side_config(kind)))
    result = run_depth(folder, images[:1], tmp_path / "orig_out", check=False)
    assert result.returncode != 0
    assert "model.depth.depth_head.scratch.refinenet2.resConfUnit1.conv2.bias" in result.stderr, result.stderr


def test_written_files_agree(tiny_hf, images, tmp_path):
    """The 16-bit PNG decodes (JSON scale/offset) to the NPY map; metric PNGs are millimetres;
    the preview is an RGB image of the same size."""
    kind, model_dir, _ = tiny_hf
    out = tmp_path / "out"
    run_depth(model_dir, images, out)
    for path in images:
        npy = np.load(out / f"{path.stem}.npy")
        side = json.loads((out / f"{path.stem}.json").read_text())
        png = np.asarray(Image.open(out / f"{path.stem}.png")).astype(np.float64)
        assert png.shape == npy.shape == (side["height"], side["width"])
        assert side["kind"] == kind
        decoded = png * side["scale"] + side["offset"]
        if kind == "metric":
            assert side["scale"] == 0.001 and side["offset"] == 0
            # round half away from zero, as msmu's depth codec (numpy's round is half to even)
            assert np.array_equal(png, np.floor(npy.astype(np.float64) * 1000 + 0.5))
        else:
            assert png.min() == 0 and png.max() == 65535
            assert np.abs(decoded - npy).max() <= side["scale"] * 0.5 + 1e-6
        assert abs(side["min"] - npy.min()) < 1e-6 and abs(side["max"] - npy.max()) < 1e-6
        preview = Image.open(out / f"{path.stem}_preview.png")
        assert preview.mode == "RGB" and preview.size == (side["width"], side["height"])


def test_shards_mode_covers_every_row(tiny_hf, tmp_path):
    kind, model_dir, _ = tiny_hf
    shards = FIXTURES / "shards"
    if not (shards / "data").exists():
        pytest.fail(f"no fixture shards in {shards}: run `make train-fixtures`")
    import pyarrow.parquet as pq

    rows = []
    for f in sorted((shards / "data").glob("*.parquet")):
        table = pq.read_table(f, columns=["id", "split"])
        rows += zip(table.column("split").to_pylist(), table.column("id").to_pylist())
    out = tmp_path / "out"
    result = subprocess.run([msmu_bin(), "depth", "--model", str(model_dir), "--shards", str(shards),
                             "--out", str(out), "--batch", "3"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    written = sorted((p.parent.name, p.stem) for p in out.glob("*/*.npy"))
    assert written == sorted(rows) and len(written) > 3
