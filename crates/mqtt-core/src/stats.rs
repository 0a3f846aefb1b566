//! The counters the broker keeps for `$SYS`, its metrics and tests ([`Stats`]), why messages
//! were dropped ([`DropCause`]), and what a shard sends shard 0 for the `$SYS` sums
//! ([`Figures`]).

/// Counters for `$SYS` and tests. Plain integers, bumped on the driver's thread: counting costs
/// an add per packet, nothing more.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets of every type received from clients.
    pub messages_received: u64,
    /// Packets of every type sent to clients (handed to the runtime).
    pub messages_sent: u64,
    /// PUBLISH packets received from clients.
    pub publish_received: u64,
    /// PUBLISH packets sent to clients.
    pub publish_sent: u64,
    /// Payload bytes of the PUBLISH packets received.
    pub publish_bytes_received: u64,
    /// Payload bytes of the PUBLISH packets sent.
    pub publish_bytes_sent: u64,
    /// Messages dropped (queue full, too large, not authorised, expired).
    pub publish_dropped: u64,
    /// The same drops by cause, indexed by [`DropCause`] (they sum to `publish_dropped`).
    pub publish_dropped_by: [u64; DropCause::ALL.len()],
    /// Bytes read from clients, as reported by the runtime ([`Broker::count_bytes`](crate::Broker::count_bytes)).
    pub bytes_received: u64,
    /// Bytes queued for writing to clients, as reported by the runtime.
    pub bytes_sent: u64,
    /// Connections opened (`handle_open`), refused ones included.
    pub sockets: u64,
    /// CONNECT packets received.
    pub connects: u64,
    /// Sessions that expired.
    pub clients_expired: u64,
}

/// Why a message was dropped, for [`Stats::publish_dropped_by`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropCause {
    /// Payload above `message_size_limit`.
    TooLarge,
    /// The access check refused the PUBLISH (or the will).
    NotAuthorized,
    /// Holding it would exceed `memory_limit`.
    MemoryLimit,
    /// The receiver's queue was full (`max_queued_messages`, `max_queued_bytes`).
    QueueFull,
    /// Its message expiry interval passed before it was delivered.
    Expired,
    /// Larger than the receiver's v5 Maximum Packet Size.
    ReceiverMaximumPacketSize,
}

impl DropCause {
    /// Every cause, in index order.
    pub const ALL: [Self; 6] = [
        Self::TooLarge,
        Self::NotAuthorized,
        Self::MemoryLimit,
        Self::QueueFull,
        Self::Expired,
        Self::ReceiverMaximumPacketSize,
    ];
}

impl Stats {
    /// Adds `other`'s counts to these (another shard's, for `$SYS`).
    pub(crate) fn add(&mut self, other: &Self) {
        self.messages_received += other.messages_received;
        self.messages_sent += other.messages_sent;
        self.publish_received += other.publish_received;
        self.publish_sent += other.publish_sent;
        self.publish_bytes_received += other.publish_bytes_received;
        self.publish_bytes_sent += other.publish_bytes_sent;
        self.publish_dropped += other.publish_dropped;
        for (sum, add) in self.publish_dropped_by.iter_mut().zip(other.publish_dropped_by) {
            *sum += add;
        }
        self.bytes_received += other.bytes_received;
        self.bytes_sent += other.bytes_sent;
        self.sockets += other.sockets;
        self.connects += other.connects;
        self.clients_expired += other.clients_expired;
    }

    /// Counts one dropped message, in the total and by its cause.
    pub(crate) fn dropped(&mut self, cause: DropCause) {
        self.publish_dropped += 1;
        self.publish_dropped_by[cause as usize] += 1;
    }
}

/// One shard's figures that `$SYS` sums over shards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Figures {
    /// Sessions, connected or not.
    pub(crate) sessions: usize,
    /// Open connections.
    pub(crate) connections: usize,
    /// Messages held and their payload bytes (see
    /// [`Broker::stored_messages`](crate::Broker::stored_messages)); the other shards leave
    /// out their replica of the retained store, which shard 0's counts once.
    pub(crate) stored: (usize, usize),
    /// Plain and shared subscriptions.
    pub(crate) subscriptions: (usize, usize),
    /// Counters.
    pub(crate) stats: Stats,
}

impl Figures {
    /// Adds `other`'s figures to these.
    pub(crate) fn add(&mut self, other: &Self) {
        self.sessions += other.sessions;
        self.connections += other.connections;
        self.stored.0 += other.stored.0;
        self.stored.1 += other.stored.1;
        self.subscriptions.0 += other.subscriptions.0;
        self.subscriptions.1 += other.subscriptions.1;
        self.stats.add(&other.stats);
    }
}
