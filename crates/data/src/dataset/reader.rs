//! Reading shards for a model (the trainer, `msmu predict`): a split's shard files, their row
//! groups, and one row group at a time with a column projection, so that only the
//! [`col::MODEL`] columns are read from disk and decoded (never the objects, cameras or
//! masks). Rows come out as [`ModelRow`]s through the decoders of [`arrow_rows`], the same
//! ones [`arrow_rows::from_batch`] uses: a column change shows up here as an error naming the
//! file and the column, not as a trainer that silently reads something else.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;

use super::arrow_rows::{self, col, ShapeError};
use super::ModelRow;

/// Why a split or a row group could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: cannot list the shards: {source}", dir.display())]
    List {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("no {split} shards in {}", dir.display())]
    NoShards { dir: PathBuf, split: String },
    #[error("{}: cannot open: {source}", file.display())]
    Open {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", file.display())]
    Parquet { file: PathBuf, source: ParquetError },
    /// A read did not finish within its deadline (see [`parquet_deadline`]).
    #[error(
        "{}: the Parquet file did not decode within {seconds:.1} s: its metadata or page \
         headers are corrupt or crafted (e.g. a list of 2^31 booleans in an unknown field, \
         which the parquet crate walks one by one); check the file with pyarrow \
         (`pyarrow.parquet.read_table`) or write it again",
        file.display()
    )]
    Timeout { file: PathBuf, seconds: f64 },
    #[error("{}: row group {group} of {count}", file.display())]
    NoRowGroup {
        file: PathBuf,
        group: usize,
        count: usize,
    },
    /// A column is missing or does not have the type of [`arrow_rows::schema`].
    #[error("{}: {source} (not an msmu shard of this version?)", file.display())]
    Column { file: PathBuf, source: ShapeError },
}

/// One row group of a shard file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowGroup {
    pub file: PathBuf,
    /// Index of the group in the file.
    pub index: usize,
    /// Rows in the group (from the footer).
    pub rows: usize,
}

/// The shard files of `split` in a dataset folder (`DIR/data/{split}-*.parquet`), sorted by
/// name; an error when there are none.
pub fn split_shards(dir: &Path, split: &str) -> Result<Vec<PathBuf>, ReadError> {
    let data = dir.join("data");
    let prefix = format!("{split}-");
    let entries = std::fs::read_dir(&data).map_err(|source| ReadError::List {
        dir: data.clone(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "parquet")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ReadError::NoShards {
            dir: data,
            split: split.to_string(),
        });
    }
    Ok(files)
}

/// The least time a Parquet read may take before msmu gives up on it ([`parquet_deadline`]).
pub const PARQUET_MIN_DEADLINE: Duration = Duration::from_secs(20);

/// The slowest decoding speed [`parquet_deadline`] allows for beyond the first 20 s: 5 MB/s,
/// a tenth of what a 2-core machine decodes (zstd pages included).
pub const PARQUET_MIN_BYTES_PER_SECOND: f64 = 5e6;

/// How long reading a Parquet file of `bytes` may take: [`PARQUET_MIN_DEADLINE`] plus the file
/// at [`PARQUET_MIN_BYTES_PER_SECOND`]. A real file never comes near it.
///
/// Why msmu needs one: the parquet crate's Thrift decoder (footers and page headers) skips
/// some malformed fields by looping over a declared element count without consuming input,
/// e.g. a list of booleans in an unknown field: 5 bytes declare 2^31 iterations, and a crafted
/// file of a few KB spins for hours. The `bench` fuzz target found such files (in the footer
/// and in page headers); pyarrow refuses them ("Exceeded size limit"). Rust cannot stop a
/// thread, so a read past its deadline is abandoned ([`within_deadline`]) and the command
/// ends with [`ReadError::Timeout`].
pub fn parquet_deadline(bytes: u64) -> Duration {
    PARQUET_MIN_DEADLINE + Duration::from_secs_f64(bytes as f64 / PARQUET_MIN_BYTES_PER_SECOND)
}

/// [`parquet_deadline`] of a file's size (the least deadline when its size cannot be read: the
/// open then fails and says why).
pub fn parquet_deadline_for(file: &Path) -> Duration {
    parquet_deadline(std::fs::metadata(file).map_or(0, |m| m.len()))
}

/// Why [`within_deadline`] has no result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overrun {
    /// The deadline passed; the work goes on on its abandoned thread until it ends or the
    /// process exits.
    Timeout,
    /// The work panicked.
    Panicked,
    /// No helper thread could be started (the system's thread limit).
    NoThread,
}

/// Runs `work` on a helper thread and waits for it at most `deadline`.
pub fn within_deadline<T: Send + 'static>(
    deadline: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Overrun> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("msmu-deadline".into())
        .spawn(move || {
            // The receiver is gone when the deadline passed; nothing to report then.
            let _ = tx.send(work());
        })
        .map_err(|_| Overrun::NoThread)?;
    rx.recv_timeout(deadline).map_err(|err| match err {
        std::sync::mpsc::RecvTimeoutError::Timeout => Overrun::Timeout,
        std::sync::mpsc::RecvTimeoutError::Disconnected => Overrun::Panicked,
    })
}

/// Opens a Parquet file and decodes its footer (schema, row groups) within
/// [`parquet_deadline`] of its size. Every Parquet file msmu reads (shards, benches,
/// Q-Spatial) is opened here.
pub fn open_parquet(file: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, ReadError> {
    open_parquet_within(file, parquet_deadline_for(file))
}

/// [`open_parquet`] with another deadline.
pub fn open_parquet_within(
    file: &Path,
    deadline: Duration,
) -> Result<ParquetRecordBatchReaderBuilder<File>, ReadError> {
    let handle = File::open(file).map_err(|source| ReadError::Open {
        file: file.to_path_buf(),
        source,
    })?;
    let decoded = within_deadline(deadline, move || {
        ParquetRecordBatchReaderBuilder::try_new(handle)
    });
    overrun_error(file, deadline, decoded)?.map_err(|source| ReadError::Parquet {
        file: file.to_path_buf(),
        source,
    })
}

/// [`within_deadline`]'s outcome for reading `file`, an [`Overrun`] as a [`ReadError`].
pub fn overrun_error<T>(
    file: &Path,
    deadline: Duration,
    outcome: Result<T, Overrun>,
) -> Result<T, ReadError> {
    outcome.map_err(|overrun| match overrun {
        Overrun::Timeout => ReadError::Timeout {
            file: file.to_path_buf(),
            seconds: deadline.as_secs_f64(),
        },
        Overrun::Panicked => ReadError::Parquet {
            file: file.to_path_buf(),
            source: ParquetError::General("the decoder panicked (corrupt file)".into()),
        },
        Overrun::NoThread => ReadError::Parquet {
            file: file.to_path_buf(),
            source: ParquetError::General(
                "could not start a thread to read it (the system's thread limit)".into(),
            ),
        },
    })
}

/// Every row group of the files, file by file, in order (read from the footers only).
pub fn row_groups(files: &[PathBuf]) -> Result<Vec<RowGroup>, ReadError> {
    let mut out = Vec::new();
    for file in files {
        let builder = open_parquet(file)?;
        for (index, group) in builder.metadata().row_groups().iter().enumerate() {
            out.push(RowGroup {
                file: file.clone(),
                index,
                rows: group.num_rows() as usize,
            });
        }
    }
    Ok(out)
}

/// The rows of one row group, reading and decoding only the [`col::MODEL`] columns, within
/// [`parquet_deadline`] of the file's size.
pub fn read_row_group(file: &Path, group: usize) -> Result<Vec<ModelRow>, ReadError> {
    let deadline = parquet_deadline_for(file);
    let owned = file.to_path_buf();
    overrun_error(
        file,
        deadline,
        within_deadline(deadline, move || read_row_group_now(&owned, group)),
    )?
}

fn read_row_group_now(file: &Path, group: usize) -> Result<Vec<ModelRow>, ReadError> {
    let builder = open_parquet(file)?;
    let count = builder.metadata().num_row_groups();
    if group >= count {
        return Err(ReadError::NoRowGroup {
            file: file.to_path_buf(),
            group,
            count,
        });
    }
    let schema = builder.parquet_schema();
    let roots = schema.root_schema().get_fields();
    let indices = col::MODEL
        .iter()
        .filter_map(|&name| {
            let found = roots.iter().position(|field| field.name() == name);
            // Optional columns a shard may lack (see `col::MODEL_OPTIONAL`).
            (found.is_some() || !col::MODEL_OPTIONAL.contains(&name)).then_some((name, found))
        })
        .map(|(name, found)| {
            found.ok_or_else(|| ReadError::Column {
                file: file.to_path_buf(),
                source: ShapeError {
                    column: name.to_string(),
                    problem: "missing".to_string(),
                },
            })
        })
        .collect::<Result<Vec<usize>, ReadError>>()?;
    let mask = ProjectionMask::roots(schema, indices);
    let parquet_error = |source| ReadError::Parquet {
        file: file.to_path_buf(),
        source,
    };
    let reader = builder
        .with_row_groups(vec![group])
        .with_projection(mask)
        .with_batch_size(256)
        .build()
        .map_err(parquet_error)?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| parquet_error(e.into()))?;
        let decoded =
            arrow_rows::model_rows_from_batch(&batch).map_err(|source| ReadError::Column {
                file: file.to_path_buf(),
                source,
            })?;
        rows.extend(decoded);
    }
    Ok(rows)
}

/// The first `max_rows` rows of a split (all when `None`) in file order, read row group by
/// row group (prediction, the tiny preset's tokenizer, held-out loss).
pub fn read_split(
    dir: &Path,
    split: &str,
    max_rows: Option<usize>,
) -> Result<Vec<ModelRow>, ReadError> {
    let max_rows = max_rows.unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    for group in row_groups(&split_shards(dir, split)?)? {
        if rows.len() >= max_rows {
            break;
        }
        rows.extend(read_row_group(&group.file, group.index)?);
    }
    rows.truncate(max_rows);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, AsArray, Int64Array, ListArray, RecordBatch, StringArray, StructArray,
    };
    use arrow::datatypes::{DataType, Field, Fields, Schema};
    use parquet::arrow::ArrowWriter;

    use super::*;
    use crate::dataset::depth_png::DepthSource;
    use crate::dataset::shard::{read_shard, ShardLimits, ShardWriter};
    use crate::dataset::{ImageBlob, QaRow, SampleRow};
    use crate::qa::Turn;

    fn sample(i: usize) -> SampleRow {
        SampleRow {
            id: format!("scene_{i}"),
            scene_id: "scene".into(),
            split: "train".into(),
            image: ImageBlob {
                bytes: vec![0xFF, 0xD8, i as u8],
                path: Some(format!("{i}.jpg")),
            },
            depth: ImageBlob {
                bytes: vec![1, 2, i as u8],
                path: None,
            },
            qa: (0..i % 3)
                .map(|k| QaRow {
                    family: "count".into(),
                    question: format!("q{k}"),
                    answer: k.to_string(),
                    values_si: vec![k as f64],
                    ..QaRow::default()
                })
                .collect(),
            conversations: vec![
                Turn {
                    from: "human".into(),
                    value: format!("<image>\nq{i}"),
                },
                Turn {
                    from: "gpt".into(),
                    value: format!("a{i}"),
                },
            ],
            ..SampleRow::default()
        }
    }

    /// A shard of `n` rows in row groups of 3, written by the shard writer.
    fn shard(dir: &Path, name: &str, n: usize) -> PathBuf {
        let path = dir.join("data").join(name);
        let limits = ShardLimits {
            row_group_rows: 3,
            ..ShardLimits::default()
        };
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let mut writer = ShardWriter::create(&dir.join("shard.tmp"), limits).unwrap();
        for i in 0..n {
            writer.push(sample(i)).unwrap();
        }
        writer
            .finish(&path, name.to_string(), "train".to_string())
            .unwrap();
        path
    }

    /// A full disk (`/dev/full` answers every write with ENOSPC) is an error that names the
    /// shard and says what to do, not a bare "No space left on device".
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_names_the_shard_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("train-00000.parquet.tmp");
        std::os::unix::fs::symlink("/dev/full", &tmp).unwrap();
        let limits = ShardLimits {
            row_group_rows: 2,
            ..ShardLimits::default()
        };
        let mut writer = ShardWriter::create(&tmp, limits).unwrap();
        let mut failed = None;
        for i in 0..6 {
            if let Err(e) = writer.push(sample(i)) {
                failed = Some(e);
                break;
            }
        }
        let error = match failed {
            Some(e) => e,
            None => writer
                .finish(&dir.path().join("out.parquet"), "f".into(), "train".into())
                .unwrap_err(),
        };
        let text = format!("{error:#}");
        assert!(text.contains("train-00000.parquet.tmp"), "{text}");
        assert!(
            text.contains("disk full") && text.contains("--resume"),
            "{text}"
        );
        assert!(!dir.path().join("out.parquet").exists());
    }

    /// A single-group Parquet file of `batch` (any schema).
    fn write_batch(path: &Path, batch: &RecordBatch) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut writer =
            ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
    }

    /// `batch` with column `name` replaced by `column` under the name `new_name`.
    fn replace_column(
        batch: &RecordBatch,
        name: &str,
        new_name: &str,
        column: Option<ArrayRef>,
    ) -> RecordBatch {
        let index = batch.schema().index_of(name).unwrap();
        let mut fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut columns = batch.columns().to_vec();
        if let Some(column) = column {
            fields[index] = Field::new(new_name, column.data_type().clone(), true);
            columns[index] = column;
        } else {
            fields[index] = fields[index].clone().with_name(new_name);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    #[test]
    fn projected_read_equals_the_full_rows() {
        let dir = tempfile::tempdir().unwrap();
        let a = shard(dir.path(), "train-00000-of-00002.parquet", 7);
        let b = shard(dir.path(), "train-00001-of-00002.parquet", 2);
        shard(dir.path(), "test-00000-of-00001.parquet", 4);
        let files = split_shards(dir.path(), "train").unwrap();
        assert_eq!(files, vec![a.clone(), b.clone()]);
        let groups = row_groups(&files).unwrap();
        let shape: Vec<(PathBuf, usize, usize)> = groups
            .iter()
            .map(|g| (g.file.clone(), g.index, g.rows))
            .collect();
        assert_eq!(
            shape,
            vec![
                (a.clone(), 0, 3),
                (a.clone(), 1, 3),
                (a.clone(), 2, 1),
                (b.clone(), 0, 2)
            ]
        );
        let mut projected = Vec::new();
        for group in &groups {
            let rows = read_row_group(&group.file, group.index).unwrap();
            assert_eq!(rows.len(), group.rows);
            projected.extend(rows);
        }
        let full: Vec<ModelRow> = [a, b]
            .iter()
            .flat_map(|f| read_shard(f).unwrap())
            .map(ModelRow::from)
            .collect();
        assert_eq!(projected.len(), 9);
        assert_eq!(projected, full);
        assert_eq!(
            read_split(dir.path(), "train", None).unwrap(),
            projected,
            "read_split"
        );
        assert_eq!(
            read_split(dir.path(), "train", Some(4)).unwrap(),
            projected[..4]
        );
    }

    #[test]
    fn other_columns_are_not_decoded() {
        // `objects` as plain strings: the full decoder rejects it, the projected read never
        // looks at it.
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<SampleRow> = (0..4).map(sample).collect();
        let batch = arrow_rows::to_batch(&rows).unwrap();
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["x"; 4]));
        let odd = replace_column(&batch, col::OBJECTS, col::OBJECTS, Some(strings));
        assert_eq!(
            arrow_rows::from_batch(&odd).unwrap_err().column,
            col::OBJECTS
        );
        let path = dir.path().join("data/train-00000-of-00001.parquet");
        write_batch(&path, &odd);
        let read = read_row_group(&path, 0).unwrap();
        assert_eq!(
            read,
            rows.into_iter().map(ModelRow::from).collect::<Vec<_>>()
        );
    }

    fn column_error(err: ReadError) -> (PathBuf, ShapeError) {
        match err {
            ReadError::Column { file, source } => (file, source),
            other => panic!("expected a column error, got {other}"),
        }
    }

    #[test]
    fn renamed_column_fails_naming_file_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let batch = arrow_rows::to_batch(&(0..2).map(sample).collect::<Vec<_>>()).unwrap();
        let path = dir.path().join("data/train-00000-of-00001.parquet");
        write_batch(&path, &replace_column(&batch, col::IMAGE, "picture", None));
        let err = read_row_group(&path, 0).unwrap_err();
        let message = err.to_string();
        let (file, shape) = column_error(err);
        assert_eq!(
            (file.as_path(), shape.column.as_str()),
            (path.as_path(), "image")
        );
        assert!(
            message.contains("train-00000-of-00001.parquet") && message.contains("`image`"),
            "{message}"
        );
    }

    fn read_back(dir: &Path, batch: &RecordBatch) -> Vec<ModelRow> {
        let path = dir.join("data/full-00000-of-00001.parquet");
        write_batch(&path, batch);
        read_row_group(&path, 0).unwrap()
    }

    #[test]
    fn rows_without_depth_columns_read_as_rows_without_depth() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<SampleRow> = (0..3)
            .map(|i| SampleRow {
                depth_source: DepthSource::EstimatedRelative,
                ..sample(i)
            })
            .collect();
        let batch = arrow_rows::to_batch(&rows).unwrap();
        assert_eq!(
            read_back(dir.path(), &batch)[0].depth_source,
            DepthSource::EstimatedRelative
        );
        let path = dir.path().join("data/train-00000-of-00001.parquet");
        // Data from elsewhere: no depth, no depth_source (a renamed column is ignored).
        let no_source = replace_column(&batch, col::DEPTH_SOURCE, "other", None);
        write_batch(
            &path,
            &replace_column(&no_source, col::DEPTH, "depth_mm", None),
        );
        let rows = read_row_group(&path, 0).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.depth.is_none()));
        // Schema version 1: depth without depth_source is mesh depth.
        let v1 = dir.path().join("data/test-00000-of-00001.parquet");
        write_batch(&v1, &no_source);
        let rows = read_row_group(&v1, 0).unwrap();
        assert!(rows
            .iter()
            .all(|r| r.depth.is_some() && r.depth_source == DepthSource::Mesh));
    }

    #[test]
    fn wrongly_typed_column_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let batch = arrow_rows::to_batch(&(0..2).map(sample).collect::<Vec<_>>()).unwrap();
        let numbers: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let path = dir.path().join("data/train-00000-of-00001.parquet");
        write_batch(
            &path,
            &replace_column(&batch, col::ID, col::ID, Some(numbers)),
        );
        let (file, shape) = column_error(read_row_group(&path, 0).unwrap_err());
        assert_eq!((file, shape.column.as_str()), (path, "id"));
        // Turns that lost their `value` field: the nested field is named.
        let turns = batch
            .column_by_name(col::CONVERSATIONS)
            .unwrap()
            .as_list::<i32>();
        let from = turns.values().as_struct().column_by_name("from").unwrap();
        let from_fields = Fields::from(vec![Field::new("from", DataType::Utf8, true)]);
        let from_only: ArrayRef = Arc::new(ListArray::new(
            Arc::new(Field::new(
                "item",
                DataType::Struct(from_fields.clone()),
                true,
            )),
            turns.offsets().clone(),
            Arc::new(StructArray::new(from_fields, vec![from.clone()], None)),
            None,
        ));
        let path = dir.path().join("data/train-00001-of-00001.parquet");
        let odd = replace_column(
            &batch,
            col::CONVERSATIONS,
            col::CONVERSATIONS,
            Some(from_only),
        );
        write_batch(&path, &odd);
        let (_, shape) = column_error(read_row_group(&path, 0).unwrap_err());
        assert_eq!(shape.column, "conversations.value");
    }

    #[test]
    fn missing_split_and_row_group_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = shard(dir.path(), "train-00000-of-00001.parquet", 2);
        let err = split_shards(dir.path(), "test").unwrap_err();
        assert!(matches!(err, ReadError::NoShards { .. }), "{err}");
        let err = read_row_group(&path, 1).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::NoRowGroup {
                    group: 1,
                    count: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_footer_that_would_spin_for_minutes_is_refused_at_the_deadline() {
        assert_eq!(parquet_deadline(0), PARQUET_MIN_DEADLINE);
        assert_eq!(
            parquet_deadline(50_000_000),
            PARQUET_MIN_DEADLINE + Duration::from_secs(10)
        );
        // A 1-row pyarrow file whose FileMetaData has 200 unknown fields, each a list of
        // 2^31 - 1 booleans (5 bytes apiece): the parquet crate's skip loops over every
        // declared element, about a second per list (minutes in all). pyarrow refuses the
        // file ("Exceeded size limit").
        let crafted = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/fuzz/parquet-footer-bool-lists.parquet");
        let started = std::time::Instant::now();
        let err = open_parquet_within(&crafted, Duration::from_millis(500)).unwrap_err();
        assert!(matches!(err, ReadError::Timeout { .. }), "{err}");
        assert!(
            err.to_string().contains("did not decode within 0.5 s"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        // A sound file opens well within the same deadline.
        let dir = tempfile::tempdir().unwrap();
        let path = shard(dir.path(), "train-00000-of-00001.parquet", 2);
        assert!(open_parquet_within(&path, Duration::from_millis(500)).is_ok());
    }
}
