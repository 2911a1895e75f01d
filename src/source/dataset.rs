//! Reading a dataset of code (Parquet or JSONL) into the same units as a walk.
//!
//! Public code datasets name their columns differently (`content`/`text`/`code`,
//! `path`/`max_stars_repo_path`, …), so every column name can be mapped. Records go
//! through the same [`Emitter`] as files from disk: same size limit, binary and UTF-8
//! checks, globs and splitting. A record that lacks what it needs is recorded as
//! `invalid_record`, never dropped.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Mutex;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use crossbeam_channel::Sender;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde::Serialize;

use super::emit::{Emitter, PathFilter, WalkStats};
use super::generated::Linguist;
use super::language::Language;
use super::text::{Skip, SkipReason};
use super::{SourceBatch, SourceInfo, WalkConfig};
use crate::{Error, Result};

/// Records handed to a worker at a time.
const CHUNK_RECORDS: usize = 64;

/// Which dataset column holds which field.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetColumns {
    /// The file path. Default `path` (or The Stack's `max_stars_repo_path`, …).
    pub path: String,
    /// The file content. Default `content` (or github-code's `code`).
    pub content: String,
    /// The repository name. Default: `repo` (or `repo_name`, …) when the dataset has
    /// it, else the dataset's file stem for every record.
    pub repo: Option<String>,
    /// The language label. Default: `language` (or `lang`) when the dataset
    /// has it, else detected from the path.
    pub language: Option<String>,
}

impl Default for DatasetColumns {
    fn default() -> Self {
        DatasetColumns { path: "path".into(), content: "content".into(), repo: None, language: None }
    }
}

/// The names well-known code datasets give each field, tried in order where a column is
/// not named (`--path-column` and the others): hearth's own, then The Stack's
/// (`max_stars_repo_path`, `max_stars_repo_name`, `lang`) and codeparrot/github-code's
/// (`code`, `repo_name`), so a dataset fetched from the Hugging Face Hub reads as it is.
const PATH_NAMES: &[&str] = &["path", "max_stars_repo_path", "file_path", "filepath"];
const CONTENT_NAMES: &[&str] = &["content", "code"];
const REPO_NAMES: &[&str] = &["repo", "repo_name", "max_stars_repo_name", "repository"];
const LANGUAGE_NAMES: &[&str] = &["language", "lang"];

impl DatasetColumns {
    /// The names each field's column may have, in order: the one given, or the known ones.
    fn candidates(&self) -> [Vec<&str>; 4] {
        fn named<'a>(given: &'a str, default: &str, known: &'static [&'static str]) -> Vec<&'a str> {
            if given == default { known.to_vec() } else { vec![given] }
        }
        [
            named(&self.path, "path", PATH_NAMES),
            named(&self.content, "content", CONTENT_NAMES),
            self.repo.as_deref().map_or_else(|| REPO_NAMES.to_vec(), |given| vec![given]),
            self.language.as_deref().map_or_else(|| LANGUAGE_NAMES.to_vec(), |given| vec![given]),
        ]
    }
}

/// One record as read, before any check.
struct Record {
    repo: String,
    path: String,
    content: Option<Vec<u8>>,
    language: Option<String>,
    /// Why the record cannot be used (malformed JSON, a missing field).
    invalid: Option<String>,
}

/// Reads `file`, sending unit and skip batches to `tx`.
pub fn read_dataset(
    file: &Path,
    columns: &DatasetColumns,
    config: &WalkConfig,
    stats: &WalkStats,
    tx: Sender<SourceBatch>,
) -> Result<Vec<SourceInfo>> {
    let filter = PathFilter::new(config)?;
    let default_repo = file.file_stem().map_or_else(|| "dataset".into(), |s| s.to_string_lossy().into_owned());
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let threads = if config.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        config.threads
    };
    let failure = Mutex::new(None);
    let (chunks_tx, chunks_rx) = crossbeam_channel::bounded::<Vec<Record>>(threads * 2);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let chunks_rx = chunks_rx.clone();
            let mut emitter = Emitter::new(config, &filter, stats, tx.clone());
            let failure = &failure;
            scope.spawn(move || {
                let result = chunks_rx
                    .iter()
                    .try_for_each(|chunk| chunk.into_iter().try_for_each(|r| emit_record(&mut emitter, r)))
                    .and_then(|()| emitter.flush());
                if let Err(err) = result {
                    failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(err);
                }
            });
        }
        drop(chunks_rx);
        let read = match extension.as_str() {
            "parquet" => read_parquet(file, columns, &default_repo, &chunks_tx),
            "jsonl" | "ndjson" | "json" => read_jsonl(file, columns, &default_repo, &chunks_tx),
            _ => Err(Error::dataset(file, "unknown dataset format: expected .parquet or .jsonl")),
        };
        drop(chunks_tx);
        if let Err(err) = read {
            failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(err);
        }
    });
    if let Some(err) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(err);
    }
    let root = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    Ok(vec![SourceInfo { repo: default_repo, root: root.display().to_string(), git_commit: None }])
}

fn emit_record(emitter: &mut Emitter<'_>, record: Record) -> Result<()> {
    let (repo, path) = (&record.repo, &record.path);
    let size = record.content.as_ref().map(|c| c.len() as u64);
    if let Some(why) = record.invalid {
        return emitter.skip(repo, path, Skip::with_detail(SkipReason::InvalidRecord, why), size);
    }
    // A dataset's files have no `.gitattributes`; their paths still say where they were.
    if emitter.skip_before_reading(repo, path, Linguist::default(), size)? {
        return Ok(());
    }
    let language = record.language.as_deref().and_then(Language::from_name);
    emitter.file(repo, path, record.content.unwrap_or_default(), language, Linguist::default())
}

fn send(chunks: &Sender<Vec<Record>>, chunk: &mut Vec<Record>) -> Result<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    chunks.send(std::mem::take(chunk)).map_err(|_| Error::Disconnected)
}

fn read_jsonl(file: &Path, columns: &DatasetColumns, default_repo: &str, chunks: &Sender<Vec<Record>>) -> Result<()> {
    let reader = BufReader::new(File::open(file).map_err(|e| Error::io(file, e))?);
    let [path_fields, content_fields, repo_fields, language_fields] = columns.candidates();
    let mut chunk = Vec::with_capacity(CHUNK_RECORDS);
    for (index, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(|e| Error::io(file, e))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_no = index + 1;
        let mut record = Record {
            repo: default_repo.to_string(),
            path: format!("{}:{line_no}", file.display()),
            content: None,
            language: None,
            invalid: None,
        };
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&line) {
            Err(err) => record.invalid = Some(format!("line {line_no}: {err}")),
            Ok(object) => {
                let text = |fields: &[&str]| fields.iter().find_map(|field| object.get(*field).and_then(|v| v.as_str())).map(str::to_string);
                if let Some(repo) = text(&repo_fields) {
                    record.repo = repo;
                }
                record.language = text(&language_fields);
                match (text(&path_fields), text(&content_fields)) {
                    (Some(path), Some(content)) => {
                        record.path = path;
                        record.content = Some(content.into_bytes());
                    }
                    (path, _) => {
                        let missing = if path.is_none() { &path_fields } else { &content_fields };
                        record.invalid = Some(format!("line {line_no}: no string field {}", missing.join(" or ")));
                        record.path = path.unwrap_or(record.path);
                    }
                }
            }
        }
        chunk.push(record);
        if chunk.len() >= CHUNK_RECORDS {
            send(chunks, &mut chunk)?;
        }
    }
    send(chunks, &mut chunk)
}

fn read_parquet(file: &Path, columns: &DatasetColumns, default_repo: &str, chunks: &Sender<Vec<Record>>) -> Result<()> {
    let opened = File::open(file).map_err(|e| Error::io(file, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(opened).map_err(|e| Error::parquet(file, e))?;
    let schema = builder.schema().clone();
    // The first of a field's names the file has; a column named by the user must be there.
    let find = |names: &[&str], required: bool| -> Result<Option<(usize, String)>> {
        match names.iter().find_map(|name| Some((schema.index_of(name).ok()?, name.to_string()))) {
            Some((index, name)) => {
                let data_type = schema.field(index).data_type();
                if !is_text_type(data_type) {
                    return Err(Error::dataset(file, format!("column {name:?} is {data_type}, not a string column")));
                }
                Ok(Some((index, name)))
            }
            None if !required => Ok(None),
            None => {
                let wanted: Vec<String> = names.iter().map(|name| format!("{name:?}")).collect();
                let available: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                Err(Error::dataset(file, format!("no column {}; columns are {}", wanted.join(" or "), available.join(", "))))
            }
        }
    };
    let [path_names, content_names, repo_names, language_names] = columns.candidates();
    let (path_index, path_name) = find(&path_names, true)?.unwrap_or_default();
    let (content_index, content_name) = find(&content_names, true)?.unwrap_or_default();
    let repo_index = find(&repo_names, columns.repo.is_some())?.map(|(index, _)| index);
    let language_index = find(&language_names, columns.language.is_some())?.map(|(index, _)| index);
    let mut wanted = vec![path_index, content_index];
    wanted.extend(repo_index);
    wanted.extend(language_index);
    wanted.sort_unstable();
    wanted.dedup();
    // Projected batches keep only the wanted columns, in schema order.
    let position = |index: usize| wanted.iter().position(|&w| w == index).unwrap_or_default();
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted.iter().copied());
    let reader = builder.with_projection(mask).with_batch_size(256).build().map_err(|e| Error::parquet(file, e))?;
    let mut row = 0usize;
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| Error::dataset(file, e.to_string()))?;
        let path = batch.column(position(path_index));
        let content = batch.column(position(content_index));
        let repo = repo_index.map(|i| batch.column(position(i)));
        let language = language_index.map(|i| batch.column(position(i)));
        let mut chunk = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            row += 1;
            let text = |array: &dyn Array| bytes_at(array, i).map(|b| String::from_utf8_lossy(b).into_owned());
            let path_value = text(path.as_ref());
            let content_value = bytes_at(content.as_ref(), i).map(<[u8]>::to_vec);
            let invalid = match (&path_value, &content_value) {
                (None, _) => Some(format!("row {row}: {path_name:?} is null")),
                (_, None) => Some(format!("row {row}: {content_name:?} is null")),
                _ => None,
            };
            chunk.push(Record {
                repo: repo.and_then(|r| text(r.as_ref())).unwrap_or_else(|| default_repo.to_string()),
                path: path_value.unwrap_or_else(|| format!("{}:{row}", file.display())),
                content: content_value,
                language: language.and_then(|l| text(l.as_ref())),
                invalid,
            });
        }
        send(chunks, &mut chunk)?;
    }
    Ok(())
}

fn is_text_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

/// The bytes of row `i` of a string or binary column; `None` for null.
fn bytes_at(array: &dyn Array, i: usize) -> Option<&[u8]> {
    if array.is_null(i) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(i).as_bytes(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(i).as_bytes(),
        DataType::Utf8View => array.as_string_view().value(i).as_bytes(),
        DataType::Binary => array.as_binary::<i32>().value(i),
        DataType::LargeBinary => array.as_binary::<i64>().value(i),
        DataType::BinaryView => array.as_binary_view().value(i),
        _ => return None,
    })
}
