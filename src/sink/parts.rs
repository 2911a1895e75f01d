//! A task's output folder as a set of Parquet part files that readers (pyarrow,
//! DuckDB) take as one table, kept so that each live unit has exactly one row.
//!
//! Rows are keyed by their `cache_key` column. A run writes new rows into new part
//! files (each appears atomically), so a killed run loses at most the part it was
//! filling. [`PartFolder::compact`] then makes the folder exact: one row per live key
//! (a success over an error, the newest over an older), rows of units that are gone
//! dropped. It is idempotent, so a run killed while compacting is finished by the next.
//!
//! A sharded run's processes share the folder: shard `i` of `N` names its files
//! `part-<i>-of-<N>-RRRRRR-PPPPPP.parquet` and touches no other shard's files. A folder
//! keeps one sharding; a run with another is refused rather than left to duplicate rows.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::SchemaRef;
use parquet::arrow::ProjectionMask;

use super::{key_values, open_parquet, AtomicParquetWriter};
use crate::shard::{self, Shard};
use crate::{Error, Result};

/// A task's output folder (this shard's files in it).
pub struct PartFolder {
    dir: PathBuf,
    shard: Option<Shard>,
    /// This run's number: one more than any part file's, so names sort by run.
    run: u32,
    next_part: u32,
}

/// What one key's rows in the folder say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// A row without an error whose answer the task read (or an embedding): done.
    Done,
    /// Rows without an error but with answers the task could not read (a
    /// `parse_error`): done, unless a task now asks for more answers than `attempts`.
    Unread {
        /// How often the most asked for of them was.
        attempts: u32,
    },
    /// Only error rows: to be tried again.
    Failed,
}

impl KeyState {
    /// Whether a unit whose rows are in `state` (none: it has no row) is run again by a
    /// task that asks for `retries` more answers of one it cannot read.
    pub fn runs_again(state: Option<&KeyState>, retries: u32) -> bool {
        match state {
            Some(KeyState::Done) => false,
            Some(KeyState::Unread { attempts }) => *attempts <= retries,
            Some(KeyState::Failed) | None => true,
        }
    }

    /// This state, once a row that `read` says of is seen too.
    fn with(self, read: RowRead) -> KeyState {
        match (self, read) {
            (KeyState::Done, _) | (_, RowRead::Read) => KeyState::Done,
            (KeyState::Unread { attempts: a }, RowRead::Unread { attempts: b }) => KeyState::Unread { attempts: a.max(b) },
            (KeyState::Failed, RowRead::Unread { attempts }) => KeyState::Unread { attempts },
            (state, RowRead::Error) => state,
        }
    }
}

/// What one row says of its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowRead {
    /// An answer the task read, or an embedding.
    Read,
    /// An answer it could not, asked for `attempts` times (1 in rows written before
    /// retries were).
    Unread { attempts: u32 },
    /// An error.
    Error,
}

/// What a compaction removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compaction {
    /// Rows of units no longer in the source (or whose key changed).
    pub stale: u64,
    /// Extra rows of a live key: an error superseded by a success, or a repeat.
    pub superseded: u64,
}

impl PartFolder {
    /// Opens (creating) `dir` for `shard` (or an unsharded run), removing the temporary
    /// files a killed run of the same shard left. Part files of another sharding are an
    /// error naming one of them.
    pub fn open(dir: &Path, shard: Option<Shard>) -> Result<PartFolder> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut run = 0;
        for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(torn) = partial_of(&name) {
                if torn.shard == shard {
                    fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
                }
            } else if let Some(part) = PartName::parse(&name) {
                if part.shard == shard {
                    run = run.max(part.run + 1);
                } else if part.shard.map(|s| s.count) != shard.map(|s| s.count) {
                    let layout = |s: Option<Shard>| s.map_or("an unsharded run".to_string(), |s| format!("{} shards", s.count));
                    return Err(Error::Config(format!(
                        "{} is from {}, and this is {}: an output folder keeps one sharding (use another --out)",
                        entry.path().display(),
                        layout(part.shard),
                        layout(shard)
                    )));
                }
            }
        }
        Ok(PartFolder { dir: dir.to_path_buf(), shard, run, next_part: 0 })
    }

    /// This shard's part files now in the folder, oldest first.
    pub fn parts(&self) -> Result<Vec<PathBuf>> {
        let mut parts: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map_err(|e| Error::io(&self.dir, e))?
            .filter_map(|e| e.ok())
            .filter(|e| PartName::parse(&e.file_name().to_string_lossy()).is_some_and(|p| p.shard == self.shard))
            .map(|e| e.path())
            .collect();
        parts.sort();
        Ok(parts)
    }

    /// Every key with a row in `dir`'s part files of `shard`, read without opening the
    /// folder for a run (which creates it and removes a killed run's temporary files):
    /// none when there is no folder.
    pub fn existing_keys(dir: &Path, shard: Option<Shard>) -> Result<HashMap<String, KeyState>> {
        if !dir.is_dir() {
            return Ok(HashMap::new());
        }
        PartFolder { dir: dir.to_path_buf(), shard, run: 0, next_part: 0 }.keys()
    }

    /// Every key with a row, and what its rows say.
    pub fn keys(&self) -> Result<HashMap<String, KeyState>> {
        let mut keys = HashMap::new();
        for part in self.parts()? {
            for (key, read) in read_keys(&part)?.1 {
                let state = keys.entry(key).or_insert(KeyState::Failed);
                *state = state.with(read);
            }
        }
        Ok(keys)
    }

    /// Writes `batch` as the next part file of this run, appearing whole or not at all.
    pub fn write(&mut self, batch: &RecordBatch, metadata: &[(String, String)]) -> Result<PathBuf> {
        let path = self.dir.join(format!("part{}-{:06}-{:06}.parquet", shard::tag(self.shard), self.run, self.next_part));
        self.next_part += 1;
        let mut writer = AtomicParquetWriter::create(&path, batch.schema())?;
        writer.write(batch)?;
        writer.finish(metadata)?;
        Ok(path)
    }

    /// Leaves one row per key in `live` and none for other keys: for each key the
    /// newest successful row, else the newest error row. Files that change are
    /// rewritten atomically with their metadata; files left empty are removed.
    ///
    /// With `schema` (the columns this hearth writes), a part written by an older
    /// version with other columns is rewritten to them too: a column it lacks becomes
    /// nulls, one it has that is no longer written goes. Otherwise a folder that
    /// nightly runs carry across an upgrade would mix schemas, which readers that take
    /// the first file's (pyarrow) or want them equal (Polars, DuckDB) get wrong.
    pub fn compact(&self, live: &HashSet<String>, schema: Option<&SchemaRef>) -> Result<Compaction> {
        let parts = self.parts()?;
        let mut file_keys = Vec::with_capacity(parts.len());
        let mut file_schemas = Vec::with_capacity(parts.len());
        // key → (ok, file index, row): the survivor so far.
        let mut best: HashMap<String, (bool, usize, usize)> = HashMap::new();
        for (f, part) in parts.iter().enumerate() {
            let (part_schema, keys) = read_keys(part)?;
            file_schemas.push(part_schema);
            for (row, (key, read)) in keys.iter().enumerate() {
                if !live.contains(key) {
                    continue;
                }
                let ok = *read != RowRead::Error;
                let candidate = (ok, f, row);
                let better = best.get(key).is_none_or(|&(best_ok, ..)| ok || !best_ok);
                if better {
                    best.insert(key.clone(), candidate);
                }
            }
            file_keys.push(keys);
        }
        let mut removed = Compaction::default();
        for (f, ((part, keys), part_schema)) in parts.iter().zip(&file_keys).zip(&file_schemas).enumerate() {
            let keep: Vec<bool> = keys
                .iter()
                .enumerate()
                .map(|(row, (key, _))| best.get(key).is_some_and(|&(_, bf, br)| (bf, br) == (f, row)))
                .collect();
            for ((key, _), kept) in keys.iter().zip(&keep) {
                match (kept, live.contains(key)) {
                    (true, _) => {}
                    (false, true) => removed.superseded += 1,
                    (false, false) => removed.stale += 1,
                }
            }
            if keep.iter().all(|&k| !k) {
                fs::remove_file(part).map_err(|e| Error::io(part, e))?;
                continue;
            }
            let outdated = schema.is_some_and(|schema| !same_columns(part_schema, schema));
            if keep.iter().all(|&k| k) && !outdated {
                continue;
            }
            rewrite(part, &keep, schema.filter(|_| outdated))?;
        }
        Ok(removed)
    }

    /// Merges this shard's small parts (fewer than half of `part_rows` rows: each run's
    /// last part, parts the compaction shrank, parts a `part_seconds` flush cut short)
    /// into parts of `part_rows` rows, so that a folder nightly runs add to stays a few
    /// full files rather than gaining a small one a night, which every reader would
    /// open. The merged parts are written first, as this run's latest, then the small
    /// ones removed: a run killed in between leaves rows twice, which the next
    /// compaction resolves to the merged copies. They take `schema`'s columns and the
    /// newest small part's metadata. Returns the parts merged away.
    pub fn merge_small(&mut self, part_rows: usize, schema: &SchemaRef) -> Result<u64> {
        let mut small = Vec::new();
        for part in self.parts()? {
            if 2 * open_parquet(&part)?.metadata().file_metadata().num_rows() < part_rows as i64 {
                small.push(part);
            }
        }
        let Some(newest) = small.last().filter(|_| small.len() >= 2) else { return Ok(0) };
        let metadata = key_values(&open_parquet(newest)?);
        // Rows read and not yet written: fewer than part_rows between writes.
        let (mut pending, mut pending_rows) = (Vec::new(), 0);
        for part in &small {
            for batch in open_parquet(part)?.build().map_err(|e| Error::parquet(part, e))? {
                let batch = conform(part, &batch?, schema)?;
                pending_rows += batch.num_rows();
                pending.push(batch);
                if pending_rows >= part_rows {
                    let mut rows = arrow_select::concat::concat_batches(schema, &pending)?;
                    while rows.num_rows() >= part_rows {
                        self.write(&rows.slice(0, part_rows), &metadata)?;
                        rows = rows.slice(part_rows, rows.num_rows() - part_rows);
                    }
                    pending_rows = rows.num_rows();
                    pending = vec![rows];
                }
            }
        }
        if pending_rows > 0 {
            self.write(&arrow_select::concat::concat_batches(schema, &pending)?, &metadata)?;
        }
        for part in &small {
            fs::remove_file(part).map_err(|e| Error::io(part, e))?;
        }
        Ok(small.len() as u64)
    }
}

/// What a part file's name, `part[-<i>-of-<N>]-RRRRRR-PPPPPP.parquet`, says.
#[derive(Debug, PartialEq, Eq)]
struct PartName {
    shard: Option<Shard>,
    run: u32,
}

impl PartName {
    fn parse(name: &str) -> Option<PartName> {
        let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
        let fields: Vec<&str> = rest.split('-').collect();
        let (shard, run, part) = match fields[..] {
            [run, part] => (None, run, part),
            [index, "of", count, run, part] => (Some(format!("{index}/{count}").parse::<Shard>().ok()?), run, part),
            _ => return None,
        };
        part.parse::<u32>().ok()?;
        Some(PartName { shard, run: run.parse().ok()? })
    }
}

/// The part a writer's temporary file (`.<part name>.<pid>.partial`) was becoming.
fn partial_of(name: &str) -> Option<PartName> {
    let inner = name.strip_prefix('.')?.strip_suffix(".partial")?;
    let (part, _pid) = inner.rsplit_once('.')?;
    PartName::parse(part)
}

/// The part's schema, and each row's `cache_key` and what it says: an `error`, a
/// `parse_error` (with its `attempts`, where the part has them), or neither.
fn read_keys(part: &Path) -> Result<(SchemaRef, Vec<(String, RowRead)>)> {
    let builder = open_parquet(part)?;
    let schema = builder.schema().clone();
    let index = |name: &str| {
        schema.index_of(name).map_err(|_| Error::dataset(part, format!("a hearth part file has a `{name}` column")))
    };
    // Embeddings, and rows written before answers were judged or retried, lack these.
    let optional = ["parse_error", "attempts"].into_iter().filter_map(|name| schema.index_of(name).ok());
    let mask = ProjectionMask::roots(builder.parquet_schema(), [index("cache_key")?, index("error")?].into_iter().chain(optional));
    let reader = builder.with_projection(mask).build().map_err(|e| Error::parquet(part, e))?;
    let mut keys = Vec::new();
    for batch in reader {
        let batch = batch?;
        let key = batch.column_by_name("cache_key").expect("projected").as_string::<i32>();
        let error = batch.column_by_name("error").expect("projected");
        let parse_error = batch.column_by_name("parse_error");
        let attempts = batch.column_by_name("attempts").map(|a| a.as_primitive::<UInt32Type>());
        for row in 0..batch.num_rows() {
            let read = if !error.is_null(row) {
                RowRead::Error
            } else if parse_error.is_some_and(|p| !p.is_null(row)) {
                RowRead::Unread { attempts: attempts.filter(|a| a.is_valid(row)).map_or(1, |a| a.value(row)) }
            } else {
                RowRead::Read
            };
            keys.push((key.value(row).to_string(), read));
        }
    }
    Ok((schema, keys))
}

/// The same columns in the same order (names, types, nullability; field metadata such
/// as an embedding's model may differ).
fn same_columns(a: &SchemaRef, b: &SchemaRef) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields().iter().zip(b.fields()).all(|(x, y)| (x.name(), x.data_type(), x.is_nullable()) == (y.name(), y.data_type(), y.is_nullable()))
}

/// `batch` (read from `part`) with `schema`'s columns: its own where it has them, nulls
/// where it does not. A column of another type, or a missing one that may not be null,
/// cannot be made up: an error naming the part.
fn conform(part: &Path, batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
            Some(column) => Err(format!("column `{}` is {} there and {} now", field.name(), column.data_type(), field.data_type())),
            None if field.is_nullable() => Ok(arrow_array::new_null_array(field.data_type(), batch.num_rows())),
            None => Err(format!("it has no `{}` column, which may not be null", field.name())),
        })
        .collect::<std::result::Result<Vec<_>, String>>()
        .map_err(|m| Error::dataset(part, format!("a part from another hearth version cannot take this version's columns ({m}); write to a new output folder")))?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Rewrites `part` with only the rows `keep` marks, keeping its metadata and its schema,
/// or taking `schema`'s columns where given.
fn rewrite(part: &Path, keep: &[bool], schema: Option<&SchemaRef>) -> Result<()> {
    let builder = open_parquet(part)?;
    let metadata = key_values(&builder);
    let target: SchemaRef = schema.cloned().unwrap_or_else(|| builder.schema().clone());
    let reader = builder.build().map_err(|e| Error::parquet(part, e))?;
    let mut writer = AtomicParquetWriter::create(part, target.clone())?;
    let mut offset = 0;
    for batch in reader {
        let batch = batch?;
        let mask = BooleanArray::from(keep[offset..offset + batch.num_rows()].to_vec());
        offset += batch.num_rows();
        let kept = arrow_select::filter::filter_record_batch(&batch, &mask)?;
        writer.write(&if schema.is_some() { conform(part, &kept, &target)? } else { kept })?;
    }
    writer.finish(&metadata)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;

    use arrow_array::StringArray;
    use arrow_schema::{DataType, Field, Schema};

    fn batch(rows: &[(&str, Option<&str>)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("cache_key", DataType::Utf8, false),
            Field::new("error", DataType::Utf8, true),
        ]));
        let keys = StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
        let errors = StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
        RecordBatch::try_new(schema, vec![Arc::new(keys), Arc::new(errors)]).unwrap()
    }

    fn all_keys(folder: &PartFolder) -> Vec<(String, bool)> {
        let mut keys: Vec<_> = folder.parts().unwrap().iter().flat_map(|p| read_keys(p).unwrap().1).map(|(key, read)| (key, read != RowRead::Error)).collect();
        keys.sort();
        keys
    }

    #[test]
    fn compaction_keeps_one_row_per_live_key_preferring_success() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = PartFolder::open(dir.path(), None).unwrap();
        let meta = [("hearth.task".to_string(), "docs".to_string())];
        folder.write(&batch(&[("a", None), ("b", Some("failed")), ("gone", None)]), &meta).unwrap();
        // A later run (or a resumed one) retried b and, killed before compacting, repeated a.
        let mut later = PartFolder::open(dir.path(), None).unwrap();
        later.write(&batch(&[("b", None), ("a", None)]), &meta).unwrap();
        later.write(&batch(&[("c", Some("over the context"))]), &meta).unwrap();
        assert_eq!(later.keys().unwrap()["b"], KeyState::Done);
        assert_eq!(later.keys().unwrap()["c"], KeyState::Failed);

        let live: HashSet<String> = ["a", "b", "c"].into_iter().map(String::from).collect();
        let removed = later.compact(&live, None).unwrap();
        assert_eq!(removed, Compaction { stale: 1, superseded: 2 });
        let expected = vec![("a".into(), true), ("b".into(), true), ("c".into(), false)];
        assert_eq!(all_keys(&later), expected);
        assert_eq!(later.compact(&live, None).unwrap(), Compaction::default(), "idempotent");
        // The rewritten file kept its metadata.
        for part in later.parts().unwrap() {
            let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&part).unwrap()).unwrap();
            let kv = reader.metadata().file_metadata().key_value_metadata().unwrap();
            assert!(kv.iter().any(|kv| kv.key == "hearth.task"), "{}", part.display());
        }
    }

    #[test]
    fn a_row_whose_answer_was_not_read_runs_again_only_for_more_retries_than_it_had() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = PartFolder::open(dir.path(), None).unwrap();
        let meta = [("hearth.task".to_string(), "docs".to_string())];
        let schema = Arc::new(Schema::new(vec![
            Field::new("cache_key", DataType::Utf8, false),
            Field::new("error", DataType::Utf8, true),
            Field::new("parse_error", DataType::Utf8, true),
            Field::new("attempts", DataType::UInt32, true),
        ]));
        let rows: [(&str, Option<&str>, Option<&str>, Option<u32>); 5] = [
            ("read", None, None, Some(1)),
            ("once", None, Some("code, not a sentence"), Some(1)),
            ("thrice", None, Some("code, not a sentence"), Some(3)),
            ("before retries", None, Some("code, not a sentence"), None),
            ("failed", Some("over the context"), None, None),
        ];
        let columns: Vec<arrow_array::ArrayRef> = vec![
            Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            Arc::new(arrow_array::UInt32Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
        ];
        folder.write(&RecordBatch::try_new(schema, columns).unwrap(), &meta).unwrap();
        // A run that reads a later answer of `thrice`: read beats unread.
        folder.write(&batch(&[("thrice", None)]), &meta).unwrap();
        let keys = folder.keys().unwrap();
        assert_eq!(keys["once"], KeyState::Unread { attempts: 1 });
        assert_eq!(keys["before retries"], KeyState::Unread { attempts: 1 });
        assert_eq!(keys["thrice"], KeyState::Done);
        let runs = |key: &str, retries| KeyState::runs_again(keys.get(key), retries);
        assert!(!runs("read", 5) && !runs("thrice", 5));
        assert!(!runs("once", 0) && runs("once", 1) && runs("before retries", 2));
        assert!(runs("failed", 0) && runs("new", 0));
        // An unread answer is a row, no error: a later run's row for its key supersedes it.
        let live: HashSet<String> = rows.iter().map(|r| r.0.to_string()).collect();
        assert_eq!(folder.compact(&live, None).unwrap(), Compaction { stale: 0, superseded: 1 });
        assert_eq!(PartFolder::open(dir.path(), None).unwrap().keys().unwrap()["thrice"], KeyState::Done);
    }

    #[test]
    fn parts_from_an_older_version_take_the_new_columns_when_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = PartFolder::open(dir.path(), None).unwrap();
        let meta = [("hearth.version".to_string(), "0.0.9".to_string())];
        folder.write(&batch(&[("a", None), ("b", Some("failed"))]), &meta).unwrap();
        let live: HashSet<String> = ["a", "b"].into_iter().map(String::from).collect();
        let now: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("cache_key", DataType::Utf8, false),
            Field::new("energy_j", DataType::Float64, true),
            Field::new("error", DataType::Utf8, true),
        ]));
        // Every row is kept, but the file is rewritten: it lacks energy_j.
        assert_eq!(folder.compact(&live, Some(&now)).unwrap(), Compaction::default());
        let parts = folder.parts().unwrap();
        assert_eq!(parts.len(), 1);
        assert!(same_columns(&read_keys(&parts[0]).unwrap().0, &now));
        let rows: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&parts[0]).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        let energy = rows[0].column_by_name("energy_j").unwrap();
        assert_eq!((rows[0].num_rows(), energy.null_count()), (2, 2), "the new column is null in the old rows");
        assert_eq!(all_keys(&folder), vec![("a".into(), true), ("b".into(), false)]);
        let kv = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&parts[0]).unwrap()).unwrap().metadata().file_metadata().key_value_metadata().cloned().unwrap();
        assert!(kv.iter().any(|kv| kv.key == "hearth.version" && kv.value.as_deref() == Some("0.0.9")), "its provenance stays");
        let before = fs::read(&parts[0]).unwrap();
        folder.compact(&live, Some(&now)).unwrap();
        assert_eq!(fs::read(&parts[0]).unwrap(), before, "an up-to-date part is left alone");

        // A column that must not be null cannot be made up: refused, naming the part.
        let stricter: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("cache_key", DataType::Utf8, false),
            Field::new("tokens_in", DataType::UInt32, false),
            Field::new("error", DataType::Utf8, true),
        ]));
        let err = folder.compact(&live, Some(&stricter)).unwrap_err().to_string();
        assert!(err.contains("tokens_in") && err.contains(&parts[0].display().to_string()), "{err}");
        assert_eq!(fs::read(&parts[0]).unwrap(), before, "and the part is untouched");
    }

    #[test]
    fn small_parts_are_merged_into_full_ones_and_full_ones_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let part_rows = 6;
        let mut folder = PartFolder::open(dir.path(), None).unwrap();
        let meta = |n: &str| [("hearth.run".to_string(), n.to_string())];
        folder.write(&batch(&[("a", None), ("b", None), ("c", None), ("d", None), ("e", None), ("f", None)]), &meta("0")).unwrap();
        folder.write(&batch(&[("g", None), ("h", Some("failed")), ("i", None)]), &meta("0")).unwrap();
        // Later runs' last parts, each under half of part_rows.
        for (run, rows) in [vec![("j", None)], vec![("k", Some("over the context")), ("l", None)], vec![("m", None)], vec![("n", None), ("o", None)]].into_iter().enumerate() {
            let mut later = PartFolder::open(dir.path(), None).unwrap();
            later.write(&batch(&rows), &meta(&(run + 1).to_string())).unwrap();
        }
        let before = all_keys(&folder);
        let (full, half) = (folder.parts().unwrap()[0].clone(), folder.parts().unwrap()[1].clone());
        let untouched = (fs::read(&full).unwrap(), fs::read(&half).unwrap());

        let mut last = PartFolder::open(dir.path(), None).unwrap();
        let schema = batch(&[]).schema();
        assert_eq!(last.merge_small(part_rows, &schema).unwrap(), 4);
        assert_eq!(all_keys(&last), before, "every row once, errors kept");
        let parts = last.parts().unwrap();
        let rows: Vec<i64> = parts.iter().map(|p| open_parquet(p).unwrap().metadata().file_metadata().num_rows()).collect();
        assert_eq!(rows, vec![6, 3, 6], "four small parts became one full one, after the others");
        assert_eq!((fs::read(&parts[0]).unwrap(), fs::read(&parts[1]).unwrap()), untouched);
        let provenance = key_values(&open_parquet(&parts[2]).unwrap());
        assert!(provenance.contains(&("hearth.run".to_string(), "4".to_string())), "the newest small part's metadata: {provenance:?}");
        assert_eq!(last.merge_small(part_rows, &schema).unwrap(), 0, "nothing small is left to merge");

        // Eight one-row parts make a full part and a remainder.
        let mut more = PartFolder::open(dir.path(), None).unwrap();
        for key in ["p", "q", "r", "s", "t", "u", "v", "w"] {
            more.write(&batch(&[(key, None)]), &meta("5")).unwrap();
        }
        assert_eq!(more.merge_small(part_rows, &schema).unwrap(), 8);
        let rows: Vec<i64> = more.parts().unwrap().iter().map(|p| open_parquet(p).unwrap().metadata().file_metadata().num_rows()).collect();
        assert_eq!(rows, vec![6, 3, 6, 6, 2]);
        assert_eq!(all_keys(&more).len(), 23);
    }

    #[test]
    fn runs_are_numbered_after_existing_parts_and_partials_are_cleared() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".part-000004-000000.parquet.77.partial"), b"torn").unwrap();
        let mut folder = PartFolder::open(dir.path(), None).unwrap();
        assert_eq!(folder.run, 0);
        folder.write(&batch(&[("a", None)]), &[]).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "the partial file is gone");
        assert_eq!(PartFolder::open(dir.path(), None).unwrap().run, 1);
        assert_eq!(PartName::parse("part-000012-000003.parquet"), Some(PartName { shard: None, run: 12 }));
        assert_eq!(PartName::parse("part-x.parquet"), None);
    }

    #[test]
    fn shards_share_a_folder_without_touching_each_other_and_another_sharding_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let shard = |i| Some(Shard { index: i, count: 2 });
        let mut zero = PartFolder::open(dir.path(), shard(0)).unwrap();
        let mut one = PartFolder::open(dir.path(), shard(1)).unwrap();
        zero.write(&batch(&[("a", None)]), &[]).unwrap();
        one.write(&batch(&[("b", None)]), &[]).unwrap();
        // Shard 1 is killed mid-write; shard 0 opening again must leave its file alone.
        fs::write(dir.path().join(".part-1-of-2-000001-000000.parquet.9.partial"), b"torn").unwrap();
        let zero_again = PartFolder::open(dir.path(), shard(0)).unwrap();
        assert_eq!(zero_again.run, 1);
        assert!(dir.path().join(".part-1-of-2-000001-000000.parquet.9.partial").exists());
        let live: HashSet<String> = ["a".to_string()].into();
        assert_eq!(zero_again.compact(&live, None).unwrap(), Compaction::default(), "b is shard 1's, not stale");
        assert_eq!(all_keys(&one), vec![("b".into(), true)]);
        assert_eq!(PartFolder::open(dir.path(), shard(1)).unwrap().run, 1, "its partial is cleared, its run counted");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);

        let err = PartFolder::open(dir.path(), None).err().unwrap().to_string();
        assert!(err.contains("part-") && err.contains("2 shards") && err.contains("unsharded"), "{err}");
        assert!(PartFolder::open(dir.path(), Some(Shard { index: 0, count: 3 })).is_err());
    }
}
