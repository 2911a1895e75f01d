//! Stage 5, the sink: `RecordBatch`es in, Parquet files out.

mod lock;
mod parquet_file;
pub mod parts;

pub use lock::OutputLock;
pub use parquet_file::{key_values, open_parquet, AtomicParquetWriter};
pub use parts::PartFolder;
