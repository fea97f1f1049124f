"""`msmu ablate` end to end, the fast version of the depth ablation (issue #15): synthetic scenes,
a scene-disjoint build, two arms (no depth, depth image concatenated) x one seed of the tiny
preset for a few steps, prediction on the held-out scenes, `msmu eval`, and the report.

Checks the report's structure and that every number in it comes from the scorer's output:
means recomputed here from each run's `eval.json`, the items recomputed from `items.jsonl`, the
paired difference from the two runs' items; that a rerun is a no-op with the same report, that
a removed stage is redone alone, and that another configuration is refused.
Requires the `train` build of msmu."""

import json
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from conftest import msmu_bin

FAMILIES = ["existence", "count", "scale_estimation", "grounding", "relative_position",
            "absolute_distance", "scale_compare", "refer_obj_estimation"]


def msmu(*args, check=True):
    result = subprocess.run([msmu_bin(), *map(str, args)], capture_output=True, text=True)
    if check:
        assert result.returncode == 0, f"msmu {' '.join(map(str, args))}:\n{result.stderr}"
    return result


def study_config(**overrides):
    cfg = {
        "scenes": {"synth": {"count": 4, "seed": 3, "frames": 16, "faces_per_scene": 4000}},
        "build": {"seed": 0, "test_fraction": 0.5},
        "train": {"preset": "tiny", "max_steps": 3, "batch_size": 2, "lr": 1e-3,
                  "projector_lr": 1e-3, "lora_r": 8, "lora_alpha": 16.0, "max_len": 1024,
                  "eval_every": 2, "eval_rows": 2, "save_every": 2},
        "predict": {"limit": 2, "max_new_tokens": 6},
        "seeds": [0],
        "arms": ["no-depth", "concat"],
        "baseline": "no-depth",
        "bootstrap_resamples": 200,
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablate")
    config = root / "study.json"
    config.write_text(json.dumps(study_config()))
    out = root / "out"
    msmu("ablate", "--config", config, "--out", out)
    return config, out


def read_json(path: Path):
    return json.loads(path.read_text())


def run_dir(out: Path, arm: str, seed: int = 0) -> Path:
    return out / "runs" / arm / f"seed-{seed}"


def test_the_build_is_scene_disjoint(study):
    _, out = study
    manifest = read_json(out / "data" / "manifest.json")
    splits = {}
    for scene in manifest["scenes"]:
        if scene["images"] > 0:
            splits.setdefault(scene["scene_id"], set()).add(scene["split"])
    assert all(len(s) == 1 for s in splits.values())
    used = {next(iter(s)) for s in splits.values()}
    assert used == {"train", "test"}


def test_every_arm_was_trained_predicted_and_scored(study):
    _, out = study
    for arm in ["no-depth", "concat"]:
        run = run_dir(out, arm)
        record = read_json(run / "msmu_train.json")
        if arm == "concat":
            assert record["dpe"]["enabled"] and record["dpe"]["fusion"] == "concat"
        else:
            assert not record["dpe"]["enabled"]
        lines = (run / "pred.jsonl").read_text().splitlines()
        header = json.loads(lines[0])
        assert "depth" in header and len(lines) > 1
        evaluation = read_json(run / "eval.json")
        assert evaluation["predictions"] == len(lines) - 1
        steps = [json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines()]
        assert steps[-1] == 3


def test_report_numbers_come_from_the_scorer(study):
    _, out = study
    report = read_json(out / "report.json")
    analysis = report["analysis"]
    assert analysis["baseline"] == "no-depth"
    by_arm = {a["arm"]: a for a in analysis["arms"]}
    assert list(by_arm) == ["no-depth", "concat"]
    items = {}
    for arm, summary in by_arm.items():
        evaluation = read_json(run_dir(out, arm) / "eval.json")
        scored = {f["family"]: f for f in evaluation["families"] if f["n"] > 0}
        assert summary["average"]["mean"] == pytest.approx(evaluation["average"], abs=1e-9)
        fams = {f["family"]: f for f in summary["families"]}
        for name, f in scored.items():
            assert fams[name]["mean"] == pytest.approx(f["success"], abs=1e-9)
            assert fams[name]["lo"] <= fams[name]["mean"] + 1e-9
            assert fams[name]["mean"] <= fams[name]["hi"] + 1e-9
            assert fams[name]["n"] == [f["n"]]
        # The items behind the rates, recomputed from --per-item.
        per = [json.loads(l) for l in (run_dir(out, arm) / "items.jsonl").read_text().splitlines()]
        per = [p for p in per if p["family"] and p["status"] not in ("unmatched", "no_truth")]
        items[arm] = {p["id"]: (p["family"], p["success"]) for p in per}
        for name, f in scored.items():
            got = [s for fam, s in items[arm].values() if fam == name]
            assert len(got) == f["n"]
            assert 100.0 * sum(got) / len(got) == pytest.approx(f["success"], abs=1e-9)
        metrics = [json.loads(l) for l in (run_dir(out, arm) / "metrics.jsonl").read_text().splitlines()]
        assert summary["final_loss"] == pytest.approx(metrics[-1]["loss"], abs=1e-12)
    # Same test items in both arms; the paired difference is the difference of the means.
    assert set(items["no-depth"]) == set(items["concat"])
    (diff,) = analysis["differences"]
    assert diff["arm"] == "concat"
    assert diff["average"]["mean"] == pytest.approx(
        by_arm["concat"]["average"]["mean"] - by_arm["no-depth"]["average"]["mean"], abs=1e-9)
    assert diff["average"]["lo"] <= diff["average"]["mean"] + 1e-9 <= diff["average"]["hi"] + 2e-9


def test_report_markdown_and_figures(study):
    _, out = study
    md = (out / "report.md").read_text()
    for heading in ["# Depth ablation: no-depth vs concat", "## Set-up", "## Ablation",
                    "### Paired differences vs `no-depth`", "### Final losses"]:
        assert heading in md, heading
    analysis = read_json(out / "report.json")["analysis"]
    # Every arm's average appears in the table as printed from report.json.
    for arm in analysis["arms"]:
        a = arm["average"]
        cell = f"{a['mean']:.1f} [{a['lo']:.1f}, {a['hi']:.1f}]"
        row = next(l for l in md.splitlines() if l.startswith(f"| `{arm['arm']}` |"))
        assert cell in row, (cell, row)
    # The split table matches the manifest.
    manifest = read_json(out / "data" / "manifest.json")
    for split in ["train", "test"]:
        row = next(l for l in md.splitlines() if l.startswith(f"| {split} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[2]) == manifest["totals"]["rows"][split]
        assert int(cells[3]) == manifest["totals"]["qa"][split]
    for png in ["loss.png", "families.png"]:
        with Image.open(out / png) as im:
            assert im.size[0] > 100 and im.size[1] > 100
    commands = (out / "commands.log").read_text().splitlines()
    assert any(re.match(r"msmu train .*--depth-fusion concat", c) for c in commands)
    assert any(c.startswith("msmu eval ") for c in commands)


def test_rerun_is_a_no_op_and_a_lost_stage_is_redone_alone(study):
    config, out = study
    before = (out / "commands.log").read_text()
    report = read_json(out / "report.json")["analysis"]
    msmu("ablate", "--config", config, "--out", out)
    assert (out / "commands.log").read_text() == before
    assert read_json(out / "report.json")["analysis"] == report
    # Lose one run's scores: only its eval stage runs again, with the same result.
    (run_dir(out, "concat") / "eval.json").unlink()
    (out / "done" / "concat" / "seed-0" / "eval").unlink()
    msmu("ablate", "--config", config, "--out", out)
    new = (out / "commands.log").read_text()[len(before):].splitlines()
    assert len(new) == 1 and new[0].startswith("msmu eval "), new
    assert read_json(out / "report.json")["analysis"] == report


def test_another_configuration_is_refused(study, tmp_path):
    _, out = study
    other = tmp_path / "other.json"
    other.write_text(json.dumps(study_config(seeds=[0, 1])))
    result = msmu("ablate", "--config", other, "--out", out, check=False)
    assert result.returncode != 0
    assert "another configuration" in result.stderr


def test_bad_configurations_say_why(tmp_path):
    cases = [
        (study_config(baseline="dpe"), "baseline `dpe` is not one of the arms"),
        (study_config(arms=["no-depth", "estimated"]), "depth_model"),
        (study_config(arms=["no-depth", "alpha-7"]), "unknown arm `alpha-7`"),
        (dict(study_config(), seedz=[1]), "unknown field `seedz`"),
    ]
    for cfg, message in cases:
        path = tmp_path / "c.json"
        path.write_text(json.dumps(cfg))
        result = msmu("ablate", "--config", path, "--out", tmp_path / "o", check=False)
        assert result.returncode != 0
        assert message in result.stderr, result.stderr


def test_the_estimated_arm_runs_on_depth_anything(study, tmp_path):
    """The `estimated` arm trains and predicts on Depth-Anything-V2 depth (a tiny random model
    made by transformers), on the first study's scenes (a `scannet` root)."""
    from test_depth_anything import build_hf, processor

    _, first = study
    model_dir = tmp_path / "da"
    build_hf("relative", seed=3).save_pretrained(model_dir)
    processor().save_pretrained(model_dir)
    cfg = study_config(scenes={"scannet": {"root": str(first / "scenes")}},
                       arms=["estimated"], baseline="estimated", depth_model=str(model_dir))
    config = tmp_path / "study.json"
    config.write_text(json.dumps(cfg))
    out = tmp_path / "out"
    msmu("ablate", "--config", config, "--out", out)
    run = run_dir(out, "estimated")
    record = read_json(run / "msmu_train.json")
    assert record["depth"]["source"] == "estimated-relative", record
    header = json.loads((run / "pred.jsonl").read_text().splitlines()[0])
    assert "estimated-relative" in header["depth"], header
    analysis = read_json(out / "report.json")["analysis"]
    assert [a["arm"] for a in analysis["arms"]] == ["estimated"] and analysis["differences"] == []
    assert not (out / "scenes").exists()


def test_predict_refuses_another_fusion_than_the_adapters(study, tmp_path):
    _, out = study
    run = run_dir(out, "concat")
    args = ["predict", "--model", run, "--adapter", run, "--bench", out / "data",
            "--out", tmp_path / "p.jsonl", "--limit", "1", "--max-new-tokens", "2"]
    result = msmu(*args, "--depth-fusion", "add", check=False)
    assert result.returncode != 0
    assert "--depth-fusion concat" in result.stderr, result.stderr
    msmu(*args, "--depth-fusion", "add", "--allow-depth-mismatch")
