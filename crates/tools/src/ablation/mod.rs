//! Analysis and report of an ablation study: several model arms (`no-depth`, `dpe`, ...),
//! each trained with several seeds and scored on the test split by `msmu eval`.
//!
//! Every (arm, seed) run is a folder with the training log [`METRICS_FILE`], the
//! `msmu eval --json` report [`EVAL_FILE`] and the `msmu eval --per-item` results
//! [`ITEMS_FILE`]. [`read_run`] parses them and checks that the per-item successes reproduce
//! the report's counts, rates and average, so every number here comes from the scorer and is
//! cross-checked. [`analyse`] gives per arm and family the mean over seeds with a 95% CI from
//! a hierarchical percentile bootstrap (seeds, then items within each seed), and the paired
//! difference of every arm against a baseline (items paired by id, seeds by seed number);
//! [`Analysis::to_markdown`] / [`Analysis::to_json`] report it and [`plot_losses`] /
//! [`plot_families`] draw it. Everything is deterministic: the bootstrap draws from ChaCha8
//! seeded by the caller.

mod plots;
#[cfg(test)]
mod tests;

pub use plots::{plot_families, plot_losses};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use msmu_data::qa::Family;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The training log of a run: one JSON object per line (`step`, `loss`, optional `eval_loss`).
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The `msmu eval --json` report of a run.
pub const EVAL_FILE: &str = "eval.json";
/// The `msmu eval --per-item` results of a run.
pub const ITEMS_FILE: &str = "items.jsonl";

/// Relative tolerance of the cross-checks between `eval.json` and `items.jsonl`.
const TOLERANCE: f64 = 1e-9;

/// One logged training step (the last occurrence of the step in the log).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LossPoint {
    pub step: u64,
    pub loss: f64,
    /// Held-out loss, on the steps that computed it.
    pub eval_loss: Option<f64>,
}

/// One family's line of `eval.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FamilyScore {
    /// Scored items.
    pub n: usize,
    /// Success rate in percent (0-100).
    pub success_pct: f64,
}

/// One scored item of `items.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Item {
    pub id: String,
    /// Scorer name of the family (`count`, `scale_compare`, ...).
    pub family: String,
    pub success: bool,
}

/// Everything read from one (arm, seed) run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunResult {
    pub arm: String,
    pub seed: u64,
    /// Sorted by step, one point per step.
    pub losses: Vec<LossPoint>,
    /// Keyed by the family's scorer name; only families with scored items.
    pub families: BTreeMap<String, FamilyScore>,
    /// `eval.json`'s `average`: unweighted mean of the family success rates, in percent.
    pub average_pct: f64,
    /// The scored items in file order (unmatched and `no_truth` items are left out).
    pub items: Vec<Item>,
}

/// A point estimate with its 95% bootstrap CI, in percent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

/// One family of one arm.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FamilyEstimate {
    /// Scorer name.
    pub family: String,
    /// Scored items of each seed, in seed order.
    pub n: Vec<usize>,
    #[serde(flatten)]
    pub estimate: Estimate,
}

/// The results of one arm.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArmSummary {
    pub arm: String,
    /// Ascending.
    pub seeds: Vec<u64>,
    /// Mean over seeds of `eval.json`'s `average`.
    pub average: Estimate,
    /// The families the arm scored, in [`Family::ALL`] order.
    pub families: Vec<FamilyEstimate>,
    /// Mean over seeds of the last logged training loss.
    pub final_loss: f64,
    /// Mean over the seeds that logged one of the last held-out loss.
    pub final_eval_loss: Option<f64>,
    /// How many seeds logged a held-out loss.
    pub eval_loss_seeds: usize,
}

/// A paired difference (arm - baseline) in percentage points with its 95% bootstrap CI.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Difference {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    /// Fraction of bootstrap replicates <= 0: a one-sided p-value for "arm > baseline".
    pub p_le_0: f64,
}

/// One family of a paired comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FamilyDifference {
    pub family: String,
    /// Paired items per seed, in seed order.
    pub n: Vec<usize>,
    #[serde(flatten)]
    pub difference: Difference,
}

/// One arm against the baseline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArmDifference {
    pub arm: String,
    /// The baseline's seeds, the ones paired (extra seeds of the arm are not used).
    pub seeds: Vec<u64>,
    pub average: Difference,
    pub families: Vec<FamilyDifference>,
}

/// The result of [`analyse`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analysis {
    pub baseline: String,
    /// Bootstrap replicates.
    pub n_boot: usize,
    /// Seed of the bootstrap's ChaCha8 generator.
    pub seed: u64,
    /// The families any arm scored, in [`Family::ALL`] order.
    pub families: Vec<String>,
    /// In report order.
    pub arms: Vec<ArmSummary>,
    /// Every arm but the baseline, in report order.
    pub differences: Vec<ArmDifference>,
}

/// Reads `dir/`[`METRICS_FILE`], [`EVAL_FILE`] and [`ITEMS_FILE`] of one run and checks that
/// the per-item successes reproduce `eval.json`'s `n`, `success` and `average`.
pub fn read_run(dir: &Path, arm: &str, seed: u64) -> anyhow::Result<RunResult> {
    let metrics_path = dir.join(METRICS_FILE);
    let eval_path = dir.join(EVAL_FILE);
    let items_path = dir.join(ITEMS_FILE);
    let losses = read_losses(&metrics_path)?;
    let (families, average_pct) = read_eval(&eval_path)?;
    let items = read_items(&items_path)?;
    check_consistency(
        &families,
        average_pct,
        &items,
        &eval_path.display().to_string(),
        &items_path.display().to_string(),
    )?;
    Ok(RunResult {
        arm: arm.to_string(),
        seed,
        losses,
        families,
        average_pct,
        items,
    })
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The scorer name of a family, checked.
fn family_name(name: &str) -> Option<&'static str> {
    Family::ALL
        .iter()
        .map(Family::scorer_name)
        .find(|f| *f == name)
}

#[derive(Deserialize)]
struct MetricsLine {
    step: Option<u64>,
    loss: Option<f64>,
    eval_loss: Option<f64>,
}

fn read_losses(path: &Path) -> anyhow::Result<Vec<LossPoint>> {
    let text = read_text(path)?;
    let mut by_step = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("{}: line {}", path.display(), i + 1);
        let m: MetricsLine = serde_json::from_str(line)
            .with_context(|| format!("{}: not a training-log JSON object", at()))?;
        let Some(step) = m.step else {
            bail!("{}: no integer \"step\"", at());
        };
        let Some(loss) = m.loss else {
            bail!(
                "{}: \"loss\" is missing or null (a non-finite loss is logged as null)",
                at()
            );
        };
        // A resumed run logs the steps after its checkpoint again: the last one counts.
        by_step.insert(
            step,
            LossPoint {
                step,
                loss,
                eval_loss: m.eval_loss,
            },
        );
    }
    if by_step.is_empty() {
        bail!("{}: no training step logged", path.display());
    }
    Ok(by_step.into_values().collect())
}

#[derive(Deserialize)]
struct EvalJson {
    average: Option<f64>,
    families: Vec<EvalFamily>,
}

#[derive(Deserialize)]
struct EvalFamily {
    family: String,
    n: usize,
    success: Option<f64>,
}

fn read_eval(path: &Path) -> anyhow::Result<(BTreeMap<String, FamilyScore>, f64)> {
    let text = read_text(path)?;
    let eval: EvalJson = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an `msmu eval --json` report", path.display()))?;
    let mut families = BTreeMap::new();
    for f in eval.families {
        let Some(name) = family_name(&f.family) else {
            bail!("{}: unknown family {:?}", path.display(), f.family);
        };
        let Some(success) = f.success.filter(|s| s.is_finite()) else {
            bail!(
                "{}: family {name}: \"success\" is missing or null",
                path.display()
            );
        };
        if f.n == 0 {
            continue;
        }
        let score = FamilyScore {
            n: f.n,
            success_pct: success,
        };
        if families.insert(name.to_string(), score).is_some() {
            bail!("{}: family {name} is listed twice", path.display());
        }
    }
    let Some(average) = eval.average.filter(|a| a.is_finite()) else {
        bail!(
            "{}: \"average\" is null: no family was scored",
            path.display()
        );
    };
    if families.is_empty() {
        bail!("{}: no family was scored", path.display());
    }
    Ok((families, average))
}

#[derive(Deserialize)]
struct ItemLine {
    id: Option<String>,
    family: Option<String>,
    status: String,
    success: bool,
}

fn read_items(path: &Path) -> anyhow::Result<Vec<Item>> {
    let text = read_text(path)?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("{}: line {}", path.display(), i + 1);
        let r: ItemLine = serde_json::from_str(line)
            .with_context(|| format!("{}: not an `msmu eval --per-item` line", at()))?;
        // Unmatched items have no family; `no_truth` ones are not scored by `msmu eval`.
        let Some(family) = r.family else { continue };
        if matches!(r.status.as_str(), "unmatched" | "no_truth") {
            continue;
        }
        let Some(family) = family_name(&family) else {
            bail!("{}: unknown family {family:?}", at());
        };
        let Some(id) = r.id else {
            bail!(
                "{}: scored item without an \"id\" (items are paired across arms by id)",
                at()
            );
        };
        items.push(Item {
            id,
            family: family.to_string(),
            success: r.success,
        });
    }
    Ok(items)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

/// Checks that `items` reproduce `families` and `average`; `eval` and `items_name` name their
/// sources in the errors.
fn check_consistency(
    families: &BTreeMap<String, FamilyScore>,
    average: f64,
    items: &[Item],
    eval: &str,
    items_name: &str,
) -> anyhow::Result<()> {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for item in items {
        let c = counts.entry(item.family.as_str()).or_default();
        c.0 += 1;
        c.1 += usize::from(item.success);
    }
    for (family, (n, _)) in &counts {
        if !families.contains_key(*family) {
            bail!(
                "{items_name} has {n} scored items of family {family}, which {eval} does not list"
            );
        }
    }
    if families.is_empty() {
        bail!("{eval}: no family was scored");
    }
    for (family, score) in families {
        let (n, k) = counts.get(family.as_str()).copied().unwrap_or((0, 0));
        if n != score.n || n == 0 {
            bail!(
                "{eval}: family {family}: n = {} but {items_name} has {n} scored items",
                score.n
            );
        }
        let rate = 100.0 * k as f64 / n as f64;
        if !close(rate, score.success_pct) {
            bail!(
                "{eval}: family {family}: success = {} but {items_name} gives {k} / {n} = {rate}",
                score.success_pct
            );
        }
    }
    let mean = families.values().map(|s| s.success_pct).sum::<f64>() / families.len() as f64;
    if !close(mean, average) {
        bail!("{eval}: average = {average} but the mean of its family success rates is {mean}");
    }
    Ok(())
}

/// A generator for one bootstrap task, its stream fixed by `key` so that a task's draws do not
/// depend on the other tasks or the report order.
fn rng_for(seed: u64, key: &[&str]) -> ChaCha8Rng {
    // FNV-1a over the key's parts, each followed by a 0 byte.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in key {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(h);
    rng
}

/// Replicates of a hierarchical bootstrap. `data[s][f]` holds the item values of seed `s`
/// and family `f` (0/1 successes, or paired differences in {-1, 0, 1}); every seed has every
/// family, non-empty. Each replicate draws the seeds with replacement (not with one seed),
/// then each drawn seed's items of each family with replacement; its family statistic is the
/// mean over drawn seeds of 100 x the items' mean, its average the mean over families.
/// Returns (per-family replicates, average replicates).
fn bootstrap(
    data: &[Vec<Vec<f64>>],
    n_boot: usize,
    rng: &mut ChaCha8Rng,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let k = data.len();
    let n_fam = data.first().map_or(0, Vec::len);
    let mut fam = vec![Vec::with_capacity(n_boot); n_fam];
    let mut avg = Vec::with_capacity(n_boot);
    let mut drawn = vec![0usize; k];
    for _ in 0..n_boot {
        if k > 1 {
            for d in drawn.iter_mut() {
                *d = rng.random_range(0..k);
            }
        }
        let mut sum = 0.0;
        for (f, reps) in fam.iter_mut().enumerate() {
            let mut acc = 0.0;
            for &s in &drawn {
                let values = &data[s][f];
                let n = values.len();
                let total: f64 = (0..n).map(|_| values[rng.random_range(0..n)]).sum();
                acc += 100.0 * total / n as f64;
            }
            let stat = acc / k as f64;
            reps.push(stat);
            sum += stat;
        }
        avg.push(sum / n_fam.max(1) as f64);
    }
    (fam, avg)
}

/// The `q`-quantile of `v` (linear interpolation between order statistics); sorts `v`.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

fn estimate(mean: f64, reps: &mut [f64]) -> Estimate {
    Estimate {
        mean,
        lo: quantile(reps, 0.025),
        hi: quantile(reps, 0.975),
    }
}

fn difference(mean: f64, reps: &mut [f64]) -> Difference {
    let p_le_0 = reps.iter().filter(|d| **d <= 0.0).count() as f64 / reps.len().max(1) as f64;
    Difference {
        mean,
        lo: quantile(reps, 0.025),
        hi: quantile(reps, 0.975),
        p_le_0,
    }
}

fn mean(v: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = v
        .into_iter()
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    sum / n as f64
}

/// The families of a run in [`Family::ALL`] order.
fn run_families(run: &RunResult) -> Vec<&'static str> {
    Family::ALL
        .iter()
        .map(Family::scorer_name)
        .filter(|f| run.families.contains_key(*f))
        .collect()
}

/// The runs of one arm, by seed; checks they score the same families and agree with their
/// items. Returns the families.
fn arm_families(arm: &str, runs: &BTreeMap<u64, &RunResult>) -> anyhow::Result<Vec<&'static str>> {
    let mut families: Option<(u64, Vec<&'static str>)> = None;
    for (seed, run) in runs {
        let label = format!("arm {arm} seed {seed}");
        check_consistency(
            &run.families,
            run.average_pct,
            &run.items,
            &format!("the eval scores of {label}"),
            &format!("the items of {label}"),
        )?;
        let f = run_families(run);
        if run.families.len() != f.len() {
            bail!("{label}: unknown family in its scores");
        }
        match &families {
            None => families = Some((*seed, f)),
            Some((s0, f0)) if *f0 != f => {
                bail!("arm {arm}: seed {s0} scores families {f0:?} but seed {seed} scores {f:?}")
            }
            Some(_) => {}
        }
    }
    families
        .map(|(_, f)| f)
        .ok_or_else(|| anyhow::anyhow!("arm {arm} has no run"))
}

fn final_losses(
    arm: &str,
    runs: &BTreeMap<u64, &RunResult>,
) -> anyhow::Result<(f64, Option<f64>, usize)> {
    let mut train = Vec::new();
    let mut eval = Vec::new();
    for (seed, run) in runs {
        let Some(last) = run.losses.iter().max_by_key(|p| p.step) else {
            bail!("arm {arm} seed {seed}: no training loss logged");
        };
        train.push(last.loss);
        if let Some(e) = run
            .losses
            .iter()
            .filter_map(|p| p.eval_loss.map(|e| (p.step, e)))
            .max_by_key(|(s, _)| *s)
        {
            eval.push(e.1);
        }
    }
    let n_eval = eval.len();
    Ok((mean(train), (n_eval > 0).then(|| mean(eval)), n_eval))
}

fn summarise_arm(
    arm: &str,
    runs: &BTreeMap<u64, &RunResult>,
    n_boot: usize,
    seed: u64,
) -> anyhow::Result<ArmSummary> {
    let families = arm_families(arm, runs)?;
    let data: Vec<Vec<Vec<f64>>> = runs
        .values()
        .map(|run| {
            families
                .iter()
                .map(|f| {
                    run.items
                        .iter()
                        .filter(|i| i.family == *f)
                        .map(|i| f64::from(u8::from(i.success)))
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut rng = rng_for(seed, &["arm", arm]);
    let (mut fam_reps, mut avg_reps) = bootstrap(&data, n_boot, &mut rng);
    let family_estimates = families
        .iter()
        .zip(fam_reps.iter_mut())
        .map(|(f, reps)| {
            let point = mean(runs.values().map(|r| r.families[*f].success_pct));
            FamilyEstimate {
                family: f.to_string(),
                n: runs.values().map(|r| r.families[*f].n).collect(),
                estimate: estimate(point, reps),
            }
        })
        .collect();
    let (final_loss, final_eval_loss, eval_loss_seeds) = final_losses(arm, runs)?;
    Ok(ArmSummary {
        arm: arm.to_string(),
        seeds: runs.keys().copied().collect(),
        average: estimate(mean(runs.values().map(|r| r.average_pct)), &mut avg_reps),
        families: family_estimates,
        final_loss,
        final_eval_loss,
        eval_loss_seeds,
    })
}

/// Items by id; errors on a repeated id.
fn by_id<'a>(label: &str, run: &'a RunResult) -> anyhow::Result<HashMap<&'a str, &'a Item>> {
    let mut map = HashMap::with_capacity(run.items.len());
    for item in &run.items {
        if map.insert(item.id.as_str(), item).is_some() {
            bail!("{label}: item id {:?} is scored twice", item.id);
        }
    }
    Ok(map)
}

fn compare(
    arm: &str,
    runs: &BTreeMap<u64, &RunResult>,
    baseline: &str,
    base_runs: &BTreeMap<u64, &RunResult>,
    n_boot: usize,
    seed: u64,
) -> anyhow::Result<ArmDifference> {
    let families = arm_families(baseline, base_runs)?;
    let mut pairs = Vec::new();
    let mut data = Vec::new();
    for (s, base) in base_runs {
        let Some(run) = runs.get(s) else {
            bail!("arm {arm} has no run with seed {s}, which the baseline {baseline} has");
        };
        let base_label = format!("baseline {baseline} seed {s}");
        let label = format!("arm {arm} seed {s}");
        let base_ids = by_id(&base_label, base)?;
        let ids = by_id(&label, run)?;
        for item in &run.items {
            match base_ids.get(item.id.as_str()) {
                None => bail!(
                    "{label}: item {:?} is not among the items of {base_label}",
                    item.id
                ),
                Some(b) if b.family != item.family => bail!(
                    "{label}: item {:?} is of family {} but of {} in {base_label}",
                    item.id,
                    item.family,
                    b.family
                ),
                Some(_) => {}
            }
        }
        // Both id sets are duplicate-free and the arm's lie in the baseline's: compare sizes.
        if ids.len() != base_ids.len() {
            let missing = base
                .items
                .iter()
                .find(|i| !ids.contains_key(i.id.as_str()))
                .map_or_else(String::new, |i| i.id.clone());
            bail!(
                "{label} lacks item {missing:?} of {base_label} (the arms must share the test set)"
            );
        }
        let per_family: Vec<Vec<f64>> = families
            .iter()
            .map(|f| {
                base.items
                    .iter()
                    .filter(|b| b.family == *f)
                    .map(|b| {
                        let a = ids[b.id.as_str()];
                        f64::from(u8::from(a.success)) - f64::from(u8::from(b.success))
                    })
                    .collect()
            })
            .collect();
        data.push(per_family);
        pairs.push((*run, *base));
    }
    let mut rng = rng_for(seed, &["diff", arm, baseline]);
    let (mut fam_reps, mut avg_reps) = bootstrap(&data, n_boot, &mut rng);
    let family_diffs = families
        .iter()
        .zip(fam_reps.iter_mut())
        .map(|(f, reps)| {
            let point = mean(
                pairs
                    .iter()
                    .map(|(a, b)| a.families[*f].success_pct - b.families[*f].success_pct),
            );
            FamilyDifference {
                family: f.to_string(),
                n: pairs.iter().map(|(_, b)| b.families[*f].n).collect(),
                difference: difference(point, reps),
            }
        })
        .collect();
    let avg = mean(pairs.iter().map(|(a, b)| a.average_pct - b.average_pct));
    Ok(ArmDifference {
        arm: arm.to_string(),
        seeds: base_runs.keys().copied().collect(),
        average: difference(avg, &mut avg_reps),
        families: family_diffs,
    })
}

/// Analyses the runs of `arms` (report order; every run must belong to one of them, one run
/// per (arm, seed)) against `baseline`, with `n_boot` bootstrap replicates drawn by ChaCha8
/// seeded with `seed`. Point estimates are means over seeds of the `eval.json` numbers; the
/// CIs are 2.5 / 97.5 percentiles of a hierarchical bootstrap (seeds with replacement, then
/// items within each drawn seed). Differences pair items by id (every arm must have the
/// baseline's test set) and seeds by seed number (every arm must have the baseline's seeds);
/// a replicate draws the same seeds and items for both arms.
pub fn analyse(
    runs: &[RunResult],
    arms: &[String],
    baseline: &str,
    n_boot: usize,
    seed: u64,
) -> anyhow::Result<Analysis> {
    if n_boot == 0 {
        bail!("the bootstrap needs at least one replicate");
    }
    if arms.is_empty() {
        bail!("no arm to analyse");
    }
    let mut by_arm: BTreeMap<&str, BTreeMap<u64, &RunResult>> = BTreeMap::new();
    for arm in arms {
        if by_arm.insert(arm.as_str(), BTreeMap::new()).is_some() {
            bail!("arm {arm} is listed twice");
        }
    }
    if !by_arm.contains_key(baseline) {
        bail!("the baseline {baseline} is not among the arms {arms:?}");
    }
    for run in runs {
        let Some(seeds) = by_arm.get_mut(run.arm.as_str()) else {
            bail!(
                "run of arm {} (seed {}) is not among the arms {arms:?}",
                run.arm,
                run.seed
            );
        };
        if seeds.insert(run.seed, run).is_some() {
            bail!("arm {} has two runs with seed {}", run.arm, run.seed);
        }
    }
    let mut summaries = Vec::with_capacity(arms.len());
    for arm in arms {
        summaries.push(summarise_arm(arm, &by_arm[arm.as_str()], n_boot, seed)?);
    }
    let present: BTreeSet<&str> = summaries
        .iter()
        .flat_map(|s| s.families.iter().map(|f| f.family.as_str()))
        .collect();
    let families = Family::ALL
        .iter()
        .map(Family::scorer_name)
        .filter(|f| present.contains(f))
        .map(str::to_string)
        .collect();
    let mut differences = Vec::new();
    for arm in arms.iter().filter(|a| a.as_str() != baseline) {
        differences.push(compare(
            arm,
            &by_arm[arm.as_str()],
            baseline,
            &by_arm[baseline],
            n_boot,
            seed,
        )?);
    }
    Ok(Analysis {
        baseline: baseline.to_string(),
        n_boot,
        seed,
        families,
        arms: summaries,
        differences,
    })
}

/// Escapes a name for a Markdown table cell.
fn cell(name: &str) -> String {
    format!("`{}`", name.replace('|', "\\|").replace('`', "'"))
}

/// One decimal, without a negative zero.
fn one(x: f64) -> String {
    let s = format!("{x:.1}");
    if s == "-0.0" {
        "0.0".into()
    } else {
        s
    }
}

/// One decimal with a sign, without a negative zero.
fn signed(x: f64) -> String {
    let s = format!("{x:+.1}");
    if s == "-0.0" {
        "+0.0".into()
    } else {
        s
    }
}

fn seed_list(seeds: &[u64]) -> String {
    seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn table_head(s: &mut String) {
    let _ = write!(s, "| arm | seeds | average |");
    for f in Family::ALL {
        let _ = write!(s, " {} |", f.scorer_name());
    }
    let _ = write!(s, "\n|---|---|---:|");
    for _ in Family::ALL {
        let _ = write!(s, "---:|");
    }
    s.push('\n');
}

impl Analysis {
    /// The report as a Markdown section: scores with CIs, items per family, paired
    /// differences against the baseline, final losses.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## Ablation\n");
        let _ = writeln!(
            s,
            "Success rate (%) on the test split from `msmu eval`, mean over seeds; in brackets \
             the 95% CI of a hierarchical percentile bootstrap (seeds, then items within each \
             seed; {} replicates, seed {}). The average is the unweighted mean over the \
             families. -: family not scored.\n",
            self.n_boot, self.seed
        );
        table_head(&mut s);
        for arm in &self.arms {
            let a = &arm.average;
            let _ = write!(
                s,
                "| {} | {} | {} [{}, {}] |",
                cell(&arm.arm),
                seed_list(&arm.seeds),
                one(a.mean),
                one(a.lo),
                one(a.hi)
            );
            for f in Family::ALL {
                match arm.families.iter().find(|e| e.family == f.scorer_name()) {
                    Some(e) => {
                        let e = &e.estimate;
                        let _ = write!(s, " {} [{}, {}] |", one(e.mean), one(e.lo), one(e.hi));
                    }
                    None => s.push_str(" - |"),
                }
            }
            s.push('\n');
        }
        // Items per seed: one number when every run agrees, else the range.
        let range = |ns: &mut dyn Iterator<Item = usize>| -> String {
            let (lo, hi) = ns.fold((usize::MAX, 0), |(lo, hi), n| (lo.min(n), hi.max(n)));
            match (lo, hi) {
                (usize::MAX, _) => "-".into(),
                (lo, hi) if lo == hi => lo.to_string(),
                (lo, hi) => format!("{lo}-{hi}"),
            }
        };
        let totals = self.arms.iter().flat_map(|a| {
            (0..a.seeds.len()).map(move |k| a.families.iter().map(|f| f.n[k]).sum::<usize>())
        });
        let _ = write!(s, "| *items per seed* | | {} |", range(&mut { totals }));
        for f in Family::ALL {
            let mut ns = self.arms.iter().flat_map(|a| {
                a.families
                    .iter()
                    .filter(move |e| e.family == f.scorer_name())
                    .flat_map(|e| e.n.iter().copied())
            });
            let _ = write!(s, " {} |", range(&mut ns));
        }
        s.push('\n');

        let _ = writeln!(s, "\n### Paired differences vs {}\n", cell(&self.baseline));
        if self.differences.is_empty() {
            let _ = writeln!(s, "No other arm.");
        } else {
            let _ = writeln!(
                s,
                "Arm minus baseline in percentage points, items paired by id and seeds by seed \
                 number (the baseline's seeds); in brackets the 95% bootstrap CI; p: fraction \
                 of the replicates <= 0 (one-sided, resolution 1/{}).\n",
                self.n_boot
            );
            table_head(&mut s);
            for d in &self.differences {
                let a = &d.average;
                let _ = write!(
                    s,
                    "| {} | {} | {} [{}, {}] p={:.3} |",
                    cell(&d.arm),
                    seed_list(&d.seeds),
                    signed(a.mean),
                    signed(a.lo),
                    signed(a.hi),
                    a.p_le_0
                );
                for f in Family::ALL {
                    match d.families.iter().find(|e| e.family == f.scorer_name()) {
                        Some(e) => {
                            let e = &e.difference;
                            let _ = write!(
                                s,
                                " {} [{}, {}] p={:.3} |",
                                signed(e.mean),
                                signed(e.lo),
                                signed(e.hi),
                                e.p_le_0
                            );
                        }
                        None => s.push_str(" - |"),
                    }
                }
                s.push('\n');
            }
        }

        let _ = writeln!(s, "\n### Final losses\n");
        let _ = writeln!(
            s,
            "Mean over seeds of the last logged training loss and held-out loss.\n"
        );
        let _ = writeln!(s, "| arm | seeds | train loss | eval loss |");
        let _ = writeln!(s, "|---|---|---:|---:|");
        for arm in &self.arms {
            let eval = match arm.final_eval_loss {
                None => "-".to_string(),
                Some(e) if arm.eval_loss_seeds == arm.seeds.len() => format!("{e:.4}"),
                Some(e) => format!(
                    "{e:.4} ({} of {} seeds)",
                    arm.eval_loss_seeds,
                    arm.seeds.len()
                ),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {:.4} | {eval} |",
                cell(&arm.arm),
                seed_list(&arm.seeds),
                arm.final_loss
            );
        }
        s
    }

    /// Every number of the analysis as JSON (non-finite numbers become null).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self)
            .unwrap_or_else(|e| serde_json::json!({ "error": format!("serialising: {e}") }))
    }
}
