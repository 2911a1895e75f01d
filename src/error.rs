//! One error type for the library. Context (the path, the dataset line) is a wrapping
//! variant, so every message a user sees says which input it is about.

use std::path::{Path, PathBuf};

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a hearth stage. Per-file problems in the source stage are not
/// errors: they become rows in `skipped.parquet`. These are the failures that end a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O failure on a named file or directory.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing a Parquet file failed.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The Parquet file.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building an Arrow batch failed; a bug in hearth rather than in the input.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A dataset is not shaped as the options say (a missing column, a wrong type).
    #[error("{}: {message}", path.display())]
    Dataset {
        /// The dataset file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A configuration value is invalid (a bad glob, a zero limit).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A model file or directory is missing, corrupt or of an unsupported kind.
    #[error("{}: {message}", path.display())]
    Model {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A generation request cannot be served as asked (a prompt over the context, bad
    /// sampling parameters). It fails alone; other requests go on.
    #[error("request: {0}")]
    Request(String),
    /// A tensor operation failed: out of device memory, or a bug in hearth.
    #[error("engine: {0}")]
    Tensor(#[from] candle_core::Error),
    /// Another hearth process is writing the same output folder (the same shard of it).
    #[error("{}: {holder} is writing this output folder; wait for it to finish, or give another --out", folder.display())]
    Busy {
        /// The output folder.
        folder: PathBuf,
        /// Who holds it, as the holder wrote it into the lock file.
        holder: String,
    },
    /// The receiving stage hung up; the run is already failing for another reason.
    #[error("the next stage stopped before the source finished")]
    Disconnected,
}

impl Error {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    pub(crate) fn parquet(path: impl AsRef<Path>, source: parquet::errors::ParquetError) -> Error {
        Error::Parquet { path: path.as_ref().to_path_buf(), source }
    }

    pub(crate) fn model(path: impl AsRef<Path>, message: impl std::fmt::Display) -> Error {
        Error::Model { path: path.as_ref().to_path_buf(), message: message.to_string() }
    }

    pub(crate) fn dataset(path: impl AsRef<Path>, message: impl Into<String>) -> Error {
        Error::Dataset { path: path.as_ref().to_path_buf(), message: message.into() }
    }
}
