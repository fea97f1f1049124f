"""The built dataset reads back with the Python tools people use on it: pyarrow, Hugging Face
`datasets` (Parquet shards and the `msmu export --format hf` repository), and the SD-VLM
inference layout (`msmu export --format sdvlm`) read the way the official script does."""

import ast
import base64
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import msmu_bin

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")
datasets = pytest.importorskip("datasets")
from PIL import Image  # noqa: E402


def run(*args):
    out = subprocess.run([msmu_bin(), *args], capture_output=True, text=True,
                         env={**os.environ, "RUST_LOG": "msmu=warn"})
    # 0 = every scene built, 3 = some skipped: both leave a finished dataset.
    assert out.returncode in (0, 3), f"msmu {args}: {out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("msmu_dataset")
    out = root / "ds"
    run("build", "--out", str(out), "--frame-stride", "1")
    return out


@pytest.fixture()
def offline_hf(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    return tmp_path / "hf_cache"


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_shards_read_with_pyarrow(built):
    m = manifest(built)
    for shard in m["shards"]:
        table = pq.read_table(built / shard["file"])
        assert table.num_rows == shard["rows"]
        assert b"huggingface" in table.schema.metadata
        features = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
        assert features["image"] == {"_type": "Image"}
        assert sum(len(q) for q in table.column("qa").to_pylist()) == shard["qa"]
    assert sum(s["rows"] for s in m["shards"]) == sum(m["totals"]["rows"].values())


def test_shards_load_with_datasets(built, offline_hf):
    m = manifest(built)
    data_files = {split: str(built / "data" / f"{split}-*.parquet") for split in m["totals"]["rows"]}
    ds = datasets.load_dataset("parquet", data_files=data_files, cache_dir=str(offline_hf))
    for split, n in m["totals"]["rows"].items():
        assert ds[split].num_rows == n
        assert isinstance(ds[split].features["image"], datasets.Image)
        assert isinstance(ds[split].features["depth"], datasets.Image)
        row = ds[split][0]
        assert isinstance(row["image"], Image.Image)
        assert row["image"].mode == "RGB"
        assert row["image"].size == (row["intrinsics"]["width"], row["intrinsics"]["height"])
        depth = row["depth"]
        assert isinstance(depth, Image.Image)
        assert depth.mode in ("I;16", "I")
        assert depth.size == (row["depth_intrinsics"]["width"], row["depth_intrinsics"]["height"])
        assert len(row["conversations"]) == 2 * len(row["qa"])
        assert sum(len(q) for q in ds[split]["qa"]) == m["totals"]["qa"][split]


def test_hf_export_loads_with_its_card(built, tmp_path, offline_hf):
    out = tmp_path / "hf"
    run("export", str(built), "--format", "hf", "--out", str(out))
    card = (out / "README.md").read_text()
    assert card.startswith("---\n")
    m = manifest(built)
    ds = datasets.load_dataset(str(out), cache_dir=str(offline_hf))
    assert set(ds.keys()) == set(m["totals"]["rows"])
    for split, n in m["totals"]["rows"].items():
        assert ds[split].num_rows == n
        f = ds[split].features
        assert isinstance(f["image"], datasets.Image)
        assert isinstance(f["instance_mask"], datasets.Image)
        assert f["intrinsics"]["width"].dtype == "uint32"
        assert f["qa"].feature["values_si"].feature.dtype == "float64"
        assert isinstance(ds[split][0]["depth"], Image.Image)
    # The card's YAML parses and agrees with the data.
    yaml = pytest.importorskip("yaml")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["configs"][0]["config_name"] == "default"
    splits = {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]}
    assert splits == m["totals"]["rows"]
    from_card = datasets.Features._from_yaml_list(meta["dataset_info"]["features"])
    assert from_card == ds[next(iter(splits))].features


def test_sdvlm_export_reads_like_the_official_script(built, tmp_path):
    out = tmp_path / "sdvlm"
    run("export", str(built), "--format", "sdvlm", "--out", str(out))
    m = manifest(built)
    total = 0
    for split, qa in m["totals"]["qa"].items():
        df = pd.read_parquet(out / f"{split}.parquet")
        assert len(df) == qa
        total += len(df)
        for _, row in df.head(20).iterrows():
            image = Image.open(io.BytesIO(base64.b64decode(row["image_base64"])))
            size = ast.literal_eval(row["image_size"])
            assert eval(row["image_size"]) == size  # the official script may eval() it
            assert image.size == tuple(size)
            assert image.mode == row["image_mode"] == "RGB"
            turns = json.loads(row["conversations"])
            assert turns[0]["from"] == "human" and turns[0]["value"].startswith("<image>\n")
            assert turns[1]["from"] == "gpt" and turns[1]["value"]
            assert row["type"]
            assert row["split"] == split
    assert total == sum(m["totals"]["qa"].values())


def test_llava_export_meets_the_llava_data_loader(built, tmp_path):
    """`msmu export --format llava --with-depth` is what the official LLaVA / SD-VLM trainer
    (DeepSpeed, `--data_path {split}.json --image_folder OUT`) reads. Checked here the way its
    `LazySupervisedDataset` and `preprocess_multimodal` / `preprocess_v1` use a sample, written
    from their documented behaviour: a JSON array of unique ids; `image` relative to the image
    folder, opened with PIL and converted to RGB; turns alternating human / gpt from a human
    turn; one `<image>` token, in the first human turn (LLaVA-1.5 puts one image's 576
    features there); and, for depth, a 16-bit depth PNG of the image's camera holding the
    shard's depth."""
    out = tmp_path / "llava"
    run("export", str(built), "--format", "llava", "--out", str(out), "--with-depth")
    splits = sorted(out.glob("*.json"))
    assert [p.name for p in splits] == ["test.json", "train.json"] or splits, splits
    shard_depth = {}
    for shard in sorted((built / "data").glob("*.parquet")):
        for row in pq.read_table(shard, columns=["id", "depth"]).to_pylist():
            shard_depth[row["id"]] = row["depth"]["bytes"]
    seen = set()
    n = 0
    for split in splits:
        samples = json.loads(split.read_text())
        assert isinstance(samples, list) and samples
        for s in samples:
            n += 1
            assert isinstance(s["id"], str) and s["id"] not in seen
            seen.add(s["id"])
            # Paths join onto --image_folder: relative, inside it.
            for key in ("image", "depth"):
                p = Path(s[key])
                assert not p.is_absolute() and ".." not in p.parts, s[key]
            image = Image.open(out / s["image"]).convert("RGB")
            conv = s["conversations"]
            assert len(conv) >= 2 and len(conv) % 2 == 0
            for k, turn in enumerate(conv):
                assert set(turn) == {"from", "value"}
                assert turn["from"] == ("human" if k % 2 == 0 else "gpt")
                assert isinstance(turn["value"], str) and turn["value"].strip()
            tokens = [t["value"].count("<image>") for t in conv]
            assert tokens[0] == 1 and sum(tokens) == 1, tokens
            # preprocess_multimodal moves the token to the front of the turn: nothing is lost.
            moved = "<image>\n" + conv[0]["value"].replace("<image>", "").strip()
            assert moved.count("<image>") == 1
            depth = Image.open(out / s["depth"])
            assert depth.mode in ("I;16", "I"), depth.mode
            # The same camera (pose and field of view) at the depth sensor's resolution: DPE
            # pools it to the patch grid, so only the aspect has to agree.
            aspect = (depth.size[0] / depth.size[1]) / (image.size[0] / image.size[1])
            assert abs(aspect - 1) < 0.01, (depth.size, image.size)
            assert (out / s["depth"]).read_bytes() == shard_depth[s["id"]]
    assert n == len(shard_depth)
