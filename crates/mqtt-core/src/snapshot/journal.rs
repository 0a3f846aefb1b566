//! The journal: each change of durable state as one self-checking record, and the replay of
//! records onto a checkpoint ([`Snapshot`]). Pure: the runtime appends the bytes to a file,
//! syncs them once per batch, and feeds what it reads back at startup to [`Replay`].
//!
//! ```text
//! record   length u32 BE   of the body
//!          crc32  u32 BE   CRC-32 (IEEE) of the body
//!          body            a tag byte and the change's fields (the checkpoint's encodings)
//! ```
//!
//! Messages, deliveries (one message on its way to one session) carry durable ids that the
//! broker assigns and the checkpoint keeps, so a record written after a checkpoint can name
//! something the checkpoint holds. [`read_records`] tells a torn tail (a write the crash cut
//! short: dropped) from damage in the middle (records after it still check out).

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::BytesMut;
use mqtt_codec::{ProtocolVersion, TopicName};

use crate::short_str::ShortStr;

use super::format::{self, Known, Layout, Reader, put_opt_u64, put_str, put_u32};
use super::{
    FlowState, FormatError, Snapshot, StoredDelivery, StoredInFlight, StoredIncoming,
    StoredMessage, StoredSession, StoredSubscription,
};

/// Bytes before a record's body: its length and its CRC.
pub const RECORD_HEADER_LEN: usize = 8;
/// The largest body a record may have: a message is at most one MQTT packet (256 MiB) plus
/// a few ids; anything larger is damage, not data.
const MAX_BODY: usize = 268_435_455 + 1024;

/// One change of durable state, in the order the broker made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A message that later records refer to by [`StoredMessage::id`] (boxed: its v5
    /// properties make it far larger than the other changes).
    Message(Box<StoredMessage>),
    /// The retained message of `topic` is now message `message` (`None`: cleared).
    Retained {
        /// The topic.
        topic: TopicName,
        /// Id of the retained message, or `None` when the topic's retained message is gone.
        message: Option<u64>,
    },
    /// A persistent session was created, or a new connection took it over (its username,
    /// listener, protocol and expiry are replaced; what it holds stays).
    Session {
        /// Client id.
        client_id: ShortStr,
        /// Username of the connection that owns it now.
        username: Option<String>,
        /// Listener index of that connection.
        listener: u32,
        /// Protocol version of that connection.
        protocol: ProtocolVersion,
        /// Session Expiry Interval in seconds (`u32::MAX` = never).
        expiry_secs: u32,
    },
    /// A persistent session's connection went away: it expires at the Unix time
    /// `expires_at_ms` (recorded by a broker with a wall clock, for a session that expires). A
    /// later [`Change::Session`] (a reconnect) stops the countdown.
    Detached {
        /// Client id.
        client_id: ShortStr,
        /// Milliseconds since 1970 at which it expires.
        expires_at_ms: u64,
    },
    /// A session ended (expired, cleaned, or no longer outliving its connection) with
    /// everything it held.
    SessionGone {
        /// Client id.
        client_id: ShortStr,
    },
    /// A subscription was added or its options replaced.
    Subscribed {
        /// Client id.
        client_id: ShortStr,
        /// The subscription.
        subscription: StoredSubscription,
    },
    /// A subscription was removed.
    Unsubscribed {
        /// Client id.
        client_id: ShortStr,
        /// Its full filter.
        filter: String,
    },
    /// A message was queued for a session, behind everything queued before it.
    Queued {
        /// Client id.
        client_id: ShortStr,
        /// The delivery ([`StoredDelivery::message`] is the message's id here).
        delivery: StoredDelivery,
    },
    /// A queued delivery went out with `packet_id`, or its flow moved on to `state`.
    InFlight {
        /// Client id.
        client_id: ShortStr,
        /// The delivery's id.
        delivery: u64,
        /// Its packet id.
        packet_id: u16,
        /// Where its flow stands.
        state: FlowState,
    },
    /// A delivery is finished: acknowledged, expired or dropped.
    Delivered {
        /// Client id.
        client_id: ShortStr,
        /// The delivery's id.
        delivery: u64,
    },
    /// An incoming QoS 2 message was received and waits for PUBREL.
    Incoming {
        /// Client id.
        client_id: ShortStr,
        /// The publisher's packet id.
        packet_id: u16,
        /// Id of the message to route on PUBREL, `None` when it was dropped.
        message: Option<u64>,
    },
    /// The PUBREL of an incoming QoS 2 message arrived.
    Released {
        /// Client id.
        client_id: ShortStr,
        /// The publisher's packet id.
        packet_id: u16,
    },
}

const TAG_MESSAGE: u8 = 1;
const TAG_RETAINED: u8 = 2;
const TAG_SESSION: u8 = 3;
const TAG_SESSION_GONE: u8 = 4;
const TAG_SUBSCRIBED: u8 = 5;
const TAG_UNSUBSCRIBED: u8 = 6;
const TAG_QUEUED: u8 = 7;
const TAG_IN_FLIGHT: u8 = 8;
const TAG_DELIVERED: u8 = 9;
const TAG_INCOMING: u8 = 10;
const TAG_RELEASED: u8 = 11;
/// A message followed by its optional source (tag 1 records, written before sources were
/// kept, are still read).
const TAG_SOURCED_MESSAGE: u8 = 12;
/// A message followed by its optional source and its optional expiry time (tag 12 records,
/// written before expiry times were kept, are still read: their Message Expiry Interval is
/// what was left at the record, counted again from the restore).
const TAG_TIMED_MESSAGE: u8 = 13;
const TAG_DETACHED: u8 = 14;

/// Appends `change` to `out` as one record.
///
/// # Errors
/// [`FormatError::Unencodable`] for a message the codec cannot write (never one the broker
/// accepted); `out` is left as it was.
pub fn encode_record(change: &Change, out: &mut Vec<u8>) -> Result<(), FormatError> {
    RecordEncoder::default().encode(change, out)
}

/// The most a [`RecordEncoder`] keeps of its buffer between records.
const SCRATCH_KEPT: usize = 64 * 1024;

/// [`encode_record`] for a writer that encodes record after record: it keeps the buffer a
/// message is encoded in between records, so that a message record allocates nothing.
#[derive(Debug, Default)]
pub struct RecordEncoder {
    /// A message's PUBLISH, before it is copied into its record.
    packet: BytesMut,
}

impl RecordEncoder {
    /// Appends `change` to `out` as one record, as [`encode_record`] does.
    ///
    /// # Errors
    /// As [`encode_record`].
    pub fn encode(&mut self, change: &Change, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let result = put_record(change, out, &mut self.packet);
        // A large message's buffer is not kept for the small ones after it.
        if self.packet.capacity() > SCRATCH_KEPT {
            self.packet = BytesMut::new();
        }
        result
    }
}

fn put_record(
    change: &Change,
    out: &mut Vec<u8>,
    packet: &mut BytesMut,
) -> Result<(), FormatError> {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_LEN]);
    if let Err(err) = put_change(change, out, packet) {
        out.truncate(start);
        return Err(err);
    }
    let body = &out[start + RECORD_HEADER_LEN..];
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes();
    let crc = crc32fast::hash(body).to_be_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + 8].copy_from_slice(&crc);
    Ok(())
}

fn put_change(
    change: &Change,
    out: &mut Vec<u8>,
    packet: &mut BytesMut,
) -> Result<(), FormatError> {
    match change {
        Change::Message(message) => {
            out.push(TAG_TIMED_MESSAGE);
            format::put_message(message, packet, out)?;
        }
        Change::Retained { topic, message } => {
            out.push(TAG_RETAINED);
            put_str(out, topic.as_str());
            put_opt_u64(out, *message);
        }
        Change::Session { client_id, username, listener, protocol, expiry_secs } => {
            out.push(TAG_SESSION);
            put_str(out, client_id);
            format::put_opt_str(out, username.as_deref());
            put_u32(out, *listener);
            out.push(protocol.level());
            put_u32(out, *expiry_secs);
        }
        Change::Detached { client_id, expires_at_ms } => {
            out.push(TAG_DETACHED);
            put_str(out, client_id);
            out.extend_from_slice(&expires_at_ms.to_be_bytes());
        }
        Change::SessionGone { client_id } => {
            out.push(TAG_SESSION_GONE);
            put_str(out, client_id);
        }
        Change::Subscribed { client_id, subscription } => {
            out.push(TAG_SUBSCRIBED);
            put_str(out, client_id);
            format::put_subscription(out, subscription);
        }
        Change::Unsubscribed { client_id, filter } => {
            out.push(TAG_UNSUBSCRIBED);
            put_str(out, client_id);
            put_str(out, filter);
        }
        Change::Queued { client_id, delivery } => {
            out.push(TAG_QUEUED);
            put_str(out, client_id);
            format::put_delivery(out, delivery);
        }
        Change::InFlight { client_id, delivery, packet_id, state } => {
            out.push(TAG_IN_FLIGHT);
            put_str(out, client_id);
            out.extend_from_slice(&delivery.to_be_bytes());
            out.extend_from_slice(&packet_id.to_be_bytes());
            out.push(format::flow_state_byte(*state));
        }
        Change::Delivered { client_id, delivery } => {
            out.push(TAG_DELIVERED);
            put_str(out, client_id);
            out.extend_from_slice(&delivery.to_be_bytes());
        }
        Change::Incoming { client_id, packet_id, message } => {
            out.push(TAG_INCOMING);
            put_str(out, client_id);
            out.extend_from_slice(&packet_id.to_be_bytes());
            put_opt_u64(out, *message);
        }
        Change::Released { client_id, packet_id } => {
            out.push(TAG_RELEASED);
            put_str(out, client_id);
            out.extend_from_slice(&packet_id.to_be_bytes());
        }
    }
    Ok(())
}

/// What [`read_records`] found after the last good record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tail {
    /// The records end exactly at the end of the bytes.
    Clean,
    /// The last record is incomplete or fails its check, and nothing readable follows it: a
    /// write cut short by a crash. `dropped` bytes from `at` on are not part of the journal.
    Torn {
        /// Offset of the torn record.
        at: usize,
        /// Bytes from there to the end.
        dropped: usize,
    },
    /// A record at `at` is damaged but a readable record follows it: the file was damaged
    /// after it was written. Records from `at` on are not used.
    Corrupt {
        /// Offset of the damaged record.
        at: usize,
        /// What is wrong with it.
        error: FormatError,
    },
}

/// The records of a journal segment, in order, up to the first one that is not good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Records {
    /// The changes of every good record.
    pub changes: Vec<Change>,
    /// Bytes of good records (where the next record would be appended).
    pub good_len: usize,
    /// What follows them.
    pub tail: Tail,
}

/// Reads every record of a journal segment. Never fails and never panics: what cannot be
/// read is described by [`Records::tail`].
#[must_use]
pub fn read_records(bytes: &[u8]) -> Records {
    let mut changes = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match read_record(bytes, at) {
            Ok((change, next)) => {
                changes.push(change);
                at = next;
            }
            Err(error) => {
                let tail = if readable_record_after(bytes, at) {
                    Tail::Corrupt { at, error }
                } else {
                    Tail::Torn { at, dropped: bytes.len() - at }
                };
                return Records { changes, good_len: at, tail };
            }
        }
    }
    Records { changes, good_len: at, tail: Tail::Clean }
}

/// One record at `at`: its change and where the next one starts.
fn read_record(bytes: &[u8], at: usize) -> Result<(Change, usize), FormatError> {
    let mut header = Reader::new(bytes, at);
    let len = header.u32("record length")?;
    let stored = header.u32("record checksum")?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let body_at = at + RECORD_HEADER_LEN;
    if len > MAX_BODY || len > bytes.len() - body_at {
        return Err(FormatError::Truncated {
            expected: (body_at as u64).saturating_add(len as u64),
            found: bytes.len(),
        });
    }
    let end = body_at + len;
    let computed = crc32fast::hash(&bytes[body_at..end]);
    if stored != computed {
        return Err(FormatError::Checksum { stored, computed });
    }
    let mut r = Reader::new(&bytes[..end], body_at);
    let change = read_change(&mut r)?;
    if r.offset() != end {
        return Err(FormatError::Malformed { what: "record length", offset: at });
    }
    Ok((change, end))
}

/// Whether some offset after the bad record at `at` starts a record that checks out: the
/// damage is then in the middle. A record can only be found by its CRC, so this scans byte by
/// byte; it runs once, on a damaged file.
fn readable_record_after(bytes: &[u8], at: usize) -> bool {
    (at + 1..bytes.len().saturating_sub(RECORD_HEADER_LEN))
        .any(|start| read_record(bytes, start).is_ok_and(|(_, end)| end > start))
}

fn read_change(r: &mut Reader<'_>) -> Result<Change, FormatError> {
    let at = r.offset();
    Ok(match r.u8("record tag")? {
        TAG_MESSAGE => Change::Message(Box::new(format::read_message(r, Layout::Bare)?)),
        TAG_SOURCED_MESSAGE => Change::Message(Box::new(format::read_message(r, Layout::Sourced)?)),
        TAG_TIMED_MESSAGE => Change::Message(Box::new(format::read_message(r, Layout::Timed)?)),
        TAG_RETAINED => {
            let topic_at = r.offset();
            let topic = r.string("retained topic")?;
            let topic = TopicName::new(&topic)
                .map_err(|_| FormatError::Malformed { what: "retained topic", offset: topic_at })?;
            Change::Retained { topic, message: r.opt_u64("retained message id")? }
        }
        TAG_SESSION => {
            let client_id = r.string("client id")?.into();
            let username = r.opt_string("username")?;
            let listener = r.u32("listener")?;
            let protocol = format::read_protocol(r)?;
            let expiry_secs = r.u32("session expiry")?;
            Change::Session { client_id, username, listener, protocol, expiry_secs }
        }
        TAG_DETACHED => Change::Detached {
            client_id: r.string("client id")?.into(),
            expires_at_ms: r.u64("session expiry time")?,
        },
        TAG_SESSION_GONE => Change::SessionGone { client_id: r.string("client id")?.into() },
        TAG_SUBSCRIBED => Change::Subscribed {
            client_id: r.string("client id")?.into(),
            subscription: format::read_subscription(r)?,
        },
        TAG_UNSUBSCRIBED => Change::Unsubscribed {
            client_id: r.string("client id")?.into(),
            filter: r.string("subscription filter")?,
        },
        TAG_QUEUED => Change::Queued {
            client_id: r.string("client id")?.into(),
            delivery: format::read_delivery(r, Known::Any)?,
        },
        TAG_IN_FLIGHT => Change::InFlight {
            client_id: r.string("client id")?.into(),
            delivery: r.u64("delivery id")?,
            packet_id: r.packet_id()?,
            state: format::read_flow_state(r)?,
        },
        TAG_DELIVERED => Change::Delivered {
            client_id: r.string("client id")?.into(),
            delivery: r.u64("delivery id")?,
        },
        TAG_INCOMING => Change::Incoming {
            client_id: r.string("client id")?.into(),
            packet_id: r.packet_id()?,
            message: r.opt_u64("incoming message id")?,
        },
        TAG_RELEASED => {
            Change::Released { client_id: r.string("client id")?.into(), packet_id: r.packet_id()? }
        }
        _ => return Err(FormatError::Malformed { what: "record tag", offset: at }),
    })
}

/// One session while records are replayed.
#[derive(Debug)]
struct SessionState {
    username: Option<String>,
    listener: u32,
    protocol: ProtocolVersion,
    expiry_secs: u32,
    /// The checkpoint's countdown, kept until a record says the session changed hands.
    expires_in: Option<u32>,
    /// When it expires, from the checkpoint or a [`Change::Detached`], until a reconnect.
    expires_at_ms: Option<u64>,
    subscriptions: BTreeMap<String, StoredSubscription>,
    /// Deliveries by id (ids grow in queue order), with their flow once sent.
    deliveries: BTreeMap<u64, (StoredDelivery, Option<(u16, FlowState)>)>,
    incoming: BTreeMap<u16, Option<u64>>,
}

/// A checkpoint with journal records applied to it, in order: the state to restore.
///
/// Records that name something unknown (a session, delivery or message that no earlier
/// record or the checkpoint holds) are counted in [`Replay::skipped`] and otherwise ignored:
/// they can only come from damage, and the rest of the state is still good.
#[derive(Debug, Default)]
pub struct Replay {
    messages: HashMap<u64, StoredMessage>,
    retained: BTreeMap<String, u64>,
    sessions: BTreeMap<String, SessionState>,
    skipped: u64,
}

impl Replay {
    /// Starts from a checkpoint.
    #[must_use]
    pub fn new(checkpoint: Snapshot) -> Self {
        let mut replay = Self::default();
        for message in checkpoint.messages {
            replay.messages.insert(message.id, message);
        }
        for id in checkpoint.retained {
            if let Some(message) = replay.messages.get(&id) {
                replay.retained.insert(message.topic.as_str().to_owned(), id);
            }
        }
        for stored in checkpoint.sessions {
            let flows =
                stored.inflight.into_iter().map(|f| (f.delivery, Some((f.packet_id, f.state))));
            let deliveries = flows
                .chain(stored.queued.into_iter().map(|delivery| (delivery, None)))
                .map(|(delivery, flow)| (delivery.id, (delivery, flow)))
                .collect();
            let incoming = stored.incoming.into_iter().map(|i| (i.packet_id, i.message)).collect();
            let subscriptions = stored
                .subscriptions
                .into_iter()
                .map(|subscription| (subscription.filter.clone(), subscription))
                .collect();
            replay.sessions.insert(
                stored.client_id,
                SessionState {
                    username: stored.username,
                    listener: stored.listener,
                    protocol: stored.protocol,
                    expiry_secs: stored.expiry_secs,
                    expires_in: stored.expires_in,
                    expires_at_ms: stored.expires_at_ms,
                    subscriptions,
                    deliveries,
                    incoming,
                },
            );
        }
        replay
    }

    /// Records that named something unknown so far.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Applies one change.
    pub fn apply(&mut self, change: Change) {
        let applied = match change {
            Change::Message(message) => {
                self.messages.insert(message.id, *message);
                true
            }
            Change::Retained { topic, message: Some(id) } => {
                self.retained.insert(topic.as_str().to_owned(), id);
                true
            }
            Change::Retained { topic, message: None } => {
                self.retained.remove(topic.as_str());
                true
            }
            Change::Session { client_id, username, listener, protocol, expiry_secs } => {
                let session =
                    self.sessions.entry(client_id.to_string()).or_insert_with(|| SessionState {
                        username: None,
                        listener,
                        protocol,
                        expiry_secs,
                        expires_in: None,
                        expires_at_ms: None,
                        subscriptions: BTreeMap::new(),
                        deliveries: BTreeMap::new(),
                        incoming: BTreeMap::new(),
                    });
                session.username = username;
                session.listener = listener;
                session.protocol = protocol;
                session.expiry_secs = expiry_secs;
                session.expires_in = None;
                session.expires_at_ms = None;
                true
            }
            Change::Detached { client_id, expires_at_ms } => self
                .session(&client_id)
                .map(|session| {
                    session.expires_in = None;
                    session.expires_at_ms = Some(expires_at_ms);
                })
                .is_some(),
            Change::SessionGone { client_id } => self.sessions.remove(client_id.as_str()).is_some(),
            Change::Subscribed { client_id, subscription } => self
                .session(&client_id)
                .map(|session| {
                    session.subscriptions.insert(subscription.filter.clone(), subscription);
                })
                .is_some(),
            Change::Unsubscribed { client_id, filter } => self
                .session(&client_id)
                .is_some_and(|session| session.subscriptions.remove(&filter).is_some()),
            Change::Queued { client_id, delivery } => {
                let known = self.messages.contains_key(&delivery.message);
                known
                    && self
                        .session(&client_id)
                        .map(|session| session.deliveries.insert(delivery.id, (delivery, None)))
                        .is_some()
            }
            Change::InFlight { client_id, delivery, packet_id, state } => {
                self.session(&client_id).is_some_and(|session| {
                    session
                        .deliveries
                        .get_mut(&delivery)
                        .map(|entry| entry.1 = Some((packet_id, state)))
                        .is_some()
                })
            }
            Change::Delivered { client_id, delivery } => self
                .session(&client_id)
                .is_some_and(|session| session.deliveries.remove(&delivery).is_some()),
            Change::Incoming { client_id, packet_id, message } => {
                let known = message.is_none_or(|id| self.messages.contains_key(&id));
                known
                    && self
                        .session(&client_id)
                        .map(|session| session.incoming.insert(packet_id, message))
                        .is_some()
            }
            Change::Released { client_id, packet_id } => self
                .session(&client_id)
                .is_some_and(|session| session.incoming.remove(&packet_id).is_some()),
        };
        if !applied {
            self.skipped += 1;
        }
    }

    fn session(&mut self, client_id: &str) -> Option<&mut SessionState> {
        self.sessions.get_mut(client_id)
    }

    /// The state to restore: every message still referred to (once), the retained messages
    /// in topic order, the sessions in client id order with their in-flight deliveries (in
    /// the order they were queued), then the queued ones.
    #[must_use]
    pub fn finish(mut self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let mut kept: HashSet<u64> = HashSet::new();
        let mut keep = |id: u64, snapshot: &mut Snapshot| -> bool {
            if kept.contains(&id) {
                return true;
            }
            let Some(message) = self.messages.remove(&id) else { return false };
            snapshot.messages.push(message);
            kept.insert(id)
        };
        for id in self.retained.into_values() {
            if keep(id, &mut snapshot) {
                snapshot.retained.push(id);
            }
        }
        for (client_id, state) in self.sessions {
            let mut inflight = Vec::new();
            let mut queued = Vec::new();
            for (delivery, flow) in state.deliveries.into_values() {
                if !keep(delivery.message, &mut snapshot) {
                    continue;
                }
                match flow {
                    Some((packet_id, state)) => {
                        inflight.push(StoredInFlight { packet_id, delivery, state });
                    }
                    None => queued.push(delivery),
                }
            }
            let incoming = state
                .incoming
                .into_iter()
                .filter(|(_, message)| message.is_none_or(|id| keep(id, &mut snapshot)))
                .map(|(packet_id, message)| StoredIncoming { packet_id, message })
                .collect();
            snapshot.sessions.push(StoredSession {
                client_id,
                username: state.username,
                listener: state.listener,
                protocol: state.protocol,
                expiry_secs: state.expiry_secs,
                expires_in: state.expires_in,
                expires_at_ms: state.expires_at_ms,
                subscriptions: state.subscriptions.into_values().collect(),
                inflight,
                queued,
                incoming,
            });
        }
        snapshot
    }
}

/// One delivery with its QoS 2 flow, if any (QoS 1 flows are not journaled).
#[cfg(any(test, fuzzing))]
pub type Flow = (StoredDelivery, Option<(u16, FlowState)>);

/// The part of a durable state that replaying the journal must reproduce, comparable with
/// `==`: messages by id with their expiry times, sessions with theirs, every session's
/// deliveries by id with their QoS 2 flows, and no countdowns (the journal does not keep the
/// seconds left that a broker without a wall clock stores). For the tests and the `broker` fuzz target,
/// which compare [`Replay::finish`] with `Broker::snapshot`.
#[cfg(any(test, fuzzing))]
#[must_use]
pub fn comparable(mut state: Snapshot) -> (Snapshot, Vec<Vec<Flow>>) {
    state.messages.sort_by_key(|message| message.id);
    for message in &mut state.messages {
        message.properties.message_expiry_interval = None;
    }
    let mut flows = Vec::new();
    for session in &mut state.sessions {
        session.expires_in = None;
        let mut all: Vec<Flow> = session
            .inflight
            .drain(..)
            .map(|flight| {
                let flow = (flight.delivery.qos == mqtt_codec::QoS::ExactlyOnce)
                    .then_some((flight.packet_id, flight.state));
                (flight.delivery, flow)
            })
            .chain(session.queued.drain(..).map(|delivery| (delivery, None)))
            .collect();
        all.sort_by_key(|(delivery, _)| delivery.id);
        flows.push(all);
    }
    (state, flows)
}

#[cfg(test)]
mod tests;
