//! The walk job: the source stage feeding the Parquet sink, as `hearth walk` runs it.
//! The source runs on the calling thread; the sink on its own, across a bounded channel.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::{Array, BooleanArray, RecordBatch};
use serde::Serialize;

use crate::shard::{self, Shard};
use crate::sink::AtomicParquetWriter;
use crate::source::{self, DatasetColumns, DocConventions, SourceBatch, SourceInfo, WalkConfig, WalkStats, DOC_CONVENTIONS_KEY};
use crate::{Error, Result};

/// Batches in flight between the source and the sink.
const CHANNEL_BATCHES: usize = 8;

/// File name of the units output (of an unsharded walk).
pub const UNITS_FILE: &str = "units.parquet";
/// File name of the skipped-files output (of an unsharded walk).
pub const SKIPPED_FILE: &str = "skipped.parquet";

/// Where a walk writes its units: `units.parquet`, or `units-<i>-of-<N>.parquet` for a shard.
pub fn units_path(out_dir: &Path, shard: Option<Shard>) -> PathBuf {
    out_dir.join(format!("units{}.parquet", shard::tag(shard)))
}

/// Where a walk writes its skipped files, named like [`units_path`].
pub fn skipped_path(out_dir: &Path, shard: Option<Shard>) -> PathBuf {
    out_dir.join(format!("skipped{}.parquet", shard::tag(shard)))
}

/// What a walk reads.
#[derive(Debug, Clone)]
pub enum WalkInput {
    /// Repository roots (or single files).
    Repos(Vec<PathBuf>),
    /// A Parquet or JSONL dataset of code.
    Dataset {
        /// The dataset file.
        file: PathBuf,
        /// Where its fields are.
        columns: DatasetColumns,
    },
}

/// What a walk did.
#[derive(Debug, Clone, Serialize)]
pub struct WalkSummary {
    /// Units written.
    pub units: u64,
    /// Repositories the units came from (a shard's: all it walked): a folder of
    /// checkouts, or a dataset's repository column, says how many it held.
    pub repositories: u64,
    /// Those whose doc the source has already (`doc` not null): what docs leave alone,
    /// but for the stale ones.
    pub documented: u64,
    /// Those whose doc names parameters their code does not have (`stale_doc` not null):
    /// docs run on them as on undocumented units.
    pub stale_docs: u64,
    /// Files recorded as skipped.
    pub skipped: u64,
    /// Skipped files by reason.
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Files that became units.
    pub files: u64,
    /// Bytes of the files that became units.
    pub bytes: u64,
    /// Wall time.
    #[serde(serialize_with = "as_secs")]
    pub elapsed: Duration,
    /// The inputs.
    pub sources: Vec<SourceInfo>,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Walks `inputs`, one after another, into `out_dir/units.parquet` and
/// `out_dir/skipped.parquet`. `stats` is updated as the walk goes, for a progress display.
/// A `shard` keeps only its own units (by unit id) and skipped files (by path), in files
/// named after it, so the shards' files together are the unsharded walk's.
pub fn walk(inputs: &[WalkInput], config: &WalkConfig, out_dir: &Path, stats: &WalkStats, shard: Option<Shard>) -> Result<WalkSummary> {
    let started = Instant::now();
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let mut units = AtomicParquetWriter::create(&units_path(out_dir, shard), source::unit_schema())?;
    let mut skipped = AtomicParquetWriter::create(&skipped_path(out_dir, shard), source::skipped_schema())?;
    let (tx, rx) = crossbeam_channel::bounded(CHANNEL_BATCHES);

    let (units_sink, skipped_sink) = (&mut units, &mut skipped);
    let (sources, sink) = std::thread::scope(|scope| {
        let sink = scope.spawn(move || -> Result<(BTreeMap<String, u64>, u64, u64, DocConventions, HashSet<String>)> {
            let (mut reasons, mut documented, mut stale_docs) = (BTreeMap::new(), 0, 0);
            let mut conventions = DocConventions::default();
            let mut repositories = HashSet::new();
            for batch in rx {
                match batch {
                    SourceBatch::Units(batch) => {
                        // Every shard counts every repository's docs, not its share of them.
                        count_docs(&batch, &mut conventions);
                        for repo in batch.column_by_name("repo").expect("units have their schema").as_string::<i32>().iter().flatten() {
                            if !repositories.contains(repo) {
                                repositories.insert(repo.to_string());
                            }
                        }
                        let batch = own_rows(&batch, shard, &["unit_id"])?;
                        let present = |column: &str| batch.column_by_name(column).map(|c| (c.len() - c.null_count()) as u64).expect("units have their schema");
                        documented += present("doc");
                        stale_docs += present("stale_doc");
                        units_sink.write(&batch)?
                    }
                    SourceBatch::Skipped(batch) => {
                        let batch = own_rows(&batch, shard, &["repo", "path"])?;
                        for reason in batch.column(2).as_string::<i32>().iter().flatten() {
                            *reasons.entry(reason.to_string()).or_insert(0) += 1;
                        }
                        skipped_sink.write(&batch)?
                    }
                }
            }
            Ok((reasons, documented, stale_docs, conventions, repositories))
        });
        let sources = inputs.iter().try_fold(Vec::new(), |mut all, input| {
            let tx = tx.clone();
            all.extend(match input {
                WalkInput::Repos(roots) => source::walk_repos(roots, config, stats, tx)?,
                WalkInput::Dataset { file, columns } => source::read_dataset(file, columns, config, stats, tx)?,
            });
            Ok::<_, Error>(all)
        });
        drop(tx);
        (sources, sink.join().expect("the sink thread does not panic"))
    });
    // A failed sink disconnects the source, so its error is the one to report.
    let (skipped_by_reason, documented, stale_docs, conventions, repositories) = sink?;
    let sources = sources?;

    let metadata = provenance(inputs, config, &sources);
    let units_metadata: Vec<(String, String)> = metadata.iter().cloned().chain([(DOC_CONVENTIONS_KEY.to_string(), conventions.to_json())]).collect();
    let unit_rows = units.finish(&units_metadata)?;
    let skipped_rows = skipped.finish(&metadata)?;
    Ok(WalkSummary {
        units: unit_rows,
        repositories: repositories.len() as u64,
        documented,
        stale_docs,
        skipped: skipped_rows,
        skipped_by_reason,
        files: stats.files.load(std::sync::atomic::Ordering::Relaxed) - skipped_rows,
        bytes: stats.bytes.load(std::sync::atomic::Ordering::Relaxed),
        elapsed: started.elapsed(),
        sources,
    })
}

/// Counts the docs of a batch of units in `conventions`.
fn count_docs(units: &RecordBatch, conventions: &mut DocConventions) {
    let column = |name: &str| units.column_by_name(name).expect("units have their schema").as_string::<i32>();
    let (repo, language, kind, doc) = (column("repo"), column("language"), column("kind"), column("doc"));
    for row in (0..units.num_rows()).filter(|&row| doc.is_valid(row)) {
        if let (Some(language), Some(kind)) = (source::Language::from_name(language.value(row)), source::UnitKind::from_name(kind.value(row))) {
            conventions.count(repo.value(row), language, kind, doc.value(row));
        }
    }
}

/// The rows of `batch` that `shard` owns, by the joined `key_columns`.
fn own_rows(batch: &RecordBatch, shard: Option<Shard>, key_columns: &[&str]) -> Result<RecordBatch> {
    let Some(shard) = shard else { return Ok(batch.clone()) };
    let columns: Vec<_> = key_columns
        .iter()
        .map(|c| batch.column_by_name(c).expect("source batches have their key columns").as_string::<i32>())
        .collect();
    let owned: BooleanArray = (0..batch.num_rows())
        .map(|row| {
            let key: Vec<&str> = columns.iter().map(|c| c.value(row)).collect();
            Some(shard.owns(&key.join("/")))
        })
        .collect();
    Ok(arrow_select::filter::filter_record_batch(batch, &owned)?)
}

/// Key-value metadata every output file carries.
fn provenance(inputs: &[WalkInput], config: &WalkConfig, sources: &[SourceInfo]) -> Vec<(String, String)> {
    let mut metadata = vec![
        ("hearth.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("hearth.sources".to_string(), to_json(&sources)),
        ("hearth.walk_config".to_string(), to_json(config)),
    ];
    let columns: Vec<&DatasetColumns> = inputs
        .iter()
        .filter_map(|i| match i {
            WalkInput::Dataset { columns, .. } => Some(columns),
            WalkInput::Repos(_) => None,
        })
        .collect();
    if !columns.is_empty() {
        metadata.push(("hearth.dataset_columns".to_string(), to_json(&columns)));
    }
    metadata
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain structs with string keys always serialise")
}
