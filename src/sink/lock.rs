//! One writer per output folder (per shard of it).
//!
//! Two runs writing one folder would each compact it and merge its small parts at their
//! end, removing part files the other is still counting on: a nightly cron run that
//! overruns into the next night's, or an operator's manual run beside cron's, would
//! lose rows or run units twice. An OS advisory lock on a file in the folder makes the
//! second run stop at once, saying who holds it. The kernel drops the lock with its
//! holder, however that ends (a kill included), so there is never a stale lock to clear.
//! Shards of one folder lock separately: they write disjoint files and run side by side.
//!
//! Some shared filesystems a cluster's array job writes to have no file locks (Lustre
//! mounted without `flock`, NFS without its lock daemon): there the lock is a file made
//! with exclusive creation and removed at the end, which a killed run leaves behind. A
//! run that sees the same processes as the note's writer (one kernel boot, one PID
//! namespace) clears one whose process is gone. Any other is reported with the file to
//! remove: a host's name is not enough, since containers often share their host's name
//! (or one name among replicas) while seeing none of each other's processes, and a
//! live run there would look gone.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::shard::{self, Shard};
use crate::{Error, Result};

/// Held while a run (or a walk) writes its output folder; released on drop.
#[derive(Debug)]
pub struct OutputLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    /// An OS lock on the open lock file.
    Os(File),
    /// A file made by exclusive creation, where the filesystem has no locks.
    Created(PathBuf),
}

impl OutputLock {
    /// Takes `out`'s lock for `shard`, or fails with [`Error::Busy`] naming the holder
    /// if another process has it. Never waits.
    pub fn acquire(out: &Path, shard: Option<Shard>) -> Result<OutputLock> {
        let path = out.join(format!(".hearth-lock{}", shard::tag(shard)));
        // Not truncated on open: until the lock is ours, the holder's note is what it says.
        let mut file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let note = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(Error::Busy { folder: out.to_path_buf(), holder: holder(&note) });
            }
            Err(TryLockError::Error(e)) if locks_unsupported(&e) => {
                let created = PathBuf::from(format!("{}.held", path.display()));
                tracing::debug!("{}: no file locks here ({e}); locking by creating {}", out.display(), created.display());
                return OutputLock::by_creation(out, created);
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        file.set_len(0).and_then(|()| file.write_all(note().as_bytes())).map_err(|e| Error::io(&path, e))?;
        Ok(OutputLock { held: Held::Os(file) })
    }

    /// The lock where the filesystem has none: `created` made anew, holding the note. A
    /// note left by a process of this host that is gone (a killed run) is cleared.
    fn by_creation(out: &Path, created: PathBuf) -> Result<OutputLock> {
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&created) {
                Ok(mut file) => {
                    let written = file.write_all(note().as_bytes());
                    let lock = OutputLock { held: Held::Created(created.clone()) };
                    written.map_err(|e| Error::io(&created, e))?;
                    return Ok(lock);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let note = std::fs::read_to_string(&created).unwrap_or_default();
                    if holder_is_gone(&note) {
                        tracing::warn!("{}: clearing the lock of a run that is gone ({})", out.display(), note.trim());
                        std::fs::remove_file(&created).or_else(|e| if e.kind() == ErrorKind::NotFound { Ok(()) } else { Err(e) }).map_err(|e| Error::io(&created, e))?;
                        continue;
                    }
                    let holder = format!("{}; this filesystem has no file locks, so if that run is gone, remove {}", holder(&note), created.display());
                    return Err(Error::Busy { folder: out.to_path_buf(), holder });
                }
                Err(e) => return Err(Error::io(&created, e)),
            }
        }
    }
}

/// Who holds a lock, from the note in its file.
fn holder(note: &str) -> String {
    match note.trim() {
        "" => "another hearth run".to_string(),
        note => format!("another hearth run ({note})"),
    }
}

/// What a holder writes into the lock file: its process, where its pid means
/// something, and its start.
fn note() -> String {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let space = process_space().map(|space| format!(" ({space})")).unwrap_or_default();
    format!("pid {} on {}{space}{SINCE}{since}\n", std::process::id(), host.trim())
}

const SINCE: &str = ", since unix time ";

/// The processes this one can see, named so that two names are equal only where a pid
/// means the same process: the kernel's boot (random per boot, shared by its containers)
/// and the PID namespace (whose number is unique only within a boot). `None` where
/// `/proc` does not say, and then no note is ever taken for gone.
fn process_space() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}, boot {}", namespace.display(), boot.trim()))
}

/// Whether the holder a [`note`] names was a process this one can see that has ended.
fn holder_is_gone(note: &str) -> bool {
    let Some((pid, rest)) = note.trim().strip_prefix("pid ").and_then(|n| n.split_once(" on ")) else { return false };
    let Some((_host, space)) = rest.split_once(" (").and_then(|(host, rest)| Some((host, rest.rsplit_once(SINCE)?.0.strip_suffix(')')?))) else { return false };
    pid.parse::<u32>().is_ok() && Some(space) == process_space().as_deref() && !Path::new("/proc").join(pid).exists()
}

/// Whether a lock call failed because the filesystem has no locks: `ENOSYS` (Lustre
/// without `flock`), `EOPNOTSUPP`, `ENOLCK` (NFS without its lock daemon).
fn locks_unsupported(error: &std::io::Error) -> bool {
    const ENOLCK: i32 = 37;
    const ENOSYS: i32 = 38;
    const EOPNOTSUPP: i32 = 95;
    error.kind() == ErrorKind::Unsupported || matches!(error.raw_os_error(), Some(ENOLCK | ENOSYS | EOPNOTSUPP))
}

impl Drop for OutputLock {
    /// Unlocks before the file closes: a process this one is spawning (a peer, `git`)
    /// shares the open file until it execs, and closing alone would leave the folder
    /// locked until then, refusing this process's own next run of it. A created lock
    /// is removed.
    fn drop(&mut self) {
        match &self.held {
            Held::Os(file) => {
                let _ = file.unlock();
            }
            Held::Created(path) => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_of_a_folder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let held = OutputLock::acquire(dir.path(), None).unwrap();
        let err = OutputLock::acquire(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains(&format!("another hearth run (pid {}", std::process::id())), "{err}");
        assert!(err.contains(&dir.path().display().to_string()) && err.contains("--out"), "{err}");
        // Shards of the folder lock apart; the same shard twice does not.
        let shard = |s: &str| Some(s.parse::<Shard>().unwrap());
        let first = OutputLock::acquire(dir.path(), shard("0/2")).unwrap();
        let _second = OutputLock::acquire(dir.path(), shard("1/2")).unwrap();
        assert!(matches!(OutputLock::acquire(dir.path(), shard("0/2")), Err(Error::Busy { .. })));
        drop(first);
        OutputLock::acquire(dir.path(), shard("0/2")).unwrap();
        drop(held);
        let again = OutputLock::acquire(dir.path(), None).unwrap();
        // A child being spawned holds a copy of the open file until it execs.
        let Held::Os(file) = &again.held else { panic!("this filesystem has locks") };
        let spawning_child = file.try_clone().unwrap();
        drop(again);
        OutputLock::acquire(dir.path(), None).expect("released though a copy of the file is open");
        drop(spawning_child);
    }

    #[test]
    fn without_file_locks_the_lock_is_a_created_file_cleared_when_its_run_is_gone() {
        for (errno, unsupported) in [(37, true), (38, true), (95, true), (13, false), (28, false)] {
            assert_eq!(locks_unsupported(&std::io::Error::from_raw_os_error(errno)), unsupported, "errno {errno}");
        }
        let dir = tempfile::tempdir().unwrap();
        let created = dir.path().join(".hearth-lock.held");
        let held = OutputLock::by_creation(dir.path(), created.clone()).unwrap();
        assert!(std::fs::read_to_string(&created).unwrap().starts_with(&format!("pid {} on ", std::process::id())));
        let err = OutputLock::by_creation(dir.path(), created.clone()).unwrap_err().to_string();
        assert!(err.contains("no file locks, so if that run is gone, remove") && err.contains(".hearth-lock.held"), "{err}");
        drop(held);
        assert!(!created.exists(), "removed with its holder");

        // A killed run's note: a process this one could see, which has ended.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        let ours = note();
        let space = process_space().expect("Linux's /proc names the boot and PID namespace");
        assert!(ours.contains(&format!(" ({space}), since unix time ")), "{ours}");
        let killed = ours.replacen(&std::process::id().to_string(), &child.id().to_string(), 1);
        std::fs::write(&created, &killed).unwrap();
        let retaken = OutputLock::by_creation(dir.path(), created.clone()).unwrap();
        assert!(std::fs::read_to_string(&created).unwrap().starts_with(&format!("pid {} on ", std::process::id())));
        drop(retaken);
        // Runs whose processes this one cannot see are left to the operator: another
        // host's; a container's that shares this host's name; a note without a space.
        let (namespace, boot) = space.split_once(", boot ").unwrap();
        let elsewhere = [
            killed.replace(boot, "another-boot"),
            killed.replace(namespace, "pid:[4026532999]"),
            killed.replace(&format!(" ({space})"), ""),
        ];
        for note in elsewhere {
            assert_ne!(note, killed);
            std::fs::write(&created, &note).unwrap();
            assert!(matches!(OutputLock::by_creation(dir.path(), created.clone()), Err(Error::Busy { .. })), "{note}");
        }
        std::fs::write(&created, "").unwrap();
        assert!(matches!(OutputLock::by_creation(dir.path(), created), Err(Error::Busy { .. })), "a note it cannot read is not cleared");
    }

    #[test]
    fn a_folder_that_cannot_hold_the_lock_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not-made");
        let err = OutputLock::acquire(&missing, None).unwrap_err().to_string();
        assert!(err.contains("not-made"), "{err}");
    }
}
