//! `msmu train` and `msmu predict` end to end on the fixture shards (`fixtures/shards`, made by
//! `msmu build`): the tiny preset lowers the loss, a run stopped and resumed continues exactly
//! as the uninterrupted one, and the trained folder loads again for prediction.
#![cfg(feature = "train")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn msmu() -> Command {
    Command::new(env!("CARGO_BIN_EXE_msmu"))
}

fn shards() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/shards");
    assert!(
        dir.join("data").exists(),
        "no fixture shards: run `make train-fixtures`"
    );
    dir
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("msmu runs");
    assert!(
        out.status.success(),
        "{:?} failed:\n{}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn train(out: &Path, extra: &[&str]) {
    let mut cmd = msmu();
    cmd.args(["train", "--preset", "tiny", "--data"])
        .arg(shards())
        .arg("--out")
        .arg(out);
    cmd.args([
        "--batch-size",
        "2",
        "--lora-r",
        "8",
        "--lora-alpha",
        "16",
        "--seed",
        "5",
    ]);
    cmd.args(extra);
    run(&mut cmd);
}

fn losses(out: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap())
        })
        .collect()
}

#[test]
fn tiny_preset_learns_and_predicts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    train(
        &out,
        &[
            "--max-steps",
            "150",
            "--lr",
            "2e-3",
            "--projector-lr",
            "1e-3",
            "--eval-every",
            "75",
            "--eval-rows",
            "2",
        ],
    );
    let l = losses(&out);
    assert_eq!(l.len(), 150);
    let head: f64 = l[..10].iter().map(|x| x.1).sum::<f64>() / 10.0;
    let tail: f64 = l[l.len() - 10..].iter().map(|x| x.1).sum::<f64>() / 10.0;
    assert!(tail < 0.6 * head, "loss {head:.3} -> {tail:.3}");
    for f in [
        "adapter_model.safetensors",
        "adapter_config.json",
        "projector.safetensors",
        "optimizer.safetensors",
        "trainer_state.json",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "msmu_train.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let preds = tmp.path().join("preds.jsonl");
    run(msmu()
        .args([
            "predict",
            "--max-new-tokens",
            "24",
            "--limit",
            "2",
            "--model",
        ])
        .arg(&out)
        .arg("--adapter")
        .arg(&out)
        .arg("--bench")
        .arg(shards())
        .arg("--out")
        .arg(&preds));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let id = line["id"].as_str().unwrap();
        assert!(id.contains('#'), "{id}");
        assert!(line["question"].as_str().is_some_and(|q| !q.is_empty()));
        assert!(line["pred"].is_string());
    }
    // `msmu eval` scores the predictions against the same bench: every prediction is matched
    // to a bench item by id, and each lands in a family with a score.
    let out = msmu()
        .arg("eval")
        .arg("--bench")
        .arg(shards())
        .arg("--pred")
        .arg(&preds)
        .arg("--json")
        .output()
        .expect("msmu eval runs");
    assert!(
        out.status.success(),
        "msmu eval failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["predictions"].as_u64(), Some(lines.len() as u64));
    assert_eq!(
        report["unmatched"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    let scored = report["scored"].as_u64().unwrap();
    let unparseable = report["unparseable"].as_array().map_or(0, Vec::len) as u64;
    assert_eq!(
        scored,
        lines.len() as u64,
        "every prediction is scored ({unparseable} unparseable count as failures): {report}"
    );
    let average = report["average"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&average), "{report}");
}

#[test]
fn resumed_run_continues_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let straight = tmp.path().join("straight");
    let split = tmp.path().join("split");
    train(&straight, &["--max-steps", "6"]);
    train(&split, &["--max-steps", "6", "--stop-at-step", "3"]);
    assert_eq!(losses(&split).len(), 3);
    train(&split, &["--max-steps", "6", "--resume"]);
    assert_eq!(losses(&straight), losses(&split));
    for f in [
        "adapter_model.safetensors",
        "projector.safetensors",
        "optimizer.safetensors",
    ] {
        let a = std::fs::read(straight.join(f)).unwrap();
        let b = std::fs::read(split.join(f)).unwrap();
        assert!(a == b, "{f} differs after resume");
    }
}
