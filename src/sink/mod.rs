//! Stage 5, the sink: `RecordBatch`es in, Parquet files out.

mod parquet_file;
pub mod parts;

pub use parquet_file::AtomicParquetWriter;
pub use parts::PartFolder;
