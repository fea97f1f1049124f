"""msmu's LLaVA against transformers: a tiny random `LlavaForConditionalGeneration` saved
with `save_pretrained` loads in msmu (`msmu predict --dump-logits`) and gives the same logits
(fp32, max abs diff < 1e-4), with and without DPE; greedy decoding with msmu's KV cache gives
transformers' `generate` tokens; and msmu's image preprocessing equals `CLIPImageProcessor`
(Pillow backend) pixel for pixel. Requires the `train` build of msmu and fixture shards
(`make train-fixtures`)."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import FIXTURES, msmu_bin

transformers = pytest.importorskip("transformers", reason="transformers is in requirements.txt")
tokenizers = pytest.importorskip("tokenizers")

SHARDS = FIXTURES / "shards"
IMAGE_SIZE = 56  # 4 x 4 patches of 14 px
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def make_tokenizer(path: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, min_frequency=1, show_progress=False,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>", "<image>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    text = ["How tall is the chair? The table is 0.75 meters high. Is the lamp left of the bed?"] * 10
    tok.train_from_iterator(text, trainer)
    tok.save(str(path))
    return tok


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    out = tmp_path_factory.mktemp("tiny_llava")
    tok = make_tokenizer(out / "tokenizer.json")
    torch.manual_seed(0)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_attention_heads=2,
                              num_hidden_layers=3, image_size=IMAGE_SIZE, patch_size=14,
                              projection_dim=32)
    text = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=96,
                       num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
                       max_position_embeddings=1024, rope_theta=10000.0, bos_token_id=1,
                       eos_token_id=2, pad_token_id=3)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=4,
                         image_seq_length=(IMAGE_SIZE // 14) ** 2)
    model = LlavaForConditionalGeneration(config).eval()
    # Larger-than-default weights so that differences would show in the logits.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(out)
    return out, model


def run_predict(model_dir, tmp_path, *extra):
    if not (SHARDS / "data").exists():
        pytest.fail(f"no fixture shards in {SHARDS}: run `make train-fixtures`")
    dump = tmp_path / "dump.safetensors"
    preds = tmp_path / "preds.jsonl"
    subprocess.run(
        [msmu_bin(), "predict", "--model", str(model_dir), "--bench", str(SHARDS), "--out", str(preds),
         "--limit", "1", "--max-new-tokens", "8", "--dump-logits", str(dump), *extra],
        check=True,
    )
    lines = [json.loads(l) for l in preds.read_text().splitlines()]
    header = lines[0]
    assert header["model"] == str(model_dir) and header["decoding"] in ("msmu", "official"), header
    return load_file(str(dump)), lines[1:]


def test_logits_match_transformers_without_dpe(tiny_llava, tmp_path):
    model_dir, model = tiny_llava
    dump, _ = run_predict(model_dir, tmp_path, "--no-dpe")
    assert "dpe" not in dump
    with torch.no_grad():
        ref = model(input_ids=dump["input_ids"], pixel_values=dump["pixel_values"]).logits
    diff = (ref - dump["logits"]).abs().max().item()
    assert diff < 1e-4, f"max abs logit diff {diff}"


def test_sharded_checkpoint_loads_with_same_logits(tiny_llava, tmp_path):
    """`save_pretrained(max_shard_size=...)` writes several safetensors files plus
    `model.safetensors.index.json` (the layout of the real 7B/13B checkpoints)."""
    model_dir, model = tiny_llava
    sharded = tmp_path / "sharded"
    model.save_pretrained(sharded, max_shard_size="100KB")
    shutil.copy(model_dir / "tokenizer.json", sharded / "tokenizer.json")
    shards = sorted(p.name for p in sharded.glob("model-*.safetensors"))
    assert len(shards) > 1 and (sharded / "model.safetensors.index.json").exists(), shards
    assert not (sharded / "model.safetensors").exists()
    dump, _ = run_predict(sharded, tmp_path, "--no-dpe")
    with torch.no_grad():
        ref = model(input_ids=dump["input_ids"], pixel_values=dump["pixel_values"]).logits
    diff = (ref - dump["logits"]).abs().max().item()
    assert diff < 1e-4, f"max abs logit diff {diff}"


def test_logits_match_transformers_with_dpe(tiny_llava, tmp_path):
    model_dir, model = tiny_llava
    dump, _ = run_predict(model_dir, tmp_path)
    input_ids, pe = dump["input_ids"], dump["dpe"]
    with torch.no_grad():
        feats = model.model.get_image_features(pixel_values=dump["pixel_values"])
        feats = feats if torch.is_tensor(feats) else getattr(feats, "pooler_output", feats)
        feats = torch.cat(list(feats)) if isinstance(feats, (list, tuple)) else feats
        feats = feats.reshape(1, -1, pe.shape[-1]) + pe
        embeds = model.get_input_embeddings()(input_ids)
        mask = input_ids == model.config.image_token_id
        embeds[mask] = feats.reshape(-1, pe.shape[-1])
        ref = model(inputs_embeds=embeds).logits
    diff = (ref - dump["logits"]).abs().max().item()
    assert diff < 1e-4, f"max abs logit diff {diff}"


def test_concat_fusion_is_llava_with_the_depth_map_as_a_second_image(tiny_llava, tmp_path):
    """`--depth-fusion concat`: the depth image goes through the same vision tower and projector
    and its tokens follow the image's, which is what transformers' LLaVA does with two images
    for 2 x N placeholders. The depth image itself is checked against numpy: the fixture row's
    depth PNG padded like the image, area-averaged over valid pixels per output pixel, min-max
    normalised, CLIP-normalised in every channel."""
    import pyarrow.parquet as pq
    import io

    model_dir, model = tiny_llava
    dump, _ = run_predict(model_dir, tmp_path, "--depth-fusion", "concat")
    assert "dpe" not in dump
    n = (IMAGE_SIZE // 14) ** 2
    assert int((dump["input_ids"] == model.config.image_token_id).sum()) == 2 * n
    pixels = torch.cat([dump["pixel_values"], dump["depth_pixel_values"]])
    with torch.no_grad():
        ref = model(input_ids=dump["input_ids"], pixel_values=pixels).logits
    diff = (ref - dump["logits"]).abs().max().item()
    assert diff < 1e-4, f"max abs logit diff {diff}"

    # The depth image from the first test row's depth map.
    shard = sorted((SHARDS / "data").glob("test-*.parquet"))[0]
    row = pq.read_table(shard).slice(0, 1).to_pylist()[0]
    depth = np.asarray(Image.open(io.BytesIO(row["depth"]["bytes"])), dtype=np.float64)
    h, w = depth.shape
    side = max(w, h)
    padded = np.zeros((side, side))
    oy, ox = (side - h) // 2, (side - w) // 2
    padded[oy:oy + h, ox:ox + w] = depth
    g = IMAGE_SIZE
    out = np.zeros((g, g))
    valid = np.zeros((g, g), dtype=bool)
    for i in range(g):
        y0, y1 = i * side // g, -(-(i + 1) * side // g)
        for j in range(g):
            x0, x1 = j * side // g, -(-(j + 1) * side // g)
            cell = padded[y0:y1, x0:x1]
            cell = cell[cell > 0]
            if cell.size:
                out[i, j], valid[i, j] = cell.mean(), True
    lo, hi = out[valid].min(), out[valid].max()
    grey = np.where(valid, (out - lo) / (hi - lo + 1e-9), 0.0).astype(np.float32)
    expected = np.stack([(grey - np.float32(m)) / np.float32(s) for m, s in zip(CLIP_MEAN, CLIP_STD)])
    got = dump["depth_pixel_values"][0].numpy()
    assert np.abs(got - expected).max() < 1e-5


def test_greedy_decoding_with_kv_cache_matches_generate(tiny_llava, tmp_path):
    model_dir, model = tiny_llava
    dump, lines = run_predict(model_dir, tmp_path, "--no-dpe")
    with torch.no_grad():
        out = model.generate(input_ids=dump["input_ids"], pixel_values=dump["pixel_values"],
                             max_new_tokens=8, do_sample=False, eos_token_id=2, pad_token_id=3)
    new = out[0, dump["input_ids"].shape[1]:].tolist()
    if 2 in new:
        new = new[: new.index(2)]
    tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    assert lines[0]["pred"] == tok.decode(new, skip_special_tokens=True).strip()
    assert lines[0]["id"].endswith("#0")


def expand2square(img, colour):
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    out = Image.new(img.mode, (side, side), colour)
    out.paste(img, ((side - w) // 2, (side - h) // 2))
    return out


def hf_pixels(img: Image.Image, size: int) -> np.ndarray:
    from transformers import CLIPImageProcessorPil

    proc = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                 image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))
    square = expand2square(img.convert("RGB"), tuple(int(x * 255) for x in CLIP_MEAN))
    return np.asarray(proc(images=square, return_tensors="pt")["pixel_values"][0])


def msmu_pixels(path: Path, size: int, tmp_path: Path) -> np.ndarray:
    out = tmp_path / "px.safetensors"
    subprocess.run([msmu_bin(), "preprocess", "--image", str(path), "--size", str(size), "--out", str(out)],
                   check=True)
    return load_file(str(out))["pixel_values"].numpy()


@pytest.mark.parametrize("size", [336, 112])
@pytest.mark.parametrize("shape", [(968, 1296), (480, 640), (70, 100), (300, 200), (336, 336)])
def test_preprocessing_matches_clip_image_processor(tmp_path, shape, size):
    h, w = shape
    rng = np.random.default_rng(h * 7 + w)
    # A smooth image plus noise: exercises the filter on both flat and busy regions.
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], -1)
    arr = np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    png = tmp_path / "img.png"
    Image.fromarray(arr).save(png)
    ours = msmu_pixels(png, size, tmp_path)
    ref = hf_pixels(Image.open(png), size)
    assert ours.shape == ref.shape == (3, size, size)
    diff = np.abs(ours - ref).max()
    assert diff < 1e-5, f"max abs diff {diff}"


def test_preprocessing_of_a_fixture_jpeg(tmp_path):
    jpg = FIXTURES / "scannet" / "scans" / "scene0900_00" / "color" / "0.jpg"
    ours = msmu_pixels(jpg, 336, tmp_path)
    ref = hf_pixels(Image.open(jpg), 336)
    # Decoders (zune-jpeg vs libjpeg-turbo) may differ by one grey level on a few pixels.
    one_level = 1 / 255 / min(CLIP_STD)
    assert np.abs(ours - ref).mean() < 0.05 * one_level
    assert np.abs(ours - ref).max() <= 3 * one_level + 1e-5


def test_official_decoding_prompt_is_the_raw_question(tiny_llava, tmp_path):
    """`--decoding official`: BOS + the question with `<image>` expanded, no chat template."""
    model_dir, model = tiny_llava
    dump, lines = run_predict(model_dir, tmp_path, "--no-dpe", "--decoding", "official",
                              "--temperature", "0")
    tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    ids = dump["input_ids"][0].tolist()
    image_id = model.config.image_token_id
    n_image = ids.count(image_id)
    assert n_image > 0
    text_ids = [i for i in ids if i != image_id]
    expected = tok.encode("<image>\n" + lines[0]["question"], add_special_tokens=False).ids
    expected = [i for i in expected if i != image_id]
    assert text_ids[0] == tok.token_to_id("<s>") and text_ids[1:] == expected  # BOS, raw question
    assert "USER" not in tok.decode(text_ids)
