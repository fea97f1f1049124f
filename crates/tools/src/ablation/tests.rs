use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;

/// `(id, family, success)`.
type Spec<'a> = (&'a str, &'a str, bool);

/// Writes a run folder as `msmu train` / `msmu eval --json --per-item` would: the eval report
/// is computed from `items`; `items.jsonl` also gets an unmatched and a `no_truth` line.
fn write_run(dir: &Path, items: &[Spec<'_>], losses: &[(u64, f64, Option<f64>)]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut metrics = String::new();
    for &(step, loss, eval) in losses {
        let mut v = json!({"step": step, "loss": loss, "lr": 2e-4, "grad_norm": 1.0,
            "tokens_per_s": 900.0, "epoch": 0, "elapsed_s": 1.5});
        if let Some(e) = eval {
            v["eval_loss"] = e.into();
        }
        metrics.push_str(&format!("{v}\n"));
    }
    std::fs::write(dir.join(METRICS_FILE), metrics).unwrap();

    let mut lines = String::new();
    let mut line = |v: serde_json::Value| lines.push_str(&format!("{v}\n"));
    line(
        json!({"index": 0, "line": 1, "id": null, "question": "q?", "family": null,
        "type": null, "status": "unmatched", "success": false, "success_2": false,
        "success_3": false, "delta": null, "rel_err": null, "gt_values": [], "pred_values": [],
        "gt_key": null, "pred_key": null, "pred": "?"}),
    );
    line(
        json!({"index": 1, "line": 2, "id": "nt", "question": "q?", "family": "count",
        "type": "count", "status": "no_truth", "success": false, "success_2": false,
        "success_3": false, "delta": null, "rel_err": null, "gt_values": [], "pred_values": [],
        "gt_key": null, "pred_key": null, "pred": "?"}),
    );
    for (k, &(id, family, success)) in items.iter().enumerate() {
        line(
            json!({"index": k + 2, "line": k + 3, "id": id, "question": "q?",
            "family": family, "type": "t", "status": if success { "ok" } else { "unparseable" },
            "success": success, "success_2": success, "success_3": success, "delta": null,
            "rel_err": null, "gt_values": [], "pred_values": [], "gt_key": null,
            "pred_key": null, "pred": "x"}),
        );
    }
    std::fs::write(dir.join(ITEMS_FILE), lines).unwrap();

    let mut fams = Vec::new();
    let mut rates = Vec::new();
    for f in Family::ALL {
        let name = f.scorer_name();
        let of: Vec<_> = items.iter().filter(|i| i.1 == name).collect();
        if of.is_empty() {
            continue;
        }
        let k = of.iter().filter(|i| i.2).count();
        let rate = 100.0 * k as f64 / of.len() as f64;
        rates.push(rate);
        fams.push(json!({"family": name, "n": of.len(), "success": rate,
            "success_1_25_sq": null, "success_1_25_cube": null,
            "mean_relative_error": null, "unparseable": of.len() - k}));
    }
    let average = rates.iter().sum::<f64>() / rates.len() as f64;
    let eval = json!({"model": "m", "bench_items": items.len() + 1,
        "predictions": items.len() + 2, "scored": items.len(), "average": average,
        "families_absent": [], "families": fams, "unmatched": [], "unparseable": [],
        "no_truth": 1, "bench_items_without_prediction": 0});
    std::fs::write(
        dir.join(EVAL_FILE),
        serde_json::to_string_pretty(&eval).unwrap(),
    )
    .unwrap();
    dir.to_path_buf()
}

fn losses() -> Vec<(u64, f64, Option<f64>)> {
    vec![
        (10, 3.0, None),
        (20, 2.5, Some(2.8)),
        (30, 2.0, None),
        (40, 1.5, Some(2.2)),
    ]
}

/// A test set: `n` items of each of three families; `ok(family index, item index)` decides
/// the success.
fn items(n: usize, ok: impl Fn(usize, usize) -> bool) -> Vec<(String, &'static str, bool)> {
    let families = ["existence", "count", "scale_estimation"];
    let mut out = Vec::new();
    for (f, family) in families.iter().enumerate() {
        for i in 0..n {
            out.push((format!("scene{f:04}_00#{i}"), *family, ok(f, i)));
        }
    }
    out
}

fn run(root: &Path, arm: &str, seed: u64, items: &[(String, &'static str, bool)]) -> RunResult {
    let spec: Vec<Spec<'_>> = items.iter().map(|(i, f, s)| (i.as_str(), *f, *s)).collect();
    let dir = write_run(&root.join(format!("{arm}-{seed}")), &spec, &losses());
    read_run(&dir, arm, seed).unwrap()
}

fn arms(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn read_run_parses_the_three_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_run(
        tmp.path(),
        &[
            ("a", "count", true),
            ("b", "count", false),
            ("c", "existence", true),
        ],
        &[(10, 3.0, None), (20, 2.0, Some(2.5)), (30, 1.0, None)],
    );
    // A resumed run logs steps 20 and 30 again: the last occurrences count.
    let mut log = std::fs::read_to_string(dir.join(METRICS_FILE)).unwrap();
    log.push_str("{\"step\": 20, \"loss\": 2.2, \"eval_loss\": 2.4}\n\n");
    log.push_str("{\"step\": 30, \"loss\": 1.1, \"eval_loss\": null}\n");
    std::fs::write(dir.join(METRICS_FILE), log).unwrap();
    let r = read_run(&dir, "dpe", 7).unwrap();
    assert_eq!((r.arm.as_str(), r.seed), ("dpe", 7));
    let steps: Vec<(u64, f64, Option<f64>)> = r
        .losses
        .iter()
        .map(|p| (p.step, p.loss, p.eval_loss))
        .collect();
    assert_eq!(
        steps,
        vec![(10, 3.0, None), (20, 2.2, Some(2.4)), (30, 1.1, None)]
    );
    assert_eq!(r.families.len(), 2);
    assert_eq!(
        r.families["count"],
        FamilyScore {
            n: 2,
            success_pct: 50.0
        }
    );
    assert_eq!(
        r.families["existence"],
        FamilyScore {
            n: 1,
            success_pct: 100.0
        }
    );
    assert_eq!(r.average_pct, 75.0);
    // The unmatched and no_truth lines are not scored.
    let ids: Vec<&str> = r.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
}

#[test]
fn read_run_rejects_a_doctored_eval_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_run(
        tmp.path(),
        &[
            ("a", "count", true),
            ("b", "count", false),
            ("c", "existence", true),
        ],
        &losses(),
    );
    read_run(&dir, "x", 0).unwrap();
    let original = std::fs::read_to_string(dir.join(EVAL_FILE)).unwrap();
    let doctor = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&original).unwrap();
        edit(&mut v);
        std::fs::write(dir.join(EVAL_FILE), v.to_string()).unwrap();
        let err = format!("{:#}", read_run(&dir, "x", 0).unwrap_err());
        assert!(err.contains("eval.json"), "{err}");
        err
    };
    let count = |v: &mut serde_json::Value| -> usize {
        v["families"]
            .as_array()
            .unwrap()
            .iter()
            .position(|f| f["family"] == "count")
            .unwrap()
    };
    let err = doctor(&|v| {
        let k = count(v);
        v["families"][k]["success"] = (50.0 + 1e-6).into();
    });
    assert!(err.contains("success"), "{err}");
    let err = doctor(&|v| {
        let k = count(v);
        v["families"][k]["n"] = 3.into();
    });
    assert!(err.contains("n = 3"), "{err}");
    let err = doctor(&|v| v["average"] = 74.0.into());
    assert!(err.contains("average"), "{err}");
    // A family the items have but the report does not list.
    let err = doctor(&|v| {
        let k = count(v);
        v["families"].as_array_mut().unwrap().remove(k);
        v["average"] = 100.0.into();
    });
    assert!(err.contains("does not list"), "{err}");
    // Within 1e-9 relative is accepted.
    let mut v: serde_json::Value = serde_json::from_str(&original).unwrap();
    let k = count(&mut v);
    v["families"][k]["success"] = (50.0 * (1.0 + 1e-12)).into();
    std::fs::write(dir.join(EVAL_FILE), v.to_string()).unwrap();
    read_run(&dir, "x", 0).unwrap();
}

#[test]
fn read_run_errors_name_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_run(tmp.path(), &[("a", "count", true)], &losses());
    let good_metrics = std::fs::read_to_string(dir.join(METRICS_FILE)).unwrap();
    std::fs::write(
        dir.join(METRICS_FILE),
        "{\"step\": 1, \"loss\": 2.0}\n{\"step\": 2, \"loss\"\n",
    )
    .unwrap();
    let err = format!("{:#}", read_run(&dir, "x", 0).unwrap_err());
    assert!(err.contains("metrics.jsonl: line 2"), "{err}");
    std::fs::write(dir.join(METRICS_FILE), "{\"step\": 1, \"loss\": null}\n").unwrap();
    let err = format!("{:#}", read_run(&dir, "x", 0).unwrap_err());
    assert!(
        err.contains("metrics.jsonl: line 1") && err.contains("loss"),
        "{err}"
    );
    std::fs::write(dir.join(METRICS_FILE), "\n").unwrap();
    let err = format!("{:#}", read_run(&dir, "x", 0).unwrap_err());
    assert!(err.contains("no training step"), "{err}");
    std::fs::write(dir.join(METRICS_FILE), good_metrics).unwrap();

    let mut items = std::fs::read_to_string(dir.join(ITEMS_FILE)).unwrap();
    items.push_str(
        "{\"id\": \"z\", \"family\": \"counting_things\", \"status\": \"ok\", \"success\": true}\n",
    );
    std::fs::write(dir.join(ITEMS_FILE), &items).unwrap();
    let err = format!("{:#}", read_run(&dir, "x", 0).unwrap_err());
    assert!(
        err.contains("items.jsonl: line 4") && err.contains("counting_things"),
        "{err}"
    );
    std::fs::write(dir.join(ITEMS_FILE), "not json\n").unwrap();
    let err = format!("{:#}", read_run(&dir, "x", 0).unwrap_err());
    assert!(err.contains("items.jsonl: line 1"), "{err}");
    std::fs::remove_file(dir.join(EVAL_FILE)).unwrap();
    let err = format!("{:#}", read_run(&dir, "x", 0).unwrap_err());
    assert!(err.contains("eval.json"), "{err}");
}

fn two_arm_runs(root: &Path) -> Vec<RunResult> {
    let mut runs = Vec::new();
    for seed in [1, 2, 3] {
        let base = items(20, |f, i| (i * 7 + f * 3 + seed as usize) % 5 < 2);
        let better = items(20, |f, i| (i * 7 + f * 3 + seed as usize) % 5 < 3);
        runs.push(run(root, "no-depth", seed, &base));
        runs.push(run(root, "dpe", seed, &better));
    }
    runs
}

#[test]
fn bootstrap_is_deterministic_and_cis_contain_the_mean() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = two_arm_runs(tmp.path());
    let names = arms(&["no-depth", "dpe"]);
    let a = analyse(&runs, &names, "no-depth", 500, 42).unwrap();
    let b = analyse(&runs, &names, "no-depth", 500, 42).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_markdown(), b.to_markdown());
    assert_eq!(a.to_json().to_string(), b.to_json().to_string());
    // The input order of the runs does not matter.
    let mut reversed = runs.clone();
    reversed.reverse();
    assert_eq!(analyse(&reversed, &names, "no-depth", 500, 42).unwrap(), a);
    // Another seed draws other replicates.
    let c = analyse(&runs, &names, "no-depth", 500, 43).unwrap();
    assert_ne!(a.arms[0].average.lo, c.arms[0].average.lo);
    assert_eq!(a.arms[0].average.mean, c.arms[0].average.mean);

    assert_eq!(a.families, ["existence", "count", "scale_estimation"]);
    for arm in &a.arms {
        assert_eq!(arm.seeds, [1, 2, 3]);
        let all = std::iter::once(&arm.average).chain(arm.families.iter().map(|f| &f.estimate));
        for e in all {
            assert!(e.lo <= e.mean && e.mean <= e.hi, "{e:?}");
            assert!(e.lo < e.hi, "{e:?}");
        }
        for f in &arm.families {
            assert_eq!(f.n, [20, 20, 20]);
        }
    }
    // Point estimates: means over seeds of eval.json's numbers.
    let mean_of = |arm: &str, f: &str| {
        let v: Vec<f64> = runs
            .iter()
            .filter(|r| r.arm == arm)
            .map(|r| r.families[f].success_pct)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert_eq!(a.arms[1].families[1].estimate.mean, mean_of("dpe", "count"));
    assert!((a.arms[0].average.mean - 40.0).abs() < 1e-9);
    assert!((a.arms[1].average.mean - 60.0).abs() < 1e-9);
    let d = &a.differences[0];
    assert_eq!(d.arm, "dpe");
    assert!((d.average.mean - 20.0).abs() < 1e-9);
    assert!(d.average.lo > 0.0 && d.average.lo <= d.average.mean && d.average.mean <= d.average.hi);
    // Every item of dpe is at least as good as no-depth's: no replicate is below 0.
    assert!(d.average.p_le_0 < 0.01, "{:?}", d.average);
    // Final losses: the last logged ones.
    assert_eq!(a.arms[0].final_loss, 1.5);
    assert_eq!(a.arms[0].final_eval_loss, Some(2.2));
    assert_eq!(a.arms[0].eval_loss_seeds, 3);
}

#[test]
fn seeds_are_resampled_and_one_seed_resamples_items_only() {
    let tmp = tempfile::tempdir().unwrap();
    // Seed 1 succeeds everywhere, seed 2 nowhere: replicates drawing one seed twice give 0
    // or 100.
    let runs = vec![
        run(tmp.path(), "a", 1, &items(10, |_, _| true)),
        run(tmp.path(), "a", 2, &items(10, |_, _| false)),
    ];
    let an = analyse(&runs, &arms(&["a"]), "a", 400, 5).unwrap();
    let avg = &an.arms[0].average;
    assert_eq!((avg.mean, avg.lo, avg.hi), (50.0, 0.0, 100.0));
    // One seed, all successes: items only, nothing varies.
    let an = analyse(&runs[..1], &arms(&["a"]), "a", 400, 5).unwrap();
    let avg = &an.arms[0].average;
    assert_eq!((avg.mean, avg.lo, avg.hi), (100.0, 100.0, 100.0));
    // One seed, mixed items: the items vary.
    let mixed = vec![run(tmp.path(), "b", 1, &items(30, |_, i| i % 2 == 0))];
    let an = analyse(&mixed, &arms(&["b"]), "b", 400, 5).unwrap();
    let e = &an.arms[0].families[0].estimate;
    assert!(e.lo < 50.0 && e.hi > 50.0 && e.hi - e.lo > 10.0, "{e:?}");
}

#[test]
fn identical_arms_differ_by_exactly_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for seed in [0, 1] {
        let it = items(15, |f, i| (i + f + seed as usize) % 3 == 0);
        runs.push(run(tmp.path(), "base", seed, &it));
        runs.push(run(tmp.path(), "same", seed, &it));
    }
    // The same items in another order: pairing is by id, not position.
    runs[1].items.reverse();
    runs[3].items.rotate_left(7);
    let an = analyse(&runs, &arms(&["base", "same"]), "base", 300, 1).unwrap();
    let d = &an.differences[0];
    let all = std::iter::once(&d.average).chain(d.families.iter().map(|f| &f.difference));
    for x in all {
        assert_eq!(
            (x.mean, x.lo, x.hi, x.p_le_0),
            (0.0, 0.0, 0.0, 1.0),
            "{x:?}"
        );
    }
    assert!(an.to_markdown().contains("+0.0 [+0.0, +0.0] p=1.000"));
}

#[test]
fn all_successes_vs_all_failures_is_plus_100() {
    let tmp = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for seed in [3, 4] {
        runs.push(run(tmp.path(), "bad", seed, &items(8, |_, _| false)));
        runs.push(run(tmp.path(), "good", seed, &items(8, |_, _| true)));
    }
    // The arm's items in another order: pairing is by id, not position.
    runs[3].items.reverse();
    let an = analyse(&runs, &arms(&["good", "bad"]), "bad", 200, 9).unwrap();
    assert_eq!(an.differences.len(), 1);
    let d = &an.differences[0];
    assert_eq!(d.arm, "good");
    assert_eq!(d.seeds, [3, 4]);
    let all = std::iter::once(&d.average).chain(d.families.iter().map(|f| &f.difference));
    for x in all {
        assert_eq!(
            (x.mean, x.lo, x.hi, x.p_le_0),
            (100.0, 100.0, 100.0, 0.0),
            "{x:?}"
        );
    }
    assert_eq!(d.families[0].n, [8, 8]);
}

#[test]
fn pairing_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let it = items(5, |_, i| i % 2 == 0);
    let base = [
        run(tmp.path(), "base", 1, &it),
        run(tmp.path(), "base", 2, &it),
    ];
    let arm1 = run(tmp.path(), "arm", 1, &it);
    let arm2 = run(tmp.path(), "arm", 2, &it);
    let names = arms(&["base", "arm"]);

    // The arm lacks the baseline's seed 2.
    let runs = vec![base[0].clone(), base[1].clone(), arm1.clone()];
    let err = analyse(&runs, &names, "base", 50, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("arm") && err.contains("seed 2"), "{err}");

    // An extra seed of the arm is not paired.
    let arm3 = run(tmp.path(), "arm", 3, &it);
    let runs = vec![
        base[0].clone(),
        base[1].clone(),
        arm1.clone(),
        arm2.clone(),
        arm3,
    ];
    let an = analyse(&runs, &names, "base", 50, 0).unwrap();
    assert_eq!(an.differences[0].seeds, [1, 2]);
    assert_eq!(an.arms[1].seeds, [1, 2, 3]);

    // An item the baseline lacks.
    let mut other = it.clone();
    other[0].0 = "elsewhere#0".into();
    let runs = vec![
        base[0].clone(),
        base[1].clone(),
        arm1.clone(),
        run(tmp.path(), "arm", 2, &other),
    ];
    let err = analyse(&runs, &names, "base", 50, 0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("elsewhere#0") && err.contains("seed 2"),
        "{err}"
    );

    // An item of the baseline the arm lacks.
    let runs = vec![
        base[0].clone(),
        base[1].clone(),
        arm1.clone(),
        run(tmp.path(), "arm", 2, &it[1..]),
    ];
    let err = analyse(&runs, &names, "base", 50, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("lacks item"), "{err}");

    // Unknown baseline, unlisted arm, duplicate run, no replicate, an arm without runs.
    let runs = vec![base[0].clone(), arm1.clone()];
    assert!(analyse(&runs, &names, "nope", 50, 0).is_err());
    assert!(analyse(&runs, &arms(&["base"]), "base", 50, 0).is_err());
    assert!(analyse(
        &[base[0].clone(), base[0].clone()],
        &arms(&["base"]),
        "base",
        50,
        0
    )
    .is_err());
    assert!(analyse(&runs, &names, "base", 0, 0).is_err());
    let err = analyse(&runs[..1], &names, "base", 50, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("arm arm has no run"), "{err}");

    // Hand-made runs whose items disagree with their scores.
    let mut bad = arm1.clone();
    bad.items[0].success = !bad.items[0].success;
    let err = analyse(&[base[0].clone(), bad], &names, "base", 50, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("arm arm seed 1"), "{err}");
}

#[test]
fn markdown_and_json_report_every_number() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = two_arm_runs(tmp.path());
    let an = analyse(&runs, &arms(&["no-depth", "dpe"]), "no-depth", 200, 3).unwrap();
    let md = an.to_markdown();
    let header = "| arm | seeds | average | existence | count | scale_estimation | grounding | \
                  relative_position | absolute_distance | scale_compare | refer_obj_estimation |";
    assert!(md.contains(header), "{md}");
    assert!(md.contains("| `no-depth` | 1, 2, 3 | 40.0 ["), "{md}");
    assert!(
        md.contains("| *items per seed* | | 60 | 20 | 20 | 20 | - | - | - | - | - |"),
        "{md}"
    );
    assert!(md.contains("### Paired differences vs `no-depth`"), "{md}");
    assert!(md.contains("| `dpe` | 1, 2, 3 | +20.0 ["), "{md}");
    assert!(md.contains("| `dpe` | 1, 2, 3 | 1.5000 | 2.2000 |"), "{md}");
    let j = an.to_json();
    assert_eq!(j["baseline"], "no-depth");
    assert_eq!(j["n_boot"], 200);
    assert_eq!(j["arms"][1]["arm"], "dpe");
    assert_eq!(j["arms"][1]["families"][0]["family"], "existence");
    assert_eq!(j["arms"][1]["families"][0]["n"], json!([20, 20, 20]));
    assert_eq!(j["arms"][0]["average"]["lo"], an.arms[0].average.lo);
    assert_eq!(
        j["differences"][0]["families"][2]["p_le_0"],
        an.differences[0].families[2].difference.p_le_0
    );
    assert_eq!(j["arms"][0]["final_eval_loss"], 2.2);
}

fn assert_png(path: &Path) {
    let img = image::open(path).unwrap().to_rgb8();
    assert!(img.width() >= 900 && img.height() >= 500);
    let coloured = img
        .pixels()
        .filter(|p| {
            let [r, g, b] = p.0;
            r.abs_diff(g) > 40 || g.abs_diff(b) > 40 || r.abs_diff(b) > 40
        })
        .count();
    assert!(
        coloured > 100,
        "{}: {coloured} coloured pixels",
        path.display()
    );
}

#[test]
fn plots_are_valid_pngs() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = two_arm_runs(tmp.path());
    let names = arms(&["no-depth", "dpe"]);
    let an = analyse(&runs, &names, "no-depth", 100, 3).unwrap();
    let losses_png = tmp.path().join("losses.png");
    let families_png = tmp.path().join("families.png");
    plot_losses(&runs, &names, &losses_png).unwrap();
    plot_families(&an, &families_png).unwrap();
    assert_png(&losses_png);
    assert_png(&families_png);
    // A run of an arm not listed is an error, not silently left out.
    assert!(plot_losses(&runs, &arms(&["dpe"]), &tmp.path().join("x.png")).is_err());
    // One logged point per run, no eval loss: still a chart.
    let mut single = runs[0].clone();
    single.losses.truncate(1);
    single.losses[0].eval_loss = None;
    plot_losses(&[single], &names, &losses_png).unwrap();
    image::open(&losses_png).unwrap();
}
