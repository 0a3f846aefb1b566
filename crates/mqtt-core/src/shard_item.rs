//! [`ShardItem`]: what one shard of a sharded broker tells another (see `shard`), made and
//! handled in `broker::forward`. Kept apart from `shard` so that the vocabulary of outputs
//! (`event`) depends on it without depending on connections or sessions.

use std::sync::Arc;

use crate::conn_id::ConnId;
use crate::message::SharedMessage;
use crate::retained::RetainVersion;

/// What one shard tells another. Opaque: the runtime only carries it, in order, from the
/// shard whose [`Output::Forward`](crate::Output::Forward) named the destination to that
/// shard's [`Broker::handle_forward`](crate::Broker::handle_forward).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardItem(pub(crate) Item);

/// The kinds of [`ShardItem`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// A message the origin shard accepted and routed to its own subscribers: the receiving
    /// shard routes it to its own (no publisher: the publisher's session is never there).
    Publish {
        /// The message, shared with the origin's queues.
        message: SharedMessage,
        /// The origin shard and its publisher's session slot there, if a client published it:
        /// the receiving shard's key to its last walk for that publisher (the match cache).
        origin: (usize, Option<u32>),
        /// A retained message's version, by which every replica keeps the newest.
        version: Option<RetainVersion>,
        /// Route it to the plain subscribers (false when it only goes to `groups`).
        plain: bool,
        /// The `$share` groups (`$share/{group}/{filter}`) whose pick fell on the receiving
        /// shard: it delivers to one of its members of each.
        groups: Vec<Arc<str>>,
        /// Shards it went through already looking for a group member (0 from the origin).
        hops: usize,
        /// Set when an acknowledgement on the origin waits for this shard's records of the
        /// message to be durable: answered with [`Item::Durable`] (and passed on with a
        /// `$share` hop, which answers too).
        durable: Option<Request>,
    },
    /// Shard 0's `$SYS` update is due: the receiving shard answers with [`Item::Stats`].
    FiguresWanted,
    /// A shard's figures for the `$SYS` sums, sent to shard 0 when it asks.
    Stats {
        /// The sending shard.
        from: usize,
        /// Its figures.
        figures: Box<crate::stats::Figures>,
    },
    /// The sending shard gained (`added`) or lost a subscription.
    Interest {
        /// The sending shard.
        from: usize,
        /// The full filter, `$share/{group}/…` for a shared one.
        filter: Arc<str>,
        /// Gained, or lost.
        added: bool,
        /// The subscribing connection whose SUBACK waits for every shard to know, and the
        /// token it waits behind (answered with [`Item::InterestAck`]).
        ack: Option<(ConnId, u64)>,
    },
    /// The receiving shard's [`Item::Interest`] for `conn` is known here: messages published
    /// here from now on reach the subscription.
    InterestAck {
        /// The connection named in the interest.
        conn: ConnId,
        /// The token named in the interest.
        token: u64,
    },
    /// The answer to a [`Request`]: the sending shard's records of the message (the
    /// deliveries it queued, its retained replica) are made, and the runtime sends this item
    /// only once they are durable ([`ShardItem::acknowledges_durable_state`]).
    Durable {
        /// The connection whose acknowledgement waits.
        conn: ConnId,
        /// The token it waits behind.
        token: u64,
        /// The `hops` of the item answered (0 for one the origin sent).
        hops: usize,
        /// How many items the sending shard passed on with the same request (`$share` picks
        /// it had no member for), each answered in turn, one hop further.
        more: usize,
    },
}

/// What an [`Item::Interest`] weighs besides its filter.
const INTEREST_BYTES: usize = 32;

/// A durability request ([`Item::Publish`]'s `durable`): the acknowledgement that connection
/// `conn` of shard `shard` is due waits behind `token` until every shard the message went to
/// answered. Made only with the journal on, by a shard that has others, for a message that
/// a client is owed an acknowledgement for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    /// The origin shard, which answers go to.
    pub(crate) shard: usize,
    /// The connection whose acknowledgement waits there.
    pub(crate) conn: ConnId,
    /// The token it waits behind.
    pub(crate) token: u64,
}

impl ShardItem {
    /// The bytes this item keeps alive while it waits, for the runtime's per-destination
    /// credit: a message's estimate as `memory_limit` counts it.
    #[must_use]
    pub fn weight(&self) -> usize {
        match &self.0 {
            Item::Publish { message, groups, .. } => {
                let names: usize = groups.iter().map(|group| group.len()).sum();
                names
                    + crate::message::estimated_bytes(
                        message.topic.as_str().len(),
                        message.payload.len(),
                        &message.properties,
                    )
            }
            Item::Interest { filter, .. } => INTEREST_BYTES + filter.len(),
            Item::Stats { .. } => size_of::<crate::stats::Figures>(),
            Item::FiguresWanted | Item::InterestAck { .. } | Item::Durable { .. } => 0,
        }
    }

    /// Whether the item tells the receiving shard that the sender's records are durable (the
    /// answer to a durability request): with a journal, the runtime sends it only once every
    /// journal record the sending shard made before it is synced, as it holds a packet for
    /// which [`acknowledges_durable_state`](crate::acknowledges_durable_state) holds.
    #[must_use]
    pub fn acknowledges_durable_state(&self) -> bool {
        matches!(self.0, Item::Durable { .. })
    }
}
