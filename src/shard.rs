//! Sharding a run across processes: shard `i` of `N` takes the units whose unit-id hash
//! falls to it, so N array tasks (Slurm) or indexed pods (Kubernetes) split one input
//! without talking to each other, and the union of their outputs is the whole dataset.

use crate::{Error, Result};

/// Shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This process's shard, from 0.
    pub index: usize,
    /// How many shards split the input.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = Error;
    /// `i/N`, e.g. `0/4`.
    fn from_str(s: &str) -> Result<Shard> {
        let bad = || Error::Config(format!("shard `{s}`: expected i/N with 0 <= i < N, e.g. 0/4"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        Shard::new(index, count).ok_or_else(bad)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    fn new(index: usize, count: usize) -> Option<Shard> {
        (count > 0 && index < count).then_some(Shard { index, count })
    }

    /// The shard a scheduler's environment gives, when `explicit` (`--shard`) is not
    /// given: Slurm's `SLURM_ARRAY_TASK_ID` (from `SLURM_ARRAY_TASK_MIN`) of
    /// `SLURM_ARRAY_TASK_COUNT`, or a Kubernetes indexed job's `JOB_COMPLETION_INDEX` of
    /// `num_shards` (`--num-shards`; Kubernetes does not tell a pod the count).
    pub fn resolve(explicit: Option<Shard>, num_shards: Option<usize>, env: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        if explicit.is_some() {
            return Ok(explicit);
        }
        let number = |name: &str| -> Result<Option<usize>> {
            env(name)
                .map(|v| v.trim().parse().map_err(|_| Error::Config(format!("{name}={v} is not a number"))))
                .transpose()
        };
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = num_shards.ok_or_else(|| {
                Error::Config("JOB_COMPLETION_INDEX is set (a Kubernetes indexed job): give --num-shards, the job's completions".into())
            })?;
            return Shard::new(index, count)
                .map(Some)
                .ok_or_else(|| Error::Config(format!("JOB_COMPLETION_INDEX={index} is not below --num-shards {count}")));
        }
        if let (Some(id), Some(count)) = (number("SLURM_ARRAY_TASK_ID")?, number("SLURM_ARRAY_TASK_COUNT")?) {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id.checked_sub(min).filter(|&i| i < count).ok_or_else(|| {
                Error::Config(format!(
                    "SLURM_ARRAY_TASK_ID={id} (from {min}) is outside a {count}-task array; hearth needs a contiguous --array such as 0-{}",
                    count - 1
                ))
            })?;
            return Ok(Some(Shard { index, count }));
        }
        match num_shards {
            Some(_) => Err(Error::Config("--num-shards needs JOB_COMPLETION_INDEX; use --shard i/N elsewhere".into())),
            None => Ok(None),
        }
    }

    /// Whether the unit `unit_id` belongs to this shard.
    pub fn owns(&self, unit_id: &str) -> bool {
        let hash = blake3::hash(unit_id.as_bytes());
        let head = u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"));
        (head % self.count as u64) as usize == self.index
    }

    /// What this shard's file names carry: `-<i>-of-<N>`.
    pub fn tag(&self) -> String {
        format!("-{}-of-{}", self.index, self.count)
    }

    /// The shard a file-name tag names (`-<i>-of-<N>`, as [`Shard::tag`] writes it).
    pub fn from_tag(tag: &str) -> Option<Shard> {
        let (index, count) = tag.strip_prefix('-')?.split_once("-of-")?;
        Shard::new(index.parse().ok()?, count.parse().ok()?)
    }
}

/// The file-name tag of an optional shard: empty for an unsharded run.
pub fn tag(shard: Option<Shard>) -> String {
    shard.map(|s| s.tag()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn every_unit_falls_to_exactly_one_shard_and_they_are_balanced() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard { index: i, count: 3 }).collect();
        let mut sizes = [0; 3];
        for n in 0..3000 {
            let id = format!("repo/src/file{n}.rs:{n}");
            let owners: Vec<usize> = shards.iter().filter(|s| s.owns(&id)).map(|s| s.index).collect();
            assert_eq!(owners.len(), 1, "{id}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| (900..1100).contains(&n)), "{sizes:?}");
    }

    #[test]
    fn shards_come_from_the_flag_or_the_scheduler() {
        let two_of_4 = Some(Shard { index: 2, count: 4 });
        assert_eq!("2/4".parse::<Shard>().unwrap(), two_of_4.unwrap());
        assert!("4/4".parse::<Shard>().is_err() && "1".parse::<Shard>().is_err() && "0/0".parse::<Shard>().is_err());
        assert_eq!(Shard::resolve(None, None, env(&[])).unwrap(), None);
        let slurm = env(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "4")]);
        assert_eq!(Shard::resolve(None, None, slurm).unwrap(), two_of_4);
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2")]);
        assert_eq!(Shard::resolve(None, Some(4), &k8s).unwrap(), two_of_4);
        assert!(Shard::resolve(None, None, &k8s).unwrap_err().to_string().contains("--num-shards"));
        assert!(Shard::resolve(None, Some(2), &k8s).is_err());
        assert!(Shard::resolve(None, Some(2), env(&[])).is_err(), "--num-shards alone is a mistake");
        let flag = Some(Shard { index: 0, count: 2 });
        assert_eq!(Shard::resolve(flag, None, env(&[("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "2")])).unwrap(), flag);
        assert_eq!(two_of_4.unwrap().tag(), "-2-of-4");
    }
}
