//! Reading Mosquitto 2.0's `mosquitto.db` (format versions 5 and 6) into a [`Snapshot`], so
//! a broker that replaces Mosquitto keeps its retained messages and persistent sessions. Pure:
//! bytes and the wall-clock time in, a snapshot out; the runtime reads the file and never
//! writes it. Written from the format's public description, no code carried over.
//!
//! ```text
//! header  15-byte magic, CRC (u32, ignored), version (u32 BE: 5 or 6)
//! chunks  type (u32 BE), body length (u32 BE), body; until fewer than 8 bytes are left
//!         1 CFG  2 MSG_STORE  3 CLIENT_MSG  4 RETAIN  5 SUB  6 CLIENT  (others skipped)
//! ```
//!
//! 16/32-bit fields are big-endian; 64-bit fields (store ids, absolute times) are
//! little-endian, as every file written on x86-64 or ARM has them. Each chunk body is a fixed
//! C struct (padding included) followed by its strings and, for messages, an MQTT 5 property
//! block, which is checked by decoding it with `mqtt-codec` as PUBLISH properties.
//!
//! What changes on the way: a message keeps its absolute expiry time (one already expired at
//! `now_unix` is dropped with everything that refers to it), and so does a detached session
//! (the restore drops it once passed); a session's listener port becomes the index of the listener with that port; queued messages lose the packet ids
//! Mosquitto gave them (culex numbers them when it sends them), in-flight ones keep theirs;
//! sessions with a Session Expiry Interval of 0 (a v5 client that was connected when the file
//! was saved) are not imported, since they end with their connection. Records that cannot be
//! used (an empty or non-UTF-8 client id, a reference to an unknown message, an invalid
//! filter) are skipped and listed in [`Import::skipped`]; only damage that loses the thread of
//! the file (a cut or inconsistent chunk, an invalid message) is an [`ImportError`].

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use bytes::{Bytes, BytesMut};
use mqtt_codec::{Packet, ProtocolVersion, QoS};

use super::format::MOSQUITTO_MAGIC as MAGIC;
use super::{
    EXPIRY_NEVER, FlowState, Snapshot, StoredDelivery, StoredInFlight, StoredIncoming,
    StoredMessage, StoredSession, StoredSubscription,
};

/// The 15-byte magic, CRC and version.
const HEADER_LEN: usize = MAGIC.len() + 4 + 4;

const CHUNK_CFG: u32 = 1;
const CHUNK_MSG_STORE: u32 = 2;
const CHUNK_CLIENT_MSG: u32 = 3;
const CHUNK_RETAIN: u32 = 4;
const CHUNK_SUB: u32 = 5;
const CHUNK_CLIENT: u32 = 6;

/// `direction` of a CLIENT_MSG.
const DIRECTION_IN: u8 = 0;
const DIRECTION_OUT: u8 = 1;

/// Why bytes cannot be imported as a Mosquitto persistence file.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    /// The bytes do not start with Mosquitto's magic.
    #[error("it is not a Mosquitto persistence file (unknown header)")]
    NotMosquitto,
    /// The file ends inside the header or inside a chunk.
    #[error("the file is truncated at byte {offset} (in the {what})")]
    Truncated {
        /// The part that was cut.
        what: &'static str,
        /// Where the missing bytes should have started.
        offset: usize,
    },
    /// A format version other than 5 and 6 (2–4 are Mosquitto 1.5 and older).
    #[error(
        "unsupported Mosquitto persistence format version {found} (culex reads versions 5 and 6, \
         written by Mosquitto 1.6 and 2.x; let Mosquitto 2 load and save an older file first)"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
    },
    /// The file was written with store ids of another size than 8 bytes.
    #[error("incompatible database configuration (dbid size is {found} bytes, expected 8)")]
    DbIdSize {
        /// The size in the file.
        found: u8,
    },
    /// A field is invalid in a way that loses the thread of the file.
    #[error("invalid {what} in the chunk at byte {offset}")]
    Malformed {
        /// The field.
        what: &'static str,
        /// Offset of the chunk header in the file.
        offset: usize,
    },
}

/// A record of the file that was left out of the import (the rest was imported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// What was left out and why.
    pub what: &'static str,
    /// Offset of its chunk header in the file.
    pub offset: usize,
}

/// What [`decode`] read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Import {
    /// The state, ready for [`Broker::restore`](crate::Broker::restore).
    pub snapshot: Snapshot,
    /// Records left out, in file order.
    pub skipped: Vec<Skipped>,
}

/// Whether `bytes` start like a Mosquitto persistence file.
#[must_use]
pub fn is_mosquitto(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Decodes a Mosquitto 2.0 `mosquitto.db`. `now_unix` is the wall-clock time in seconds
/// since 1970 (expiry times in the file are absolute); `listener_ports[i]` is the port of
/// listener `i`, so a session comes back on the listener with the port it last used (the
/// first listener when none matches).
///
/// # Errors
/// [`ImportError`] when the bytes are not such a file or are damaged; never a panic.
pub fn decode(bytes: &[u8], now_unix: i64, listener_ports: &[u16]) -> Result<Import, ImportError> {
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) {
            ImportError::Truncated { what: "header", offset: bytes.len() }
        } else {
            ImportError::NotMosquitto
        });
    }
    if !is_mosquitto(bytes) {
        return Err(ImportError::NotMosquitto);
    }
    let Some(version) = bytes.get(HEADER_LEN - 4..HEADER_LEN) else {
        return Err(ImportError::Truncated { what: "header", offset: bytes.len() });
    };
    let version = u32::from_be_bytes([version[0], version[1], version[2], version[3]]);
    if version != 5 && version != 6 {
        return Err(ImportError::UnsupportedVersion { found: version });
    }
    let mut reader = Importer {
        now_unix,
        listener_ports,
        v6: version == 6,
        messages: Vec::new(),
        store: HashMap::new(),
        retained: Vec::new(),
        last_delivery: 0,
        sessions: Vec::new(),
        session_index: HashMap::new(),
        skipped: Vec::new(),
    };
    let mut at = HEADER_LEN;
    // Mosquitto stops, without a word, where fewer bytes than a chunk header are left.
    while let Some(header) = bytes.get(at..at + 8) {
        let kind = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let start = at + 8;
        let body = usize::try_from(len)
            .ok()
            .and_then(|len| bytes.get(start..start.checked_add(len)?))
            .ok_or(ImportError::Truncated { what: "chunk", offset: start })?;
        reader.chunk(kind, Chunk { bytes: body, offset: at })?;
        at = start + body.len();
    }
    Ok(reader.finish())
}

/// One chunk body and where its header starts (for errors).
#[derive(Clone, Copy)]
struct Chunk<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Chunk<'a> {
    fn malformed(self, what: &'static str) -> ImportError {
        ImportError::Malformed { what, offset: self.offset }
    }

    /// The fixed part of `size` bytes; fewer is a malformed chunk.
    fn fixed(self, size: usize, what: &'static str) -> Result<Fixed<'a>, ImportError> {
        match self.bytes.get(..size) {
            Some(bytes) => Ok(Fixed(bytes)),
            None => Err(self.malformed(what)),
        }
    }

    /// The variable part after `fixed` bytes, cut into pieces of the given lengths; the
    /// bytes after the last piece are returned as the tail.
    fn pieces<const N: usize>(
        self,
        fixed: usize,
        lens: [u16; N],
        what: &'static str,
    ) -> Result<([&'a [u8]; N], &'a [u8]), ImportError> {
        let mut rest = self.bytes.get(fixed..).unwrap_or_default();
        let mut out = [&[][..]; N];
        for (slot, len) in out.iter_mut().zip(lens) {
            let Some((piece, tail)) = rest.split_at_checked(usize::from(len)) else {
                return Err(self.malformed(what));
            };
            *slot = piece;
            rest = tail;
        }
        Ok((out, rest))
    }
}

/// A fixed part, read by offset (the caller has checked its size).
#[derive(Clone, Copy)]
struct Fixed<'a>(&'a [u8]);

impl Fixed<'_> {
    fn u8(self, at: usize) -> u8 {
        self.0.get(at).copied().unwrap_or_default()
    }

    fn u16(self, at: usize) -> u16 {
        u16::from_be_bytes([self.u8(at), self.u8(at + 1)])
    }

    fn u32(self, at: usize) -> u32 {
        u32::from_be_bytes([self.u8(at), self.u8(at + 1), self.u8(at + 2), self.u8(at + 3)])
    }

    /// A 64-bit field, little-endian (the writer's host order).
    fn u64_le(self, at: usize) -> u64 {
        let mut bytes = [0; 8];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = self.u8(at + i);
        }
        u64::from_le_bytes(bytes)
    }

    /// A signed 64-bit field (a `time_t`), little-endian.
    fn i64_le(self, at: usize) -> i64 {
        i64::from_le_bytes(self.u64_le(at).to_le_bytes())
    }
}

/// The state built while reading chunks.
struct Importer<'p> {
    now_unix: i64,
    listener_ports: &'p [u16],
    v6: bool,
    messages: Vec<StoredMessage>,
    /// Store id → our id of the message (its position in `messages` plus one).
    store: HashMap<u64, u64>,
    retained: Vec<u64>,
    /// The id of the last delivery numbered.
    last_delivery: u64,
    sessions: Vec<StoredSession>,
    session_index: HashMap<String, usize>,
    skipped: Vec<Skipped>,
}

impl Importer<'_> {
    fn chunk(&mut self, kind: u32, chunk: Chunk<'_>) -> Result<(), ImportError> {
        match kind {
            CHUNK_CFG => {
                let fixed = chunk.fixed(10, "CFG chunk")?;
                match fixed.u8(9) {
                    8 => Ok(()),
                    found => Err(ImportError::DbIdSize { found }),
                }
            }
            CHUNK_MSG_STORE => self.message(chunk),
            CHUNK_CLIENT_MSG => self.client_message(chunk),
            CHUNK_RETAIN => {
                let store_id = chunk.fixed(8, "RETAIN chunk")?.u64_le(0);
                match self.store.get(&store_id) {
                    Some(&id) => self.retained.push(id),
                    None => self.skip("retained message referring to an unknown message", chunk),
                }
                Ok(())
            }
            CHUNK_SUB => self.subscription(chunk),
            CHUNK_CLIENT => self.client(chunk),
            _ => {
                self.skip("chunk of an unknown type", chunk);
                Ok(())
            }
        }
    }

    fn skip(&mut self, what: &'static str, chunk: Chunk<'_>) {
        self.skipped.push(Skipped { what, offset: chunk.offset });
    }

    /// MSG_STORE: one message body, checked by decoding it as an MQTT 5 PUBLISH.
    fn message(&mut self, chunk: Chunk<'_>) -> Result<(), ImportError> {
        let fixed = chunk.fixed(32, "MSG_STORE chunk")?;
        let store_id = fixed.u64_le(0);
        let expiry_time = fixed.i64_le(8);
        let payload_len = fixed.u32(16);
        let lens = [fixed.u16(22), fixed.u16(24), fixed.u16(26)];
        let (qos, retain) = (fixed.u8(30), fixed.u8(31));
        let ([_source_id, _source_username, topic], rest) =
            chunk.pieces(32, lens, "MSG_STORE lengths")?;
        let Some((payload, properties)) =
            usize::try_from(payload_len).ok().and_then(|len| rest.split_at_checked(len))
        else {
            return Err(chunk.malformed("MSG_STORE payload length"));
        };
        let qos = QoS::from_u8(qos).ok_or(chunk.malformed("message QoS"))?;
        let mut message = publish(topic, qos, retain != 0, properties)
            .ok_or(chunk.malformed("message topic or properties"))?;
        message.payload = Bytes::copy_from_slice(payload);
        // Mosquitto drops these from a stored message; they belong to each delivery.
        if let Some(properties) = message.properties.get_mut() {
            properties.subscription_identifiers.clear();
        }
        // Mosquitto keeps the expiry as an absolute time, and drops what has passed.
        if expiry_time != 0 {
            let left = expiry_time.saturating_sub(self.now_unix);
            match (u32::try_from(left), u64::try_from(expiry_time)) {
                (Ok(left), Ok(at)) if left > 0 => {
                    message.expires_at_ms = Some(at.saturating_mul(1000));
                }
                _ => {
                    self.store.remove(&store_id);
                    return Ok(());
                }
            }
        }
        let id = self.messages.len() as u64 + 1;
        message.id = id;
        self.messages.push(message);
        self.store.insert(store_id, id);
        Ok(())
    }

    /// CLIENT: one persistent session (24 bytes fixed in version 6, 16 in version 5).
    fn client(&mut self, chunk: Chunk<'_>) -> Result<(), ImportError> {
        let fixed_len = if self.v6 { 24 } else { 16 };
        let fixed = chunk.fixed(fixed_len, "CLIENT chunk")?;
        let expiry_time = fixed.i64_le(0);
        let interval = fixed.u32(8);
        let (port, username_len) = if self.v6 { (fixed.u16(16), fixed.u16(18)) } else { (0, 0) };
        let ([id, username], _) =
            chunk.pieces(fixed_len, [fixed.u16(14), username_len], "CLIENT lengths")?;
        // Mosquitto 2.0.0-2.0.15 can write another client's username followed by heap bytes
        // here; it reads the field as a C string, and so do we.
        let username = username.split(|&byte| byte == 0).next().unwrap_or_default();
        let username = match std::str::from_utf8(username) {
            Ok("") => None,
            Ok(username) => Some(username.to_owned()),
            Err(_) => {
                self.skip("username that is not UTF-8", chunk);
                None
            }
        };
        let listener = self.listener_ports.iter().position(|&p| p == port && port != 0);
        let Some(session) = self.session(id, chunk) else { return Ok(()) };
        session.expiry_secs = interval;
        if interval != EXPIRY_NEVER {
            session.protocol = ProtocolVersion::V5;
            if interval != 0 && expiry_time != 0 {
                let at = u64::try_from(expiry_time).unwrap_or(0);
                session.expires_at_ms = Some(at.saturating_mul(1000));
            }
        }
        if username.is_some() {
            session.username = username;
        }
        session.listener = listener.and_then(|i| u32::try_from(i).ok()).unwrap_or_default();
        Ok(())
    }

    /// CLIENT_MSG: one message in one session's lists.
    fn client_message(&mut self, chunk: Chunk<'_>) -> Result<(), ImportError> {
        let fixed = chunk.fixed(16, "CLIENT_MSG chunk")?;
        let store_id = fixed.u64_le(0);
        let mid = fixed.u16(8);
        let (qos, state, retain_dup, direction) =
            (fixed.u8(12), fixed.u8(13), fixed.u8(14), fixed.u8(15));
        let ([id], properties) = chunk.pieces(16, [fixed.u16(10)], "CLIENT_MSG lengths")?;
        let sub_ids = if properties.is_empty() {
            Vec::new()
        } else {
            publish(b"t", QoS::AtMostOnce, false, properties)
                .ok_or(chunk.malformed("CLIENT_MSG properties"))?
                .properties
                .subscription_identifiers
                .clone()
        };
        let Some(qos) = QoS::from_u8(qos) else {
            self.skip("client message with an invalid QoS", chunk);
            return Ok(());
        };
        let Some(&message) = self.store.get(&store_id) else {
            // An unknown id is a message Mosquitto dropped as expired, or damage.
            self.skip("client message referring to an unknown or expired message", chunk);
            return Ok(());
        };
        if direction != DIRECTION_IN && direction != DIRECTION_OUT {
            self.skip("client message with an unknown direction", chunk);
            return Ok(());
        }
        // Numbered in file order (ids need not be contiguous).
        self.last_delivery += 1;
        let delivery_id = self.last_delivery;
        let Some(session) = self.session(id, chunk) else { return Ok(()) };
        if !sub_ids.is_empty() {
            session.protocol = ProtocolVersion::V5;
        }
        if direction == DIRECTION_IN {
            // 7: PUBREC sent, waiting for PUBREL; 10: PUBREC to send; 8: PUBREL received
            // (the message was routed), PUBCOMP to send.
            if mid != 0 && !session.incoming.iter().any(|i| i.packet_id == mid) {
                let message = (state != 8).then_some(message);
                session.incoming.push(StoredIncoming { packet_id: mid, message });
            }
            return Ok(());
        }
        let retain = retain_dup >> 4 != 0;
        let delivery = StoredDelivery { id: delivery_id, message, qos, retain, sub_ids };
        let state = match state {
            3 => Some(FlowState::AwaitingPubAck),
            5 => Some(FlowState::AwaitingPubRec),
            6 | 9 => Some(FlowState::AwaitingPubComp),
            // 11 queued, and 1/2/4 not sent yet: the queue.
            _ => None,
        };
        match state {
            Some(state) if mid != 0 && !session.inflight.iter().any(|f| f.packet_id == mid) => {
                session.inflight.push(StoredInFlight { packet_id: mid, delivery, state });
            }
            _ => session.queued.push(delivery),
        }
        Ok(())
    }

    /// SUB: one subscription of one session.
    fn subscription(&mut self, chunk: Chunk<'_>) -> Result<(), ImportError> {
        let fixed = chunk.fixed(12, "SUB chunk")?;
        let identifier = fixed.u32(0);
        let (qos, options) = (fixed.u8(8), fixed.u8(9));
        let ([id, filter], _) = chunk.pieces(12, [fixed.u16(4), fixed.u16(6)], "SUB lengths")?;
        let (Some(qos), Ok(filter)) = (QoS::from_u8(qos), std::str::from_utf8(filter)) else {
            self.skip("subscription with an invalid QoS or filter", chunk);
            return Ok(());
        };
        if mqtt_codec::TopicFilter::new(filter).is_err() {
            self.skip("subscription with an invalid filter", chunk);
            return Ok(());
        }
        let Some(session) = self.session(id, chunk) else { return Ok(()) };
        let subscription = StoredSubscription {
            filter: filter.to_owned(),
            qos,
            no_local: options & 0x04 != 0,
            retain_as_published: options & 0x08 != 0,
            id: (identifier != 0).then_some(identifier),
        };
        if subscription.no_local || subscription.retain_as_published || subscription.id.is_some() {
            session.protocol = ProtocolVersion::V5;
        }
        session.subscriptions.retain(|sub| sub.filter != subscription.filter);
        session.subscriptions.push(subscription);
        Ok(())
    }

    /// The session of client id `id`, created (never-expiring, as for a v3.1.1 client)
    /// when this is its first record; `None` (and a note) when the id is empty or not UTF-8.
    fn session(&mut self, id: &[u8], chunk: Chunk<'_>) -> Option<&mut StoredSession> {
        let Ok(id) = std::str::from_utf8(id) else {
            self.skip("record with a client id that is not UTF-8", chunk);
            return None;
        };
        if id.is_empty() {
            self.skip("record with an empty client id", chunk);
            return None;
        }
        let index = match self.session_index.entry(id.to_owned()) {
            Entry::Occupied(entry) => *entry.get(),
            Entry::Vacant(entry) => {
                self.sessions.push(StoredSession::empty(id));
                *entry.insert(self.sessions.len() - 1)
            }
        };
        self.sessions.get_mut(index)
    }

    fn finish(self) -> Import {
        let mut sessions: Vec<StoredSession> = self
            .sessions
            .into_iter()
            // An interval of 0 ends the session with its connection: nothing to keep.
            .filter(|session| session.expiry_secs != 0)
            .map(|mut session| {
                session.subscriptions.sort_by(|a, b| a.filter.cmp(&b.filter));
                session
            })
            .collect();
        sessions.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        // One per topic, in topic order, as `Snapshot` has them.
        let messages = self.messages;
        let topic = |id: &u64| {
            usize::try_from(id.wrapping_sub(1)).ok().and_then(|index| messages.get(index))
        };
        let mut retained = self.retained;
        retained.sort_by(|a, b| topic(a).map(|m| &m.topic).cmp(&topic(b).map(|m| &m.topic)));
        // A later RETAIN for the same topic replaces the earlier one, as in Mosquitto's tree.
        retained.dedup_by(|later, kept| {
            let same = topic(later).map(|m| &m.topic) == topic(kept).map(|m| &m.topic);
            if same {
                *kept = *later;
            }
            same
        });
        let snapshot = Snapshot { messages, retained, sessions };
        Import { snapshot, skipped: self.skipped }
    }
}

/// Decodes a topic and an MQTT 5 property block (as stored: its own length first, or
/// nothing) as the PUBLISH the codec would accept, so the properties get the codec's checks.
/// The payload is left empty; `None` when the codec refuses it or the block has extra bytes.
fn publish(topic: &[u8], qos: QoS, retain: bool, properties: &[u8]) -> Option<StoredMessage> {
    let topic_len = u16::try_from(topic.len()).ok()?;
    let packet_id: &[u8] = if qos == QoS::AtMostOnce { &[] } else { &[0, 1] };
    let properties: &[u8] = if properties.is_empty() { &[0] } else { properties };
    let remaining = 2 + topic.len() + packet_id.len() + properties.len();
    let mut packet = BytesMut::with_capacity(remaining + 5);
    packet.extend_from_slice(&[0x30 | (qos as u8) << 1 | u8::from(retain)]);
    // The remaining length as a Variable Byte Integer.
    let mut left = remaining;
    loop {
        let byte = (left % 128) as u8;
        left /= 128;
        packet.extend_from_slice(&[if left > 0 { byte | 0x80 } else { byte }]);
        if left == 0 {
            break;
        }
    }
    packet.extend_from_slice(&topic_len.to_be_bytes());
    packet.extend_from_slice(topic);
    packet.extend_from_slice(packet_id);
    packet.extend_from_slice(properties);
    let Ok(Some(Packet::Publish(publish))) =
        mqtt_codec::decode(&mut packet, ProtocolVersion::V5, u32::MAX)
    else {
        return None;
    };
    if !packet.is_empty() || !publish.payload.is_empty() || publish.topic.as_str().is_empty() {
        return None;
    }
    let mut properties = publish.properties;
    // A topic alias means nothing outside its connection.
    if let Some(properties) = properties.get_mut() {
        properties.topic_alias = None;
    }
    Some(StoredMessage {
        id: 0,
        topic: publish.topic,
        payload: Bytes::new(),
        qos: publish.qos,
        retain: publish.retain,
        properties,
        // Mosquitto names the source's listener by port, which need not mean the same here.
        source: None,
        expires_at_ms: None,
    })
}

#[cfg(test)]
mod tests;
