//! `Message`: an application message as the broker keeps it (shared by every queue and the
//! retained store through an `Arc`, so fan-out never copies a payload), and the building of
//! the per-subscriber PUBLISH packet.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mqtt_codec::{PacketId, Properties, ProtocolVersion, Publish, QoS, TopicName};

use crate::memory::Charge;
use crate::shard_id::{ShardId, shard_bit};

/// An application message inside the broker.
#[derive(Debug)]
pub(crate) struct Message {
    /// The durable id ([`DurableIds`]) by which the persistence files refer to it.
    pub(crate) id: u64,
    /// Topic (aliases already resolved).
    pub(crate) topic: TopicName,
    /// Payload, a slice of the publisher's read buffer.
    pub(crate) payload: Bytes,
    /// QoS it was published with.
    pub(crate) qos: QoS,
    /// Retain flag it was published with.
    pub(crate) retain: bool,
    /// v5 properties passed through to subscribers (no topic alias, no subscription ids, no
    /// expiry: those are per delivery).
    pub(crate) properties: Properties,
    /// When the v5 Message Expiry Interval runs out.
    pub(crate) expires_at: Option<Instant>,
    /// The shards whose journal (or checkpoint) holds the message, one bit each
    /// ([`shard_bit`]), so that their records may refer to its id: each shard has a journal of
    /// its own, and a message forwarded to another shard is recorded there too. Atomic because
    /// the shards that share the message set their bits from their own threads.
    journaled: AtomicU64,
    /// The client that published it, kept only for retained messages (boxed: most messages
    /// have none); `check_retain_source` checks it again when the message is delivered.
    pub(crate) source: Option<Box<Source>>,
    /// Its bytes on the broker's memory gauge (`memory_limit`), given back when the last
    /// reference goes; `None` only for messages made outside a broker (tests).
    pub(crate) charge: Option<Charge>,
}

/// The client that published a message, as access rules name a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Source {
    /// Client id.
    pub(crate) client_id: String,
    /// Username from its CONNECT, if any.
    pub(crate) username: Option<String>,
    /// Listener index of its connection.
    pub(crate) listener: usize,
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        (self.id, &self.topic, &self.payload, self.qos, self.retain, &self.properties)
            == (other.id, &other.topic, &other.payload, other.qos, other.retain, &other.properties)
            && (self.expires_at, &self.source) == (other.expires_at, &other.source)
    }
}

impl Eq for Message {}

/// The estimated bytes of a message with this topic, payload and properties, for the memory
/// gauge (`memory_limit`): its struct, topic, payload and the properties' strings and bytes.
pub(crate) fn estimated_bytes(
    topic_len: usize,
    payload_len: usize,
    properties: &Properties,
) -> usize {
    let strings = properties.content_type.as_ref().map_or(0, |s| s.as_str().len())
        + properties.response_topic.as_ref().map_or(0, |t| t.as_str().len())
        + properties.correlation_data.as_ref().map_or(0, Bytes::len)
        + properties
            .user_properties
            .iter()
            .map(|(key, value)| key.as_str().len() + value.as_str().len())
            .sum::<usize>();
    size_of::<Message>() + topic_len + payload_len + strings
}

/// A message shared between queues.
pub(crate) type SharedMessage = Arc<Message>;

impl Message {
    /// Builds a message from a received PUBLISH (or will), splitting off per-hop properties.
    pub(crate) fn from_publish(
        id: u64,
        topic: TopicName,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        mut properties: Properties,
        now: Instant,
    ) -> Self {
        let mut expires_at = None;
        // `get_mut`: a message without properties (every 3.1.1 one) allocates nothing here.
        if let Some(values) = properties.get_mut() {
            expires_at = values
                .message_expiry_interval
                .take()
                .map(|secs| now + Duration::from_secs(u64::from(secs)));
            values.topic_alias = None;
            values.subscription_identifiers.clear();
            if values.is_empty() {
                properties = Properties::default();
            }
        }
        Self {
            id,
            topic,
            payload,
            qos,
            retain,
            properties,
            expires_at,
            journaled: AtomicU64::new(0),
            source: None,
            charge: None,
        }
    }

    /// Marks the message as held by `shard`'s journal (or checkpoint); whether it already was.
    pub(crate) fn mark_journaled(&self, shard: usize) -> bool {
        let bit = shard_bit(shard);
        self.journaled.fetch_or(bit, Ordering::Relaxed) & bit != 0
    }

    /// Whether the message expired at `now`.
    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// How one message goes to one subscriber: the message plus the per-subscriber flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// The durable id ([`DurableIds`]) by which the persistence files refer to it; 0 until
    /// the broker hands the delivery to a session, which numbers it.
    pub(crate) id: u64,
    /// The shared message.
    pub(crate) message: SharedMessage,
    /// QoS of this delivery.
    pub(crate) qos: QoS,
    /// Retain flag of this delivery.
    pub(crate) retain: bool,
    /// v5 Subscription Identifiers of the matching subscriptions.
    pub(crate) sub_ids: Vec<u32>,
}

impl Delivery {
    /// Payload size, the unit of `max_queued_bytes`.
    pub(crate) fn payload_len(&self) -> usize {
        self.message.payload.len()
    }

    /// The PUBLISH for one subscriber, or `None` if the message expired.
    ///
    /// [v5 MQTT-3.3.2-6] the Message Expiry Interval sent is what remains of the original.
    pub(crate) fn to_publish(
        &self,
        packet_id: Option<PacketId>,
        dup: bool,
        version: ProtocolVersion,
        now: Instant,
    ) -> Option<Publish> {
        let remaining = match self.message.expires_at {
            Some(at) => {
                let left = at.checked_duration_since(now).filter(|d| !d.is_zero())?;
                // Round up, so a message with 0.4 s left is not sent as "expires now".
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                Some(u32::try_from(secs).unwrap_or(u32::MAX))
            }
            None => None,
        };
        let properties = if version == ProtocolVersion::V5 {
            let mut properties = self.message.properties.clone();
            // Only when there is something to set: assigning through `DerefMut` allocates.
            if remaining.is_some() || !self.sub_ids.is_empty() {
                properties.message_expiry_interval = remaining;
                properties.subscription_identifiers.clone_from(&self.sub_ids);
            }
            properties
        } else {
            Properties::default()
        };
        Some(Publish {
            dup,
            qos: self.qos,
            retain: self.retain,
            topic: self.message.topic.clone(),
            packet_id,
            properties,
            payload: self.message.payload.clone(),
        })
    }
}

/// The counters of durable ids: every message and every delivery gets the next one, so the
/// journal can name them, and the checkpoint keeps them. Ids start at 1 and are never reused
/// while the process runs; a restore moves the counters past every id it brings back.
///
/// Shard `index` of `count` only hands out ids `k × count + index` (k ≥ 1): the ids of every
/// shard stay apart, so the shards' snapshots merge into one file without renumbering (a
/// message forwarded to another shard keeps its origin's id). One shard counts 1, 2, 3…
#[derive(Debug)]
pub(crate) struct DurableIds {
    /// The k of the next message id.
    next_message: u64,
    /// The k of the next delivery id.
    next_delivery: u64,
    /// How many shards share the id space (at least 1).
    stride: u64,
    /// This shard's index, below `stride`.
    offset: u64,
}

impl Default for DurableIds {
    fn default() -> Self {
        Self::of(ShardId::SINGLE)
    }
}

impl DurableIds {
    /// The counters of `shard`.
    pub(crate) fn of(shard: ShardId) -> Self {
        let stride = u64::try_from(shard.count.max(1)).unwrap_or(u64::MAX);
        let offset = u64::try_from(shard.index).unwrap_or(0) % stride;
        Self { next_message: 1, next_delivery: 1, stride, offset }
    }

    /// The id of a new message.
    pub(crate) fn message(&mut self) -> u64 {
        let k = self.next_message;
        self.next_message += 1;
        self.id(k)
    }

    /// The id of a new delivery.
    pub(crate) fn delivery(&mut self) -> u64 {
        let k = self.next_delivery;
        self.next_delivery += 1;
        self.id(k)
    }

    fn id(&self, k: u64) -> u64 {
        k.saturating_mul(self.stride).saturating_add(self.offset)
    }

    /// Makes sure new ids come after the restored message `id` and delivery `delivery`.
    pub(crate) fn restored(&mut self, message: u64, delivery: u64) {
        let after = |last: u64| (last / self.stride).saturating_add(1);
        self.next_message = self.next_message.max(after(message));
        self.next_delivery = self.next_delivery.max(after(delivery));
    }
}
