//! Snapshots of the broker's durable state as plain data: retained messages and persistent
//! sessions (subscriptions, queued and in-flight QoS 1/2 messages in both directions).
//! [`Broker::snapshot`](crate::Broker::snapshot) copies the state out (payloads are shared
//! `Bytes`, so a copy is cheap), [`Broker::restore`](crate::Broker::restore) puts it back into
//! a fresh broker, and [`encode`] / [`decode`] turn it into culex's file format and back
//! without any I/O (the runtime writes the bytes).
//!
//! Time: a message's expiry is stored as the Unix time it ends at ([`StoredMessage::expires_at_ms`]),
//! as Mosquitto stores it, so the time the broker was down counts: the core has no wall clock,
//! and converts with the [`WallClock`](crate::WallClock) reading the runtime gives it. A
//! broker without one, and files written before format version 4, store what was left of the
//! interval instead, counted again from the restore. A detached session's expiry is stored the
//! same way ([`StoredSession::expires_at_ms`]; without a clock, and in files before format
//! version 5, as what was left of it, counted again from the `now` of the restore).
//!
//! Not stored, as in Mosquitto 2.0: wills, counters, connections, topic aliases.
//!
//! A sharded broker saves one file: each shard snapshots its sessions and its replica of the
//! retained messages, [`Snapshot::merge`] joins the parts, and [`Snapshot::split`] deals a
//! loaded file out again, whatever the shard count was when it was saved.
//!
//! [`mosquitto::decode`] reads Mosquitto 2.0's own `mosquitto.db` into a `Snapshot`, for a
//! one-time import when culex replaces Mosquitto.

mod format;
pub mod journal;
pub mod mosquitto;
mod shards;

use bytes::Bytes;
use mqtt_codec::{Properties, ProtocolVersion, QoS, TopicName};

pub use format::{FormatError, MAGIC, MOSQUITTO_MAGIC, VERSION, decode, encode};
pub use shards::LastIds;

/// A Session Expiry Interval that never runs out (`u32::MAX` seconds, as MQTT 5 defines it).
pub const EXPIRY_NEVER: u32 = u32::MAX;

/// The durable state of a broker.
///
/// Messages are stored once, however many queues hold them; [`StoredDelivery::message`],
/// [`Snapshot::retained`] and [`StoredIncoming::message`] are [`StoredMessage::id`]s. An id
/// that names no message is never produced by [`Broker::snapshot`](crate::Broker::snapshot)
/// or accepted by [`decode`]; `restore` skips it. The ids are the broker's durable ids, which
/// journal records written after the snapshot refer to (see [`journal`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every message referred to below.
    pub messages: Vec<StoredMessage>,
    /// Ids of the retained messages, one per topic, in topic order.
    pub retained: Vec<u64>,
    /// Sessions that outlive their connection (v3 clean session 0, v5 expiry > 0).
    pub sessions: Vec<StoredSession>,
}

/// One application message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// The broker's durable id of the message (non-zero, unique in a snapshot).
    pub id: u64,
    /// Topic.
    pub topic: TopicName,
    /// Payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// Retain flag it was published with.
    pub retain: bool,
    /// v5 properties passed to subscribers. `message_expiry_interval` is `None` when
    /// [`StoredMessage::expires_at_ms`] is set; otherwise (a broker without a wall clock, files
    /// and journal records from before format version 4) the seconds that were left when the
    /// message was stored, counted again from the restore.
    pub properties: Properties,
    /// The Unix time (milliseconds since 1970) at which the message expires; `None`: never,
    /// or as `properties.message_expiry_interval` says.
    pub expires_at_ms: Option<u64>,
    /// The client that published it, kept for retained messages (`check_retain_source`
    /// checks it again at delivery); `None` for the others and for the server's own.
    pub source: Option<StoredSource>,
}

/// The client that published a retained message, as access rules name a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSource {
    /// Client id.
    pub client_id: String,
    /// Username from its CONNECT, if any.
    pub username: Option<String>,
    /// Listener index of its connection.
    pub listener: u32,
}

/// One persistent session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    /// Client id.
    pub client_id: String,
    /// Username of the connection that last owned it (access rules apply while offline).
    pub username: Option<String>,
    /// Listener index of that connection.
    pub listener: u32,
    /// Protocol version of that connection.
    pub protocol: ProtocolVersion,
    /// Session Expiry Interval in seconds (`u32::MAX` = never).
    pub expiry_secs: u32,
    /// Seconds left before the detached session expires, stored when there is no
    /// [`StoredSession::expires_at_ms`]; `None` for both when it was connected (or never
    /// expires): the countdown then starts at the restore.
    pub expires_in: Option<u32>,
    /// The Unix time (milliseconds since 1970) at which the detached session expires, stored
    /// by a broker with a [`WallClock`](crate::WallClock); the restore drops it once passed.
    pub expires_at_ms: Option<u64>,
    /// Subscriptions, in filter order.
    pub subscriptions: Vec<StoredSubscription>,
    /// Outgoing QoS 1/2 messages in flight, in the order they were first sent.
    pub inflight: Vec<StoredInFlight>,
    /// Outgoing messages queued behind the in-flight window, in order.
    pub queued: Vec<StoredDelivery>,
    /// Incoming QoS 2 messages received and waiting for PUBREL.
    pub incoming: Vec<StoredIncoming>,
}

impl StoredSession {
    /// The session of `client_id` with nothing in it yet, never expiring, as for a v3.1.1
    /// client (what an import starts from when a file first names a client).
    #[must_use]
    pub fn empty(client_id: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            username: None,
            listener: 0,
            protocol: ProtocolVersion::V3_1_1,
            expiry_secs: EXPIRY_NEVER,
            expires_in: None,
            expires_at_ms: None,
            subscriptions: Vec::new(),
            inflight: Vec::new(),
            queued: Vec::new(),
            incoming: Vec::new(),
        }
    }

    /// Every outgoing delivery: the in-flight ones first, then the queued ones, each in order.
    pub(crate) fn deliveries_mut(&mut self) -> impl Iterator<Item = &mut StoredDelivery> {
        self.inflight.iter_mut().map(|flight| &mut flight.delivery).chain(self.queued.iter_mut())
    }
}

/// One subscription with its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSubscription {
    /// The full filter, including any `$share/{group}/` prefix.
    pub filter: String,
    /// Granted QoS.
    pub qos: QoS,
    /// v5 No Local.
    pub no_local: bool,
    /// v5 Retain As Published.
    pub retain_as_published: bool,
    /// v5 Subscription Identifier.
    pub id: Option<u32>,
}

/// One message on its way to one subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDelivery {
    /// The broker's durable id of this delivery (non-zero, unique in a snapshot; ids grow
    /// in the order deliveries were queued).
    pub id: u64,
    /// Id of the message ([`StoredMessage::id`]).
    pub message: u64,
    /// QoS of this delivery.
    pub qos: QoS,
    /// Retain flag of this delivery.
    pub retain: bool,
    /// v5 Subscription Identifiers of the matching subscriptions.
    pub sub_ids: Vec<u32>,
}

/// Where an outgoing QoS 1/2 flow stood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowState {
    /// QoS 1 PUBLISH sent, PUBACK not received.
    AwaitingPubAck,
    /// QoS 2 PUBLISH sent, PUBREC not received.
    AwaitingPubRec,
    /// PUBREL sent, PUBCOMP not received.
    AwaitingPubComp,
}

/// One outgoing message in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredInFlight {
    /// Its packet id (non-zero).
    pub packet_id: u16,
    /// What was sent.
    pub delivery: StoredDelivery,
    /// How far the flow got.
    pub state: FlowState,
}

/// One incoming QoS 2 message waiting for PUBREL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredIncoming {
    /// The publisher's packet id (non-zero).
    pub packet_id: u16,
    /// Id of the message to route on PUBREL ([`StoredMessage::id`]); `None` when it was
    /// dropped but the flow must still complete.
    pub message: Option<u64>,
}
