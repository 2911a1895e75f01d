//! Walking repositories in parallel with the `ignore` crate.
//!
//! The walker honours .gitignore (also outside a git checkout: extracted archives and
//! vendored trees have .gitignore files too), .ignore, git's global and per-repo
//! excludes, and hides dot-files unless asked. Every file it yields either becomes
//! units or a row in `skipped.parquet`; no single file stops the walk.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crossbeam_channel::Sender;
use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};

use super::emit::{self, Emitter, PathFilter, WalkStats};
use super::generated::{AttributeRoot, Attributes, Linguist};
use super::text::{Skip, SkipReason};
use super::{SourceBatch, SourceInfo, WalkConfig};
use crate::{Error, Result};

/// A repository root as the walk sees it.
struct Root {
    /// The path as given, which prefixes every path the walker yields under it.
    given: PathBuf,
    /// Canonical form, to tell whether a link's target stays inside.
    canonical: PathBuf,
    /// Where its files' attributes are read from.
    attributes: AttributeRoot,
    repo: String,
}

/// Walks `roots`, sending unit and skip batches to `tx`. Returns one [`SourceInfo`] per
/// repository: each root, and each git checkout in a root that is a folder of
/// repositories rather than in a checkout itself (`~/src` holding clones), which is a
/// repository of its own, named by its path in that folder. Fails only for a root that
/// does not exist, a bad glob, or a stopped receiver.
pub fn walk_repos(roots: &[PathBuf], config: &WalkConfig, stats: &WalkStats, tx: Sender<SourceBatch>) -> Result<Vec<SourceInfo>> {
    let filter = PathFilter::new(config)?;
    let mut resolved = Vec::with_capacity(roots.len());
    for root in roots {
        let canonical = root.canonicalize().map_err(|e| Error::io(root, e))?;
        if resolved.iter().any(|r: &Root| r.canonical == canonical) {
            continue; // given twice: walked once
        }
        let named = if canonical.is_dir() { canonical.as_path() } else { canonical.parent().unwrap_or(&canonical) };
        let repo = named.file_name().map_or_else(|| "root".to_string(), |n| n.to_string_lossy().into_owned());
        // A clone among a folder's dependencies (`node_modules/`) is a dependency.
        let checkouts = match canonical.is_dir() && super::git::work_tree(&canonical).is_none() {
            true => super::git::checkouts_below(&canonical, super::generated::is_dependency_folder),
            false => Vec::new(),
        };
        // A subfolder of a checkout follows the `.gitattributes` above it too, as git does.
        let attributes = AttributeRoot::of(named);
        for checkout in checkouts {
            let canonical = canonical.join(&checkout);
            resolved.push(Root { given: root.join(&checkout), attributes: AttributeRoot::of(&canonical), canonical, repo: checkout });
        }
        resolved.push(Root { given: root.clone(), canonical, attributes, repo });
    }
    name_apart(&mut resolved);
    // The checkouts in a folder, and a root given inside another, are walked as part of
    // it (walking both would read their files twice), and each path is then located in
    // the innermost root it is under.
    let given: Vec<&Root> = resolved.iter().filter(|r| roots.contains(&r.given)).collect();
    let outer = |root: &Root| !given.iter().any(|other| other.canonical != root.canonical && root.canonical.starts_with(&other.canonical));
    let mut given = given.iter().filter(|root| outer(root)).map(|root| &root.given);
    let Some(first) = given.next() else {
        return Err(Error::Config("no repository to walk".into()));
    };
    let mut builder = WalkBuilder::new(first);
    for root in given {
        builder.add(root);
    }
    builder
        .hidden(!config.hidden)
        .git_ignore(config.respect_ignore_files)
        .git_global(config.respect_ignore_files)
        .git_exclude(config.respect_ignore_files)
        .ignore(config.respect_ignore_files)
        .parents(config.respect_ignore_files)
        .require_git(false)
        .follow_links(config.follow_links)
        .threads(config.threads);

    // Longest root first, so a path under nested roots belongs to the innermost one.
    let mut by_length: Vec<&Root> = resolved.iter().collect();
    by_length.sort_by_key(|r| std::cmp::Reverse(r.given.as_os_str().len()));
    let shared = Shared { config, stats, filter, attributes: Attributes::default(), roots: by_length, tx, failure: Mutex::new(None) };
    builder.build_parallel().visit(&mut VisitorBuilder { shared: &shared });
    if let Some(err) = shared.failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(err);
    }
    Ok(resolved
        .iter()
        .map(|r| SourceInfo {
            repo: r.repo.clone(),
            root: r.canonical.display().to_string(),
            git_commit: super::git::head_commit(&r.canonical),
        })
        .collect())
}

/// Gives repositories of one name names that tell them apart, from as much of their
/// paths as it takes: two clones of a project given side by side (`~/work/api`,
/// `~/oss/api`) are `work/api` and `oss/api`. Named alike they would share unit ids (a
/// unit's id is its repository, path and content), and one's rows, commit and patch
/// would pass for the other's.
fn name_apart(roots: &mut [Root]) {
    loop {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for root in roots.iter() {
            *counts.entry(root.repo.clone()).or_default() += 1;
        }
        let mut renamed = false;
        for root in roots.iter_mut().filter(|r| counts[&r.repo] > 1) {
            let folder = if root.canonical.is_dir() { root.canonical.as_path() } else { root.canonical.parent().unwrap_or(&root.canonical) };
            let parts: Vec<String> = folder.components().filter_map(|c| match c {
                std::path::Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
                _ => None,
            }).collect();
            let take = root.repo.split('/').count() + 1;
            if take <= parts.len() {
                root.repo = parts[parts.len() - take..].join("/");
                renamed = true;
            }
        }
        if !renamed {
            return;
        }
    }
}

struct Shared<'a> {
    config: &'a WalkConfig,
    stats: &'a WalkStats,
    filter: PathFilter,
    attributes: Attributes,
    roots: Vec<&'a Root>,
    tx: Sender<SourceBatch>,
    /// The first error that must end the walk; the walk is told to quit when it is set.
    failure: Mutex<Option<Error>>,
}

impl Shared<'_> {
    fn fail(&self, err: Error) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        failure.get_or_insert(err);
    }

    /// The root `path` lies under and its path relative to that root, `/`-separated.
    fn locate(&self, path: &Path) -> (&Root, String) {
        let root = self.roots.iter().find(|r| path.starts_with(&r.given)).unwrap_or(&self.roots[0]);
        let relative = match path.strip_prefix(&root.given) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
            // The root itself is a file.
            _ => PathBuf::from(path.file_name().unwrap_or(path.as_os_str())),
        };
        let relative = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        (root, relative)
    }
}

struct VisitorBuilder<'s> {
    shared: &'s Shared<'s>,
}

impl<'s> ParallelVisitorBuilder<'s> for VisitorBuilder<'s> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        let shared = self.shared;
        let emitter = Emitter::new(shared.config, &shared.filter, shared.stats, shared.tx.clone());
        Box::new(Visitor { shared, emitter })
    }
}

/// One per walker thread, with its own parser and batch builders.
struct Visitor<'s> {
    shared: &'s Shared<'s>,
    emitter: Emitter<'s>,
}

impl Drop for Visitor<'_> {
    fn drop(&mut self) {
        if let Err(err) = self.emitter.flush() {
            self.shared.fail(err);
        }
    }
}

impl ParallelVisitor for Visitor<'_> {
    fn visit(&mut self, entry: std::result::Result<DirEntry, ignore::Error>) -> WalkState {
        let outcome = match entry {
            Ok(entry) => self.entry(&entry),
            Err(err) => self.walk_error(err),
        };
        match outcome {
            Ok(()) => WalkState::Continue,
            Err(err) => {
                self.shared.fail(err);
                WalkState::Quit
            }
        }
    }
}

impl Visitor<'_> {
    fn entry(&mut self, entry: &DirEntry) -> Result<()> {
        let Some(file_type) = entry.file_type() else { return Ok(()) }; // stdin, never here
        if file_type.is_dir() {
            return Ok(());
        }
        let (root, path) = self.shared.locate(entry.path());
        let repo = root.repo.as_str();
        if file_type.is_symlink() {
            // Only reached when links are not followed.
            let (skip, size) = classify_unfollowed_link(entry.path(), &root.canonical);
            return self.emitter.skip(repo, &path, skip, size);
        }
        let size = entry.metadata().ok().map(|m| m.len());
        if !file_type.is_file() {
            return self.emitter.skip(repo, &path, Skip::new(SkipReason::NotRegularFile), size);
        }
        let linguist = match self.shared.config.keep_generated {
            true => Linguist::default(),
            false => self.shared.attributes.linguist(&root.attributes, &path),
        };
        if self.emitter.skip_before_reading(repo, &path, linguist, size)? {
            return Ok(());
        }
        // Checked before reading so that a huge file is never read; the emitter checks
        // again for datasets, whose records arrive already read.
        let limit = emit::read_limit(&self.shared.config, &path);
        if let Some(size) = size.filter(|&s| s > limit) {
            return self.emitter.skip(repo, &path, Skip::too_large(limit), Some(size));
        }
        match fs::read(entry.path()) {
            Ok(bytes) => self.emitter.file(repo, &path, bytes, None, linguist),
            Err(err) => self.emitter.skip(repo, &path, Skip::with_detail(SkipReason::IoError, err.to_string()), size),
        }
    }

    /// A directory that cannot be read, a link loop or a dangling link met while
    /// following links: recorded against the path it names.
    fn walk_error(&mut self, err: ignore::Error) -> Result<()> {
        let (path, skip) = describe_walk_error(&err);
        let Some(path) = path else {
            // Soft errors in ignore files name no file that was dropped.
            tracing::warn!("{err}");
            return Ok(());
        };
        let (root, relative) = self.shared.locate(&path);
        let repo = root.repo.clone();
        self.emitter.skip(&repo, &relative, skip, None)
    }
}

/// What to record for a symbolic link that is not followed.
fn classify_unfollowed_link(path: &Path, canonical_root: &Path) -> (Skip, Option<u64>) {
    let target = fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
    match fs::metadata(path) {
        Err(err) if is_loop(&err) => (Skip::with_detail(SkipReason::SymlinkLoop, target), None),
        Err(err) if err.kind() == io::ErrorKind::NotFound => (Skip::with_detail(SkipReason::DanglingLink, target), None),
        Err(err) => (Skip::with_detail(SkipReason::IoError, err.to_string()), None),
        Ok(meta) => {
            let inside = path.canonicalize().is_ok_and(|t| t.starts_with(canonical_root));
            let reason = if inside { SkipReason::LinkNotFollowed } else { SkipReason::LinkOutsideRoot };
            (Skip::with_detail(reason, target), Some(meta.len()))
        }
    }
}

fn describe_walk_error(err: &ignore::Error) -> (Option<PathBuf>, Skip) {
    match err {
        ignore::Error::WithPath { path, err } => (Some(path.clone()), describe_walk_error(err).1),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => describe_walk_error(err),
        ignore::Error::Loop { ancestor, child } => {
            (Some(child.clone()), Skip::with_detail(SkipReason::SymlinkLoop, format!("loops back to {}", ancestor.display())))
        }
        ignore::Error::Io(io) => (None, skip_for_io(io)),
        other => (None, Skip::with_detail(SkipReason::IoError, other.to_string())),
    }
}

/// An I/O error the walker met while following links names a loop or a missing target.
fn skip_for_io(err: &io::Error) -> Skip {
    let reason = if is_loop(err) {
        SkipReason::SymlinkLoop
    } else if err.kind() == io::ErrorKind::NotFound {
        SkipReason::DanglingLink
    } else {
        SkipReason::IoError
    };
    Skip::with_detail(reason, err.to_string())
}

/// ELOOP: "too many levels of symbolic links". std has no stable `ErrorKind` for it.
fn is_loop(err: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    const ELOOP: i32 = 40;
    #[cfg(not(target_os = "linux"))]
    const ELOOP: i32 = 62;
    err.raw_os_error() == Some(ELOOP)
}
