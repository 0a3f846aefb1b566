//! Saving a sharded broker (persistence without the journal, several driver shards): one
//! file for every shard. Shard 0's driver decides when to save (its autosave timer, the
//! broker-wide change count for `autosave_on_changes`, SIGUSR1) and hands its own snapshot to
//! the gatherer task, which asks every other driver for its part
//! ([`DriverControl::Snapshot`]), merges the parts ([`Snapshot::merge`]) and has the one
//! [`Saver`] write them.
//!
//! At shutdown (with persistence on) every driver publishes its wills, says so
//! ([`ShardSaves::wills_out`]) and goes on handling what the other shards forward; once every
//! driver's wills are out the gatherer asks each for its last part
//! ([`DriverControl::LastPart`]), which a driver takes after handling everything forwarded to
//! it until then (every shard's wills, messages routed before the shard stopped), and writes
//! the merged file.
//!
//! While the broker runs, the parts are taken in each driver's own step, so a message one
//! shard routed and another had not received yet is in the first part only; the next save
//! has it. A save the other drivers cannot answer (they are stopping) is skipped: the last
//! save follows.
//!
//! With the journal each shard saves its own pair of files (`persist::journal`), when it
//! decides: the gatherer only keeps the shutdown order, every shard's wills out and handled
//! before any shard's last checkpoint. [`DriverControl::LastPart`] then tells a driver to take
//! it, and the gatherer writes nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mqtt_core::snapshot::Snapshot;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Saver;
use crate::event::DriverControl;
use crate::log::Logger;

/// What a driver tells the gatherer.
#[derive(Debug)]
enum Request {
    /// Shard 0 saves: its part, taken in its step; the gatherer asks the others for theirs.
    Save { path: String, first: Snapshot },
    /// A driver's wills are out at shutdown; with persistence on (`path`: the file) it waits
    /// for [`DriverControl::LastPart`]. Shard 0's path names the file.
    WillsOut { shard: usize, path: Option<String> },
}

/// A driver's side of saving a sharded broker.
#[derive(Debug)]
pub(crate) struct ShardSaves {
    shard: usize,
    requests: mpsc::UnboundedSender<Request>,
    /// Durable changes of every shard so far (`autosave_on_changes` counts them all).
    changes: Arc<AtomicU64>,
    /// This shard's changes already added to `changes`.
    counted: u64,
    /// Every shard's part goes in one file; `false` with the journal (each shard saves its
    /// own).
    merged: bool,
}

impl ShardSaves {
    /// Whether this driver decides when to save: shard 0 of one merged file (the others only
    /// answer), every shard with the journal.
    pub(crate) fn decides(&self) -> bool {
        self.shard == 0 || !self.merged
    }

    /// Whether saves go through the gatherer, into one file ([`ShardSaves::save`]).
    pub(crate) fn merges(&self) -> bool {
        self.merged
    }

    /// Adds this shard's durable changes since the last call (`changes` is its core's
    /// [`Broker::changes`](mqtt_core::Broker::changes)); the broker-wide count, or this
    /// shard's own with the journal (it saves its own part).
    pub(crate) fn count(&mut self, changes: u64) -> u64 {
        if !self.merged {
            return changes;
        }
        let new = changes.saturating_sub(self.counted);
        self.counted = changes.max(self.counted);
        if new == 0 {
            return self.changes.load(Ordering::Relaxed);
        }
        self.changes.fetch_add(new, Ordering::Relaxed) + new
    }

    /// Shard 0 saves to `path`: `first` is its part; the gatherer collects the others.
    pub(crate) fn save(&self, path: String, first: Snapshot) {
        let _ = self.requests.send(Request::Save { path, first });
    }

    /// At shutdown, this driver's wills are out; with persistence on (`path`, the file) it
    /// now waits for [`DriverControl::LastPart`], handling forwards meanwhile (with the
    /// journal, the answer is its own last checkpoint; the gatherer needs no part).
    pub(crate) fn wills_out(self, path: Option<String>) {
        let _ = self.requests.send(Request::WillsOut { shard: self.shard, path });
    }
}

/// Starts the gatherer for the drivers `drivers` (indexed by shard): one [`ShardSaves`] per
/// driver, and the task, which ends once every driver's wills are out and the last save is
/// written (`merged`: one file for every shard; else each driver saves its own).
pub(crate) fn spawn(
    drivers: Vec<mpsc::UnboundedSender<DriverControl>>,
    merged: bool,
    logger: Arc<Logger>,
) -> (Vec<ShardSaves>, JoinHandle<()>) {
    let (requests, queue) = mpsc::unbounded_channel();
    let changes = Arc::new(AtomicU64::new(0));
    let saves = (0..drivers.len())
        .map(|shard| ShardSaves {
            shard,
            requests: requests.clone(),
            changes: Arc::clone(&changes),
            counted: 0,
            merged,
        })
        .collect();
    let task = tokio::spawn(gather(drivers, queue, merged, logger));
    (saves, task)
}

async fn gather(
    drivers: Vec<mpsc::UnboundedSender<DriverControl>>,
    mut queue: mpsc::UnboundedReceiver<Request>,
    merged: bool,
    logger: Arc<Logger>,
) {
    let saver = Saver::spawn(logger);
    let mut waiting: Vec<Option<String>> = vec![None; drivers.len()];
    let mut out = 0;
    while let Some(request) = queue.recv().await {
        match request {
            Request::Save { path, first } => {
                if let Some(parts) = others(&drivers, first).await {
                    saver.request(path, Snapshot::merge(parts));
                }
            }
            Request::WillsOut { shard, path } => {
                if let Some(slot) = waiting.get_mut(shard) {
                    *slot = path;
                }
                out += 1;
                if out == drivers.len() {
                    break;
                }
            }
        }
    }
    // Every driver's wills are out (or a driver ended without saying so: it panicked, and
    // there is no whole state to save).
    let mut answers = Vec::new();
    for (driver, waits) in drivers.iter().zip(&waiting) {
        if waits.is_some() {
            let (reply, answer) = oneshot::channel();
            let _ = driver.send(DriverControl::LastPart(reply));
            answers.push(answer);
        }
    }
    let mut parts = Vec::with_capacity(answers.len());
    for answer in answers {
        if let Ok(part) = answer.await {
            parts.push(part);
        }
    }
    let whole = merged && out == drivers.len() && parts.len() == drivers.len();
    let path = waiting.into_iter().next().flatten().filter(|_| whole);
    saver.finish(path.map(|path| (path, Snapshot::merge(parts)))).await;
}

/// `first` (shard 0's part) and every other driver's, asked now; `None` when a driver
/// cannot answer (it is stopping).
async fn others(
    drivers: &[mpsc::UnboundedSender<DriverControl>],
    first: Snapshot,
) -> Option<Vec<Snapshot>> {
    let mut answers = Vec::with_capacity(drivers.len().saturating_sub(1));
    for driver in drivers.iter().skip(1) {
        let (reply, answer) = oneshot::channel();
        driver.send(DriverControl::Snapshot(reply)).ok()?;
        answers.push(answer);
    }
    let mut parts = vec![first];
    for answer in answers {
        parts.push(answer.await.ok()?);
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use mqtt_codec::{Properties, QoS, TopicName};
    use mqtt_core::snapshot::{StoredMessage, decode};

    use super::*;
    use crate::config::LogTypes;

    /// A part holding one retained message, `id` on `topic`.
    fn part(id: u64, topic: &str) -> Snapshot {
        let message = StoredMessage {
            id,
            topic: TopicName::new(topic).expect("topic"),
            payload: Bytes::from_static(b"x"),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Properties::default(),
            expires_at_ms: None,
            source: None,
        };
        Snapshot { messages: vec![message], retained: vec![id], sessions: Vec::new() }
    }

    /// A driver that answers every snapshot request with `part`, and the request for its
    /// last part with `last`.
    fn fake_driver(part: Snapshot, last: Snapshot) -> mpsc::UnboundedSender<DriverControl> {
        let (control, mut controls) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(instruction) = controls.recv().await {
                match instruction {
                    DriverControl::Snapshot(reply) => drop(reply.send(part.clone())),
                    DriverControl::LastPart(reply) => return drop(reply.send(last)),
                    _ => {}
                }
            }
        });
        control
    }

    fn saved(path: &std::path::Path) -> Snapshot {
        decode(&std::fs::read(path).expect("saved")).expect("decodes")
    }

    #[tokio::test]
    async fn saves_and_the_last_save_merge_every_shards_part() {
        let dir = std::env::temp_dir().join(format!("culex-shard-saves-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("mosquitto.db");
        let name = path.display().to_string();
        let logger = Arc::new(Logger::new(LogTypes::NONE, false, false));
        let (first, other) = (part(2, "r/a"), part(3, "r/b"));
        let drivers = vec![
            fake_driver(Snapshot::default(), Snapshot::default()),
            fake_driver(other.clone(), part(5, "r/c")),
        ];
        let (mut saves, task) = spawn(drivers, true, logger);
        assert!(saves[0].decides() && !saves[1].decides());
        assert_eq!((saves[0].count(2), saves[1].count(5), saves[0].count(3)), (2, 7, 8));

        saves[0].save(name.clone(), first.clone());
        let merged = Snapshot::merge(vec![first.clone(), other.clone()]);
        let start = std::time::Instant::now();
        while !path.exists() {
            assert!(start.elapsed() < std::time::Duration::from_secs(10), "not saved");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(saved(&path), merged);
        assert_eq!(merged.retained, [2, 3]);

        // The last parts, asked once both shards' wills are out; shard 0 names the file.
        let second = saves.pop().expect("two");
        let zero = saves.pop().expect("one");
        second.wills_out(Some(name.clone()));
        zero.wills_out(Some(name));
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("the gatherer ends")
            .expect("no panic");
        assert_eq!(saved(&path).retained, [5], "shard 0's last part is empty");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn with_the_journal_each_shard_saves_its_own_and_the_gatherer_only_orders_the_last() {
        let logger = Arc::new(Logger::new(LogTypes::NONE, false, false));
        let (told, mut last_parts) = mpsc::unbounded_channel();
        // Drivers that report the request for their last part.
        let drivers = (0..2)
            .map(|shard| {
                let (control, mut controls) = mpsc::unbounded_channel();
                let told = told.clone();
                tokio::spawn(async move {
                    while let Some(instruction) = controls.recv().await {
                        if let DriverControl::LastPart(_) = instruction {
                            let _ = told.send(shard);
                            return;
                        }
                    }
                });
                control
            })
            .collect();
        let (mut saves, task) = spawn(drivers, false, logger);
        assert!(saves.iter().all(|saves| saves.decides() && !saves.merges()));
        assert_eq!((saves[1].count(5), saves[1].count(7)), (5, 7), "its own changes");
        let dir = std::env::temp_dir().join(format!("culex-own-saves-{}", std::process::id()));
        let path = dir.join("mosquitto.db");
        let second = saves.pop().expect("two");
        second.wills_out(Some(path.display().to_string()));
        let ten = std::time::Duration::from_secs(10);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), last_parts.recv())
                .await
                .is_err(),
            "shard 0's wills are not out yet"
        );
        saves.pop().expect("one").wills_out(Some(path.display().to_string()));
        let mut asked = vec![
            tokio::time::timeout(ten, last_parts.recv()).await.expect("asked"),
            tokio::time::timeout(ten, last_parts.recv()).await.expect("asked"),
        ];
        asked.sort();
        assert_eq!(asked, [Some(0), Some(1)]);
        tokio::time::timeout(ten, task).await.expect("the gatherer ends").expect("no panic");
        assert!(!path.exists(), "the gatherer writes nothing");
    }
}
