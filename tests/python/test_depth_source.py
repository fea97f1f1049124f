"""One depth source per run, end to end (issue #13): `msmu build --depth-source estimated` with a
tiny random Depth-Anything-V2 (transformers layout, made here) writes the estimator's output and
`depth_source` per row; `msmu train --preset tiny` on those shards records the depth source and
sense; `msmu predict` runs with it and refuses mesh depth unless `--allow-depth-mismatch`; DPE
without depth and without a depth model fails for train and predict, naming the row.
Requires the `train` build of msmu."""

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import FIXTURES, msmu_bin
from test_depth_anything import build_hf, processor


def msmu(*args, check=True):
    result = subprocess.run([msmu_bin(), *map(str, args)], capture_output=True, text=True)
    if check:
        assert result.returncode == 0, f"msmu {' '.join(map(str, args))}:\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def relative_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("da_relative")
    model = build_hf("relative", seed=3)
    model.save_pretrained(out)
    processor().save_pretrained(out)
    return out, model


@pytest.fixture(scope="module")
def estimated(relative_model, tmp_path_factory):
    """The ScanNet fixture scenes built with estimated depth (train split)."""
    model_dir, _ = relative_model
    out = tmp_path_factory.mktemp("estimated") / "ds"
    msmu("build", "--scannet-root", FIXTURES / "scannet", "--out", out, "--split", "train",
         "--seed", "1", "--depth-source", "estimated", "--depth-model", model_dir)
    return out


def rows(dataset: Path):
    table = pa.concat_tables(pq.read_table(f) for f in sorted((dataset / "data").glob("*.parquet")))
    return table.to_pylist()


def test_estimated_build_holds_the_estimators_depth(relative_model, estimated):
    _, model = relative_model
    manifest = json.loads((estimated / "manifest.json").read_text())
    identity = manifest["config"]["depth"]["model"]
    assert manifest["config"]["depth"]["source"] == "estimated"
    assert identity.startswith("Depth-Anything-V2 relative"), identity
    msmu("validate", estimated)
    table = rows(estimated)
    assert table and all(r["depth_source"] == "estimated-relative" for r in table)
    proc = processor()
    for r in table[:2]:
        image = Image.open(io.BytesIO(r["image"]["bytes"])).convert("RGB")
        depth = np.array(Image.open(io.BytesIO(r["depth"]["bytes"])))
        assert depth.dtype == np.uint16
        cam = r["depth_intrinsics"]
        assert depth.shape == (cam["height"], cam["width"])
        # The reference: transformers' forward, resized (bicubic, as the HF post-processing) to
        # the depth camera's resolution, then mapped min..max -> 1..65535.
        with torch.no_grad():
            pixels = proc(images=image, return_tensors="pt")["pixel_values"]
            pred = model(pixel_values=pixels).predicted_depth[:, None]
            pred = F.interpolate(pred, size=depth.shape, mode="bicubic", align_corners=False)[0, 0]
        v = pred.double().numpy()
        expected = 1 + np.round((v - v.min()) / (v.max() - v.min()) * 65534)
        diff = np.abs(depth.astype(np.int64) - expected.astype(np.int64))
        # The rows hold JPEGs, which PIL (libjpeg-turbo) and msmu (the `image` crate) decode
        # to pixels that differ by a unit here and there; the unit-gain random model amplifies
        # that to a few 1e-4 of the range (exact parity on lossless PNGs is
        # test_depth_anything.py's job). A wrong resize, mapping or model would be off by far
        # more: thousands of steps.
        assert np.percentile(diff, 99) <= 30 and diff.max() <= 200, (diff.max(), np.percentile(diff, 99))
        assert np.corrcoef(depth.ravel(), expected.ravel())[0, 1] > 0.9999
        assert depth.min() >= 1 and depth.max() == 65535


def test_estimated_build_is_the_same_at_any_thread_count(relative_model, estimated, tmp_path):
    model_dir, _ = relative_model
    one = tmp_path / "one"
    msmu("build", "--scannet-root", FIXTURES / "scannet", "--out", one, "--split", "train",
         "--seed", "1", "--depth-source", "estimated", "--depth-model", model_dir, "--threads", "1")
    a = sorted((estimated / "data").glob("*.parquet"))
    b = sorted((one / "data").glob("*.parquet"))
    assert [p.name for p in a] == [p.name for p in b]
    for x, y in zip(a, b):
        assert x.read_bytes() == y.read_bytes(), x.name


def test_train_and_predict_on_estimated_depth(estimated, relative_model, tmp_path):
    model_dir, _ = relative_model
    run = tmp_path / "run"
    msmu("train", "--preset", "tiny", "--data", estimated, "--out", run, "--max-steps", "2",
         "--batch-size", "2", "--lora-r", "4", "--lora-alpha", "8", "--eval-split", "train")
    record = json.loads((run / "msmu_train.json").read_text())
    assert record["depth"] == {"source": "estimated-relative", "sense": "inverse"}, record
    assert record["dpe"]["enabled"] is True
    preds = tmp_path / "preds.jsonl"
    msmu("predict", "--model", run, "--adapter", run, "--bench", estimated, "--split", "train",
         "--limit", "1", "--max-new-tokens", "4", "--out", preds)
    assert preds.read_text().strip()
    # Estimating on the fly with the same model is the same depth source: accepted.
    msmu("predict", "--model", run, "--adapter", run, "--bench", estimated, "--split", "train",
         "--limit", "1", "--max-new-tokens", "4", "--out", preds,
         "--depth-source", "estimate", "--depth-model", model_dir)
    # Mesh depth (the fixture shards) is another source: refused, with the reason...
    mesh = FIXTURES / "shards"
    refused = msmu("predict", "--model", run, "--adapter", run, "--bench", mesh, "--limit", "1",
                   "--max-new-tokens", "4", "--out", tmp_path / "mesh.jsonl", check=False)
    assert refused.returncode != 0
    assert "estimated-relative" in refused.stderr and "mesh" in refused.stderr, refused.stderr
    assert "--allow-depth-mismatch" in refused.stderr
    assert not (tmp_path / "mesh.jsonl").exists()
    # ... unless allowed.
    msmu("predict", "--model", run, "--adapter", run, "--bench", mesh, "--limit", "1",
         "--max-new-tokens", "4", "--out", tmp_path / "mesh.jsonl", "--allow-depth-mismatch")


def without_depth(src: Path, dst: Path):
    """The dataset with its depth columns dropped (as data from elsewhere has none)."""
    (dst / "data").mkdir(parents=True)
    for f in sorted((src / "data").glob("*.parquet")):
        table = pq.read_table(f)
        table = table.drop_columns([c for c in ("depth", "depth_source") if c in table.column_names])
        pq.write_table(table, dst / "data" / f.name)
    first = pq.read_table(sorted((dst / "data").glob("*.parquet"))[0], columns=["id"])
    return first.column("id")[0].as_py()


def test_dpe_without_depth_or_model_fails_naming_the_row(estimated, relative_model, tmp_path):
    model_dir, _ = relative_model
    bare = tmp_path / "bare"
    first_id = without_depth(estimated, bare)
    failed = msmu("train", "--preset", "tiny", "--data", bare, "--out", tmp_path / "run",
                  "--max-steps", "1", "--batch-size", "1", check=False)
    assert failed.returncode != 0
    assert first_id in failed.stderr and "--depth-model" in failed.stderr, failed.stderr
    # Without DPE the same data trains; with a depth model the rows are estimated.
    run = tmp_path / "nodpe"
    msmu("train", "--preset", "tiny", "--data", bare, "--out", run, "--max-steps", "1",
         "--batch-size", "1", "--depth-source", "none", "--lora-r", "4", "--lora-alpha", "8")
    est = tmp_path / "est"
    msmu("train", "--preset", "tiny", "--data", bare, "--out", est, "--max-steps", "1",
         "--batch-size", "1", "--depth-model", model_dir, "--lora-r", "4", "--lora-alpha", "8")
    assert json.loads((est / "msmu_train.json").read_text())["depth"]["source"] == "estimated-relative"
    # predict with DPE on (the adapter trained with it) and no depth: fails naming the row.
    failed = msmu("predict", "--model", est, "--adapter", est, "--bench", bare, "--split", "train",
                  "--limit", "1", "--out", tmp_path / "p.jsonl", check=False)
    assert failed.returncode != 0
    assert first_id in failed.stderr and "--depth-model" in failed.stderr, failed.stderr
    # --depth-source estimate without a model is refused before anything runs.
    for cmd in (["train", "--preset", "tiny", "--data", bare, "--out", tmp_path / "x"],
                ["predict", "--model", est, "--bench", bare, "--out", tmp_path / "y.jsonl"]):
        failed = msmu(*cmd, "--depth-source", "estimate", check=False)
        assert failed.returncode != 0 and "--depth-model" in failed.stderr, failed.stderr


def hub_split(dataset: Path, out: Path):
    """The MSMU-Bench test split as released on the Hub: one QA per row, `image` as an Image
    feature struct, `conversations` as a Python-literal string, `type`."""
    images, convs, types = [], [], []
    for r in rows(dataset):
        for qa in r["qa"]:
            images.append({"bytes": r["image"]["bytes"], "path": None})
            convs.append(str([{"from": "human", "value": "<image>\n" + qa["question"]},
                              {"from": "gpt", "value": qa["answer"]}]))
            types.append(qa["type"])
    table = pa.table({"image": images, "conversations": convs, "type": types})
    pq.write_table(table, out)
    return len(types)


def test_released_formats_go_through_predict_and_eval(estimated, relative_model, tmp_path):
    """The released MSMU-Bench layouts (Hub Parquet; the SD-VLM inference Parquet that
    `msmu export --format sdvlm` writes, with `image_base64`) have no depth: predict estimates
    it with --depth-model, writes the official output format, and eval scores every line."""
    model_dir, _ = relative_model
    run = tmp_path / "run"
    msmu("train", "--preset", "tiny", "--data", estimated, "--out", run, "--max-steps", "1",
         "--batch-size", "1", "--lora-r", "4", "--lora-alpha", "8")
    hub = tmp_path / "test.parquet"
    n_hub = hub_split(estimated, hub)
    sdvlm = tmp_path / "sdvlm"
    msmu("export", estimated, "--format", "sdvlm", "--out", sdvlm)
    for bench in (hub, sdvlm):
        preds = tmp_path / f"{bench.stem}.jsonl"
        # Without a depth model DPE has no depth for these rows: refused, naming a row.
        failed = msmu("predict", "--model", run, "--adapter", run, "--bench", bench, "--limit", "2",
                      "--out", preds, check=False)
        assert failed.returncode != 0 and "--depth-model" in failed.stderr, failed.stderr
        msmu("predict", "--model", run, "--adapter", run, "--bench", bench, "--limit", "3",
             "--decoding", "official", "--max-new-tokens", "6", "--depth-model", model_dir,
             "--out", preds)
        lines = [json.loads(l) for l in preds.read_text().splitlines()]
        header, answers = lines[0], lines[1:]
        assert header["decoding"] == "official" and header["temperature"] == 0.2, header
        assert header["max_new_tokens"] == 6 and "estimated-relative" in header["depth"], header
        assert answers and all(a["gt"] and a["type"] and a["question"] for a in answers)
        report = json.loads(msmu("eval", "--bench", bench, "--pred", preds, "--json").stdout)
        assert report["predictions"] == len(answers), report
        assert report["unmatched"] == [] and report["scored"] == len(answers), report
    assert n_hub > 3


def test_ask_answers_like_predict_about_one_photo(estimated, relative_model, tmp_path):
    """`msmu ask` on a photo gives the answer `msmu predict` gives for the same image and
    question with the same depth (estimated on the fly); without depth it fails; a depth file
    of another kind is refused unless allowed."""
    model_dir, _ = relative_model
    run = tmp_path / "run"
    msmu("train", "--preset", "tiny", "--data", estimated, "--out", run, "--max-steps", "2",
         "--batch-size", "1", "--lora-r", "4", "--lora-alpha", "8")
    first = rows(estimated)[0]
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(first["image"]["bytes"])
    question = first["qa"][0]["question"]
    preds = tmp_path / "p.jsonl"
    msmu("predict", "--model", run, "--adapter", run, "--bench", estimated, "--split", "train",
         "--limit", "1", "--max-new-tokens", "12", "--depth-source", "estimate", "--depth-model",
         model_dir, "--out", preds)
    expected = json.loads(preds.read_text().splitlines()[1])
    assert expected["question"] == question
    asked = msmu("ask", "--model", run, "--adapter", run, "--depth-model", model_dir,
                 "--max-new-tokens", "12", photo, question)
    assert asked.stdout.rstrip("\n") == expected["pred"]
    failed = msmu("ask", "--model", run, "--adapter", run, photo, question, check=False)
    assert failed.returncode != 0 and "--depth-model" in failed.stderr, failed.stderr
    depth_png = tmp_path / "depth.png"
    Image.fromarray(np.full((48, 64), 1500, np.uint16)).save(depth_png)
    refused = msmu("ask", "--model", run, "--adapter", run, "--depth", depth_png, photo, question,
                   check=False)
    assert refused.returncode != 0 and "--allow-depth-mismatch" in refused.stderr, refused.stderr
    msmu("ask", "--model", run, "--adapter", run, "--depth", depth_png, "--allow-depth-mismatch",
         photo, question)


def test_qspatial_bench_goes_through_predict_and_eval(estimated, relative_model, tmp_path):
    """A Q-Spatial Bench file in its released layout (question, answer_value, answer_unit,
    question_type, image) through `msmu predict` (depth estimated) and `msmu eval --suite
    qspatial`: every item answered, matched by id and scored."""
    model_dir, _ = relative_model
    run = tmp_path / "run"
    msmu("train", "--preset", "tiny", "--data", estimated, "--out", run, "--max-steps", "1",
         "--batch-size", "1", "--lora-r", "4", "--lora-alpha", "8")
    table = rows(estimated)[:4]
    units = ["meters", "centimeters", "inches", "feet"]
    bench = tmp_path / "QSpatial_ScanNet.parquet"
    pq.write_table(pa.table({
        "question": [f"How far is the chair from the door? Answer in {u}." for u in units],
        "answer_value": [1.5, 80.0, 30.0, 4.0],
        "answer_unit": units,
        "question_type": ["direct_distance"] * 4,
        "image": [{"bytes": table[i % len(table)]["image"]["bytes"], "path": None} for i in range(4)],
    }), bench)
    preds = tmp_path / "q.jsonl"
    msmu("predict", "--model", run, "--adapter", run, "--bench", bench, "--max-new-tokens", "6",
         "--depth-model", model_dir, "--out", preds)
    answers = [json.loads(l) for l in preds.read_text().splitlines()[1:]]
    assert [a["id"] for a in answers] == [f"QSpatial_ScanNet#{i}" for i in range(4)]
    assert answers[0]["gt"] == "1.5 meters" and answers[0]["type"] == "direct_distance"
    report = json.loads(msmu("eval", "--suite", "qspatial", "--bench", bench, "--pred", preds,
                             "--json").stdout)
    assert report["all"]["n"] == 4 and report["unmatched"] == 0, report
    assert report["splits"][0]["split"] == "QSpatial_ScanNet", report


def test_spatialrgpt_bench_goes_through_predict_and_eval(estimated, relative_model, tmp_path):
    """SpatialRGPT-Bench annotations in the released layout (id, image_info.file_path, text_q,
    conversations, bbox, qa_info) through `msmu predict` (regions drawn as coloured boxes and
    named in the question; depth estimated) and `msmu eval --suite spatialrgpt`."""
    model_dir, _ = relative_model
    run = tmp_path / "run"
    msmu("train", "--preset", "tiny", "--data", estimated, "--out", run, "--max-steps", "1",
         "--batch-size", "1", "--lora-r", "4", "--lora-alpha", "8")
    images = tmp_path / "images"
    images.mkdir()
    first = rows(estimated)[0]
    (images / "a.jpg").write_bytes(first["image"]["bytes"])
    w, h = first["intrinsics"]["width"], first["intrinsics"]["height"]
    items = [
        ("0", "Is Region [0] behind Region [1]?", "Yes, Region [0] is behind Region [1].",
         "qualitative", "behind_predicate"),
        ("1", "How far apart are Region [0] and Region [1]?",
         "Region [0] and Region [1] are 1.52 meters apart.", "quantitative", "distance_data"),
        ("2", "If you are at Region [0], where will you find Region [1]?",
         "Region [1] is roughly at 3 o'clock from Region [0].", "quantitative", "direction"),
    ]
    bench = tmp_path / "SpatialRGPT-Bench_v1.jsonl"
    with bench.open("w") as f:
        for id_, q, a, kind, cat in items:
            f.write(json.dumps({
                "id": id_, "image_info": {"file_path": "a.jpg", "width": w, "height": h},
                "text_q": q,
                "conversations": [{"from": "human", "value": "<image>\n" + q.replace("]", "] <mask>")},
                                  {"from": "gpt", "value": a}],
                "bbox": [[10, 10, w // 3, h // 3], [w // 2, h // 2, w - 10, h - 10]],
                "qa_info": {"type": kind, "category": cat},
            }) + "\n")
    preds = tmp_path / "s.jsonl"
    msmu("predict", "--model", run, "--adapter", run, "--bench", bench, "--images", images,
         "--max-new-tokens", "6", "--depth-model", model_dir, "--out", preds)
    answers = [json.loads(l) for l in preds.read_text().splitlines()[1:]]
    assert [a["id"] for a in answers] == ["0", "1", "2"]
    assert "Region [0] (the red box)" in answers[0]["question"]
    assert "Region [1] (the blue box)" in answers[0]["question"]
    report = json.loads(msmu("eval", "--suite", "spatialrgpt", "--bench", bench, "--pred", preds,
                             "--json").stdout)
    assert report["unmatched"] == 0, report
    assert report["qualitative"]["n"] == 1 and report["quantitative"]["n"] == 2, report
    # An annotation naming an image outside --images is refused, not followed.
    escape = tmp_path / "escape.jsonl"
    line = json.loads(bench.read_text().splitlines()[0])
    line["image_info"]["file_path"] = "../images/a.jpg"
    escape.write_text(json.dumps(line) + "\n")
    refused = msmu("predict", "--model", run, "--bench", escape, "--images", images, "--no-dpe",
                   "--out", tmp_path / "e.jsonl", check=False)
    assert refused.returncode != 0 and "image_info.file_path" in refused.stderr, refused.stderr
