//! hearth: turns whole codebases into documentation, reviews and embeddings with a
//! local coder LLM, recording how fast it went and how hot the hardware ran.
//!
//! The stages, each a module with one job, joined by Arrow `RecordBatch`es over
//! bounded channels:
//! 1. [`source`]: repositories or datasets → code units.
//! 2. [`engine`]: our decoder on candle, with tokenizer, chat template and sampler.
//! 3. workers, 4. tasks: not yet built (see the README's status).
//! 5. [`sink`]: batches → Parquet files, atomically.
//! 6. telemetry: not yet built.
#![deny(missing_docs)]

pub mod bench;
pub mod engine;
mod error;
pub mod job;
pub mod sink;
pub mod source;

pub use error::{Error, Result};
