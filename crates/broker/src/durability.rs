//! Durable acknowledgements, on the driver's side: the core's journal records are encoded as
//! they come and handed to the journal writer at the end of a driver step (group commit: the
//! writer syncs once for every batch it finds); packets that acknowledge durable state are
//! held, with everything after them to the same connection, until the writer reports that the
//! records before them are synced. Routing never waits: only the held connections do. An
//! answer to another shard's durability request (an item for which
//! [`ShardItem::acknowledges_durable_state`] holds) waits likewise, so that the acknowledgement
//! it releases there is sent only once this shard's records of the message are durable.
//!
//! Records that no held packet waits for (a delivery acknowledged by its subscriber, a QoS 0
//! retained message) need no sync of their own: they stay in memory until a held packet needs
//! a sync, [`PENDING_LIMIT`] bytes gather, or [`PENDING_AGE`] passes, and then go with it. A
//! crash loses at most those, and none of them was acknowledged (a lost "delivered" record
//! only means a QoS 1 redelivery).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mqtt_codec::Packet;
use mqtt_core::snapshot::Snapshot;
use mqtt_core::snapshot::journal::{Change, RecordEncoder};
use mqtt_core::{ConnId, ConnMap, ShardItem, acknowledges_durable_state};

/// Records no held packet waits for go to the writer once this many bytes gather…
pub(crate) const PENDING_LIMIT: usize = 64 << 10;
/// …or once the oldest of them is this old.
pub(crate) const PENDING_AGE: Duration = Duration::from_secs(1);

/// A packet or a close that must wait for the journal.
#[derive(Debug)]
pub(crate) enum Held {
    /// Send this packet.
    Send(Packet),
    /// Then close the connection.
    Close,
}

/// The journal writer as the driver sees it (the real one is `culex_store::Writer`).
pub(crate) trait JournalSink {
    /// Appends encoded records covering changes up to `upto`.
    fn records(&mut self, bytes: Vec<u8>, upto: u64);
    /// Writes a checkpoint of the state after change `upto`.
    fn checkpoint(&mut self, snapshot: Snapshot, upto: u64);
}

impl JournalSink for culex_store::Writer {
    fn records(&mut self, bytes: Vec<u8>, upto: u64) {
        Self::records(self, bytes, upto);
    }

    fn checkpoint(&mut self, snapshot: Snapshot, upto: u64) {
        Self::checkpoint(self, snapshot, upto);
    }
}

/// The driver's journal state.
#[derive(Debug)]
pub(crate) struct Durability<W> {
    writer: W,
    /// Records encoded since the last hand-over.
    pending: Vec<u8>,
    /// Encodes them, keeping its buffer from record to record.
    encoder: RecordEncoder,
    /// When the oldest of `pending` was recorded.
    pending_since: Option<Instant>,
    /// Sequence of the last change recorded.
    recorded: u64,
    /// Sequence up to which the writer reported the changes durable.
    synced: u64,
    /// Bytes handed to the writer since the last checkpoint.
    since_checkpoint: u64,
    /// Per connection, what waits, each with the sequence it waits for, in order.
    held: ConnMap<VecDeque<(u64, Held)>>,
    /// Answers to other shards that wait, each with the sequence it waits for and its
    /// destination shard, in order.
    answers: VecDeque<(u64, usize, ShardItem)>,
}

impl<W: JournalSink> Durability<W> {
    /// Journals through `writer`.
    pub(crate) fn new(writer: W) -> Self {
        Self {
            writer,
            pending: Vec::new(),
            encoder: RecordEncoder::default(),
            pending_since: None,
            recorded: 0,
            synced: 0,
            since_checkpoint: 0,
            held: ConnMap::default(),
            answers: VecDeque::new(),
        }
    }

    /// Encodes one change. An unencodable change (never one the core makes: its messages
    /// came in as packets) is reported to the caller to log. The clock (`now`) is read only
    /// for the first record that waits for the writer, whose deadline counts from it: a
    /// message makes several records, and a clock read costs as much as encoding one.
    pub(crate) fn record(
        &mut self,
        change: &Change,
        now: impl FnOnce() -> Instant,
    ) -> Result<(), String> {
        self.encoder.encode(change, &mut self.pending).map_err(|err| err.to_string())?;
        self.recorded += 1;
        if self.pending_since.is_none() {
            self.pending_since = Some(now());
        }
        Ok(())
    }

    /// What to do with a packet for `conn`: `Some` gives it back to send now; `None` means
    /// it was held.
    pub(crate) fn send_or_hold(&mut self, conn: ConnId, packet: Packet) -> Option<Packet> {
        let waiting = self.held.get(&conn).is_some_and(|queue| !queue.is_empty());
        let must_wait = self.recorded > self.synced && acknowledges_durable_state(&packet);
        if !waiting && !must_wait {
            return Some(packet);
        }
        self.held.entry(conn).or_default().push_back((self.recorded, Held::Send(packet)));
        None
    }

    /// What to do with `item` for shard `shard`: `Some` gives it back to forward now; `None`
    /// means it is an answer that waits for the records before it ([`Durability::synced`]).
    pub(crate) fn forward_or_hold(&mut self, shard: usize, item: ShardItem) -> Option<ShardItem> {
        if self.recorded > self.synced && item.acknowledges_durable_state() {
            self.answers.push_back((self.recorded, shard, item));
            return None;
        }
        Some(item)
    }

    /// Whether `conn` can be closed now; `false` means the close was queued behind its held
    /// packets.
    pub(crate) fn close_or_hold(&mut self, conn: ConnId) -> bool {
        match self.held.get_mut(&conn) {
            Some(queue) if !queue.is_empty() => {
                queue.push_back((self.recorded, Held::Close));
                false
            }
            _ => true,
        }
    }

    /// The connection is gone: what was held for it is dropped.
    pub(crate) fn forget(&mut self, conn: ConnId) {
        self.held.remove(&conn);
    }

    /// At the end of a driver step: hands what was recorded to the writer when a held packet
    /// waits for it, or it is large or old enough (see the module header).
    pub(crate) fn end_of_step(&mut self, now: Instant) {
        let waited_for = !self.held.is_empty() || !self.answers.is_empty();
        let large = self.pending.len() >= PENDING_LIMIT;
        if waited_for || large || self.deadline().is_some_and(|at| at <= now) {
            self.flush();
        }
    }

    /// When records in memory must go to the writer even if nothing waits for them.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.pending_since.map(|since| since + PENDING_AGE)
    }

    /// Hands everything recorded to the writer.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.pending_since = None;
        // The next group is likely as large: one allocation, not a doubling series (up to
        // 64 KiB, so that one burst does not make every later group large).
        let next = self.pending.len().min(64 * 1024);
        let bytes = std::mem::replace(&mut self.pending, Vec::with_capacity(next));
        self.since_checkpoint += bytes.len() as u64;
        self.writer.records(bytes, self.recorded);
    }

    /// The writer reports changes up to `upto` durable: what waited for them, by connection,
    /// in order; the answers that waited for them are then [`Durability::answers_due`].
    pub(crate) fn synced(&mut self, upto: u64) -> Vec<(ConnId, Held)> {
        self.synced = self.synced.max(upto);
        // Connection by connection in id order (the map has none), each in the order held:
        // sorting the connections, not every packet released.
        let mut conns: Vec<ConnId> = self.held.keys().copied().collect();
        conns.sort_unstable();
        let mut released = Vec::new();
        for conn in conns {
            let Some(queue) = self.held.get_mut(&conn) else { continue };
            while queue.front().is_some_and(|(waits_for, _)| *waits_for <= upto) {
                if let Some((_, held)) = queue.pop_front() {
                    released.push((conn, held));
                }
            }
            if queue.is_empty() {
                self.held.remove(&conn);
            }
        }
        released
    }

    /// The answers to other shards whose records are synced, in order, each with its
    /// destination shard.
    pub(crate) fn answers_due(&mut self) -> Vec<(usize, ShardItem)> {
        let synced = self.synced;
        let due = self.answers.iter().take_while(|(waits_for, ..)| *waits_for <= synced).count();
        self.answers.drain(..due).map(|(_, shard, item)| (shard, item)).collect()
    }

    /// Bytes journaled since the last checkpoint.
    pub(crate) fn since_checkpoint(&self) -> u64 {
        self.since_checkpoint
    }

    /// Writes `snapshot` (the state after every change recorded so far) as the checkpoint,
    /// after the records before it.
    pub(crate) fn checkpoint(&mut self, snapshot: Snapshot) {
        self.flush();
        self.writer.checkpoint(snapshot, self.recorded);
        self.since_checkpoint = 0;
    }

    /// The writer, to finish it at shutdown.
    pub(crate) fn into_writer(mut self) -> W {
        self.flush();
        self.writer
    }
}

#[cfg(test)]
mod tests {
    use mqtt_codec::{
        Ack, Connect, MqttString, PacketId, Properties, ProtocolVersion, Publish, QoS, ReasonCode,
        Subscribe, SubscriptionOptions, TopicFilter, TopicName,
    };
    use mqtt_core::{Broker, Output, PeerInfo, ShardId, shard_of};

    use super::*;

    #[derive(Debug, Default)]
    struct Sink {
        batches: Vec<(usize, u64)>,
        checkpoints: Vec<u64>,
    }

    impl JournalSink for Sink {
        fn records(&mut self, bytes: Vec<u8>, upto: u64) {
            self.batches.push((bytes.len(), upto));
        }
        fn checkpoint(&mut self, _snapshot: Snapshot, upto: u64) {
            self.checkpoints.push(upto);
        }
    }

    fn packet_id(id: u16) -> PacketId {
        PacketId::new(id).expect("non-zero")
    }

    fn puback(id: u16) -> Packet {
        Packet::PubAck(Ack {
            packet_id: packet_id(id),
            reason: ReasonCode::Success,
            properties: Properties::default(),
        })
    }

    fn t0() -> Instant {
        Instant::now()
    }

    fn gone(client: &str) -> Change {
        Change::SessionGone { client_id: client.into() }
    }

    #[test]
    fn acknowledgements_wait_for_the_sync_and_everything_after_them_too() {
        let mut d = Durability::new(Sink::default());
        let (a, b) = (ConnId(1), ConnId(2));
        // Nothing recorded: an ack goes at once.
        assert!(d.send_or_hold(a, puback(1)).is_some());
        d.record(&gone("x"), t0).expect("encodes");
        assert!(d.send_or_hold(a, puback(2)).is_none(), "held: a change is not synced");
        assert!(d.send_or_hold(a, Packet::PingResp).is_none(), "behind the held ack");
        assert!(d.send_or_hold(b, Packet::PingResp).is_some(), "other connections go on");
        assert!(!d.close_or_hold(a));
        d.end_of_step(t0());
        d.record(&gone("y"), t0).expect("encodes");
        assert!(d.send_or_hold(b, puback(3)).is_none());
        d.end_of_step(t0());
        assert_eq!(d.writer.batches.iter().map(|b| b.1).collect::<Vec<_>>(), [1, 2]);
        // Sync of the first batch: a's packets and close go, b's ack still waits.
        let released = d.synced(1);
        assert_eq!(released.len(), 3);
        assert!(released.iter().all(|(conn, _)| *conn == a));
        assert!(matches!(released[2].1, Held::Close));
        let released = d.synced(2);
        assert!(matches!(&released[..], [(conn, Held::Send(Packet::PubAck(_)))] if *conn == b));
        assert!(d.send_or_hold(b, puback(4)).is_some(), "all synced: nothing waits");
    }

    #[test]
    fn a_checkpoint_takes_what_was_recorded_before_it() {
        let mut d = Durability::new(Sink::default());
        d.record(&gone("x"), t0).expect("encodes");
        d.checkpoint(Snapshot::default());
        assert_eq!(d.writer.batches.len(), 1);
        assert_eq!(d.writer.checkpoints, [1]);
        assert_eq!(d.since_checkpoint(), 0);
    }

    #[test]
    fn records_nothing_waits_for_gather_until_they_are_large_or_old_or_something_waits() {
        let mut d = Durability::new(Sink::default());
        let start = t0();
        d.record(&gone("x"), || start).expect("encodes");
        d.end_of_step(start);
        assert!(d.writer.batches.is_empty(), "nothing waits: kept in memory");
        assert_eq!(d.deadline(), Some(start + PENDING_AGE));
        d.end_of_step(start + PENDING_AGE);
        assert_eq!(d.writer.batches.len(), 1, "old enough: handed over");
        assert_eq!(d.deadline(), None);
        // A held acknowledgement takes what gathered with it at once.
        d.record(&gone("y"), || start).expect("encodes");
        assert!(d.send_or_hold(ConnId(1), puback(1)).is_none());
        d.end_of_step(start);
        assert_eq!(d.writer.batches.len(), 2);
        // Enough bytes go without waiting.
        let big = "c".repeat(PENDING_LIMIT);
        d.record(&gone(&big), || start).expect("encodes");
        d.synced(2);
        d.end_of_step(start);
        assert_eq!(d.writer.batches.len(), 3);
    }

    /// Hands every item the shards forward to its destination until none is left, except
    /// durability answers, which are kept; returns them, every other item forwarded, and the
    /// changes shard 1 recorded.
    fn settle(shards: &mut [Broker; 2]) -> (Vec<(usize, ShardItem)>, Vec<ShardItem>, Vec<Change>) {
        let (mut answers, mut others, mut changes) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            let mut moved = false;
            for from in 0..shards.len() {
                while let Some(output) = shards[from].poll_output() {
                    match output {
                        Output::Journal(change) if from == 1 => changes.push(change),
                        Output::Forward { shard, item } if item.acknowledges_durable_state() => {
                            answers.push((shard, item));
                        }
                        Output::Forward { shard, item } => {
                            others.push(item.clone());
                            shards[shard].handle_forward(item, t0());
                            moved = true;
                        }
                        _ => {}
                    }
                }
            }
            if !moved {
                return (answers, others, changes);
            }
        }
    }

    /// Connects `client` to `shard` as connection `conn`, with a persistent session.
    fn connect(shard: &mut Broker, conn: u64, client: &str) -> ConnId {
        let conn = ConnId(conn);
        let peer = PeerInfo {
            address: "127.0.0.1".into(),
            port: 1,
            listener: 0,
            certificate_username: None,
        };
        shard.handle_open(conn, peer, t0());
        let connect = Connect {
            protocol: ProtocolVersion::V3_1_1,
            clean_start: false,
            keep_alive: 0,
            client_id: MqttString::new(client).expect("valid"),
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
            bridge: false,
        };
        shard.handle_packet(conn, Packet::Connect(Box::new(connect)), t0());
        conn
    }

    /// A real durability answer: shard 1 of 2 (journal on) was handed a QoS 1 message that
    /// shard 0 routed to shard 1's persistent subscriber. Returns its destination and the
    /// answer, the changes shard 1 recorded before it, and an item that is no answer.
    fn an_answer() -> ((usize, ShardItem), Vec<Change>, ShardItem) {
        let config = mqtt_core::Config { journal: true, ..mqtt_core::Config::default() };
        let shard = |index| ShardId { index, count: 2 };
        let mut shards = [0, 1].map(|index| {
            let seed = [u8::try_from(index).expect("two"); 32];
            Broker::new_shard(config.clone(), seed, shard(index))
        });
        let id = |name: &str| (0..).map(|n| format!("{name}{n}")).find(|id| shard_of(id, 2) == 1);
        let subscriber = connect(&mut shards[1], 1, &id("sub").expect("some id"));
        let topic = TopicFilter::new("t").expect("valid");
        let subscribe =
            Subscribe::new(packet_id(1), vec![(topic, SubscriptionOptions::new(QoS::AtLeastOnce))]);
        shards[1].handle_packet(subscriber, Packet::Subscribe(subscribe), t0());
        let (_, mut others, _) = settle(&mut shards);
        let publisher = connect(&mut shards[0], 2, "pub");
        let mut publish = Publish::new(TopicName::new("t").expect("valid"), "x".into());
        publish.qos = QoS::AtLeastOnce;
        publish.packet_id = Some(packet_id(1));
        shards[0].handle_packet(publisher, Packet::Publish(publish), t0());
        let (mut answers, _, changes) = settle(&mut shards);
        assert_eq!(answers.len(), 1, "one answer, to shard 0");
        (answers.remove(0), changes, others.remove(0))
    }

    #[test]
    fn an_answer_to_another_shard_waits_until_the_records_before_it_are_synced() {
        let ((to, answer), changes, other) = an_answer();
        assert_eq!(to, 0);
        assert!(changes.iter().any(|change| matches!(change, Change::Queued { .. })));
        let mut d = Durability::new(Sink::default());
        for change in &changes {
            d.record(change, t0).expect("encodes");
        }
        let before = changes.len() as u64;
        assert!(d.forward_or_hold(to, other.clone()).is_some(), "only answers wait");
        assert!(
            d.forward_or_hold(to, answer.clone()).is_none(),
            "held: its records are not synced"
        );
        d.record(&gone("after"), t0).expect("encodes");
        d.end_of_step(t0());
        assert_eq!(
            d.writer.batches.last().map(|batch| batch.1),
            Some(before + 1),
            "handed over at once"
        );
        d.synced(before - 1);
        assert!(d.answers_due().is_empty(), "one record before it is not synced");
        d.synced(before);
        assert_eq!(d.answers_due(), [(to, answer.clone())], "the record after it does not count");
        d.synced(before + 1);
        assert!(d.forward_or_hold(to, answer).is_some(), "all synced: nothing waits");
    }

    #[test]
    fn a_forgotten_connection_leaves_nothing_behind() {
        let mut d = Durability::new(Sink::default());
        d.record(&gone("x"), t0).expect("encodes");
        assert!(d.send_or_hold(ConnId(7), puback(1)).is_none());
        d.forget(ConnId(7));
        assert!(d.synced(1).is_empty());
    }
}
