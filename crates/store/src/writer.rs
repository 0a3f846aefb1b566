//! The writer thread: group commit off the broker's driver. The driver sends batches of
//! encoded records, each numbered with the sequence of its last change; the thread appends
//! everything that has arrived, syncs once for all of it (per the [`SyncPolicy`]), and
//! reports the highest sequence that is now durable. Checkpoints go through the same queue,
//! so they land between the records they follow and those after them.

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
    /// A checkpoint was written.
    Checkpointed {
        /// Its size in bytes.
        bytes: usize,
    },
    /// Writing failed; the writer retries the same work after a second and reports again.
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
        let thread = std::thread::Builder::new()
            .name("culex-journal".to_owned())
            .spawn(move || run(journal, policy, &queue, report))?;
        Ok(Self { jobs: Some(jobs), thread: Some(thread) })
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
    mut report: impl FnMut(WriterReport),
) {
    let mut last_sync = Instant::now();
    let mut written = 0;
    loop {
        // Wait for work; with a sync interval, wake up to sync what was left unsynced.
        let first = match policy {
            SyncPolicy::EveryBatch => queue.recv().ok(),
            SyncPolicy::Every(interval) => {
                match queue.recv_timeout(interval.saturating_sub(last_sync.elapsed())) {
                    Ok(job) => Some(job),
                    Err(RecvTimeoutError::Timeout) => {
                        sync_now(&mut journal, written, &mut report);
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
            written = written.max(do_job(&mut journal, job, &mut report));
        }
        let due = match policy {
            SyncPolicy::EveryBatch => true,
            SyncPolicy::Every(interval) => last_sync.elapsed() >= interval,
        };
        if due {
            sync_now(&mut journal, written, &mut report);
            last_sync = Instant::now();
        } else {
            report(WriterReport::Synced(written));
        }
    }
    sync_now(&mut journal, written, &mut report);
}

/// Does one job, retrying until it succeeds; returns the sequence it covers.
fn do_job<F: FileSystem>(
    journal: &mut Journal<F>,
    job: Job,
    report: &mut impl FnMut(WriterReport),
) -> u64 {
    match job {
        Job::Records { bytes, upto } => {
            retry(report, || journal.append(&bytes));
            upto
        }
        Job::Checkpoint { snapshot, upto } => {
            match snapshot::encode(&snapshot) {
                Ok(bytes) => {
                    retry(report, || journal.checkpoint(&bytes));
                    report(WriterReport::Checkpointed { bytes: bytes.len() });
                }
                // Never for a state the broker holds; the journal still has everything.
                Err(err) => report(WriterReport::Failed(err.to_string())),
            }
            upto
        }
    }
}

fn sync_now<F: FileSystem>(
    journal: &mut Journal<F>,
    written: u64,
    report: &mut impl FnMut(WriterReport),
) {
    retry(report, || journal.sync());
    report(WriterReport::Synced(written));
}

fn retry(report: &mut impl FnMut(WriterReport), mut work: impl FnMut() -> std::io::Result<()>) {
    while let Err(err) = work() {
        report(WriterReport::Failed(err.to_string()));
        std::thread::sleep(RETRY_AFTER);
    }
}
