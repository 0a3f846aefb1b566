//! Saving a sharded broker (persistence without the journal, several driver shards): one
//! file for every shard. Shard 0's driver decides when to save (its autosave timer, the
//! broker-wide change count for `autosave_on_changes`, SIGUSR1) and hands its own snapshot to
//! the gatherer task, which asks every other driver for its part
//! ([`DriverControl::Snapshot`]), merges the parts ([`Snapshot::merge`]) and has the one
//! [`Saver`] write them. At shutdown every driver hands its last part, taken after its wills,
//! and the gatherer writes the merged file once all have arrived.
//!
//! The parts are taken in each driver's own step, so a message one shard routed and another
//! had not received yet is in the first part only; the next save has it. A save the other
//! drivers cannot answer (they are stopping) is skipped: the last save follows.

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
    /// A driver stopped: its last part, after its wills (`None` while persistence is off).
    /// Shard 0's names the file (`None`: persistence off, nothing is written).
    Last { shard: usize, path: Option<String>, part: Option<Snapshot> },
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
}

impl ShardSaves {
    /// Whether this driver decides when to save (shard 0); the others only answer.
    pub(crate) fn decides(&self) -> bool {
        self.shard == 0
    }

    /// Adds this shard's durable changes since the last call (`changes` is its core's
    /// [`Broker::changes`](mqtt_core::Broker::changes)); the broker-wide count.
    pub(crate) fn count(&mut self, changes: u64) -> u64 {
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

    /// The driver stopped: its last part (shard 0 names the file).
    pub(crate) fn last(self, path: Option<String>, part: Option<Snapshot>) {
        let _ = self.requests.send(Request::Last { shard: self.shard, path, part });
    }
}

/// Starts the gatherer for the drivers `drivers` (indexed by shard): one [`ShardSaves`] per
/// driver, and the task, which ends once every driver's last part is written.
pub(crate) fn spawn(
    drivers: Vec<mpsc::UnboundedSender<DriverControl>>,
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
        })
        .collect();
    let task = tokio::spawn(gather(drivers, queue, logger));
    (saves, task)
}

async fn gather(
    drivers: Vec<mpsc::UnboundedSender<DriverControl>>,
    mut queue: mpsc::UnboundedReceiver<Request>,
    logger: Arc<Logger>,
) {
    let saver = Saver::spawn(logger);
    let mut last: Vec<Option<Snapshot>> = vec![None; drivers.len()];
    let mut path = None;
    let mut stopped = 0;
    while let Some(request) = queue.recv().await {
        match request {
            Request::Save { path, first } => {
                if let Some(parts) = others(&drivers, first).await {
                    saver.request(path, Snapshot::merge(parts));
                }
            }
            Request::Last { shard, path: named, part } => {
                if shard == 0 {
                    path = named;
                }
                if let Some(slot) = last.get_mut(shard) {
                    *slot = part;
                }
                stopped += 1;
                if stopped == drivers.len() {
                    break;
                }
            }
        }
    }
    // A driver that ended without its last part (it panicked) leaves no file to merge.
    let parts: Option<Vec<Snapshot>> =
        (stopped == drivers.len()).then(|| last.into_iter().collect()).flatten();
    let job = path.zip(parts).map(|(path, parts)| (path, Snapshot::merge(parts)));
    saver.finish(job).await;
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
    use mqtt_codec::{Properties, ProtocolVersion, QoS, TopicName};
    use mqtt_core::snapshot::{StoredMessage, StoredSession, decode};

    use super::*;
    use crate::config::LogTypes;

    /// A part holding one session, `client`, and one retained message `id` on `topic`.
    fn part(client: &str, id: u64, topic: &str) -> Snapshot {
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
        let session = StoredSession {
            client_id: client.to_owned(),
            username: None,
            listener: 0,
            protocol: ProtocolVersion::V5,
            expiry_secs: u32::MAX,
            expires_in: None,
            expires_at_ms: None,
            subscriptions: Vec::new(),
            inflight: Vec::new(),
            queued: Vec::new(),
            incoming: Vec::new(),
        };
        Snapshot { messages: vec![message], retained: vec![id], sessions: vec![session] }
    }

    /// A driver that answers every snapshot request with `part`, until `Shutdown`.
    fn fake_driver(part: Snapshot) -> mpsc::UnboundedSender<DriverControl> {
        let (control, mut controls) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(DriverControl::Snapshot(reply)) = controls.recv().await {
                let _ = reply.send(part.clone());
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
        let (first, other) = (part("a", 2, "r/a"), part("b", 3, "r/b"));
        let drivers = vec![fake_driver(Snapshot::default()), fake_driver(other.clone())];
        let (mut saves, task) = spawn(drivers, logger);
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
        assert_eq!(merged.sessions.len(), 2);

        // The last parts: written once both are in, shard 0's naming the file.
        let second = saves.pop().expect("two");
        let zero = saves.pop().expect("one");
        second.last(None, Some(part("c", 5, "r/c")));
        zero.last(Some(name), Some(Snapshot::default()));
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("the gatherer ends")
            .expect("no panic");
        let last = saved(&path);
        assert_eq!(last.sessions.iter().map(|s| s.client_id.as_str()).collect::<Vec<_>>(), ["c"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
