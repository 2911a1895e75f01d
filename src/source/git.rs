//! The commit a checkout is at, for provenance, read from `.git` directly: no `git`
//! binary or libgit2 needed, and nothing is written.

use std::fs;
use std::path::{Path, PathBuf};

/// The commit `HEAD` points to in the git checkout containing `dir`, if any.
/// Follows `.git` files (worktrees, submodules) and packed refs.
pub fn head_commit(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let (_, git_dir) = work_tree(&dir)?;
    let head = fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref: ") else {
        return is_object_id(head).then(|| head.to_string());
    };
    // A linked worktree keeps its refs in the main repository's git dir.
    let common = fs::read_to_string(git_dir.join("commondir"))
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|_| git_dir.clone());
    for base in [&git_dir, &common] {
        if let Ok(id) = fs::read_to_string(base.join(reference)) {
            let id = id.trim();
            if is_object_id(id) {
                return Some(id.to_string());
            }
        }
    }
    let packed = fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (id, name) = line.split_once(' ')?;
        (name == reference && is_object_id(id)).then(|| id.to_string())
    })
}

/// The top of the git work tree containing `dir` (a canonical path) and its git
/// directory, if `dir` is in one: where the checkout's `.gitattributes` and its
/// `info/attributes` are.
pub(crate) fn work_tree(dir: &Path) -> Option<(&Path, PathBuf)> {
    dir.ancestors().find_map(|ancestor| Some((ancestor, git_dir_of(ancestor)?)))
}

/// How deep below a folder of repositories its checkouts are looked for: deep enough
/// for `~/src/github.com/org/repo`, as ghq and Go's old GOPATH lay them out.
const CHECKOUT_DEPTH: usize = 3;

/// The git checkouts in `folder`, a folder of repositories that is in none: its
/// subfolders, up to [`CHECKOUT_DEPTH`] deep, that have a `.git`, as `/`-separated paths
/// relative to it, in order. Neither the folders inside a checkout (a submodule is its
/// superproject's) nor hidden folders nor those `passed_over` names (dependencies) are
/// looked into; links are not followed.
pub(crate) fn checkouts_below(folder: &Path, passed_over: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![(folder.to_path_buf(), String::new(), 0)];
    while let Some((dir, relative, depth)) = pending.pop() {
        if depth > 0 && git_dir_of(&dir).is_some() {
            found.push(relative);
            continue;
        }
        if depth == CHECKOUT_DEPTH {
            continue;
        }
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || passed_over(&name) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let relative = if relative.is_empty() { name } else { format!("{relative}/{name}") };
            pending.push((entry.path(), relative, depth + 1));
        }
    }
    found.sort();
    found
}

fn git_dir_of(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    if dot_git.is_dir() {
        return Some(dot_git);
    }
    let pointer = fs::read_to_string(&dot_git).ok()?;
    let target = Path::new(pointer.trim().strip_prefix("gitdir: ")?);
    Some(if target.is_absolute() { target.to_path_buf() } else { dir.join(target) })
}

fn is_object_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn reads_loose_packed_and_detached_heads() {
        let tmp = tempfile::tempdir().unwrap();
        let git = tmp.path().join(".git");
        fs::create_dir_all(git.join("refs/heads")).unwrap();
        fs::create_dir_all(tmp.path().join("sub/dir")).unwrap();
        fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        assert_eq!(head_commit(tmp.path()), None, "a branch with no commit yet");
        fs::write(git.join("packed-refs"), format!("# pack-refs\n{ID} refs/heads/main\n")).unwrap();
        assert_eq!(head_commit(&tmp.path().join("sub/dir")).as_deref(), Some(ID));
        let loose = ID.replace('0', "f");
        fs::write(git.join("refs/heads/main"), format!("{loose}\n")).unwrap();
        assert_eq!(head_commit(tmp.path()), Some(loose));
        fs::write(git.join("HEAD"), format!("{ID}\n")).unwrap();
        assert_eq!(head_commit(tmp.path()).as_deref(), Some(ID));
    }

    #[test]
    fn no_checkout_no_commit() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(head_commit(tmp.path()), None);
    }
}
