//! Stage 1, the source: repositories or datasets in, `RecordBatch`es of code units out.
//!
//! Files are walked in parallel ([`walk_repos`]) or read from a dataset
//! ([`read_dataset`]), checked ([`SkipReason`]), split into units with tree-sitter
//! ([`Splitter`]) and sent downstream as [`SourceBatch`]es over a bounded channel.

mod conventions;
mod dataset;
mod dbt;
mod emit;
mod fortran;
mod generated;
mod git;
mod grammar;
mod header;
mod language;
mod notebook;
mod octave;
mod parameters;
mod split;
mod sql;
mod stale;
mod text;
mod unit;
mod walk;

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};

pub use dataset::{read_dataset, DatasetColumns};
pub use emit::WalkStats;
pub use git::head_commit;
pub(crate) use header::{can_hold_header, is_line_comment, only_comments};
pub use conventions::{names_parameters, DocConventions, Tally, DOC_CONVENTIONS_KEY, MIN_DOCUMENTED};
pub use stale::ParamConvention;
pub(crate) use stale::{parameter_convention, quoted, stale_doc, undeclared_parameters, undocumented_parameters};
pub use language::Language;
pub use notebook::{is_notebook, NOT_PATCHED};
pub use split::Splitter;
pub use text::{decode, Skip, SkipReason, BINARY_SNIFF_BYTES};
pub use unit::{at_margin, content_hash, skipped_schema, unit_ids, unit_schema, DocSite, SkippedBatchBuilder, Unit, UnitBatchBuilder, UnitKind};
pub use walk::walk_repos;

/// What the source stage sends downstream.
#[derive(Debug, Clone)]
pub enum SourceBatch {
    /// Rows of [`unit_schema`].
    Units(RecordBatch),
    /// Rows of [`skipped_schema`].
    Skipped(RecordBatch),
}

/// One input of a run, for the provenance metadata.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceInfo {
    /// The repository name units carry.
    pub repo: String,
    /// The repository's root or the dataset file, absolute (canonical): a reader of the
    /// output later, in another folder, can still find it.
    pub root: String,
    /// The checkout's `HEAD` commit, when the root is in a git checkout.
    pub git_commit: Option<String>,
}

/// How files are chosen and split. Serialised into the output's metadata.
#[derive(Debug, Clone, Serialize)]
pub struct WalkConfig {
    /// Files larger than this are recorded as `too_large`, unread. Default 1 MiB.
    pub max_file_bytes: u64,
    /// Units larger than this are split at line boundaries. Default 12 KiB, about 3,500
    /// tokens of code: room for a prompt and an answer in an 8k context.
    pub max_unit_bytes: usize,
    /// When not empty, only paths matching one of these globs are used. Default empty.
    pub include: Vec<String>,
    /// Paths matching any of these globs are recorded as `excluded`. Default empty.
    pub exclude: Vec<String>,
    /// Follow symbolic links (loop-safe). Default false: links are recorded, not followed,
    /// so a link to `/etc` never brings `/etc` into a dataset.
    pub follow_links: bool,
    /// Walk hidden (dot) files and directories too. Default false.
    pub hidden: bool,
    /// Honour .gitignore, .ignore and git's excludes. Default true.
    pub respect_ignore_files: bool,
    /// Walker threads; 0 picks one per core. Default 0.
    pub threads: usize,
    /// Keep the files a tool wrote (lock files, generators' output, minified bundles),
    /// the dependencies in `vendor/`, `node_modules/` and the like, and what
    /// `.gitattributes` marks generated or vendored. Default false: they are recorded
    /// as `generated` / `vendored`.
    pub keep_generated: bool,
}

impl Default for WalkConfig {
    fn default() -> Self {
        WalkConfig {
            max_file_bytes: 1024 * 1024,
            max_unit_bytes: 12 * 1024,
            include: Vec::new(),
            exclude: Vec::new(),
            follow_links: false,
            hidden: false,
            respect_ignore_files: true,
            threads: 0,
            keep_generated: false,
        }
    }
}
