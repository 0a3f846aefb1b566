//! The `Packet` enum (one variant per control packet) and the `decode` /
//! `encode` entry points that dispatch to one module per packet.

mod ack;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod fields;
mod ping;
mod publish;
mod subscribe;
mod unsubscribe;

use bytes::{Buf, BytesMut};

pub use self::ack::Ack;
pub use self::auth::Auth;
pub use self::connack::ConnAck;
pub use self::connect::{Connect, Will};
pub use self::disconnect::Disconnect;
pub use self::publish::Publish;
pub use self::subscribe::{RetainHandling, SubAck, Subscribe, SubscriptionOptions};
pub use self::unsubscribe::{UnsubAck, Unsubscribe};
use crate::error::{DecodeError, EncodeError};
use crate::fixed_header;
use crate::reader::{Reader, VARINT_MAX};
pub(crate) use crate::types::PacketType;
use crate::types::ProtocolVersion;
use crate::writer::varint_len;

/// The largest packet a four-byte remaining length can describe: 268,435,455 + 5 header bytes.
pub const MAX_PACKET_SIZE: u32 = VARINT_MAX + 5;

/// One MQTT control packet, the same model for 3.1, 3.1.1 and 5.0. Fields that a version does
/// not have (properties, most reason codes) are empty / `Success` when decoded from 3.x and are
/// not written when encoding for 3.x.
///
/// CONNECT (two sets of properties, one for the will) is boxed: it is decoded once per
/// connection, while every other packet, PUBLISH above all, is moved by value several times on
/// its way through a broker, so the enum is only as large as a PUBLISH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT.
    Connect(Box<Connect>),
    /// CONNACK.
    ConnAck(ConnAck),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK.
    PubAck(Ack),
    /// PUBREC.
    PubRec(Ack),
    /// PUBREL.
    PubRel(Ack),
    /// PUBCOMP.
    PubComp(Ack),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// AUTH (5.0 only).
    Auth(Auth),
}

impl Packet {
    /// The packet's type.
    #[must_use]
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::ConnAck(_) => PacketType::ConnAck,
            Self::Publish(_) => PacketType::Publish,
            Self::PubAck(_) => PacketType::PubAck,
            Self::PubRec(_) => PacketType::PubRec,
            Self::PubRel(_) => PacketType::PubRel,
            Self::PubComp(_) => PacketType::PubComp,
            Self::Subscribe(_) => PacketType::Subscribe,
            Self::SubAck(_) => PacketType::SubAck,
            Self::Unsubscribe(_) => PacketType::Unsubscribe,
            Self::UnsubAck(_) => PacketType::UnsubAck,
            Self::PingReq => PacketType::PingReq,
            Self::PingResp => PacketType::PingResp,
            Self::Disconnect(_) => PacketType::Disconnect,
            Self::Auth(_) => PacketType::Auth,
        }
    }

    /// Bytes after the fixed header, checking everything `encode` refuses.
    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        match self {
            Self::Connect(p) => p.body_len(),
            Self::ConnAck(p) => p.body_len(version),
            Self::Publish(p) => p.body_len(version),
            Self::PubAck(p) | Self::PubRec(p) | Self::PubRel(p) | Self::PubComp(p) => {
                p.body_len(self.packet_type(), version)
            }
            Self::Subscribe(p) => p.body_len(version),
            Self::SubAck(p) => p.body_len(version),
            Self::Unsubscribe(p) => p.body_len(version),
            Self::UnsubAck(p) => p.body_len(version),
            Self::PingReq | Self::PingResp => Ok(0),
            Self::Disconnect(p) => p.body_len(version),
            Self::Auth(p) => p.body_len(version),
        }
    }

    /// Writes the bytes after the fixed header; `body_len` succeeded before.
    fn write_body(&self, version: ProtocolVersion, sender: Sender, out: &mut BytesMut) {
        match self {
            Self::Connect(p) => p.write_body(out),
            Self::ConnAck(p) => p.write_body(version, out),
            Self::Publish(p) => p.write_body(version, sender, out),
            Self::PubAck(p) | Self::PubRec(p) | Self::PubRel(p) | Self::PubComp(p) => {
                p.write_body(version, out);
            }
            Self::Subscribe(p) => p.write_body(version, out),
            Self::SubAck(p) => p.write_body(version, out),
            Self::Unsubscribe(p) => p.write_body(version, out),
            Self::UnsubAck(p) => p.write_body(version, out),
            Self::PingReq | Self::PingResp => {}
            Self::Disconnect(p) => p.write_body(version, out),
            Self::Auth(p) => p.write_body(version, out),
        }
    }

    /// The low nibble of byte 1.
    fn flags(&self) -> u8 {
        match self {
            Self::Publish(p) => p.flags(),
            _ => fixed_header::fixed_flags(self.packet_type()),
        }
    }
}

impl From<Connect> for Packet {
    fn from(p: Connect) -> Self {
        Self::Connect(Box::new(p))
    }
}
/// `impl From<Body> for Packet` for each packet whose body is its variant's only field.
macro_rules! packet_from_body {
    ($($variant:ident),+ $(,)?) => {$(
        impl From<$variant> for Packet {
            fn from(p: $variant) -> Self {
                Self::$variant(p)
            }
        }
    )+};
}

packet_from_body!(ConnAck, Publish, Subscribe, SubAck, Unsubscribe, UnsubAck, Disconnect, Auth);

/// Decodes one packet from the front of `buf`, removing its bytes.
///
/// `Ok(None)` means a whole packet is not buffered yet; `buf` is then untouched except that
/// room toward the announced packet may be reserved: never more than the packet, and never
/// more than twice what has arrived of it (or 64 KiB), so a header announcing
/// 256 MiB costs nothing until the bytes come.
/// `version` is the connection's negotiated version; a CONNECT is decoded by the version it
/// carries itself. The size limit is checked against the fixed header before the body is
/// buffered. PUBLISH payloads, topics and strings share `buf`'s memory (no copy).
///
/// # Errors
/// [`DecodeError`] naming the broken rule; the connection should be closed (with
/// [`DecodeError::reason_code`] in a v5 DISCONNECT or CONNACK).
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    let Some(header) = fixed_header::check(buf, version)? else { return Ok(None) };
    let total = header.total_len();
    if total > max_packet_size as usize {
        return Err(DecodeError::PacketTooLarge { size: total, max: max_packet_size });
    }
    if buf.len() < total {
        reserve_toward(buf, total);
        return Ok(None);
    }
    // Advancing (rather than splitting off) the header costs no reference-count traffic.
    let mut body = buf.split_to(total).freeze();
    body.advance(header.header_len);
    let mut r = Reader::new(body, version, header.packet_type);
    let packet = match header.packet_type {
        // The hot path: the payload takes every byte left, so there is nothing to `finish`,
        // and returning at once spares a copy of the (large) packet.
        PacketType::Publish => {
            return Ok(Some(Packet::Publish(Publish::decode(&mut r, header.flags)?)));
        }
        PacketType::Connect => Packet::Connect(Box::new(Connect::decode(&mut r)?)),
        PacketType::ConnAck => Packet::ConnAck(ConnAck::decode(&mut r)?),
        PacketType::PubAck => Packet::PubAck(Ack::decode(&mut r)?),
        PacketType::PubRec => Packet::PubRec(Ack::decode(&mut r)?),
        PacketType::PubRel => Packet::PubRel(Ack::decode(&mut r)?),
        PacketType::PubComp => Packet::PubComp(Ack::decode(&mut r)?),
        PacketType::Subscribe => Packet::Subscribe(Subscribe::decode(&mut r)?),
        PacketType::SubAck => Packet::SubAck(SubAck::decode(&mut r)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(&mut r)?),
        PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(&mut r)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => Packet::Disconnect(Disconnect::decode(&mut r)?),
        PacketType::Auth => Packet::Auth(Auth::decode(&mut r)?),
    };
    r.finish()?;
    Ok(Some(packet))
}

/// The room [`decode`] reserves at once for an incomplete packet, whatever little has arrived:
/// packets up to this size are read into one buffer that never moves.
const RESERVE_AHEAD: usize = 64 * 1024;

/// Makes room toward a `total`-byte packet in `buf`: up to twice what `buf` holds (at least
/// [`RESERVE_AHEAD`]), never past `total`. A peer can never make us hold more than the limit
/// the packet was checked against, nor reserve memory it has not sent (a fixed header
/// announcing 268,435,455 bytes reserves 64 KiB); the copies as a large packet arrives add up
/// to less than its size.
fn reserve_toward(buf: &mut BytesMut, total: usize) {
    let wanted = total.min(buf.len().saturating_mul(2).max(RESERVE_AHEAD));
    if buf.capacity() >= wanted {
        return;
    }
    let mut bigger = BytesMut::with_capacity(wanted);
    bigger.extend_from_slice(buf);
    *buf = bigger;
}

/// Appends the encoding of `packet` for `version` to `out`.
///
/// A CONNECT is encoded for the version in [`Connect::protocol`]. Properties and v5 reason
/// codes are not written for 3.1 / 3.1.1 (a v3 CONNACK or SUBACK maps the reason code, see
/// [`ReasonCode::to_v3_connack`](crate::ReasonCode::to_v3_connack)).
///
/// # Errors
/// [`EncodeError`] rather than a corrupt packet: binary field over 65535 bytes, packet over
/// `max_packet_size`, property illegal for the packet, AUTH before 5.0, ... Nothing is
/// written then.
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    max_packet_size: u32,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    encode_as(Sender::Client, packet, version, max_packet_size, out)
}

/// Who sends a packet. Mosquitto's broker and its clients write a PUBLISH's v5 properties in
/// different orders (see `properties/order.rs`); nothing else depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// A client: properties in identifier order, as Mosquitto's clients send them.
    Client,
    /// A broker: a PUBLISH's Subscription Identifiers first and Message Expiry Interval last.
    Server,
}

/// [`encode`] for a packet that `sender` sends.
///
/// # Errors
/// As [`encode`].
pub fn encode_as(
    sender: Sender,
    packet: &Packet,
    version: ProtocolVersion,
    max_packet_size: u32,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let body = packet.body_len(version)?;
    let total = total_len(body)?;
    if total > max_packet_size as usize {
        return Err(EncodeError::PacketTooLarge { size: total, max: max_packet_size });
    }
    out.reserve(total);
    let start = out.len();
    // `total_len` proved that `body` fits in a variable byte integer.
    fixed_header::write(
        out,
        packet.packet_type(),
        packet.flags(),
        u32::try_from(body).unwrap_or(VARINT_MAX),
    );
    packet.write_body(version, sender, out);
    debug_assert_eq!(out.len() - start, total, "{packet:?}");
    Ok(())
}

/// Encodes `publish`, as a broker sends it, without its payload: the fixed header (whose
/// remaining length counts the payload) and the variable header. These bytes followed by
/// `publish.payload` are exactly what [`encode_as`] writes for [`Sender::Server`], so one payload can go to many clients (or into a vectored write) without
/// being copied. Returns the number of bytes written.
///
/// # Errors
/// As [`encode`]: [`EncodeError`] if the packet breaks a rule of `version` or is larger than
/// `max_packet_size`; nothing is written then.
pub fn encode_publish_header(
    publish: &Publish,
    version: ProtocolVersion,
    max_packet_size: u32,
    out: &mut BytesMut,
) -> Result<usize, EncodeError> {
    let body = publish.body_len(version)?;
    let total = total_len(body)?;
    if total > max_packet_size as usize {
        return Err(EncodeError::PacketTooLarge { size: total, max: max_packet_size });
    }
    let header = total - publish.payload.len();
    out.reserve(header);
    let start = out.len();
    // `total_len` proved that `body` fits in a variable byte integer.
    fixed_header::write(
        out,
        PacketType::Publish,
        publish.flags(),
        u32::try_from(body).unwrap_or(VARINT_MAX),
    );
    publish.write_variable_header(version, Sender::Server, out);
    debug_assert_eq!(out.len() - start, header, "{publish:?}");
    Ok(header)
}

/// Bytes that [`encode`] would write for `packet`, fixed header included.
///
/// # Errors
/// The same [`EncodeError`]s as [`encode`], except the size limit, which is the caller's.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> Result<usize, EncodeError> {
    total_len(packet.body_len(version)?)
}

/// The packet size for a body of `body` bytes, if a remaining length can describe it.
fn total_len(body: usize) -> Result<usize, EncodeError> {
    match u32::try_from(body) {
        Ok(len) if len <= VARINT_MAX => Ok(1 + varint_len(len) + body),
        _ => {
            Err(EncodeError::PacketTooLarge { size: body.saturating_add(5), max: MAX_PACKET_SIZE })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_stay_small_enough_to_move_by_value() {
        // A broker moves every PUBLISH by value several times on its way through (issue #13):
        // properties take one pointer, so PUBLISH is its topic, payload, id and flags, and
        // the enum is no larger than a PUBLISH.
        assert_eq!(size_of::<crate::Properties>(), size_of::<usize>());
        assert!(size_of::<Publish>() <= 80, "PUBLISH is {} bytes", size_of::<Publish>());
        assert_eq!(size_of::<Packet>(), size_of::<Publish>());
    }

    #[test]
    fn packet_types_display_as_the_spec_spells_them() {
        assert_eq!(PacketType::Connect.to_string(), "CONNECT");
        assert_eq!(PacketType::from_u8(15), Some(PacketType::Auth));
        assert_eq!(PacketType::from_u8(0), None);
        assert_eq!(Packet::PingReq.packet_type(), PacketType::PingReq);
    }

    #[test]
    fn incomplete_packets_wait_and_reserve_at_most_the_packet() {
        let mut buf = BytesMut::from(&[0x30, 0x0A, 0x00][..]);
        assert_eq!(decode(&mut buf, ProtocolVersion::V3_1_1, 1024), Ok(None));
        assert_eq!(&buf[..], [0x30, 0x0A, 0x00]);
        assert!(buf.capacity() >= 12);
        let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0x03][..]);
        assert_eq!(
            decode(&mut buf, ProtocolVersion::V3_1_1, 1024),
            Err(DecodeError::PacketTooLarge { size: 65_539, max: 1024 })
        );
        assert!(buf.capacity() < 1024);
        // The largest remaining length: room grows with what arrives, not with the header.
        let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0, 1, b't'][..]);
        assert_eq!(decode(&mut buf, ProtocolVersion::V3_1_1, MAX_PACKET_SIZE), Ok(None));
        assert_eq!(buf.capacity(), RESERVE_AHEAD);
        buf.resize(RESERVE_AHEAD, b'x');
        assert_eq!(decode(&mut buf, ProtocolVersion::V3_1_1, MAX_PACKET_SIZE), Ok(None));
        assert_eq!((buf.len(), buf.capacity()), (RESERVE_AHEAD, 2 * RESERVE_AHEAD));
    }

    #[test]
    fn encode_refuses_packets_over_the_limit() {
        let mut out = BytesMut::new();
        assert_eq!(
            encode(&Packet::PingReq, ProtocolVersion::V5, 1, &mut out),
            Err(EncodeError::PacketTooLarge { size: 2, max: 1 })
        );
        assert!(out.is_empty());
        encode(&Packet::PingReq, ProtocolVersion::V5, 2, &mut out).unwrap();
        assert_eq!(&out[..], [0xC0, 0x00]);
        assert_eq!(encoded_len(&Packet::PingResp, ProtocolVersion::V3_1), Ok(2));
    }
}

/// Helpers for the byte tests beside each packet.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::types::PacketId;

    /// MQTT 3.1.
    pub(crate) const V31: ProtocolVersion = ProtocolVersion::V3_1;
    /// MQTT 3.1.1.
    pub(crate) const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
    /// MQTT 5.0.
    pub(crate) const V5: ProtocolVersion = ProtocolVersion::V5;

    /// The packet identifier `n`, which the test knows is not 0.
    pub(crate) fn id(n: u16) -> PacketId {
        PacketId::new(n).expect("non-zero")
    }

    /// Asserts that `packet` encodes to exactly `bytes` for `version` and decodes back.
    #[track_caller]
    pub(crate) fn round_trip(packet: &Packet, version: ProtocolVersion, bytes: &[u8]) {
        let mut out = BytesMut::new();
        encode(packet, version, MAX_PACKET_SIZE, &mut out).expect("encodes");
        assert_eq!(&out[..], bytes, "encoding of {packet:?} for {version}");
        assert_eq!(encoded_len(packet, version), Ok(bytes.len()));
        let mut buf = BytesMut::from(bytes);
        assert_eq!(decode(&mut buf, version, MAX_PACKET_SIZE), Ok(Some(packet.clone())));
        assert!(buf.is_empty());
    }

    /// The decode error for `bytes`, as text.
    #[track_caller]
    pub(crate) fn decode_err(bytes: &[u8], version: ProtocolVersion) -> String {
        let mut buf = BytesMut::from(bytes);
        match decode(&mut buf, version, MAX_PACKET_SIZE) {
            Err(err) => err.to_string(),
            Ok(packet) => panic!("{bytes:02X?} decoded to {packet:?}"),
        }
    }

    /// Asserts that each of `cases` (bytes, version, expected error text) fails to decode
    /// with exactly that error.
    #[track_caller]
    pub(crate) fn assert_decode_errors(cases: &[(&[u8], ProtocolVersion, &str)]) {
        for &(bytes, version, expected) in cases {
            assert_eq!(decode_err(bytes, version), expected, "{bytes:02X?}");
        }
    }

    /// The encode error for `packet`, as text.
    #[track_caller]
    pub(crate) fn encode_err(packet: &Packet, version: ProtocolVersion) -> String {
        let mut out = BytesMut::new();
        match encode(packet, version, MAX_PACKET_SIZE, &mut out) {
            Err(err) => err.to_string(),
            Ok(()) => panic!("{packet:?} encoded to {out:02X?}"),
        }
    }
}
