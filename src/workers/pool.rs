//! The shared queue and the loop every worker runs over it.
//!
//! Jobs are indices (of units). Each worker keeps as many jobs in flight as its backend
//! wants and comes back for more as they finish, so a fast device simply takes more.
//! A job is always in exactly one place — the queue, or one worker's flight — and
//! leaves the pool exactly once, as a result or (after bounded retries) as a failure:
//! that is what makes every result reach the sink exactly once.
//!
//! When a step fails or panics, the worker's in-flight jobs go back to the queue for the
//! *other* workers (a job is not handed again to a worker that failed it while another
//! can take it); a job that failed on two workers is a suspect (it may be what breaks
//! the step), and runs with no other suspect beside it, so a poisoned unit drags no
//! batch-mate down with it twice. The worker starts a fresh backend and goes on; after
//! [`MAX_WORKER_FAILURES`] it retires — a device that keeps failing is broken. A step
//! that runs out of device memory is not a failure: the backend halves its batch and
//! the jobs are requeued as they were.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use serde::Serialize;

use crate::{Error, Result};

/// Workers a job may fail on before it becomes an error row.
pub const MAX_ATTEMPTS: usize = 3;
/// Failed steps after which a worker retires.
pub const MAX_WORKER_FAILURES: u32 = 3;
/// Times a worker may halve its batch after running out of memory.
pub const MAX_SHRINKS: u32 = 4;

/// What a worker runs its jobs on: an engine over one device.
pub trait Backend {
    /// What a finished job yields.
    type Output: Send;
    /// Jobs it wants in flight at once.
    fn capacity(&self) -> usize;
    /// Takes a job; `Some` when the job is finished at once (a prompt over the context).
    fn submit(&mut self, job: usize) -> Option<Self::Output>;
    /// Runs one step over the jobs in flight; returns those it finished.
    fn step(&mut self) -> Result<Vec<(usize, Self::Output)>>;
    /// Forgets every job in flight after a failed step; with `shrink`, halves the
    /// batch too (the step ran out of device memory).
    fn reset(&mut self, shrink: bool) -> Result<()>;
}

/// What a worker reports to the sink.
#[derive(Debug)]
pub enum Event<O> {
    /// `worker` finished `job`.
    Done {
        /// The job.
        job: usize,
        /// The worker, by its index.
        worker: usize,
        /// The result.
        output: O,
    },
    /// `job` failed on [`MAX_ATTEMPTS`] workers, or no worker is left to run it.
    Failed {
        /// The job.
        job: usize,
        /// Why.
        message: String,
    },
}

/// What one worker did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerStats {
    /// The worker's device, e.g. `cpu` or `cuda:1`.
    pub device: String,
    /// Jobs it finished.
    pub jobs: u64,
    /// Steps it ran.
    pub steps: u64,
    /// Time inside steps.
    #[serde(serialize_with = "as_secs")]
    pub busy: Duration,
    /// Steps that failed or panicked.
    pub failures: u32,
    /// Times it halved its batch after running out of memory.
    pub shrinks: u32,
    /// Why it stopped taking work before the queue ran dry, if it did.
    pub retired: Option<String>,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A planted failure, so the requeue path is tested on the real engine:
/// `HEARTH_FAULT=worker=1,after=3,kind=panic` makes worker 1 fail every step from its
/// fourth on (`kind=error` returns an error instead; `kind=oom` runs out of memory once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The worker that fails.
    pub worker: usize,
    /// Steps it runs before failing.
    pub after: u64,
    /// How it fails.
    pub kind: FaultKind,
}

/// How a [`Fault`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The step returns an error (a lost device).
    Error,
    /// The step panics (a bug).
    Panic,
    /// The step runs out of device memory, once.
    OutOfMemory,
}

impl std::str::FromStr for Fault {
    type Err = Error;
    fn from_str(spec: &str) -> Result<Fault> {
        let bad = || Error::Config(format!("HEARTH_FAULT `{spec}`: expected worker=N,after=STEPS,kind=error|panic|oom"));
        let mut fault = Fault { worker: 0, after: 0, kind: FaultKind::Error };
        for pair in spec.split(',') {
            let (key, value) = pair.split_once('=').ok_or_else(bad)?;
            match key.trim() {
                "worker" => fault.worker = value.parse().map_err(|_| bad())?,
                "after" => fault.after = value.parse().map_err(|_| bad())?,
                "kind" => {
                    fault.kind = match value {
                        "error" => FaultKind::Error,
                        "panic" => FaultKind::Panic,
                        "oom" => FaultKind::OutOfMemory,
                        _ => return Err(bad()),
                    }
                }
                _ => return Err(bad()),
            }
        }
        Ok(fault)
    }
}

impl Fault {
    /// The planted fault of `HEARTH_FAULT`, if set.
    pub fn from_env() -> Result<Option<Fault>> {
        std::env::var("HEARTH_FAULT").ok().map(|s| s.parse()).transpose()
    }

    fn strike(&self, worker: usize, steps: u64) -> Result<()> {
        if worker != self.worker || steps < self.after {
            return Ok(());
        }
        match self.kind {
            FaultKind::Error => Err(Error::Config(format!("planted fault: worker {worker} fails at step {steps}"))),
            FaultKind::Panic => panic!("planted fault: worker {worker} panics at step {steps}"),
            FaultKind::OutOfMemory if steps == self.after => Err(Error::Config("planted fault: CUDA_ERROR_OUT_OF_MEMORY, out of memory".into())),
            FaultKind::OutOfMemory => Ok(()),
        }
    }
}

/// One worker as the pool starts it.
pub struct WorkerSpec<F> {
    /// Its device's name, for reports.
    pub device: String,
    /// Threads of its own CPU pool; `None` uses the global one.
    pub threads: Option<usize>,
    /// Builds its backend, on the worker's thread (inside its thread pool).
    pub start: F,
    /// Its devices' thermal guards: while any pauses, the worker admits no new jobs.
    pub guards: Vec<std::sync::Arc<crate::telemetry::Guard>>,
}

struct Job {
    index: usize,
    /// Workers whose step failed with this job in flight.
    failed_on: Vec<usize>,
}

impl Job {
    /// Failed on two workers: the job itself, not a device, may be at fault.
    fn is_suspect(&self) -> bool {
        self.failed_on.len() >= 2
    }
}

struct State {
    queue: VecDeque<Job>,
    /// Jobs not yet finished: queued or in some worker's flight.
    outstanding: usize,
    alive: Vec<bool>,
    cancelled: bool,
}

impl State {
    /// Every job is finished, or the run is cancelled.
    fn closed(&self) -> bool {
        self.cancelled || self.outstanding == 0
    }
}

enum Take {
    Job(Job),
    /// Nothing this worker may take now.
    Nothing,
    /// Every job is finished, or the run is cancelled.
    Closed,
}

struct Queue {
    state: Mutex<State>,
    changed: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next job `worker` may run: one it has not failed, unless every living worker
    /// has failed it; a suspect only when `suspect_ok`. With `wait`, blocks until there
    /// is one or the pool closes.
    fn take(&self, worker: usize, wait: bool, suspect_ok: bool) -> Take {
        let mut state = self.lock();
        loop {
            if state.closed() {
                return Take::Closed;
            }
            let alive = &state.alive;
            let allowed = |job: &Job| {
                (suspect_ok || !job.is_suspect())
                    && (!job.failed_on.contains(&worker) || (0..alive.len()).filter(|&w| alive[w]).all(|w| job.failed_on.contains(&w)))
            };
            if let Some(at) = state.queue.iter().position(allowed) {
                return Take::Job(state.queue.remove(at).expect("position is in range"));
            }
            if !wait {
                return Take::Nothing;
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn finished(&self, jobs: usize) {
        let mut state = self.lock();
        state.outstanding -= jobs;
        if state.outstanding == 0 {
            self.changed.notify_all();
        }
    }

    /// Puts jobs back at the front, where the next worker to look takes them first.
    fn requeue(&self, jobs: Vec<Job>) {
        let mut state = self.lock();
        for job in jobs.into_iter().rev() {
            state.queue.push_front(job);
        }
        self.changed.notify_all();
    }

    /// Marks `worker` gone. The last worker to go takes the jobs nobody is left to run.
    fn retire(&self, worker: usize) -> Vec<Job> {
        let mut state = self.lock();
        state.alive[worker] = false;
        self.changed.notify_all();
        if state.alive.iter().any(|&a| a) {
            return Vec::new();
        }
        let orphans: Vec<Job> = state.queue.drain(..).collect();
        state.outstanding -= orphans.len();
        orphans
    }

    fn is_closed(&self) -> bool {
        self.lock().closed()
    }

    fn cancel(&self) {
        self.lock().cancelled = true;
        self.changed.notify_all();
    }
}

/// Runs `jobs` on `workers`, handing each event to `on_event` on the calling thread (the
/// sink). Returns each worker's stats. An error from `on_event` stops the workers and is
/// returned; jobs then unfinished are simply not done (a resumed run picks them up).
pub fn run<B, F>(
    jobs: impl IntoIterator<Item = usize>,
    workers: Vec<WorkerSpec<F>>,
    fault: Option<Fault>,
    mut on_event: impl FnMut(Event<B::Output>) -> Result<()>,
) -> Result<Vec<WorkerStats>>
where
    B: Backend,
    F: FnOnce() -> Result<B> + Send,
{
    let queue: VecDeque<Job> = jobs.into_iter().map(|index| Job { index, failed_on: Vec::new() }).collect();
    let queue = Queue {
        state: Mutex::new(State { outstanding: queue.len(), queue, alive: vec![true; workers.len()], cancelled: false }),
        changed: Condvar::new(),
    };
    if workers.is_empty() {
        return Err(Error::Config("no worker to run on".into()));
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .into_iter()
            .enumerate()
            .map(|(id, spec)| {
                let (queue, tx) = (&queue, tx.clone());
                scope.spawn(move || {
                    let device = spec.device.clone();
                    let guards = spec.guards;
                    let work = || work(id, spec.device, spec.start, &guards, queue, &tx, fault);
                    match spec.threads {
                        None => work(),
                        Some(threads) => match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
                            Ok(pool) => pool.install(work),
                            Err(e) => {
                                let orphans = queue.retire(id);
                                fail_all(&tx, orphans, &format!("{device}: no thread pool: {e}"));
                                WorkerStats { device, retired: Some(format!("no thread pool: {e}")), ..WorkerStats::default() }
                            }
                        },
                    }
                })
            })
            .collect();
        drop(tx);
        let mut sink_error = None;
        for event in rx {
            if sink_error.is_some() {
                continue;
            }
            if let Err(e) = on_event(event) {
                queue.cancel();
                sink_error = Some(e);
            }
        }
        let stats = handles.into_iter().map(|h| h.join().expect("a worker's panics are caught in its loop")).collect();
        match sink_error {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    })
}

fn fail_all<O>(tx: &Sender<Event<O>>, jobs: Vec<Job>, why: &str) {
    for job in jobs {
        let _ = tx.send(Event::Failed { job: job.index, message: format!("no worker is left to run it; the last stopped: {why}") });
    }
}

/// One worker's loop: fill the flight, step, hand finished jobs to the sink; on a failed
/// step, requeue the flight and start over with a fresh backend.
fn work<B: Backend, F: FnOnce() -> Result<B>>(
    id: usize,
    device: String,
    start: F,
    guards: &[std::sync::Arc<crate::telemetry::Guard>],
    queue: &Queue,
    tx: &Sender<Event<B::Output>>,
    fault: Option<Fault>,
) -> WorkerStats {
    let mut stats = WorkerStats { device: device.clone(), ..WorkerStats::default() };
    let retire = |stats: &mut WorkerStats, why: String| {
        tracing::warn!("worker {id} ({device}) retires: {why}");
        fail_all(tx, queue.retire(id), &format!("{device}: {why}"));
        stats.retired = Some(why);
    };
    let mut backend = match catch_unwind(AssertUnwindSafe(start)) {
        Ok(Ok(backend)) => backend,
        Ok(Err(e)) => {
            retire(&mut stats, format!("could not start: {e}"));
            return stats;
        }
        Err(panic) => {
            retire(&mut stats, format!("could not start: {}", panic_message(panic)));
            return stats;
        }
    };
    let done = |stats: &mut WorkerStats, job: usize, output: B::Output| {
        stats.jobs += 1;
        let _ = tx.send(Event::Done { job, worker: id, output });
        queue.finished(1);
    };
    let mut flight: HashMap<usize, Job> = HashMap::new();
    loop {
        // Too hot: finish what is in flight, admit nothing new until the device cools.
        let hot = guards.iter().any(|g| !g.admitting());
        if hot && flight.is_empty() {
            if queue.is_closed() {
                queue.retire(id);
                return stats;
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        while !hot && flight.len() < backend.capacity() {
            let suspect_ok = !flight.values().any(Job::is_suspect);
            match queue.take(id, flight.is_empty(), suspect_ok) {
                Take::Job(job) => match backend.submit(job.index) {
                    Some(output) => done(&mut stats, job.index, output),
                    None => {
                        flight.insert(job.index, job);
                    }
                },
                Take::Nothing => break,
                Take::Closed => {
                    queue.retire(id);
                    return stats;
                }
            }
        }
        if flight.is_empty() {
            continue;
        }
        let started = Instant::now();
        let step = stats.steps;
        let result = catch_unwind(AssertUnwindSafe(|| {
            if let Some(fault) = &fault {
                fault.strike(id, step)?;
            }
            backend.step()
        }));
        stats.busy += started.elapsed();
        stats.steps += 1;
        let error = match result {
            Ok(Ok(finished)) => {
                for (job, output) in finished {
                    flight.remove(&job);
                    done(&mut stats, job, output);
                }
                continue;
            }
            Ok(Err(e)) => e.to_string(),
            Err(panic) => panic_message(panic),
        };
        let shrink = is_out_of_memory(&error) && stats.shrinks < MAX_SHRINKS;
        let mut requeue = Vec::new();
        if shrink {
            stats.shrinks += 1;
            tracing::warn!("worker {id} ({device}) ran out of memory; halving its batch: {error}");
            requeue.extend(flight.drain().map(|(_, job)| job));
        } else {
            stats.failures += 1;
            tracing::warn!("worker {id} ({device}) failed a step with {} jobs in flight; requeueing them: {error}", flight.len());
            for (_, mut job) in flight.drain() {
                job.failed_on.push(id);
                if job.failed_on.len() >= MAX_ATTEMPTS {
                    let message = format!("failed on {} workers; the last, {device}: {error}", job.failed_on.len());
                    let _ = tx.send(Event::Failed { job: job.index, message });
                    queue.finished(1);
                } else {
                    requeue.push(job);
                }
            }
        }
        requeue.sort_by_key(|job| job.index);
        queue.requeue(requeue);
        if stats.failures >= MAX_WORKER_FAILURES {
            let why = format!("{} failed steps, the last: {error}", stats.failures);
            retire(&mut stats, why);
            return stats;
        }
        if let Err(e) = backend.reset(shrink) {
            retire(&mut stats, format!("could not restart after a failed step: {e}"));
            return stats;
        }
    }
}

/// Whether a step's error says the device ran out of memory (CUDA's wording, as candle
/// passes it on).
fn is_out_of_memory(error: &str) -> bool {
    error.contains("OUT_OF_MEMORY") || error.to_ascii_lowercase().contains("out of memory")
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    format!("panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Finishes one job per step after `delay`; fails (as `fault` says) on its own.
    struct Fake {
        flight: VecDeque<usize>,
        capacity: usize,
        delay: Duration,
        /// Jobs that panic whichever worker runs them.
        poison: Option<usize>,
    }

    impl Backend for Fake {
        type Output = usize;
        fn capacity(&self) -> usize {
            self.capacity
        }
        fn submit(&mut self, job: usize) -> Option<usize> {
            self.flight.push_back(job);
            None
        }
        fn step(&mut self) -> Result<Vec<(usize, usize)>> {
            std::thread::sleep(self.delay);
            if self.poison.is_some_and(|p| self.flight.contains(&p)) {
                panic!("poisoned job");
            }
            Ok(self.flight.pop_front().map(|j| vec![(j, j * 10)]).unwrap_or_default())
        }
        fn reset(&mut self, shrink: bool) -> Result<()> {
            self.flight.clear();
            if shrink {
                self.capacity = (self.capacity / 2).max(1);
            }
            Ok(())
        }
    }

    fn spec(delay_ms: u64, poison: Option<usize>) -> WorkerSpec<impl FnOnce() -> Result<Fake> + Send> {
        WorkerSpec {
            device: format!("fake{delay_ms}"),
            threads: None,
            guards: Vec::new(),
            start: move || Ok(Fake { flight: VecDeque::new(), capacity: 4, delay: Duration::from_millis(delay_ms), poison }),
        }
    }

    /// Runs the pool and returns job → (times done, times failed), and the stats.
    fn outcome(jobs: usize, workers: Vec<WorkerSpec<impl FnOnce() -> Result<Fake> + Send>>, fault: Option<Fault>) -> (BTreeMap<usize, (u32, u32)>, Vec<WorkerStats>) {
        let mut seen: BTreeMap<usize, (u32, u32)> = BTreeMap::new();
        let stats = run(0..jobs, workers, fault, |event| {
            match event {
                Event::Done { job, output, .. } => {
                    assert_eq!(output, job * 10);
                    seen.entry(job).or_default().0 += 1;
                }
                Event::Failed { job, .. } => seen.entry(job).or_default().1 += 1,
            }
            Ok(())
        })
        .unwrap();
        (seen, stats)
    }

    #[test]
    fn every_job_is_done_exactly_once_and_the_faster_worker_takes_more() {
        let (seen, stats) = outcome(60, vec![spec(1, None), spec(6, None)], None);
        assert_eq!(seen.len(), 60);
        assert!(seen.values().all(|&v| v == (1, 0)), "{seen:?}");
        assert_eq!(stats.iter().map(|s| s.jobs).sum::<u64>(), 60);
        assert!(stats[0].jobs > stats[1].jobs, "the faster worker took more: {stats:?}");
    }

    #[test]
    fn a_failing_worker_retires_and_its_jobs_finish_on_the_others() {
        for kind in [FaultKind::Error, FaultKind::Panic] {
            let fault = Fault { worker: 1, after: 2, kind };
            let (seen, stats) = outcome(40, vec![spec(1, None), spec(1, None)], Some(fault));
            assert_eq!(seen.len(), 40);
            assert!(seen.values().all(|&v| v == (1, 0)), "{kind:?}: {seen:?}");
            // How often it fails before the queue runs dry depends on timing (a panic's
            // backtrace is slow); that it retires at the limit does not.
            assert!(stats[1].failures >= 1 && stats[0].failures == 0, "{kind:?}: {stats:?}");
            assert_eq!(stats[1].retired.is_some(), stats[1].failures == MAX_WORKER_FAILURES, "{stats:?}");
        }
    }

    #[test]
    fn running_out_of_memory_halves_the_batch_instead_of_failing() {
        let fault = Fault { worker: 0, after: 3, kind: FaultKind::OutOfMemory };
        let (seen, stats) = outcome(20, vec![spec(0, None)], Some(fault));
        assert!(seen.values().all(|&v| v == (1, 0)) && seen.len() == 20);
        assert_eq!((stats[0].shrinks, stats[0].failures), (1, 0));
    }

    #[test]
    fn a_job_that_fails_everywhere_becomes_a_failure_and_the_rest_finish() {
        let workers = vec![spec(0, Some(7)), spec(0, Some(7)), spec(0, Some(7))];
        let (seen, _) = outcome(30, workers, None);
        assert_eq!(seen[&7], (0, 1), "the poisoned job fails once, after its attempts");
        assert!(seen.iter().filter(|(&j, _)| j != 7).all(|(_, &v)| v == (1, 0)), "{seen:?}");
    }

    #[test]
    fn when_every_worker_is_gone_the_rest_fail_instead_of_hanging() {
        let fault = Fault { worker: 0, after: 1, kind: FaultKind::Error };
        let (seen, stats) = outcome(12, vec![spec(0, None)], Some(fault));
        assert_eq!(seen.len(), 12);
        let done = seen.values().filter(|v| v.0 == 1).count();
        assert!(seen.values().all(|&(d, f)| d + f == 1), "{seen:?}");
        assert!((1..12).contains(&done), "the first step finished a job, the rest failed: {seen:?}");
        assert!(stats[0].retired.is_some());
    }

    #[test]
    fn faults_parse_from_their_spec() {
        let fault: Fault = "worker=1,after=3,kind=panic".parse().unwrap();
        assert_eq!(fault, Fault { worker: 1, after: 3, kind: FaultKind::Panic });
        assert!("worker=x".parse::<Fault>().is_err());
        assert!("after=2,kind=melt".parse::<Fault>().is_err());
    }
}
