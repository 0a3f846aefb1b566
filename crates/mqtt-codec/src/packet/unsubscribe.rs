//! UNSUBSCRIBE (topic filters) and UNSUBACK (5.0: one reason code per filter).
//!
//! ```text
//! UNSUBSCRIBE: packet identifier | [v5: properties] | { topic filter }+
//! UNSUBACK:    packet identifier | [v5: properties | { reason code }*]
//! ```

use bytes::BytesMut;

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::packet::fields::{
    ReasonRule, SpecRule, id_and_properties_len, read_id_and_properties, write_id_and_properties,
};
use crate::packet::subscribe::{read_entries, read_filter};
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

/// An UNSUBSCRIBE carries at least one topic filter.
const NO_FILTERS: SpecRule = SpecRule {
    rule3: "MQTT-3.10.3-2",
    rule5: "MQTT-3.10.3-2",
    detail: "UNSUBSCRIBE with no topic filters",
};

impl Unsubscribe {
    /// An UNSUBSCRIBE from `filters` without properties.
    #[must_use]
    pub fn new(packet_id: PacketId, filters: Vec<TopicFilter>) -> Self {
        Self { packet_id, filters, properties: Properties::default() }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let (packet_id, properties) = read_id_and_properties(r, Context::Unsubscribe)?;
        let filters = read_entries(r, &NO_FILTERS, read_filter)?;
        Ok(Self { packet_id, filters, properties })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::Invalid(NO_FILTERS.violation(v)));
        }
        let head = id_and_properties_len(v, &self.properties, Context::Unsubscribe)?;
        Ok(head + self.filters.iter().map(|f| string_len(f.as_mqtt_str())).sum::<usize>())
    }

    pub(crate) fn write_body(&self, v: ProtocolVersion, out: &mut BytesMut) {
        write_id_and_properties(v, self.packet_id, &self.properties, out);
        for filter in &self.filters {
            put_string(out, filter.as_mqtt_str());
        }
    }
}

/// The reason codes and properties UNSUBACK allows.
const UNSUBACK: ReasonRule = ReasonRule {
    packet: PacketType::UnsubAck,
    allowed: reason::UNSUBACK,
    section: "§3.11.3",
    context: Context::UnsubAck,
};

impl UnsubAck {
    /// An UNSUBACK with `reasons` (ignored in 3.x) and no properties.
    #[must_use]
    pub fn new(packet_id: PacketId, reasons: Vec<ReasonCode>) -> Self {
        Self { packet_id, reasons, properties: Properties::default() }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let (packet_id, properties) = read_id_and_properties(r, Context::UnsubAck)?;
        let reasons = if r.version.is_v5() { UNSUBACK.read_list(r)? } else { Vec::new() };
        Ok(Self { packet_id, reasons, properties })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if !v.is_v5() {
            return Ok(2);
        }
        UNSUBACK.list_body_len(v, &self.reasons, &self.properties)
    }

    pub(crate) fn write_body(&self, v: ProtocolVersion, out: &mut BytesMut) {
        write_id_and_properties(v, self.packet_id, &self.properties, out);
        if v.is_v5() {
            out.extend(self.reasons.iter().map(|r| r.as_u8()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::{V4, V5, V31, decode_err, id, round_trip};

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
