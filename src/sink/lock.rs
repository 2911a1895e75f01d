//! One writer per output folder (per shard of it).
//!
//! Two runs writing one folder would each compact it and merge its small parts at their
//! end, removing part files the other is still counting on: a nightly cron run that
//! overruns into the next night's, or an operator's manual run beside cron's, would
//! lose rows or run units twice. An OS advisory lock on a file in the folder makes the
//! second run stop at once, saying who holds it. The kernel drops the lock with its
//! holder, however that ends (a kill included), so there is never a stale lock to clear.
//! Shards of one folder lock separately: they write disjoint files and run side by side.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;

use crate::shard::{self, Shard};
use crate::{Error, Result};

/// Held while a run (or a walk) writes its output folder; released on drop.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
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
                let holder = match note.trim() {
                    "" => "another hearth run".to_string(),
                    note => format!("another hearth run ({note})"),
                };
                return Err(Error::Busy { folder: out.to_path_buf(), holder });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let note = format!("pid {} on {}, since unix time {since}\n", std::process::id(), host.trim());
        file.set_len(0).and_then(|()| file.write_all(note.as_bytes())).map_err(|e| Error::io(&path, e))?;
        Ok(OutputLock { file })
    }
}

impl Drop for OutputLock {
    /// Unlocks before the file closes: a process this one is spawning (a peer, `git`)
    /// shares the open file until it execs, and closing alone would leave the folder
    /// locked until then, refusing this process's own next run of it.
    fn drop(&mut self) {
        let _ = self.file.unlock();
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
        let spawning_child = again.file.try_clone().unwrap();
        drop(again);
        OutputLock::acquire(dir.path(), None).expect("released though a copy of the file is open");
        drop(spawning_child);
    }

    #[test]
    fn a_folder_that_cannot_hold_the_lock_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not-made");
        let err = OutputLock::acquire(&missing, None).unwrap_err().to_string();
        assert!(err.contains("not-made"), "{err}");
    }
}
