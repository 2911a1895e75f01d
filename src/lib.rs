//! hearth: turns whole codebases into documentation, reviews and embeddings with a
//! local coder LLM, recording how fast it went and how hot the hardware ran.
//!
//! The stages, each a module with one job, joined by Arrow `RecordBatch`es over
//! bounded channels:
//! 1. [`source`]: repositories or datasets → code units.
//! 2. [`engine`]: our decoder on candle, with tokenizer, chat template and sampler.
//! 3. [`workers`]: one per device, each with its own engine, fed from one shared queue.
//! 4. [`tasks`]: docs, review and embed — prompt templates in, parsed rows out.
//! 5. [`sink`]: batches → Parquet files, atomically; part folders for resume.
//! 6. [`telemetry`]: sensors sampled per run, thermal guard, statistics, soak gates, report.
//!
//! [`pipeline`] reads the TOML files that describe a run; [`run`] joins the stages;
//! [`finished`] reads a run after it finished: [`export`] turns its docs and reviews
//! into Markdown and SARIF, [`search`] finds the units nearest a query by their embeddings.
#![deny(missing_docs)]

pub mod bench;
pub mod engine;
mod error;
pub mod export;
pub mod finished;
pub mod job;
pub mod pipeline;
pub mod run;
pub mod search;
pub mod shard;
pub mod sink;
pub mod source;
pub mod tasks;
pub mod telemetry;
pub mod workers;

pub use error::{Error, Result};
