//! The training order of shard rows. Reading is the data crate's
//! ([`msmu_data::dataset::reader`]: a split's row groups, each read with only the columns a
//! model needs, as [`ModelRow`]s); this module adds what is particular to training: an
//! epoch's order is a seeded shuffle of the row groups followed by a bounded shuffle buffer,
//! so an epoch depends only on (seed, epoch) and a resumed run sees the same rows.

use msmu_data::dataset::reader::{self, RowGroup};
use msmu_data::dataset::ModelRow;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Rows of one epoch in training order, streamed one row group at a time.
pub struct EpochStream {
    groups: std::vec::IntoIter<RowGroup>,
    buffer: Vec<ModelRow>,
    buffer_size: usize,
    rng: ChaCha8Rng,
}

impl EpochStream {
    pub fn new(groups: &[RowGroup], seed: u64, epoch: u64, buffer_size: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch);
        let mut order = groups.to_vec();
        order.shuffle(&mut rng);
        Self {
            groups: order.into_iter(),
            buffer: Vec::new(),
            buffer_size: buffer_size.max(1),
            rng,
        }
    }
}

impl Iterator for EpochStream {
    type Item = Result<ModelRow, reader::ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buffer.len() < self.buffer_size {
            let Some(group) = self.groups.next() else {
                break;
            };
            match reader::read_row_group(&group.file, group.index) {
                Ok(rows) => self.buffer.extend(rows),
                Err(e) => return Some(Err(e)),
            }
        }
        if self.buffer.is_empty() {
            return None;
        }
        let k = rand::Rng::random_range(&mut self.rng, 0..self.buffer.len());
        Some(Ok(self.buffer.swap_remove(k)))
    }
}

/// Rows of the row groups (from the footers).
pub fn count_rows(groups: &[RowGroup]) -> usize {
    groups.iter().map(|g| g.rows).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use msmu_data::dataset::shard::{ShardLimits, ShardWriter};
    use msmu_data::dataset::SampleRow;
    use std::path::Path;

    fn write_shard(dir: &Path, name: &str, ids: std::ops::Range<usize>) {
        let limits = ShardLimits {
            row_group_rows: 4,
            ..ShardLimits::default()
        };
        let mut writer = ShardWriter::create(&dir.join("shard.tmp"), limits).unwrap();
        for i in ids {
            writer
                .push(SampleRow {
                    id: format!("row{i:02}"),
                    ..SampleRow::default()
                })
                .unwrap();
        }
        std::fs::create_dir_all(dir.join("data")).unwrap();
        writer
            .finish(
                &dir.join("data").join(name),
                name.into(),
                "train".to_string(),
            )
            .unwrap();
    }

    fn epoch(groups: &[RowGroup], seed: u64, epoch: u64, buffer: usize) -> Vec<String> {
        EpochStream::new(groups, seed, epoch, buffer)
            .map(|r| r.unwrap().id)
            .collect()
    }

    #[test]
    fn an_epoch_is_a_permutation_fixed_by_seed_and_epoch() {
        let dir = tempfile::tempdir().unwrap();
        write_shard(dir.path(), "train-00000-of-00002.parquet", 0..10);
        write_shard(dir.path(), "train-00001-of-00002.parquet", 10..17);
        let groups =
            reader::row_groups(&reader::split_shards(dir.path(), "train").unwrap()).unwrap();
        assert_eq!(count_rows(&groups), 17);
        let first = epoch(&groups, 3, 0, 5);
        let mut sorted = first.clone();
        sorted.sort();
        let all: Vec<String> = (0..17).map(|i| format!("row{i:02}")).collect();
        assert_eq!(sorted, all);
        assert_eq!(epoch(&groups, 3, 0, 5), first, "same seed and epoch");
        assert_ne!(epoch(&groups, 3, 1, 5), first, "another epoch");
        assert_ne!(epoch(&groups, 4, 0, 5), first, "another seed");
    }
}
