//! PUBACK, PUBREC, PUBREL and PUBCOMP: one shape, four packet types.
//!
//! ```text
//! packet identifier | [v5: reason code | [properties]]
//! ```
//! In 5.0 the reason code may be left out when it is Success and there are no properties, and
//! the property length when there are no properties; the encoder always leaves out what it can.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::packet::fields::{ReasonRule, read_packet_id, write_tail};
use crate::properties::{Context, Properties};
use crate::reader::Reader;
use crate::reason::{self, ReasonCode};
use crate::types::{PacketId, ProtocolVersion};

/// The body of PUBACK, PUBREC, PUBREL and PUBCOMP ([`Packet`](crate::Packet) says which).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The packet identifier of the PUBLISH (or PUBREL / PUBREC) acknowledged.
    pub packet_id: PacketId,
    /// v5 reason code; always Success in 3.x.
    pub reason: ReasonCode,
    /// v5 properties (Reason String, User Properties).
    pub properties: Properties,
}

/// What differs between the four packet types.
fn rule(packet: PacketType) -> ReasonRule {
    let (context, allowed, section) = match packet {
        PacketType::PubRec => (Context::PubRec, reason::PUBACK, "§3.5.2.1"),
        PacketType::PubRel => (Context::PubRel, reason::PUBREL, "§3.6.2.1"),
        PacketType::PubComp => (Context::PubComp, reason::PUBREL, "§3.7.2.1"),
        _ => (Context::PubAck, reason::PUBACK, "§3.4.2.1"),
    };
    ReasonRule { packet, allowed, section, context }
}

impl Ack {
    /// A successful acknowledgement of `packet_id`.
    #[must_use]
    pub fn new(packet_id: PacketId) -> Self {
        Self { packet_id, reason: ReasonCode::Success, properties: Properties::default() }
    }

    /// An acknowledgement of `packet_id` with `reason` (only written in 5.0).
    #[must_use]
    pub fn with_reason(packet_id: PacketId, reason: ReasonCode) -> Self {
        Self { packet_id, reason, properties: Properties::default() }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        if !r.version.is_v5() || r.is_empty() {
            return Ok(Self::new(packet_id));
        }
        let (reason, properties) = rule(r.packet).read_tail(r)?;
        Ok(Self { packet_id, reason, properties })
    }

    pub(crate) fn body_len(
        &self,
        packet: PacketType,
        v: ProtocolVersion,
    ) -> Result<usize, EncodeError> {
        if !v.is_v5() {
            return Ok(2);
        }
        Ok(2 + rule(packet).tail_len(v, self.reason, &self.properties)?)
    }

    pub(crate) fn write_body(&self, v: ProtocolVersion, out: &mut BytesMut) {
        out.put_u16(self.packet_id.get());
        if v.is_v5() {
            write_tail(self.reason, &self.properties, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::{V4, V5, V31, decode_err, encode_err, id, round_trip};
    use crate::topic::MqttString;

    #[test]
    fn acks_in_3x_are_a_packet_id() {
        let ack = Ack::new(id(0x0102));
        for v in [V31, V4] {
            round_trip(&Packet::PubAck(ack.clone()), v, &[0x40, 2, 1, 2]);
            round_trip(&Packet::PubRec(ack.clone()), v, &[0x50, 2, 1, 2]);
            round_trip(&Packet::PubRel(ack.clone()), v, &[0x62, 2, 1, 2]);
            round_trip(&Packet::PubComp(ack.clone()), v, &[0x70, 2, 1, 2]);
        }
    }

    #[test]
    fn v5_acks_leave_out_what_they_can() {
        round_trip(&Packet::PubAck(Ack::new(id(1))), V5, &[0x40, 2, 0, 1]);
        round_trip(
            &Packet::PubRec(Ack::with_reason(id(1), ReasonCode::NoMatchingSubscribers)),
            V5,
            &[0x50, 3, 0, 1, 0x10],
        );
        round_trip(
            &Packet::PubComp(Ack::with_reason(id(1), ReasonCode::PacketIdentifierNotFound)),
            V5,
            &[0x70, 3, 0, 1, 0x92],
        );
        let mut ack = Ack::new(id(1));
        ack.properties.reason_string = Some(MqttString::from_static("ok"));
        round_trip(&Packet::PubRel(ack), V5, &[0x62, 9, 0, 1, 0, 5, 0x1F, 0, 2, b'o', b'k']);
    }

    #[test]
    fn v5_acks_accept_the_long_forms() {
        let mut buf = BytesMut::from(&[0x40, 4, 0, 1, 0, 0][..]);
        assert_eq!(crate::decode(&mut buf, V5, 100), Ok(Some(Packet::PubAck(Ack::new(id(1))))));
    }

    #[test]
    fn ack_violations() {
        assert_eq!(
            decode_err(&[0x40, 2, 0, 0], V4),
            "protocol error: [v3.1.1 MQTT-2.3.1-1] PUBACK: packet identifier is 0"
        );
        assert_eq!(
            decode_err(&[0x40, 3, 0, 1, 0], V4),
            "malformed packet: [v3.1.1 §2.2.3] PUBACK: 1 byte left after the last field"
        );
        assert_eq!(
            decode_err(&[0x62, 3, 0, 1, 0x10], V5),
            "protocol error: [v5.0 §3.6.2.1] PUBREL: reason code 0x10 (No matching subscribers) is not allowed here"
        );
        assert_eq!(
            decode_err(&[0x40, 1, 0], V5),
            "malformed packet: [v5.0 §2.1.4] PUBACK: remaining length ends inside the packet identifier (2 bytes needed, 1 left)"
        );
        assert_eq!(
            encode_err(&Packet::PubAck(Ack::with_reason(id(1), ReasonCode::Banned)), V5),
            "cannot encode: [v5.0 §3.4.2.1] PUBACK: reason code 0x8A (Banned) is not allowed here"
        );
    }
}
