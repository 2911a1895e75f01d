//! The units a task runs, read back from the walk's `units.parquet`.
//!
//! A run over a large dataset must not hold its code in memory. A task first reads only
//! each unit's identity ([`read_unit_keys`]: enough for the cache keys that decide what
//! is left to do), then a [`UnitStore`] reads the file front to back as the workers
//! reach its rows, keeps only the units still to run, and lets each one go once its
//! row is written. What it holds at a time is the workers' flight and one read batch,
//! whatever the size of the walk.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use serde::Serialize;

use super::house::{HouseStyle, HouseStyles};

use crate::sink::{key_values, open_parquet};
use crate::source::{at_margin, DocConventions, Language, UnitKind, DOC_CONVENTIONS_KEY};
use crate::{Error, Result};

/// A unit as the tasks read it back from `units.parquet`.
#[derive(Debug, Clone, Serialize)]
pub struct UnitRow {
    #[allow(missing_docs)]
    pub unit_id: String,
    #[allow(missing_docs)]
    pub repo: String,
    #[allow(missing_docs)]
    pub path: String,
    #[allow(missing_docs)]
    pub language: String,
    #[allow(missing_docs)]
    pub kind: String,
    #[allow(missing_docs)]
    pub name: Option<String>,
    #[allow(missing_docs)]
    pub parent: Option<String>,
    #[allow(missing_docs)]
    pub start_line: u32,
    #[allow(missing_docs)]
    pub end_line: u32,
    #[allow(missing_docs)]
    pub content_hash: String,
    /// Its code at the margin, as prompts show it ([`at_margin`]).
    pub content: String,
    /// The source has its doc comment already, one that still describes it (`doc` is
    /// set, `stale_doc` is not).
    pub documented: bool,
    /// Why the doc the source has no longer describes it, when it does not.
    pub stale_doc: Option<String>,
    /// A function's code before its body, which a doc's parameter names are held to.
    pub signature: Option<String>,
    /// A function's parameter names, which a doc that documents parameters must all name
    /// (`None` where they cannot all be named, and in walks from before they were read).
    pub parameters: Option<Vec<String>>,
}

/// What a unit's cache key is made of, without its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitKey {
    #[allow(missing_docs)]
    pub unit_id: String,
    #[allow(missing_docs)]
    pub content_hash: String,
    /// Which units a task runs on is chosen by kind (`skip_kinds`), and for docs by
    /// whether a file's language can hold a comment and whether the source has the
    /// unit's doc already (`skip_documented`).
    pub kind: UnitKind,
    #[allow(missing_docs)]
    pub language: Language,
    /// As [`UnitRow::documented`].
    pub documented: bool,
    /// Its doc no longer names its code's parameters ([`UnitRow::stale_doc`]), which
    /// the docs prompt says.
    pub stale: bool,
    /// The length of its code: what running it reads (`hearth run --dry-run` sums it).
    pub bytes: u32,
    /// Its code is shown moved to the margin ([`at_margin`]), not as stored.
    pub at_margin: bool,
    /// How its repository's docs name parameters, for a function or method: what the
    /// docs prompt asks of its doc.
    pub house_style: Option<HouseStyle>,
}

fn text<'a>(batch: &'a RecordBatch, name: &str) -> &'a StringArray {
    batch.column_by_name(name).expect("units.parquet has its schema").as_string::<i32>()
}

/// The identity of every unit of a `units.parquet`, in file order, and the house styles
/// its repositories' docs show (as the walk counted them over every shard's units) under
/// those the pipeline `chosen`: only its small columns are read.
pub fn read_unit_keys(path: &Path, chosen: HashMap<Language, HouseStyle>) -> Result<(Vec<UnitKey>, HouseStyles)> {
    let builder = open_parquet(path)?;
    let styles = HouseStyles::new(&doc_conventions(path, &builder)?, chosen);
    let columns = ProjectionMask::columns(builder.parquet_schema(), ["unit_id", "repo", "content_hash", "kind", "language", "doc", "stale_doc", "indent", "bytes"]);
    let reader = builder.with_projection(columns).build().map_err(|e| Error::parquet(path, e))?;
    let mut keys = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Error::parquet(path, e.into()))?;
        let (unit_id, content_hash, kind, language) = (text(&batch, "unit_id"), text(&batch, "content_hash"), text(&batch, "kind"), text(&batch, "language"));
        let (doc, stale_doc, indent, repo) = (text(&batch, "doc"), text(&batch, "stale_doc"), text(&batch, "indent"), text(&batch, "repo"));
        let bytes = batch.column_by_name("bytes").expect("units.parquet has its schema").as_primitive::<UInt32Type>();
        for i in 0..batch.num_rows() {
            let unknown = |what: &str, name: &str| Error::Dataset { path: path.to_path_buf(), message: format!("row {}: unknown {what} `{name}`", keys.len()) };
            let (kind, language) = (
                UnitKind::from_name(kind.value(i)).ok_or_else(|| unknown("kind", kind.value(i)))?,
                Language::from_name(language.value(i)).ok_or_else(|| unknown("language", language.value(i)))?,
            );
            keys.push(UnitKey {
                unit_id: unit_id.value(i).to_string(),
                content_hash: content_hash.value(i).to_string(),
                kind,
                language,
                documented: doc.is_valid(i) && stale_doc.is_null(i),
                stale: doc.is_valid(i) && stale_doc.is_valid(i),
                bytes: bytes.value(i),
                at_margin: indent.is_valid(i),
                house_style: styles.for_unit(repo.value(i), language, kind),
            });
        }
    }
    Ok((keys, styles))
}

/// How a walk's repositories document parameters, as it recorded in its `units.parquet`
/// at `path` (none recorded: none counted).
pub fn read_doc_conventions(path: &Path) -> Result<DocConventions> {
    doc_conventions(path, &open_parquet(path)?)
}

fn doc_conventions(path: &Path, units: &ParquetRecordBatchReaderBuilder<File>) -> Result<DocConventions> {
    match key_values(units).into_iter().find(|(key, _)| key == DOC_CONVENTIONS_KEY) {
        Some((_, recorded)) => DocConventions::from_json(&recorded).map_err(|e| Error::Dataset { path: path.to_path_buf(), message: format!("{DOC_CONVENTIONS_KEY}: {e}") }),
        None => Ok(DocConventions::default()),
    }
}

/// Every unit of a `units.parquet`, in file order. For small walks (benchmarks, tests);
/// a run reads through a [`UnitStore`].
pub fn read_units(path: &Path) -> Result<Vec<UnitRow>> {
    read_units_where(path, |_| true)
}

/// The units of a `units.parquet` that `keep` keeps, in file order.
pub fn read_units_where(path: &Path, keep: impl Fn(&UnitRow) -> bool) -> Result<Vec<UnitRow>> {
    let reader = open_parquet(path)?.build().map_err(|e| Error::parquet(path, e))?;
    let mut units = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Error::parquet(path, e.into()))?;
        units.extend((0..batch.num_rows()).map(|i| unit_row(&batch, i)).filter(|unit| keep(unit)));
    }
    Ok(units)
}

fn unit_row(batch: &RecordBatch, i: usize) -> UnitRow {
    let number = |name: &str| batch.column_by_name(name).expect("units.parquet has its schema").as_primitive::<UInt32Type>().value(i);
    let string = |name: &str| text(batch, name).value(i).to_string();
    let optional = |name: &str| {
        let column = text(batch, name);
        column.is_valid(i).then(|| column.value(i).to_string())
    };
    UnitRow {
        unit_id: string("unit_id"),
        repo: string("repo"),
        path: string("path"),
        language: string("language"),
        kind: string("kind"),
        name: optional("name"),
        parent: optional("parent"),
        start_line: number("start_line"),
        end_line: number("end_line"),
        content_hash: string("content_hash"),
        content: {
            let (content, indent) = (text(batch, "content").value(i), text(batch, "indent"));
            indent.is_valid(i).then(|| at_margin(indent.value(i), content)).flatten().unwrap_or_else(|| content.to_string())
        },
        documented: text(batch, "doc").is_valid(i) && text(batch, "stale_doc").is_null(i),
        stale_doc: optional("stale_doc"),
        // Walks before it was written have none: the whole unit stands in.
        signature: batch.column_by_name("signature").map(|c| c.as_string::<i32>()).filter(|c| c.is_valid(i)).map(|c| c.value(i).to_string()),
        parameters: batch.column_by_name("parameters").map(|c| c.as_list::<i32>()).filter(|c| c.is_valid(i)).map(|c| {
            let names = c.value(i);
            names.as_string::<i32>().iter().flatten().map(str::to_string).collect()
        }),
    }
}

/// A task's units, read from `units.parquet` as the workers reach them (see the module
/// doc). Units are named by their row in the file; a task's jobs are those rows, handed
/// out in file order, so the reader only ever moves forward.
pub struct UnitStore {
    path: PathBuf,
    cursor: Mutex<Cursor>,
}

struct Cursor {
    reader: ParquetRecordBatchReader,
    /// File row of the reader's next row.
    next: usize,
    /// Rows to keep as the reader passes them: the task's units still to run.
    wanted: Vec<bool>,
    /// Units read and not yet released.
    held: HashMap<usize, Arc<UnitRow>>,
    peak_held: usize,
}

impl UnitStore {
    /// The units at `rows` of the file at `path` (of `total` rows), read `batch_rows` at
    /// a time.
    pub fn open(path: &Path, total: usize, rows: impl IntoIterator<Item = usize>, batch_rows: usize) -> Result<UnitStore> {
        let reader = open_parquet(path)?.with_batch_size(batch_rows.max(1)).build().map_err(|e| Error::parquet(path, e))?;
        let mut wanted = vec![false; total];
        for row in rows {
            wanted[row] = true;
        }
        Ok(UnitStore {
            path: path.to_path_buf(),
            cursor: Mutex::new(Cursor { reader, next: 0, wanted, held: HashMap::new(), peak_held: 0 }),
        })
    }

    /// The unit at `row`, reading on to it if the reader has not got there yet.
    pub fn get(&self, row: usize) -> Result<Arc<UnitRow>> {
        let mut cursor = self.cursor.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(unit) = cursor.held.get(&row) {
            return Ok(unit.clone());
        }
        let gone = || Error::Request(format!("{}: row {row} is not a unit this task still runs", self.path.display()));
        if row < cursor.next || !cursor.wanted.get(row).copied().unwrap_or(false) {
            return Err(gone());
        }
        while cursor.next <= row {
            let batch = match cursor.reader.next() {
                Some(batch) => batch.map_err(|e| Error::parquet(&self.path, e.into()))?,
                None => return Err(Error::Request(format!("{} ends at row {}, before row {row}", self.path.display(), cursor.next))),
            };
            let first = cursor.next;
            for i in 0..batch.num_rows() {
                if cursor.wanted.get(first + i).copied().unwrap_or(false) {
                    cursor.held.insert(first + i, Arc::new(unit_row(&batch, i)));
                }
            }
            cursor.next += batch.num_rows();
            cursor.peak_held = cursor.peak_held.max(cursor.held.len());
        }
        cursor.held.get(&row).cloned().ok_or_else(gone)
    }

    /// The unit at `row`, let go: its row is written, and no worker asks for it again.
    pub fn release(&self, row: usize) -> Result<Arc<UnitRow>> {
        let unit = self.get(row)?;
        let mut cursor = self.cursor.lock().unwrap_or_else(|p| p.into_inner());
        cursor.held.remove(&row);
        cursor.wanted[row] = false;
        Ok(unit)
    }

    /// The most units it held at once.
    pub fn peak_held(&self) -> usize {
        self.cursor.lock().unwrap_or_else(|p| p.into_inner()).peak_held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::AtomicParquetWriter;
    use crate::source::unit_schema;
    use arrow_array::{ArrayRef, BooleanArray, UInt32Array, UInt64Array};

    /// A `units.parquet` of `n` units, unit `i` holding the code `code i`; every fourth
    /// is documented.
    fn units_file(dir: &Path, n: usize) -> PathBuf {
        let path = dir.join("units.parquet");
        let strings = |f: &dyn Fn(usize) -> String| Arc::new(StringArray::from_iter_values((0..n).map(f))) as ArrayRef;
        let numbers = |v: u32| Arc::new(UInt32Array::from(vec![v; n])) as ArrayRef;
        let columns = vec![
            strings(&|i| format!("u{i}")),
            strings(&|_| "repo".into()),
            strings(&|i| format!("f{}.rs", i / 3)),
            strings(&|_| "rust".into()),
            strings(&|_| "function".into()),
            Arc::new(StringArray::from_iter((0..n).map(|i| (i % 2 == 0).then(|| format!("f{i}"))))) as ArrayRef,
            Arc::new(StringArray::from(vec![None::<&str>; n])) as ArrayRef,
            numbers(1),
            numbers(2),
            Arc::new(UInt64Array::from(vec![0u64; n])) as ArrayRef,
            Arc::new(UInt64Array::from(vec![1u64; n])) as ArrayRef,
            numbers(0),
            numbers(1),
            Arc::new(BooleanArray::from(vec![false; n])) as ArrayRef,
            Arc::new(StringArray::from_iter((0..n).map(|i| (i % 4 == 0).then(|| format!("/// Unit {i}."))))) as ArrayRef,
            // Every other doc names a parameter its unit lost.
            Arc::new(StringArray::from_iter((0..n).map(|i| (i % 8 == 0).then(|| "its doc names parameters its code does not have: `x`".to_string())))) as ArrayRef,
            Arc::new(StringArray::from(vec![None::<&str>; n])) as ArrayRef,
            Arc::new(StringArray::from(vec![None::<&str>; n])) as ArrayRef,
            arrow_array::new_null_array(unit_schema().field_with_name("parameters").unwrap().data_type(), n),
            numbers(6),
            strings(&|i| format!("h{i}")),
            strings(&|i| format!("code {i}")),
        ];
        // As the walk records them: every doc counted.
        let mut conventions = DocConventions::default();
        for i in (0..n).step_by(4) {
            conventions.count("repo", Language::Rust, UnitKind::Function, &format!("/// Unit {i}."));
        }
        let mut writer = AtomicParquetWriter::create(&path, unit_schema()).unwrap();
        writer.write(&RecordBatch::try_new(unit_schema(), columns).unwrap()).unwrap();
        writer.finish(&[(DOC_CONVENTIONS_KEY.to_string(), conventions.to_json())]).unwrap();
        path
    }

    #[test]
    fn keys_are_read_without_the_code_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, _) = read_unit_keys(&units_file(dir.path(), 5), HashMap::new()).unwrap();
        assert_eq!(keys.len(), 5);
        let key = UnitKey { unit_id: "u3".into(), content_hash: "h3".into(), kind: UnitKind::Function, language: Language::Rust, documented: false, stale: false, bytes: 6, at_margin: false, house_style: None };
        assert_eq!(keys[3], key, "two documented functions show no house style");
        assert!(keys[4].documented);
        assert!(!keys[0].documented && keys[0].stale, "a stale doc does not count");
        // Six docs, none naming a parameter: the repository writes plain prose.
        let (keys, styles) = read_unit_keys(&units_file(dir.path(), 24), HashMap::new()).unwrap();
        assert_eq!(styles.of("repo", Language::Rust), Some(HouseStyle::Plain));
        assert!(keys.iter().all(|key| key.house_style == Some(HouseStyle::Plain)));
        // The pipeline's choice for the language is every function's, documented or not.
        let markdown = HouseStyle::from_name("markdown").unwrap();
        let (keys, _) = read_unit_keys(&units_file(dir.path(), 5), HashMap::from([(Language::Rust, markdown)])).unwrap();
        assert!(keys.iter().all(|key| key.house_style == Some(markdown)));
    }

    #[test]
    fn the_store_holds_its_workers_flight_and_one_batch_not_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        let (n, batch, flight) = (1000, 16, 8);
        let path = units_file(dir.path(), n);
        // Every third unit was done by an earlier run.
        let todo: Vec<usize> = (0..n).filter(|i| i % 3 != 0).collect();
        let store = UnitStore::open(&path, n, todo.iter().copied(), batch).unwrap();
        // Workers keep `flight` units at once: take the next, release the oldest.
        let mut in_flight = std::collections::VecDeque::new();
        for &row in &todo {
            let unit = store.get(row).unwrap();
            assert_eq!((unit.unit_id.as_str(), unit.content.as_str()), (format!("u{row}").as_str(), format!("code {row}").as_str()));
            assert_eq!(unit.name.is_some(), row % 2 == 0);
            assert_eq!(unit.documented, row % 4 == 0 && row % 8 != 0);
            in_flight.push_back(row);
            if in_flight.len() > flight {
                store.release(in_flight.pop_front().unwrap()).unwrap();
            }
        }
        // A requeued unit (taken again by another worker) is still there.
        let back = in_flight[0];
        assert_eq!(store.get(back).unwrap().unit_id, format!("u{back}"));
        for row in in_flight {
            store.release(row).unwrap();
        }
        assert!(store.peak_held() <= flight + 1 + batch, "held {} units at once", store.peak_held());
        assert!(store.peak_held() > flight);
    }

    #[test]
    fn a_released_a_done_or_a_missing_row_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = units_file(dir.path(), 10);
        let store = UnitStore::open(&path, 10, [1, 2, 9], 4).unwrap();
        assert_eq!(store.release(2).unwrap().unit_id, "u2");
        for row in [2, 3, 10] {
            let e = store.get(row).unwrap_err().to_string();
            assert!(e.contains("units.parquet") && e.contains(&format!("row {row}")), "{e}");
        }
        // A unit the sink writes without a worker having read it (no worker could run
        // it) is read on the way.
        assert_eq!(store.release(9).unwrap().unit_id, "u9");
        assert_eq!(store.get(1).unwrap().unit_id, "u1");
    }
}
