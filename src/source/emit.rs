//! The per-thread end of the source stage: bytes in, batches out.
//!
//! The repository walker and the dataset reader both hand each file to an [`Emitter`],
//! so a file gets the same checks, language detection and split whichever way it came.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::Sender;
use globset::{Glob, GlobSet, GlobSetBuilder};

use super::generated::{generated_by_rules, Linguist};
use super::language::Language;
use super::notebook::{self, Notebook};
use super::split::Splitter;
use super::text::{self, Skip, SkipReason};
use super::unit::{SkippedBatchBuilder, Unit, UnitBatchBuilder};
use super::{SourceBatch, WalkConfig};
use crate::{Error, Result};

/// A units batch is sent once it holds this many rows …
const BATCH_ROWS: usize = 4096;
/// … or this much content, whichever comes first, so memory stays bounded on big files.
const BATCH_CONTENT_BYTES: usize = 16 * 1024 * 1024;

/// A notebook's outputs (plots, tables) are most of its bytes and none of its code, so
/// its file may be this many times the size limit; its code cells are held to the limit.
const NOTEBOOK_FILE_FACTOR: u64 = 64;

/// The most bytes of the file at `path` that are read: the size limit, or a notebook's
/// larger allowance.
pub(crate) fn read_limit(config: &WalkConfig, path: &str) -> u64 {
    match notebook::is_notebook(path) {
        true => config.max_file_bytes.saturating_mul(NOTEBOOK_FILE_FACTOR),
        false => config.max_file_bytes,
    }
}

/// Counters shared by every thread of a walk; read by the progress display.
#[derive(Debug, Default)]
pub struct WalkStats {
    /// Files (or dataset records) looked at.
    pub files: AtomicU64,
    /// Bytes of the files that became units.
    pub bytes: AtomicU64,
    /// Units produced.
    pub units: AtomicU64,
    /// Files recorded as skipped.
    pub skipped: AtomicU64,
}

impl WalkStats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Include/exclude globs, compiled once per walk.
pub(crate) struct PathFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl PathFilter {
    pub(crate) fn new(config: &WalkConfig) -> Result<PathFilter> {
        let include = if config.include.is_empty() { None } else { Some(glob_set(&config.include)?) };
        Ok(PathFilter { include, exclude: glob_set(&config.exclude)? })
    }

    /// Why `path` (relative, `/`-separated) is excluded, if it is.
    fn excluded(&self, path: &str) -> Option<Skip> {
        if self.exclude.is_match(path) {
            return Some(Skip::with_detail(SkipReason::Excluded, "matches an exclude glob"));
        }
        match &self.include {
            Some(include) if !include.is_match(path) => {
                Some(Skip::with_detail(SkipReason::Excluded, "matches no include glob"))
            }
            _ => None,
        }
    }
}

fn glob_set(globs: &[String]) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        builder.add(Glob::new(glob).map_err(|e| Error::Config(format!("glob {glob:?}: {e}")))?);
    }
    builder.build().map_err(|e| Error::Config(e.to_string()))
}

/// Turns files into unit and skip rows, sending full batches downstream. The owner
/// calls [`flush`](Emitter::flush) when its thread is done, and reports its error.
pub(crate) struct Emitter<'a> {
    config: &'a WalkConfig,
    filter: &'a PathFilter,
    stats: &'a WalkStats,
    tx: Sender<SourceBatch>,
    splitter: Splitter,
    units: UnitBatchBuilder,
    skipped: SkippedBatchBuilder,
}

impl<'a> Emitter<'a> {
    pub(crate) fn new(
        config: &'a WalkConfig,
        filter: &'a PathFilter,
        stats: &'a WalkStats,
        tx: Sender<SourceBatch>,
    ) -> Emitter<'a> {
        Emitter {
            config,
            filter,
            stats,
            tx,
            splitter: Splitter::new(config.max_unit_bytes),
            units: UnitBatchBuilder::default(),
            skipped: SkippedBatchBuilder::default(),
        }
    }

    /// A file's bytes: decoded, split and recorded as units, or recorded as skipped.
    /// `language` is a dataset's own label; files from disk are detected by name.
    /// `linguist`: what the repository's `.gitattributes` say of it; `-linguist-generated`
    /// keeps it whatever the rules for generated files would say.
    pub(crate) fn file(&mut self, repo: &str, path: &str, bytes: Vec<u8>, language: Option<Language>, linguist: Linguist) -> Result<()> {
        let size = bytes.len() as u64;
        let limit = read_limit(self.config, path);
        if size > limit {
            return self.skip(repo, path, Skip::too_large(limit), Some(size));
        }
        let text = match text::decode(bytes) {
            Ok(text) => text,
            Err(skip) => return self.skip(repo, path, skip, Some(size)),
        };
        if notebook::is_notebook(path) {
            return self.notebook(repo, path, &text, size);
        }
        let language = language.or_else(|| {
            let head = &text.as_bytes()[..text.len().min(text::BINARY_SNIFF_BYTES)];
            Language::detect(std::path::Path::new(path), head)
        });
        if !self.config.keep_generated && linguist.generated != Some(false) {
            if let Some(why) = generated_by_rules(path, &text, language) {
                return self.skip(repo, path, Skip::with_detail(SkipReason::Generated, why), Some(size));
            }
        }
        let Some(language) = language else {
            return self.skip(repo, path, Skip::new(SkipReason::UnknownLanguage), Some(size));
        };
        let units = self.splitter.split(language, path, &text);
        self.record(repo, path, language, &units, size)
    }

    /// A notebook's code cells, split in its kernel's language (see `notebook.rs`).
    fn notebook(&mut self, repo: &str, path: &str, text: &str, size: u64) -> Result<()> {
        let notebook = match Notebook::read(text) {
            Ok(notebook) => notebook,
            Err(why) => return self.skip(repo, path, Skip::with_detail(SkipReason::InvalidNotebook, why), Some(size)),
        };
        // Jupyter's own kernel, IPython, when the metadata does not say.
        let language = match notebook.kernel_language.as_deref().map(|name| (name, Language::from_name(name))) {
            None => Language::Python,
            Some((_, Some(language))) => language,
            Some((name, None)) => {
                let skip = Skip::with_detail(SkipReason::UnknownLanguage, format!("a notebook in {name}"));
                return self.skip(repo, path, skip, Some(size));
            }
        };
        let code: u64 = notebook.cells.iter().map(|cell| cell.source.len() as u64).sum();
        if code > self.config.max_file_bytes {
            let skip = Skip::with_detail(SkipReason::TooLarge, format!("its code cells are over the {} byte limit", self.config.max_file_bytes));
            return self.skip(repo, path, skip, Some(size));
        }
        if notebook.cells.iter().all(|cell| cell.source.trim().is_empty()) {
            return self.skip(repo, path, Skip::with_detail(SkipReason::NoCode, "no code cells, or only empty ones"), Some(size));
        }
        let mut units = Vec::new();
        for cell in &notebook.cells {
            units.append(&mut cell.units(&mut self.splitter, language));
        }
        self.record(repo, path, language, &units, size)
    }

    /// Records a file's units, or that it had none.
    fn record(&mut self, repo: &str, path: &str, language: Language, units: &[Unit], size: u64) -> Result<()> {
        if units.is_empty() {
            return self.skip(repo, path, Skip::with_detail(SkipReason::NoCode, "only comments"), Some(size));
        }
        WalkStats::add(&self.stats.files, 1);
        WalkStats::add(&self.stats.bytes, size);
        WalkStats::add(&self.stats.units, units.len() as u64);
        self.units.push_file(repo, path, language, units);
        if self.units.len() >= BATCH_ROWS || self.units.content_bytes() >= BATCH_CONTENT_BYTES {
            let batch = self.units.finish()?;
            self.send(SourceBatch::Units(batch))?;
        }
        Ok(())
    }

    /// Records `path` as skipped when its path leaves it out, and says whether it did:
    /// the include/exclude globs, or (unless kept) what its repository's `.gitattributes`
    /// say of it (`linguist`) or a folder of dependencies it is in. Callers ask before
    /// reading, so such a file is never read.
    pub(crate) fn skip_before_reading(&mut self, repo: &str, path: &str, linguist: Linguist, bytes: Option<u64>) -> Result<bool> {
        let tool_written = || if self.config.keep_generated { None } else { linguist.skip_by_path(path) };
        match self.filter.excluded(path).or_else(tool_written) {
            Some(skip) => self.skip(repo, path, skip, bytes).map(|()| true),
            None => Ok(false),
        }
    }

    /// Records a file that produced no units.
    pub(crate) fn skip(&mut self, repo: &str, path: &str, skip: Skip, bytes: Option<u64>) -> Result<()> {
        tracing::debug!(repo, path, reason = %skip.reason, "skipped");
        WalkStats::add(&self.stats.files, 1);
        WalkStats::add(&self.stats.skipped, 1);
        self.skipped.push(repo, path, &skip, bytes);
        if self.skipped.len() >= BATCH_ROWS {
            let batch = self.skipped.finish()?;
            self.send(SourceBatch::Skipped(batch))?;
        }
        Ok(())
    }

    /// Sends whatever rows are held.
    pub(crate) fn flush(&mut self) -> Result<()> {
        if !self.units.is_empty() {
            let batch = self.units.finish()?;
            self.send(SourceBatch::Units(batch))?;
        }
        if !self.skipped.is_empty() {
            let batch = self.skipped.finish()?;
            self.send(SourceBatch::Skipped(batch))?;
        }
        Ok(())
    }

    fn send(&self, batch: SourceBatch) -> Result<()> {
        self.tx.send(batch).map_err(|_| Error::Disconnected)
    }
}
