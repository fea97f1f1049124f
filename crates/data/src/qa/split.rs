//! Scene-disjoint train/test splits.
//!
//! A scene goes to one split only, so no image of a test scene is ever seen in training. The
//! rules, in order: a scene listed in an exclusion file (`--exclude-scenes`, e.g. MSMU-Bench's
//! scenes) is never in train; a scene listed in an official ScanNet split file goes where that
//! file says (`scannetv2_val.txt` -> test, `scannetv2_train.txt` -> train); any other scene is
//! assigned by a stable hash of its id against `test_fraction`.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::qa::stable_hash;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
}

/// Split settings (plain data).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SplitPlan {
    /// Fraction of hashed scenes that go to test, in [0, 1].
    pub test_fraction: f64,
    /// Scenes kept out of training (benchmark scenes).
    pub excluded: BTreeSet<String>,
    /// Official train list (ScanNet `scannetv2_train.txt`).
    pub official_train: BTreeSet<String>,
    /// Official validation/test list (ScanNet `scannetv2_val.txt`, `scannetv2_test.txt`).
    pub official_test: BTreeSet<String>,
}

impl SplitPlan {
    pub fn with_fraction(test_fraction: f64) -> SplitPlan {
        SplitPlan {
            test_fraction,
            ..SplitPlan::default()
        }
    }

    /// Where a scene goes.
    pub fn assign(&self, scene_id: &str) -> Split {
        if self.excluded.contains(scene_id) || self.official_test.contains(scene_id) {
            return Split::Test;
        }
        if self.official_train.contains(scene_id) {
            return Split::Train;
        }
        // 53 bits of the hash as a uniform number in [0, 1).
        let u = (stable_hash(&[b"split", scene_id.as_bytes()]) >> 11) as f64 / (1u64 << 53) as f64;
        if u < self.test_fraction {
            Split::Test
        } else {
            Split::Train
        }
    }
}

/// A scene list (exclusion file or official split file): one scene id per line; blank lines
/// and `#` comments are ignored, surrounding whitespace is trimmed.
pub fn parse_scene_list(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads a scene list file.
pub fn read_scene_list(path: &Path) -> std::io::Result<BTreeSet<String>> {
    Ok(parse_scene_list(&std::fs::read_to_string(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse() {
        let list =
            parse_scene_list("scene0000_00\n\n  scene0001_01 \n# comment\nscene0002_00 # x\n");
        assert_eq!(
            list.into_iter().collect::<Vec<_>>(),
            vec!["scene0000_00", "scene0001_01", "scene0002_00"]
        );
    }

    #[test]
    fn assignment_is_stable_disjoint_and_respects_lists() {
        let mut plan = SplitPlan::with_fraction(0.2);
        let ids: Vec<String> = (0..1000).map(|i| format!("scene{i:04}_00")).collect();
        let n_test = ids
            .iter()
            .filter(|id| plan.assign(id) == Split::Test)
            .count();
        assert!((150..250).contains(&n_test), "{n_test}");
        // Same answer every time (no randomised hashing).
        for id in &ids {
            assert_eq!(plan.assign(id), plan.assign(id));
        }
        let train_one = ids
            .iter()
            .find(|id| plan.assign(id) == Split::Train)
            .unwrap()
            .clone();
        plan.excluded.insert(train_one.clone());
        plan.official_train.insert(train_one.clone());
        assert_eq!(plan.assign(&train_one), Split::Test, "exclusion wins");
        let test_one = ids
            .iter()
            .find(|id| plan.assign(id) == Split::Test && !plan.excluded.contains(*id))
            .unwrap()
            .clone();
        plan.official_train.insert(test_one.clone());
        assert_eq!(plan.assign(&test_one), Split::Train);
        assert_eq!(SplitPlan::with_fraction(0.0).assign("x"), Split::Train);
        assert_eq!(SplitPlan::with_fraction(1.0).assign("x"), Split::Test);
    }
}
