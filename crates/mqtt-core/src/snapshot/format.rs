//! culex's persistence file format: a [`Snapshot`] to bytes and back, with no I/O.
//!
//! ```text
//! magic      13 bytes  89 'culex db' 0D 0A 1A 0A   (PNG-style: catches text-mode mangling)
//! version    u32 BE    5
//! length     u64 BE    of the body
//! body       messages, retained, sessions (below)
//! crc32      u32 BE    CRC-32 (IEEE) of every byte before it
//! ```
//!
//! Integers are big-endian; a string is a u32 length and UTF-8 bytes; an optional value is a
//! 0/1 byte and the value; a list is a u32 count and its items. A message is its u64 id, a u32
//! length and the message encoded as an MQTT 5 PUBLISH packet by `mqtt-codec` (so every v5
//! property survives with the codec's tested encoding). Retained messages, deliveries and
//! incoming QoS 2 messages refer to messages by id, so a message queued for many clients is
//! stored once; a delivery also has its own u64 id. After its packet, a message has its optional
//! source (the publisher's client id, optional username and u32 listener index), then its
//! optional expiry time: u64 milliseconds since 1970 (Mosquitto stores seconds since 1970; the
//! packet then has no Message Expiry Interval). A session ends with its optional expiry time,
//! u64 milliseconds since 1970, when it was detached (as Mosquitto stores it, so downtime
//! counts).
//!
//! Older versions are still read. Version 4 had no session expiry times: a detached session's
//! optional seconds left count again from the restore. Version 3 had no expiry times: the packet's Message Expiry
//! Interval is what was left when the file was written, counted again from the restore.
//! Version 2 had no message sources either (read as `None`). Version 1 (culex before the
//! journal) had no ids and referred to messages by index; ids are made from positions.
//!
//! Decoding checks, in order: Mosquitto's magic (its `mosquitto.db` is a different format),
//! our magic, the version, the length, the checksum, then every field; any problem is a
//! [`FormatError`], never a panic, whatever the bytes.

use std::collections::HashSet;

use bytes::BytesMut;
use mqtt_codec::{Packet, PacketId, ProtocolVersion, Publish, QoS};

use super::{
    FlowState, Snapshot, StoredDelivery, StoredInFlight, StoredIncoming, StoredMessage,
    StoredSession, StoredSource, StoredSubscription,
};

/// The first bytes of a culex persistence file.
pub const MAGIC: &[u8; 13] = b"\x89culex db\r\n\x1a\n";
/// The first bytes of Mosquitto's `mosquitto.db` (its 15-byte magic).
pub const MOSQUITTO_MAGIC: &[u8; 15] = b"\x00\xb5\x00mosquitto db";
/// The format version this culex writes.
pub const VERSION: u32 = 5;
/// The version before session expiry times, which this culex still reads.
const VERSION_4: u32 = 4;
/// The version before message expiry times, which this culex still reads.
const VERSION_3: u32 = 3;
/// The version before message sources, which this culex still reads.
const VERSION_2: u32 = 2;
/// The first version, without durable ids, which this culex still reads.
const VERSION_1: u32 = 1;

/// Magic, version and body length.
const HEADER_LEN: usize = MAGIC.len() + 4 + 8;
const CRC_LEN: usize = 4;

/// Why bytes are not a snapshot this culex can read.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// Nothing at all (the runtime treats this as "start empty", as Mosquitto does).
    #[error("the file is empty")]
    Empty,
    /// Mosquitto's own format.
    #[error("it is a Mosquitto persistence file (mosquitto.db format), which culex cannot read")]
    Mosquitto,
    /// Neither our magic nor Mosquitto's.
    #[error("it is not a culex persistence file (unknown header)")]
    NotCulex,
    /// Our magic with a version this culex does not know.
    #[error(
        "unsupported culex persistence format version {found} (this culex reads versions 1 to {VERSION})"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
    },
    /// Fewer bytes than the header announces.
    #[error("the file is truncated ({found} bytes, the header announces {expected})")]
    Truncated {
        /// Bytes the header and length say the file has.
        expected: u64,
        /// Bytes it has.
        found: usize,
    },
    /// More bytes than the header announces.
    #[error("{extra} unexpected bytes after the end of the data")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The checksum does not match: the file was damaged.
    #[error(
        "checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is corrupt"
    )]
    Checksum {
        /// CRC-32 stored in the file.
        stored: u32,
        /// CRC-32 of the bytes read.
        computed: u32,
    },
    /// The checksum matched but a field is invalid (written by a buggy or different program).
    #[error("invalid {what} at byte {offset}")]
    Malformed {
        /// The field.
        what: &'static str,
        /// Offset of the field in the file.
        offset: usize,
    },
    /// Encoding only: a message the codec cannot write as a PUBLISH.
    #[error("message on topic {topic} cannot be encoded: {reason}")]
    Unencodable {
        /// Its topic.
        topic: String,
        /// The codec's error.
        reason: String,
    },
}

/// Encodes `snapshot` in culex's persistence format.
///
/// # Errors
/// [`FormatError::Unencodable`] if a message cannot be written as an MQTT 5 PUBLISH (never the
/// case for messages the broker accepted).
pub fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, FormatError> {
    let mut body = Vec::new();
    put_len(&mut body, snapshot.messages.len());
    let mut packet = BytesMut::new();
    for message in &snapshot.messages {
        put_message(message, &mut packet, &mut body)?;
    }
    put_list(&mut body, &snapshot.retained, |out, &id| put_u64(out, id));
    put_list(&mut body, &snapshot.sessions, put_session);
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + CRC_LEN);
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, VERSION);
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    put_u32(&mut out, crc);
    Ok(out)
}

/// Decodes a file written by [`encode`]. Payloads are copied out of `bytes`, so the buffer
/// can be dropped afterwards.
///
/// # Errors
/// [`FormatError`] saying what is wrong: empty, Mosquitto's format, unknown header, version,
/// truncated, checksum, or a field.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, FormatError> {
    if bytes.is_empty() {
        return Err(FormatError::Empty);
    }
    if bytes.starts_with(MOSQUITTO_MAGIC) {
        return Err(FormatError::Mosquitto);
    }
    if !bytes.starts_with(MAGIC) {
        if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
            return Err(FormatError::Truncated {
                expected: (HEADER_LEN + CRC_LEN) as u64,
                found: bytes.len(),
            });
        }
        return Err(FormatError::NotCulex);
    }
    if bytes.len() < HEADER_LEN {
        let expected = (HEADER_LEN + CRC_LEN) as u64;
        return Err(FormatError::Truncated { expected, found: bytes.len() });
    }
    let mut header = Reader { bytes, at: MAGIC.len() };
    let version = header.u32("version")?;
    if !(VERSION_1..=VERSION).contains(&version) {
        return Err(FormatError::UnsupportedVersion { found: version });
    }
    let body_len = header.u64("length")?;
    let expected = body_len.saturating_add((HEADER_LEN + CRC_LEN) as u64);
    if (bytes.len() as u64) < expected {
        return Err(FormatError::Truncated { expected, found: bytes.len() });
    }
    // `expected` <= bytes.len(), so it fits in usize.
    let end = usize::try_from(expected).unwrap_or(usize::MAX);
    if bytes.len() > end {
        return Err(FormatError::TrailingBytes { extra: bytes.len() - end });
    }
    let crc_at = end - CRC_LEN;
    let mut crc = Reader { bytes, at: crc_at };
    let stored = crc.u32("checksum")?;
    let computed = crc32fast::hash(&bytes[..crc_at]);
    if stored != computed {
        return Err(FormatError::Checksum { stored, computed });
    }
    let mut r = Reader { bytes: &bytes[..crc_at], at: HEADER_LEN };
    let snapshot = match version {
        VERSION_1 => read_body_v1(&mut r)?,
        VERSION_2 => read_body(&mut r, Layout::Bare)?,
        VERSION_3 => read_body(&mut r, Layout::Sourced)?,
        VERSION_4 => read_body(&mut r, Layout::Timed)?,
        _ => read_body(&mut r, Layout::TimedSessions)?,
    };
    if r.at != crc_at {
        return Err(FormatError::Malformed { what: "body length", offset: r.at });
    }
    Ok(snapshot)
}

fn read_body(r: &mut Reader<'_>, layout: Layout) -> Result<Snapshot, FormatError> {
    let mut ids = HashSet::new();
    let messages = r.list("message count", 13, |r| {
        let at = r.at;
        let message = read_message(r, layout)?;
        if message.id == 0 || !ids.insert(message.id) {
            return Err(FormatError::Malformed { what: "message id", offset: at });
        }
        Ok(message)
    })?;
    let known = Known::Ids(&ids);
    let retained = r.list("retained count", 8, |r| r.message_ref("retained message id", known))?;
    let sessions = r.list("session count", 4, |r| read_session(r, known, layout))?;
    Ok(Snapshot { messages, retained, sessions })
}

/// Version 1: messages by index, no ids. Message `i` gets id `i + 1`; deliveries get ids
/// 1, 2, … in file order (in-flight before queued, as they were sent).
fn read_body_v1(r: &mut Reader<'_>) -> Result<Snapshot, FormatError> {
    let mut next_message = 0;
    let messages = r.list("message count", 4, |r| {
        next_message += 1;
        Ok(StoredMessage { id: next_message, ..read_message_packet(r)? })
    })?;
    let known = Known::Count(messages.len());
    let retained =
        r.list("retained count", 4, |r| r.message_ref("retained message index", known))?;
    let mut next_delivery = 0;
    let sessions = r.list("session count", 4, |r| {
        let mut session = read_session(r, known, Layout::Bare)?;
        for delivery in session.deliveries_mut() {
            next_delivery += 1;
            delivery.id = next_delivery;
        }
        Ok(session)
    })?;
    Ok(Snapshot { messages, retained, sessions })
}

/// What follows a message's packet, by the format version (or journal record tag) that
/// wrote it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// Version 2, the journal's first message records: nothing.
    Bare,
    /// Version 3, the journal's sourced message records: the optional source.
    Sourced,
    /// Version 4, the journal's timed message records: the optional source, then the
    /// optional expiry time.
    Timed,
    /// Version 5: as [`Layout::Timed`], and a session ends with its optional expiry time.
    TimedSessions,
}

/// How a file refers to messages: by id (version 2) or by index (version 1, read as id
/// `index + 1`).
#[derive(Clone, Copy)]
pub(super) enum Known<'a> {
    /// Version 2: the ids of the file's messages.
    Ids(&'a HashSet<u64>),
    /// Version 1: how many messages the file has.
    Count(usize),
    /// A journal record: any non-zero id (the replay checks that it exists).
    Any,
}

/// Appends `message` as its id, a u32 length, an MQTT 5 PUBLISH, its optional source and its
/// optional expiry time ([`Layout::Timed`]); `packet` is scratch space.
pub(super) fn put_message(
    message: &StoredMessage,
    packet: &mut BytesMut,
    out: &mut Vec<u8>,
) -> Result<(), FormatError> {
    packet.clear();
    encode_message(message, packet)?;
    put_u64(out, message.id);
    put_len(out, packet.len());
    out.extend_from_slice(packet);
    match &message.source {
        Some(source) => {
            out.push(1);
            put_str(out, &source.client_id);
            put_opt_str(out, source.username.as_deref());
            put_u32(out, source.listener);
        }
        None => out.push(0),
    }
    put_opt_u64(out, message.expires_at_ms);
    Ok(())
}

fn encode_message(message: &StoredMessage, out: &mut BytesMut) -> Result<(), FormatError> {
    let packet_id = (message.qos != QoS::AtMostOnce).then(|| PacketId::new(1)).flatten();
    let packet = Packet::Publish(Publish {
        dup: false,
        qos: message.qos,
        retain: message.retain,
        topic: message.topic.clone(),
        packet_id,
        properties: message.properties.clone(),
        payload: message.payload.clone(),
    });
    mqtt_codec::encode(&packet, ProtocolVersion::V5, u32::MAX, out).map_err(|err| {
        FormatError::Unencodable {
            topic: message.topic.as_str().to_owned(),
            reason: err.to_string(),
        }
    })
}

/// Reads a message written by [`put_message`], or in an older `layout`.
pub(super) fn read_message(
    r: &mut Reader<'_>,
    layout: Layout,
) -> Result<StoredMessage, FormatError> {
    let id = r.u64("message id")?;
    let message = read_message_packet(r)?;
    let source = match layout {
        Layout::Sourced | Layout::Timed | Layout::TimedSessions
            if r.flag("message source flag")? =>
        {
            Some(StoredSource {
                client_id: r.string("source client id")?,
                username: r.opt_string("source username")?,
                listener: r.u32("source listener")?,
            })
        }
        _ => None,
    };
    let expires_at_ms = match layout {
        Layout::Timed | Layout::TimedSessions => r.opt_u64("message expiry time")?,
        Layout::Bare | Layout::Sourced => None,
    };
    Ok(StoredMessage { id, source, expires_at_ms, ..message })
}

/// A u32 length and an MQTT 5 PUBLISH (the id is left 0 for the caller).
fn read_message_packet(r: &mut Reader<'_>) -> Result<StoredMessage, FormatError> {
    let offset = r.at;
    let len = r.count("message length", 1)?;
    // A buffer of its own, so a restored message does not keep the whole file alive.
    let mut packet = BytesMut::from(r.take(len, "message")?);
    let bad = FormatError::Malformed { what: "message", offset };
    let Ok(Some(Packet::Publish(publish))) =
        mqtt_codec::decode(&mut packet, ProtocolVersion::V5, u32::MAX)
    else {
        return Err(bad);
    };
    if !packet.is_empty() || publish.topic.as_str().is_empty() {
        return Err(bad);
    }
    Ok(StoredMessage {
        id: 0,
        topic: publish.topic,
        payload: publish.payload,
        qos: publish.qos,
        retain: publish.retain,
        properties: publish.properties,
        source: None,
        expires_at_ms: None,
    })
}

fn put_session(out: &mut Vec<u8>, session: &StoredSession) {
    put_str(out, &session.client_id);
    put_opt_str(out, session.username.as_deref());
    put_u32(out, session.listener);
    out.push(session.protocol.level());
    put_u32(out, session.expiry_secs);
    put_opt_u32(out, session.expires_in);
    put_list(out, &session.subscriptions, put_subscription);
    put_list(out, &session.inflight, |out, flight| {
        out.extend_from_slice(&flight.packet_id.to_be_bytes());
        out.push(flow_state_byte(flight.state));
        put_delivery(out, &flight.delivery);
    });
    put_list(out, &session.queued, put_delivery);
    put_list(out, &session.incoming, |out, incoming| {
        out.extend_from_slice(&incoming.packet_id.to_be_bytes());
        put_opt_u64(out, incoming.message);
    });
    put_opt_u64(out, session.expires_at_ms);
}

fn read_session(
    r: &mut Reader<'_>,
    known: Known<'_>,
    layout: Layout,
) -> Result<StoredSession, FormatError> {
    let client_id = r.string("client id")?;
    let username = r.opt_string("username")?;
    let listener = r.u32("listener")?;
    let protocol = read_protocol(r)?;
    let expiry_secs = r.u32("session expiry")?;
    let expires_in = r.opt_u32("expires in")?;
    let subscriptions = r.list("subscription count", 7, read_subscription)?;
    let inflight = r.list("in-flight count", 12, |r| {
        let packet_id = r.packet_id()?;
        let state = read_flow_state(r)?;
        let delivery = read_delivery(r, known)?;
        Ok(StoredInFlight { packet_id, delivery, state })
    })?;
    let queued = r.list("queue length", 9, |r| read_delivery(r, known))?;
    let incoming = r.list("incoming count", 3, |r| {
        let packet_id = r.packet_id()?;
        let message = match r.flag("incoming message flag")? {
            true => Some(r.message_ref("incoming message id", known)?),
            false => None,
        };
        Ok(StoredIncoming { packet_id, message })
    })?;
    let expires_at_ms = match layout {
        Layout::TimedSessions => r.opt_u64("session expiry time")?,
        Layout::Bare | Layout::Sourced | Layout::Timed => None,
    };
    Ok(StoredSession {
        client_id,
        username,
        listener,
        protocol,
        expiry_secs,
        expires_in,
        expires_at_ms,
        subscriptions,
        inflight,
        queued,
        incoming,
    })
}

/// A protocol version as its level byte.
pub(super) fn read_protocol(r: &mut Reader<'_>) -> Result<ProtocolVersion, FormatError> {
    let at = r.at;
    ProtocolVersion::from_level(r.u8("protocol")?)
        .ok_or(FormatError::Malformed { what: "protocol", offset: at })
}

/// A subscription: its filter, an options byte and its identifier.
pub(super) fn put_subscription(out: &mut Vec<u8>, sub: &StoredSubscription) {
    put_str(out, &sub.filter);
    let flags =
        sub.qos.as_u8() | (u8::from(sub.no_local) << 2) | (u8::from(sub.retain_as_published) << 3);
    out.push(flags);
    put_opt_u32(out, sub.id);
}

/// Reads what [`put_subscription`] wrote.
pub(super) fn read_subscription(r: &mut Reader<'_>) -> Result<StoredSubscription, FormatError> {
    let filter = r.string("subscription filter")?;
    let at = r.at;
    let flags = r.u8("subscription options")?;
    let bad = FormatError::Malformed { what: "subscription options", offset: at };
    let qos = QoS::from_u8(flags & 3).ok_or(bad.clone())?;
    if flags >> 4 != 0 {
        return Err(bad);
    }
    let id = r.opt_u32("subscription identifier")?;
    let no_local = flags & 4 != 0;
    let retain_as_published = flags & 8 != 0;
    Ok(StoredSubscription { filter, qos, no_local, retain_as_published, id })
}

/// The byte of a flow state.
pub(super) fn flow_state_byte(state: FlowState) -> u8 {
    match state {
        FlowState::AwaitingPubAck => 0,
        FlowState::AwaitingPubRec => 1,
        FlowState::AwaitingPubComp => 2,
    }
}

/// Reads what [`flow_state_byte`] wrote.
pub(super) fn read_flow_state(r: &mut Reader<'_>) -> Result<FlowState, FormatError> {
    let at = r.at;
    match r.u8("flow state")? {
        0 => Ok(FlowState::AwaitingPubAck),
        1 => Ok(FlowState::AwaitingPubRec),
        2 => Ok(FlowState::AwaitingPubComp),
        _ => Err(FormatError::Malformed { what: "flow state", offset: at }),
    }
}

/// A delivery: its id, its message's id, a flags byte and the subscription identifiers.
pub(super) fn put_delivery(out: &mut Vec<u8>, delivery: &StoredDelivery) {
    put_u64(out, delivery.id);
    put_u64(out, delivery.message);
    out.push(delivery.qos.as_u8() | (u8::from(delivery.retain) << 2));
    put_list(out, &delivery.sub_ids, |out, &id| put_u32(out, id));
}

/// Reads what [`put_delivery`] wrote (version 1: no delivery id, the message by index; the
/// caller numbers the deliveries).
pub(super) fn read_delivery(
    r: &mut Reader<'_>,
    known: Known<'_>,
) -> Result<StoredDelivery, FormatError> {
    let id = match known {
        Known::Count(_) => 0,
        Known::Ids(_) | Known::Any => {
            let at = r.at;
            match r.u64("delivery id")? {
                0 => return Err(FormatError::Malformed { what: "delivery id", offset: at }),
                id => id,
            }
        }
    };
    let message = r.message_ref("delivery message id", known)?;
    let at = r.at;
    let flags = r.u8("delivery flags")?;
    let bad = FormatError::Malformed { what: "delivery flags", offset: at };
    let qos = QoS::from_u8(flags & 3).ok_or(bad.clone())?;
    if flags >> 3 != 0 {
        return Err(bad);
    }
    let sub_ids =
        r.list("subscription identifier count", 4, |r| r.u32("subscription identifier"))?;
    Ok(StoredDelivery { id, message, qos, retain: flags & 4 != 0, sub_ids })
}

pub(super) fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_be_bytes());
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_be_bytes());
}

/// A length or count: every one the broker holds fits in u32 (packets are < 256 MiB, and
/// packet ids, sessions and messages are far fewer than 2^32).
pub(super) fn put_len(out: &mut Vec<u8>, n: usize) {
    put_u32(out, u32::try_from(n).unwrap_or(u32::MAX));
}

/// The length of `items`, then each item written by `put`: what [`Reader::list`] reads.
pub(super) fn put_list<T>(out: &mut Vec<u8>, items: &[T], mut put: impl FnMut(&mut Vec<u8>, &T)) {
    put_len(out, items.len());
    for item in items {
        put(out, item);
    }
}

pub(super) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

pub(super) fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

pub(super) fn put_opt_u32(out: &mut Vec<u8>, n: Option<u32>) {
    match n {
        Some(n) => {
            out.push(1);
            put_u32(out, n);
        }
        None => out.push(0),
    }
}

pub(super) fn put_opt_u64(out: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => {
            out.push(1);
            put_u64(out, n);
        }
        None => out.push(0),
    }
}

/// A cursor over the checked bytes; every read names its field for the error.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A cursor at `at` in `bytes`.
    pub(super) fn new(bytes: &'a [u8], at: usize) -> Self {
        Self { bytes, at }
    }

    /// Where the cursor is.
    pub(super) fn offset(&self) -> usize {
        self.at
    }

    pub(super) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FormatError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        let Some(end) = end else { return Err(FormatError::Malformed { what, offset: self.at }) };
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FormatError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(super) fn u8(&mut self, what: &'static str) -> Result<u8, FormatError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(super) fn u32(&mut self, what: &'static str) -> Result<u32, FormatError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(super) fn u64(&mut self, what: &'static str) -> Result<u64, FormatError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    pub(super) fn flag(&mut self, what: &'static str) -> Result<bool, FormatError> {
        let at = self.at;
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(FormatError::Malformed { what, offset: at }),
        }
    }

    pub(super) fn opt_u32(&mut self, what: &'static str) -> Result<Option<u32>, FormatError> {
        Ok(if self.flag(what)? { Some(self.u32(what)?) } else { None })
    }

    /// A count, then that many items read by `item`, each at least `min_item` bytes (see
    /// [`Reader::count`]).
    pub(super) fn list<T>(
        &mut self,
        what: &'static str,
        min_item: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, FormatError>,
    ) -> Result<Vec<T>, FormatError> {
        let count = self.count(what, min_item)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(item(self)?);
        }
        Ok(items)
    }

    /// A count of items at least `min_item` bytes each: more than the bytes left could hold
    /// is an error, so a corrupt count never makes us allocate.
    pub(super) fn count(
        &mut self,
        what: &'static str,
        min_item: usize,
    ) -> Result<usize, FormatError> {
        let at = self.at;
        let n = usize::try_from(self.u32(what)?).unwrap_or(usize::MAX);
        let left = self.bytes.len() - self.at;
        if n.saturating_mul(min_item) > left {
            return Err(FormatError::Malformed { what, offset: at });
        }
        Ok(n)
    }

    /// A reference to a message: an id that `known` holds, or in version 1 an index below
    /// the message count (read as id `index + 1`).
    fn message_ref(&mut self, what: &'static str, known: Known<'_>) -> Result<u64, FormatError> {
        let at = self.at;
        let id = match known {
            Known::Count(len) => {
                let index = self.u32(what)?;
                usize::try_from(index).ok().filter(|&i| i < len).map(|_| u64::from(index) + 1)
            }
            Known::Ids(ids) => Some(self.u64(what)?).filter(|id| ids.contains(id)),
            Known::Any => Some(self.u64(what)?).filter(|&id| id != 0),
        };
        id.ok_or(FormatError::Malformed { what, offset: at })
    }

    pub(super) fn opt_u64(&mut self, what: &'static str) -> Result<Option<u64>, FormatError> {
        Ok(if self.flag(what)? { Some(self.u64(what)?) } else { None })
    }

    pub(super) fn opt_string(&mut self, what: &'static str) -> Result<Option<String>, FormatError> {
        Ok(if self.flag(what)? { Some(self.string(what)?) } else { None })
    }

    pub(super) fn packet_id(&mut self) -> Result<u16, FormatError> {
        let at = self.at;
        match u16::from_be_bytes(self.array("packet id")?) {
            0 => Err(FormatError::Malformed { what: "packet id", offset: at }),
            id => Ok(id),
        }
    }

    pub(super) fn string(&mut self, what: &'static str) -> Result<String, FormatError> {
        let at = self.at;
        let len = self.count(what, 1)?;
        let bytes = self.take(len, what)?;
        let text =
            std::str::from_utf8(bytes).map_err(|_| FormatError::Malformed { what, offset: at })?;
        Ok(text.to_owned())
    }
}

#[cfg(test)]
pub(super) mod tests;
