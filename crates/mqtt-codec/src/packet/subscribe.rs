//! SUBSCRIBE (topic filters with subscription options) and SUBACK (one code per filter).
//!
//! ```text
//! SUBSCRIBE: packet identifier | [v5: properties] | { topic filter, options }+
//! options:   3.x: 000000 | QoS      5.0: 00 | retain handling (2) | RAP | NL | QoS (2)
//! SUBACK:    packet identifier | [v5: properties] | { return / reason code }*
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError, Violation, violation};
use crate::packet::PacketType;
use crate::packet::fields::{
    ReasonRule, SpecRule, id_and_properties_len, read_id_and_properties, write_id_and_properties,
};
use crate::properties::{Context, Properties};
use crate::reader::Reader;
use crate::reason::{self, ReasonCode};
use crate::topic::{TopicError, TopicFilter};
use crate::types::{PacketId, ProtocolVersion, QoS};
use crate::writer::{put_string, string_len};

/// SUBSCRIBE: the client asks for messages matching some filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe {
    /// Identifier echoed by SUBACK.
    pub packet_id: PacketId,
    /// At least one filter, each with its options.
    pub filters: Vec<(TopicFilter, SubscriptionOptions)>,
    /// v5 properties (one Subscription Identifier, User Properties).
    pub properties: Properties,
}

/// How a subscription wants its messages. Only `qos` exists before 5.0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubscriptionOptions {
    /// Maximum QoS the client accepts on this subscription.
    pub qos: QoS,
    /// v5: do not send the client its own messages.
    pub no_local: bool,
    /// v5: keep the RETAIN flag of forwarded messages as published.
    pub retain_as_published: bool,
    /// v5: when to send retained messages.
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with `qos` and the defaults for everything else.
    #[must_use]
    pub fn new(qos: QoS) -> Self {
        Self { qos, ..Self::default() }
    }
}

/// v5 Retain Handling: when a subscription gets the retained messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RetainHandling {
    /// 0: send retained messages at subscribe time (the only behaviour before 5.0).
    #[default]
    SendAtSubscribe = 0,
    /// 1: send them only if the subscription did not exist.
    SendIfNew = 1,
    /// 2: never send them at subscribe time.
    DoNotSend = 2,
}

/// SUBACK: one code per filter of the SUBSCRIBE, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubAck {
    /// The SUBSCRIBE's identifier.
    pub packet_id: PacketId,
    /// Granted QoS or failure per filter (3.x: GrantedQoS0/1/2 or UnspecifiedError).
    pub reasons: Vec<ReasonCode>,
    /// v5 properties (Reason String, User Properties).
    pub properties: Properties,
}

impl Subscribe {
    /// A SUBSCRIBE to `filters` without properties.
    #[must_use]
    pub fn new(packet_id: PacketId, filters: Vec<(TopicFilter, SubscriptionOptions)>) -> Self {
        Self { packet_id, filters, properties: Properties::default() }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let v = r.version;
        let (packet_id, properties) = read_id_and_properties(r, Context::Subscribe)?;
        let filters = read_entries(r, &NO_FILTERS, |r| {
            let filter = read_filter(r)?;
            let byte = r.u8("subscription options")?;
            let options = decode_options(v, byte)?;
            if options.no_local && filter.shared().is_some() {
                return Err(DecodeError::Protocol(no_local_on_shared(v, &filter)));
            }
            Ok((filter, options))
        })?;
        Ok(Self { packet_id, filters, properties })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::Invalid(NO_FILTERS.violation(v)));
        }
        let mut len = id_and_properties_len(v, &self.properties, Context::Subscribe)?;
        for (filter, options) in &self.filters {
            if v.is_v5() && options.no_local && filter.shared().is_some() {
                return Err(EncodeError::Invalid(no_local_on_shared(v, filter)));
            }
            len += string_len(filter.as_mqtt_str()) + 1;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, v: ProtocolVersion, out: &mut BytesMut) {
        write_id_and_properties(v, self.packet_id, &self.properties, out);
        for (filter, options) in &self.filters {
            put_string(out, filter.as_mqtt_str());
            let mut byte = options.qos.as_u8();
            if v.is_v5() {
                byte |= u8::from(options.no_local) << 2
                    | u8::from(options.retain_as_published) << 3
                    | (options.retain_handling as u8) << 4;
            }
            out.put_u8(byte);
        }
    }
}

/// A SUBSCRIBE carries at least one topic filter.
const NO_FILTERS: SpecRule = SpecRule {
    rule3: "MQTT-3.8.3-3",
    rule5: "MQTT-3.8.3-2",
    detail: "SUBSCRIBE with no topic filters",
};

/// A shared subscription must not ask for No Local.
fn no_local_on_shared(v: ProtocolVersion, filter: &TopicFilter) -> Violation {
    violation(
        v,
        "MQTT-3.8.3-4",
        "MQTT-3.8.3-4",
        format!("SUBSCRIBE: No Local on the shared subscription {filter:?}"),
    )
}

/// Reads the entries of a SUBSCRIBE or UNSUBSCRIBE payload with `entry` until the body ends;
/// a payload without any breaks `no_entries`.
pub(crate) fn read_entries<T>(
    r: &mut Reader,
    no_entries: &SpecRule,
    mut entry: impl FnMut(&mut Reader) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut entries = Vec::new();
    while !r.is_empty() {
        entries.push(entry(r)?);
    }
    if entries.is_empty() {
        return Err(DecodeError::Protocol(no_entries.violation(r.version)));
    }
    Ok(entries)
}

/// Reads a topic filter; a bad filter is a malformed packet (as Mosquitto treats it).
pub(crate) fn read_filter(r: &mut Reader) -> Result<TopicFilter, DecodeError> {
    let filter = r.string("topic filter")?;
    TopicFilter::decoded(filter).map_err(|err| {
        let (rule3, rule5) = match err {
            TopicError::MisplacedMultiLevel => ("MQTT-4.7.1-2", "MQTT-4.7.1-2"),
            TopicError::MisplacedSingleLevel => ("MQTT-4.7.1-3", "MQTT-4.7.1-3"),
            TopicError::InvalidShare => ("§4.7", "MQTT-4.8.2-1"),
            TopicError::TooDeep => ("§4.7", "§4.7"),
            _ => ("MQTT-4.7.3-1", "MQTT-4.7.3-1"),
        };
        DecodeError::malformed(
            r.version,
            rule3,
            rule5,
            format!("{}: topic filter: {err}", r.packet),
        )
    })
}

/// Decodes a subscription options byte.
fn decode_options(v: ProtocolVersion, byte: u8) -> Result<SubscriptionOptions, DecodeError> {
    if v.is_v5() {
        if byte & 0xC0 != 0 {
            return Err(DecodeError::malformed(
                v,
                "",
                "MQTT-3.8.3-5",
                "SUBSCRIBE: reserved option bits 7-6 are set",
            ));
        }
        let Some(qos) = QoS::from_u8(byte & 0x03) else {
            // §3.8.3.1 calls it a protocol error; Mosquitto answers 0x81, as we do.
            return Err(DecodeError::malformed(v, "", "§3.8.3.1", "SUBSCRIBE: maximum QoS is 3"));
        };
        let retain_handling = match (byte >> 4) & 0x03 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => {
                // §3.8.3.1 calls it a protocol error; Mosquitto answers 0x81, as we do.
                return Err(DecodeError::malformed(
                    v,
                    "",
                    "§3.8.3.1",
                    "SUBSCRIBE: retain handling is 3",
                ));
            }
        };
        Ok(SubscriptionOptions {
            qos,
            no_local: byte & 0x04 != 0,
            retain_as_published: byte & 0x08 != 0,
            retain_handling,
        })
    } else {
        match QoS::from_u8(byte) {
            Some(qos) => Ok(SubscriptionOptions::new(qos)),
            None => Err(DecodeError::malformed(
                v,
                "MQTT-3.8.3-4",
                "",
                format!(
                    "SUBSCRIBE: requested QoS byte is 0x{byte:02X}; reserved bits must be 0 and QoS 0 to 2"
                ),
            )),
        }
    }
}

/// The reason codes and properties SUBACK allows.
const SUBACK: ReasonRule = ReasonRule {
    packet: PacketType::SubAck,
    allowed: reason::SUBACK,
    section: "§3.9.3",
    context: Context::SubAck,
};

impl SubAck {
    /// A SUBACK with `reasons` and no properties.
    #[must_use]
    pub fn new(packet_id: PacketId, reasons: Vec<ReasonCode>) -> Self {
        Self { packet_id, reasons, properties: Properties::default() }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let v = r.version;
        let (packet_id, properties) = read_id_and_properties(r, Context::SubAck)?;
        if v.is_v5() {
            let reasons = SUBACK.read_list(r)?;
            return Ok(Self { packet_id, reasons, properties });
        }
        let mut reasons = Vec::with_capacity(r.remaining());
        while !r.is_empty() {
            let code = r.u8("return code")?;
            reasons.push(ReasonCode::from_v3_suback(code).ok_or_else(|| {
                DecodeError::protocol(
                    v,
                    "MQTT-3.9.3-2",
                    "",
                    format!("SUBACK: return code 0x{code:02X} is reserved"),
                )
            })?);
        }
        Ok(Self { packet_id, reasons, properties })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if !v.is_v5() {
            return Ok(2 + self.reasons.len());
        }
        SUBACK.list_body_len(v, &self.reasons, &self.properties)
    }

    pub(crate) fn write_body(&self, v: ProtocolVersion, out: &mut BytesMut) {
        write_id_and_properties(v, self.packet_id, &self.properties, out);
        if v.is_v5() {
            out.extend(self.reasons.iter().map(|r| r.as_u8()));
        } else {
            out.extend(self.reasons.iter().map(|r| r.to_v3_suback()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::{
        V4, V5, V31, assert_decode_errors, decode_err, encode_err, id, round_trip,
    };

    #[test]
    fn subscribe_in_every_version() {
        let sub = Subscribe::new(
            id(1),
            vec![
                (TopicFilter::from_static("a/#"), SubscriptionOptions::new(QoS::AtLeastOnce)),
                (TopicFilter::from_static("+"), SubscriptionOptions::new(QoS::ExactlyOnce)),
            ],
        );
        #[rustfmt::skip]
        let v3 = [0x82, 12, 0, 1, 0, 3, b'a', b'/', b'#', 1, 0, 1, b'+', 2];
        round_trip(&Packet::Subscribe(sub.clone()), V31, &v3);
        round_trip(&Packet::Subscribe(sub.clone()), V4, &v3);
        let mut sub = sub;
        sub.filters[0].1 = SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
        };
        sub.properties.subscription_identifiers = vec![300];
        #[rustfmt::skip]
        let v5 = [0x82, 16, 0, 1, 3, 0x0B, 0xAC, 0x02, 0, 3, b'a', b'/', b'#', 0x2D, 0, 1, b'+', 2];
        round_trip(&Packet::Subscribe(sub), V5, &v5);
    }

    #[test]
    fn suback_in_every_version() {
        let ack = SubAck::new(
            id(1),
            vec![ReasonCode::GrantedQoS1, ReasonCode::UnspecifiedError, ReasonCode::Success],
        );
        round_trip(&Packet::SubAck(ack.clone()), V31, &[0x90, 5, 0, 1, 1, 0x80, 0]);
        round_trip(&Packet::SubAck(ack.clone()), V4, &[0x90, 5, 0, 1, 1, 0x80, 0]);
        round_trip(&Packet::SubAck(ack), V5, &[0x90, 6, 0, 1, 0, 1, 0x80, 0]);
        let mut out = BytesMut::new();
        let ack = SubAck::new(id(1), vec![ReasonCode::QuotaExceeded]);
        crate::encode(&Packet::SubAck(ack), V4, 100, &mut out).unwrap();
        assert_eq!(&out[..], [0x90, 3, 0, 1, 0x80], "v5 failures become 0x80 in 3.1.1");
    }

    #[test]
    fn subscribe_violations() {
        let cases: [(&[u8], ProtocolVersion, &str); 9] = [
            (
                &[0x82, 2, 0, 1],
                V4,
                "protocol error: [v3.1.1 MQTT-3.8.3-3] SUBSCRIBE with no topic filters",
            ),
            (
                &[0x82, 3, 0, 1, 0],
                V5,
                "protocol error: [v5.0 MQTT-3.8.3-2] SUBSCRIBE with no topic filters",
            ),
            (
                &[0x82, 6, 0, 1, 0, 1, b'a', 3],
                V4,
                "malformed packet: [v3.1.1 MQTT-3.8.3-4] SUBSCRIBE: requested QoS byte is 0x03; reserved bits must be 0 and QoS 0 to 2",
            ),
            (
                &[0x82, 6, 0, 1, 0, 1, b'a', 4],
                V4,
                "malformed packet: [v3.1.1 MQTT-3.8.3-4] SUBSCRIBE: requested QoS byte is 0x04; reserved bits must be 0 and QoS 0 to 2",
            ),
            (
                &[0x82, 7, 0, 1, 0, 0, 1, b'a', 0x40],
                V5,
                "malformed packet: [v5.0 MQTT-3.8.3-5] SUBSCRIBE: reserved option bits 7-6 are set",
            ),
            (
                &[0x82, 7, 0, 1, 0, 0, 1, b'a', 0x30],
                V5,
                "malformed packet: [v5.0 §3.8.3.1] SUBSCRIBE: retain handling is 3",
            ),
            (
                &[0x82, 7, 0, 1, 0, 0, 1, b'a', 0x03],
                V5,
                "malformed packet: [v5.0 §3.8.3.1] SUBSCRIBE: maximum QoS is 3",
            ),
            (
                &[0x82, 7, 0, 1, 0, 2, b'a', b'#', 0],
                V4,
                "malformed packet: [v3.1.1 MQTT-4.7.1-2] SUBSCRIBE: topic filter: '#' must be a whole level and the last one",
            ),
            (
                &[0x82, 15, 0, 1, 0, 0, 9, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/', 4],
                V5,
                "malformed packet: [v5.0 MQTT-4.8.2-1] SUBSCRIBE: topic filter: a shared subscription is `$share/<share name>/<filter>`, with a share name free of '+' and '#'",
            ),
        ];
        assert_decode_errors(&cases);
    }

    #[test]
    fn no_local_is_refused_on_shared_subscriptions() {
        #[rustfmt::skip]
        let bytes = [0x82, 16, 0, 1, 0, 0, 10, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/', b'a', 0x04];
        assert_eq!(
            decode_err(&bytes, V5),
            "protocol error: [v5.0 MQTT-3.8.3-4] SUBSCRIBE: No Local on the shared subscription \"$share/g/a\""
        );
    }

    #[test]
    fn suback_violations() {
        assert_decode_errors(&[
            (
                &[0x90, 3, 0, 1, 3],
                V4,
                "protocol error: [v3.1.1 MQTT-3.9.3-2] SUBACK: return code 0x03 is reserved",
            ),
            (
                &[0x90, 4, 0, 1, 0, 0x10],
                V5,
                "protocol error: [v5.0 §3.9.3] SUBACK: reason code 0x10 (No matching subscribers) is not allowed here",
            ),
        ]);
        assert_eq!(
            encode_err(&Packet::Subscribe(Subscribe::new(id(1), vec![])), V4),
            "cannot encode: [v3.1.1 MQTT-3.8.3-3] SUBSCRIBE with no topic filters"
        );
    }
}
