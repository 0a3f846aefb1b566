//! What the driver task receives: [`Event`], sent by connection tasks, bridge tasks, the HTTP
//! API ([`Query`], answered through a oneshot channel) and the driver itself (finished
//! password checks) through its bounded channel, and
//! [`DriverControl`], sent by `run_controlled` (signals, tests). It sits on the bottom floor so
//! that the tasks which send events need not know the driver.
//!
//! The channel is bounded in events; the packets that connection tasks decode are bounded in
//! bytes as well, by one [`Budget`] that all of them share: each `Event::Packets` carries the
//! [`Credit`] for the memory it holds, taken before it is sent and given back when the driver
//! has handled it. A task without credit stops reading until it has some, so publishers faster
//! than the driver are paced by TCP at their sockets instead of growing the broker's memory.

use std::sync::Arc;
use std::time::Instant;

use mqtt_codec::{DecodeError, Packet, PacketType};
use mqtt_core::snapshot::Snapshot;
use mqtt_core::{
    ClientInfo, CloseCause, ConnId, Page, PageRequest, PeerInfo, RetainedInfo, SessionInfo,
    SubscriptionInfo,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::config::PersistenceSettings;
use crate::outbox::OutboxSender;
use crate::security::Security;

/// Events the driver consumes.
#[derive(Debug)]
pub(crate) enum Event {
    /// A connection was accepted at `opened` (its connection timeout counts from then);
    /// `outbox` carries packets to its task. Sent with its first packets (or its first news:
    /// a close, a decode error, the connection timeout), to the shard that owns it.
    Open { conn: ConnId, peer: PeerInfo, outbox: OutboxSender, opened: Instant },
    /// Packets decoded from one read, in order, how many bytes they took, and the share of
    /// the budget they hold until the driver drops the event.
    Packets { conn: ConnId, packets: Vec<Packet>, bytes: usize, credit: Credit },
    /// Decoding failed (`packet`: the type its first byte names); the task has stopped reading.
    DecodeError { conn: ConnId, packet: Option<PacketType>, error: Box<DecodeError> },
    /// The socket ended without the driver asking.
    Closed { conn: ConnId, cause: CloseCause },
    /// A password check asked for by the core finished.
    AuthResult { conn: ConnId, allowed: bool },
    /// A bridge's local (internal) connection: what the core sends to it goes to
    /// `to_bridge` instead of a socket.
    Bridge { conn: ConnId, peer: PeerInfo, to_bridge: mpsc::UnboundedSender<Packet> },
    /// A question of the HTTP API about the broker's state, or its disconnect of a client.
    Query(Query),
}

/// Bytes that decoded packets may hold, all connections together, from the moment a task hands
/// them over until the driver has handled them: in its channel and in the batch it works on.
///
/// 8 MiB keeps the driver busy: it is about 50,000 messages of 64 bytes (each also in a
/// `Packet` of 80 bytes) or 2,000 of 4 KiB, several milliseconds of the driver's work, while a
/// task that gets credit back refills the queue within microseconds. And it bounds what
/// publishers that outrun the driver cost: with the event count alone, 1,024 events of up to
/// 64 packets each could hold tens of megabytes. Mosquitto has no such queue (it handles each
/// packet as it reads it), so there is no option to mirror: this is a constant.
pub(crate) const PACKET_BUDGET: u32 = 8 * 1024 * 1024;

/// The byte budget that every connection task sending to one driver draws on: its share of
/// [`PACKET_BUDGET`]. Credit is handed out first come, first served (tokio's semaphore queues
/// its waiters in order), so every waiting publisher gets its turn, whatever the size of its
/// events.
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    permits: Arc<Semaphore>,
    /// The whole budget: a larger cost is cut to it.
    size: u32,
}

impl Budget {
    /// A budget of `bytes`.
    pub(crate) fn new(bytes: u32) -> Self {
        Self { permits: Arc::new(Semaphore::new(bytes as usize)), size: bytes }
    }

    /// What handing `packets`, decoded from `bytes` bytes, to the driver costs: the bytes
    /// (their payloads keep the read buffer they came in alive) and the vector that holds the
    /// packets. A cost beyond the whole budget (of this driver, when taken) is cut to it, so
    /// that a large packet waits until the budget is whole rather than forever.
    pub(crate) fn cost(packets: &Vec<Packet>, bytes: usize) -> u32 {
        let held = bytes.saturating_add(packets.capacity() * size_of::<Packet>());
        u32::try_from(held).unwrap_or(u32::MAX).min(PACKET_BUDGET)
    }

    /// `cost` bytes of credit if they are free now and nobody waits for credit before us.
    pub(crate) fn try_take(&self, cost: u32) -> Option<Credit> {
        let cost = cost.min(self.size);
        let share = Arc::clone(&self.permits).try_acquire_many_owned(cost).ok()?;
        Some(Credit { _share: Some(share) })
    }

    /// `cost` bytes of credit, once the driver has given back enough (in turn).
    pub(crate) async fn take(self, cost: u32) -> Credit {
        // The semaphore is never closed: acquiring fails only if it were.
        let cost = cost.min(self.size);
        Credit { _share: self.permits.acquire_many_owned(cost).await.ok() }
    }
}

/// A share of a [`Budget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Credit {
    /// Held for its drop, which gives the bytes back.
    _share: Option<OwnedSemaphorePermit>,
}

impl Credit {
    /// No share: for the packets of a bridge's local connection, which its task hands over
    /// one remote message at a time, waiting for room in the channel.
    pub(crate) fn unbudgeted() -> Self {
        Self { _share: None }
    }
}

/// Where events go: each driver shard's event channel and the byte budget of the packets on
/// their way to it, indexed by shard. Cloned by whoever sends events (connection tasks,
/// bridges, the HTTP API).
#[derive(Clone, Debug)]
pub(crate) struct Shards(Arc<[Inbox]>);

/// One driver shard's way in.
#[derive(Debug)]
pub(crate) struct Inbox {
    /// The driver's event channel.
    pub(crate) events: mpsc::Sender<Event>,
    /// The bytes decoded packets may hold until this driver has handled them.
    pub(crate) budget: Budget,
}

impl Shards {
    /// The inboxes of the drivers, shard 0 first: at least one (a shard is taken modulo the
    /// count). Each driver's budget is its share of [`PACKET_BUDGET`], so that what waits for
    /// all the drivers together is bounded as it was for one.
    pub(crate) fn new(events: Vec<mpsc::Sender<Event>>) -> Self {
        let share = PACKET_BUDGET / u32::try_from(events.len().max(1)).unwrap_or(u32::MAX);
        let inboxes = events.into_iter().map(|events| Inbox { events, budget: Budget::new(share) });
        Self(inboxes.collect())
    }

    /// How many shards there are (at least one).
    pub(crate) fn count(&self) -> usize {
        self.0.len()
    }

    /// The inbox of `shard` (taken modulo the count, so any index names a shard).
    pub(crate) fn get(&self, shard: usize) -> &Inbox {
        &self.0[shard % self.0.len()]
    }

    /// The inbox of the shard that owns the sessions of `client_id`.
    pub(crate) fn of_client(&self, client_id: &str) -> &Inbox {
        self.get(mqtt_core::shard_of(client_id, self.count()))
    }

    /// Whether the drivers have stopped (shard 0's channel is closed: all stop together).
    pub(crate) fn stopped(&self) -> bool {
        self.get(0).events.is_closed()
    }
}

/// The HTTP API's questions; each carries the channel its answer goes back through (see the
/// `mqtt_core::Broker` method of the same name for what it answers).
#[derive(Debug)]
pub(crate) enum Query {
    /// `Broker::sys_values`.
    SysValues(oneshot::Sender<Vec<(&'static str, i64)>>),
    /// `Broker::clients`.
    Clients { search: Option<String>, page: PageRequest, reply: oneshot::Sender<Page<ClientInfo>> },
    /// `Broker::client`.
    Client { id: String, reply: oneshot::Sender<Option<(ClientInfo, Vec<SubscriptionInfo>)>> },
    /// `Broker::subscriptions`.
    Subscriptions {
        prefix: Option<String>,
        page: PageRequest,
        reply: oneshot::Sender<Page<SubscriptionInfo>>,
    },
    /// `Broker::retained_messages`.
    Retained {
        prefix: Option<String>,
        page: PageRequest,
        reply: oneshot::Sender<Page<RetainedInfo>>,
    },
    /// `Broker::offline_sessions`.
    Sessions { page: PageRequest, reply: oneshot::Sender<Page<SessionInfo>> },
    /// `Broker::disconnect_client`.
    Disconnect { id: String, reply: oneshot::Sender<bool> },
}

/// Instructions from `run_controlled` to the driver.
#[derive(Debug)]
pub(crate) enum DriverControl {
    /// Apply reloaded settings, security files and persistence options (SIGHUP).
    Reload(Box<mqtt_core::Config>, Security, Option<PersistenceSettings>),
    /// Save the persistence file now, if persistence is on (SIGUSR1).
    Save,
    /// Answer with this shard's snapshot, a part of the file a sharded broker saves
    /// (`persist::shards`).
    Snapshot(oneshot::Sender<Snapshot>),
    /// At shutdown, once every shard's wills are out: handle what was forwarded so far, then
    /// answer with this shard's last part and stop (`persist::shards`).
    LastPart(oneshot::Sender<Snapshot>),
    /// Close every connection (wills are published), flush, and stop.
    Shutdown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cost_counts_the_bytes_and_the_vector_and_never_exceeds_the_budget() {
        let packets = Vec::with_capacity(2);
        assert_eq!(Budget::cost(&packets, 10) as usize, 10 + 2 * size_of::<Packet>());
        assert_eq!(Budget::cost(&packets, usize::MAX), PACKET_BUDGET);
    }

    #[tokio::test]
    async fn credit_comes_back_on_drop_and_goes_out_in_turn() {
        let budget = Budget::new(100);
        let first = budget.try_take(60).expect("free credit");
        assert!(budget.try_take(60).is_none(), "only 40 bytes are free");
        let waiting = tokio::spawn(budget.clone().take(60));
        for _ in 0..100 {
            if budget.permits.available_permits() < 40 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(budget.permits.available_permits(), 0, "the waiting task holds what was free");
        assert!(budget.try_take(30).is_none(), "the waiting task's turn comes first");
        drop(first);
        let second = waiting.await.expect("the waiting task");
        assert!(budget.try_take(40).is_some());
        drop(second);
        assert_eq!(budget.permits.available_permits(), 100);
    }
}
