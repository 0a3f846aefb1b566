//! UNSUBSCRIBE (topic filters) and UNSUBACK (5.0: one reason code per filter).
//!
//! ```text
//! UNSUBSCRIBE: packet identifier | [v5: properties] | { topic filter }+
//! UNSUBACK:    packet identifier | [v5: properties | { reason code }*]
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::subscribe::read_filter;
use crate::packet::{PacketType, check_reason, read_packet_id, read_reason};
use crate::properties::{Context, Properties};
use crate::reader::Reader;
use crate::reason::{self, ReasonCode};
use crate::topic::TopicFilter;
use crate::types::{PacketId, ProtocolVersion};
use crate::writer::{put_string, string_len};

/// UNSUBSCRIBE: the client drops some subscriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Identifier echoed by UNSUBACK.
    pub packet_id: PacketId,
    /// At least one filter, as subscribed.
    pub filters: Vec<TopicFilter>,
    /// v5 properties (User Properties).
    pub properties: Properties,
}

/// UNSUBACK: the answer to UNSUBSCRIBE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubAck {
    /// The UNSUBSCRIBE's identifier.
    pub packet_id: PacketId,
    /// v5: one code per filter, in order; always empty in 3.x.
    pub reasons: Vec<ReasonCode>,
    /// v5 properties (Reason String, User Properties).
    pub properties: Properties,
}

impl Unsubscribe {
    /// An UNSUBSCRIBE from `filters` without properties.
    #[must_use]
    pub fn new(packet_id: PacketId, filters: Vec<TopicFilter>) -> Self {
        Self { packet_id, filters, properties: Properties::default() }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let v = r.version;
        let packet_id = read_packet_id(r)?;
        let properties = if v.is_v5() {
            Properties::decode(r, Context::Unsubscribe)?
        } else {
            Properties::default()
        };
        let mut filters = Vec::new();
        while !r.is_empty() {
            filters.push(read_filter(r)?);
        }
        if filters.is_empty() {
            return Err(DecodeError::protocol(
                v,
                "MQTT-3.10.3-2",
                "MQTT-3.10.3-2",
                "UNSUBSCRIBE with no topic filters",
            ));
        }
        Ok(Self { packet_id, filters, properties })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::invalid(
                v,
                "MQTT-3.10.3-2",
                "MQTT-3.10.3-2",
                "UNSUBSCRIBE with no topic filters",
            ));
        }
        let mut len = 2 + self.filters.iter().map(|f| string_len(f.as_mqtt_str())).sum::<usize>();
        if v.is_v5() {
            len += self.properties.encoded_len_prefixed(Context::Unsubscribe)?;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, v: ProtocolVersion, out: &mut BytesMut) {
        out.put_u16(self.packet_id.get());
        if v.is_v5() {
            self.properties.write(out);
        }
        for filter in &self.filters {
            put_string(out, filter.as_mqtt_str());
        }
    }
}

impl UnsubAck {
    /// An UNSUBACK with `reasons` (ignored in 3.x) and no properties.
    #[must_use]
    pub fn new(packet_id: PacketId, reasons: Vec<ReasonCode>) -> Self {
        Self { packet_id, reasons, properties: Properties::default() }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        if !r.version.is_v5() {
            return Ok(Self::new(packet_id, Vec::new()));
        }
        let properties = Properties::decode(r, Context::UnsubAck)?;
        let mut reasons = Vec::with_capacity(r.remaining());
        while !r.is_empty() {
            reasons.push(read_reason(r, reason::UNSUBACK, "§3.11.3")?);
        }
        Ok(Self { packet_id, reasons, properties })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if !v.is_v5() {
            return Ok(2);
        }
        for &reason in &self.reasons {
            check_reason(v, PacketType::UnsubAck, reason, reason::UNSUBACK, "§3.11.3")?;
        }
        Ok(2 + self.properties.encoded_len_prefixed(Context::UnsubAck)? + self.reasons.len())
    }

    pub(crate) fn write_body(&self, v: ProtocolVersion, out: &mut BytesMut) {
        out.put_u16(self.packet_id.get());
        if v.is_v5() {
            self.properties.write(out);
            out.extend(self.reasons.iter().map(|r| r.as_u8()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::{decode_err, round_trip};

    const V31: ProtocolVersion = ProtocolVersion::V3_1;
    const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
    const V5: ProtocolVersion = ProtocolVersion::V5;

    fn id(n: u16) -> PacketId {
        PacketId::new(n).expect("non-zero")
    }

    #[test]
    fn unsubscribe_in_every_version() {
        let unsub = Unsubscribe::new(
            id(2),
            vec![TopicFilter::from_static("a/+"), TopicFilter::from_static("#")],
        );
        let v3 = [0xA2, 10, 0, 2, 0, 3, b'a', b'/', b'+', 0, 1, b'#'];
        round_trip(&Packet::Unsubscribe(unsub.clone()), V31, &v3);
        round_trip(&Packet::Unsubscribe(unsub.clone()), V4, &v3);
        round_trip(
            &Packet::Unsubscribe(unsub),
            V5,
            &[0xA2, 11, 0, 2, 0, 0, 3, b'a', b'/', b'+', 0, 1, b'#'],
        );
    }

    #[test]
    fn unsuback_in_every_version() {
        let ack = UnsubAck::new(id(2), vec![]);
        round_trip(&Packet::UnsubAck(ack.clone()), V31, &[0xB0, 2, 0, 2]);
        round_trip(&Packet::UnsubAck(ack), V4, &[0xB0, 2, 0, 2]);
        let ack =
            UnsubAck::new(id(2), vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]);
        round_trip(&Packet::UnsubAck(ack), V5, &[0xB0, 5, 0, 2, 0, 0, 0x11]);
    }

    #[test]
    fn unsubscribe_violations() {
        assert_eq!(
            decode_err(&[0xA2, 2, 0, 1], V4),
            "protocol error: [v3.1.1 MQTT-3.10.3-2] UNSUBSCRIBE with no topic filters"
        );
        assert_eq!(
            decode_err(&[0xA2, 5, 0, 1, 0, 1, 0], V4),
            "malformed packet: [v3.1.1 MQTT-1.5.3-2] UNSUBSCRIBE: topic filter: string contains the null character U+0000"
        );
        assert_eq!(
            decode_err(&[0xA2, 6, 0, 1, 0, 0, 2, b'a'], V5),
            "malformed packet: [v5.0 §2.1.4] UNSUBSCRIBE: remaining length ends inside the topic filter (2 bytes needed, 1 left)"
        );
        assert_eq!(
            decode_err(&[0xB0, 4, 0, 1, 0, 0x87], V4),
            "malformed packet: [v3.1.1 §2.2.3] UNSUBACK: 2 bytes left after the last field"
        );
        assert_eq!(
            decode_err(&[0xB0, 4, 0, 1, 0, 0x01], V5),
            "protocol error: [v5.0 §3.11.3] UNSUBACK: reason code 0x01 (Granted QoS 1) is not allowed here"
        );
    }
}
