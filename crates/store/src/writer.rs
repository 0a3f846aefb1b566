//! The writer thread: group commit off the broker's driver. The driver sends batches of
//! encoded records, each numbered with the sequence of its last change; the thread appends
//! everything that has arrived, syncs once for all of it (per the [`SyncPolicy`]), and
//! reports the highest sequence that is now durable. Checkpoints go through the same queue,
//! so they land between the records they follow and those after them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mqtt_core::snapshot::{self, Snapshot};

use crate::fs::FileSystem;
use crate::journal::Journal;

/// When the journal is synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// After every batch, before its acknowledgements leave: nothing acknowledged is lost,
    /// even to a power cut.
    EveryBatch,
    /// At most once per interval: a kill keeps everything (the records are in the OS's page
    /// cache), a power cut loses up to the interval.
    Every(Duration),
}

/// What the writer reports to the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriterReport {
    /// Every change up to this sequence is durable (or written, per the [`SyncPolicy`]).
    Synced(u64),
    /// A sync of the journal took this long (reported before its `Synced`).
    SyncTook(Duration),
    /// A checkpoint was written.
    Checkpointed {
        /// Its size in bytes.
        bytes: usize,
    },
    /// Writing failed; the writer retries the same work after a second and reports again
    /// (once the handle is stopping, it gives up after a few tries, so a dead disk cannot keep
    /// the broker from exiting).
    Failed(String),
}

/// Work for the writer.
enum Job {
    Records { bytes: Vec<u8>, upto: u64 },
    Checkpoint { snapshot: Box<Snapshot>, upto: u64 },
}

/// The handle the driver keeps; dropping it lets the thread finish what it has and stop.
#[derive(Debug)]
pub struct Writer {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// Set when the handle stops the thread: a failing write is then given up after a few
    /// tries instead of retried forever, so that a broker on a dead disk still exits.
    stopping: Arc<AtomicBool>,
}

/// How long a failed write waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl Writer {
    /// Starts the thread on `journal`. `report` is called on the writer thread.
    ///
    /// # Errors
    /// The OS error when the thread cannot be started.
    pub fn spawn<F: FileSystem>(
        journal: Journal<F>,
        policy: SyncPolicy,
        report: impl FnMut(WriterReport) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopping);
        let thread = std::thread::Builder::new()
            .name("culex-journal".to_owned())
            .spawn(move || run(journal, policy, &queue, &flag, report))?;
        Ok(Self { jobs: Some(jobs), thread: Some(thread), stopping })
    }

    /// Queues encoded records whose last change has sequence `upto`.
    pub fn records(&self, bytes: Vec<u8>, upto: u64) {
        self.send(Job::Records { bytes, upto });
    }

    /// Queues a checkpoint of the state after change `upto`.
    pub fn checkpoint(&self, snapshot: Snapshot, upto: u64) {
        self.send(Job::Checkpoint { snapshot: Box::new(snapshot), upto });
    }

    fn send(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            // The thread only ends when this handle drops its sender.
            let _ = jobs.send(job);
        }
    }

    /// Finishes every queued job (syncing them) and stops the thread.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run<F: FileSystem>(
    mut journal: Journal<F>,
    policy: SyncPolicy,
    queue: &Receiver<Job>,
    stopping: &AtomicBool,
    report: impl FnMut(WriterReport),
) {
    let mut worker = Worker { journal: &mut journal, stopping, report, written: 0 };
    worker.run(policy, queue);
}

/// The writer thread's state: the journal, the stop flag, where reports go, and the highest
/// sequence written.
struct Worker<'a, F: FileSystem, R> {
    journal: &'a mut Journal<F>,
    stopping: &'a AtomicBool,
    report: R,
    written: u64,
}

/// Tries of a failing write once the handle is stopping.
const TRIES_WHEN_STOPPING: u32 = 3;

impl<F: FileSystem, R: FnMut(WriterReport)> Worker<'_, F, R> {
    fn run(&mut self, policy: SyncPolicy, queue: &Receiver<Job>) {
        let mut last_sync = Instant::now();
        loop {
            // Wait for work; with a sync interval, wake up to sync what was left unsynced.
            let first = match policy {
                SyncPolicy::EveryBatch => queue.recv().ok(),
                SyncPolicy::Every(interval) => {
                    match queue.recv_timeout(interval.saturating_sub(last_sync.elapsed())) {
                        Ok(job) => Some(job),
                        Err(RecvTimeoutError::Timeout) => {
                            self.sync_now();
                            last_sync = Instant::now();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => None,
                    }
                }
            };
            let Some(first) = first else { break };
            // Group commit: everything that has arrived meanwhile goes into the same sync.
            for job in std::iter::once(first).chain(std::iter::from_fn(|| queue.try_recv().ok())) {
                self.do_job(job);
            }
            let due = match policy {
                SyncPolicy::EveryBatch => true,
                SyncPolicy::Every(interval) => last_sync.elapsed() >= interval,
            };
            if due {
                self.sync_now();
                last_sync = Instant::now();
            } else {
                (self.report)(WriterReport::Synced(self.written));
            }
        }
        self.sync_now();
    }

    /// Does one job, retrying a failed write.
    fn do_job(&mut self, job: Job) {
        match job {
            Job::Records { bytes, upto } => {
                if self.retry(|journal| journal.append(&bytes)) {
                    self.written = self.written.max(upto);
                }
            }
            Job::Checkpoint { snapshot, upto } => match snapshot::encode(&snapshot) {
                Ok(bytes) => {
                    if self.retry(|journal| journal.checkpoint(&bytes)) {
                        (self.report)(WriterReport::Checkpointed { bytes: bytes.len() });
                        self.written = self.written.max(upto);
                    }
                }
                // Never for a state the broker holds; the journal still has everything.
                Err(err) => (self.report)(WriterReport::Failed(err.to_string())),
            },
        }
    }

    fn sync_now(&mut self) {
        let started = Instant::now();
        if self.retry(Journal::sync) {
            (self.report)(WriterReport::SyncTook(started.elapsed()));
            (self.report)(WriterReport::Synced(self.written));
        }
    }

    /// Runs `work` until it succeeds, reporting each failure and waiting a second between
    /// tries; once the handle is stopping, gives up after a few tries. Whether it succeeded.
    fn retry(&mut self, mut work: impl FnMut(&mut Journal<F>) -> std::io::Result<()>) -> bool {
        let mut tries_left = TRIES_WHEN_STOPPING;
        loop {
            match work(self.journal) {
                Ok(()) => return true,
                Err(err) => (self.report)(WriterReport::Failed(err.to_string())),
            }
            if self.stopping.load(Ordering::Relaxed) {
                tries_left -= 1;
                if tries_left == 0 {
                    return false;
                }
            }
            std::thread::sleep(RETRY_AFTER);
        }
    }
}
