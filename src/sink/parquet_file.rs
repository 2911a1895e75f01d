//! A Parquet file that appears complete or not at all.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::{Error, Result};

/// Opens a Parquet file hearth wrote (a part, the units, telemetry) for reading, errors
/// naming it.
pub fn open_parquet(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path, e))
}

/// A file's footer metadata (its provenance: what [`AtomicParquetWriter::finish`]
/// wrote), less Arrow's own schema entry.
pub fn key_values(file: &ParquetRecordBatchReaderBuilder<File>) -> Vec<(String, String)> {
    file.metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter(|kv| kv.key != "ARROW:schema")
        .filter_map(|kv| kv.value.clone().map(|v| (kv.key.clone(), v)))
        .collect()
}

/// Rows per row group. The writer holds a whole row group in memory, and unit rows
/// carry kilobytes of code each, so this is far below Parquet's default of a million.
const ROW_GROUP_ROWS: usize = 16 * 1024;

/// Writes zstd-compressed Parquet to a hidden temporary name beside the target and
/// renames it into place on [`finish`](Self::finish): a killed run leaves either the
/// previous file or the new one, never a torn one. Dropped unfinished, it removes
/// the temporary file.
pub struct AtomicParquetWriter {
    target: PathBuf,
    partial: PathBuf,
    writer: Option<ArrowWriter<File>>,
}

impl AtomicParquetWriter {
    /// Starts `target` with `schema`.
    pub fn create(target: &Path, schema: SchemaRef) -> Result<Self> {
        let file_name = target.file_name().ok_or_else(|| Error::Config(format!("{} is not a file path", target.display())))?;
        let partial = target.with_file_name(format!(".{}.{}.partial", file_name.to_string_lossy(), std::process::id()));
        let file = File::create(&partial).map_err(|e| Error::io(&partial, e))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(|e| Error::parquet(target, e))?))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(file, schema, Some(properties)).map_err(|e| Error::parquet(target, e))?;
        Ok(AtomicParquetWriter { target: target.to_path_buf(), partial, writer: Some(writer) })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let writer = self.writer.as_mut().expect("write after finish");
        writer.write(batch).map_err(|e| Error::parquet(&self.target, e))
    }

    /// Completes the file with `metadata` in its footer (provenance known only at the
    /// end, such as counts), syncs it and moves it into place. Returns the rows written.
    pub fn finish(mut self, metadata: &[(String, String)]) -> Result<u64> {
        let mut writer = self.writer.take().expect("finish called once");
        for (key, value) in metadata {
            writer.append_key_value_metadata(KeyValue::new(key.clone(), value.clone()));
        }
        let metadata = writer.close().map_err(|e| Error::parquet(&self.target, e))?;
        File::open(&self.partial).and_then(|f| f.sync_all()).map_err(|e| Error::io(&self.partial, e))?;
        fs::rename(&self.partial, &self.target).map_err(|e| Error::io(&self.target, e))?;
        Ok(metadata.file_metadata().num_rows() as u64)
    }
}

impl Drop for AtomicParquetWriter {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{skipped_schema, Skip, SkipReason, SkippedBatchBuilder};

    fn batch() -> RecordBatch {
        let mut builder = SkippedBatchBuilder::default();
        builder.push("r", "a.bin", &Skip::new(SkipReason::Binary), Some(10));
        builder.finish().unwrap()
    }

    #[test]
    fn the_file_appears_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.parquet");
        let mut writer = AtomicParquetWriter::create(&target, skipped_schema()).unwrap();
        writer.write(&batch()).unwrap();
        assert!(!target.exists());
        assert_eq!(writer.finish(&[("k".into(), "v".into())]).unwrap(), 1);
        assert!(target.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn an_abandoned_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.parquet");
        let mut writer = AtomicParquetWriter::create(&target, skipped_schema()).unwrap();
        writer.write(&batch()).unwrap();
        drop(writer);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
