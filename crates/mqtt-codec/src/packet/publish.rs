//! PUBLISH: flags (DUP, QoS, RETAIN), topic name, packet identifier, v5 properties and the
//! payload, which shares the read buffer (no copy).
//!
//! ```text
//! byte 1: 0011 | DUP | QoS (2 bits) | RETAIN
//! topic name | [QoS > 0: packet identifier] | [v5: properties] | payload (rest of the packet)
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::Sender;
use crate::packet::fields::{read_packet_id, topic_name_error};
use crate::properties::{Context, Properties};
use crate::reader::Reader;
use crate::topic::{TopicError, TopicName};
use crate::types::{PacketId, ProtocolVersion, QoS};
use crate::writer::{put_string, string_len};

/// PUBLISH: an application message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    /// Redelivery of an earlier attempt (QoS > 0 only).
    pub dup: bool,
    /// Delivery QoS.
    pub qos: QoS,
    /// Retained message.
    pub retain: bool,
    /// The topic; empty only in a v5 PUBLISH whose topic alias stands for it.
    pub topic: TopicName,
    /// `Some` exactly when `qos` is above 0.
    pub packet_id: Option<PacketId>,
    /// v5 PUBLISH properties.
    pub properties: Properties,
    /// The payload (shares the read buffer after decode).
    pub payload: Bytes,
}

impl Publish {
    /// A QoS 0, non-retained PUBLISH of `payload` to `topic`.
    #[must_use]
    pub fn new(topic: TopicName, payload: Bytes) -> Self {
        Self {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic,
            packet_id: None,
            properties: Properties::default(),
            payload,
        }
    }

    pub(crate) const fn flags(&self) -> u8 {
        (self.dup as u8) << 3 | self.qos.as_u8() << 1 | self.retain as u8
    }

    pub(crate) fn decode(r: &mut Reader, flags: u8) -> Result<Self, DecodeError> {
        let v = r.version;
        let dup = flags & 0x08 != 0;
        let retain = flags & 0x01 != 0;
        // The fixed header already refused QoS 3.
        let qos = QoS::from_u8((flags >> 1) & 0x03).unwrap_or(QoS::ExactlyOnce);
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::malformed(
                v,
                "MQTT-3.3.1-2",
                "MQTT-3.3.1-2",
                "PUBLISH: DUP set on a QoS 0 message",
            ));
        }
        let topic = r.string("topic name")?;
        let topic = match TopicName::decoded(topic) {
            Ok(topic) => topic,
            Err(TopicError::Empty) if v.is_v5() => TopicName::empty(),
            Err(err @ TopicError::TooDeep) => {
                let detail = format!("PUBLISH: topic name: {err}");
                return Err(DecodeError::protocol(v, "§4.7", "§4.7", detail));
            }
            Err(err) => {
                return Err(topic_name_error(v, err, "PUBLISH: topic name", "MQTT-3.3.2-2"));
            }
        };
        let packet_id = if qos == QoS::AtMostOnce { None } else { Some(read_packet_id(r)?) };
        let properties = if v.is_v5() {
            Properties::decode(r, Context::Publish)?
        } else {
            Properties::default()
        };
        if topic.is_empty() && properties.topic_alias.is_none() {
            return Err(DecodeError::protocol(
                v,
                "§3.3.2.1",
                "§3.3.2.1",
                "PUBLISH: empty topic name without a Topic Alias",
            ));
        }
        Ok(Self { dup, qos, retain, topic, packet_id, properties, payload: r.rest() })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        let invalid = |rule3, rule5, detail| Err(EncodeError::invalid(v, rule3, rule5, detail));
        match (self.qos, self.packet_id) {
            (QoS::AtMostOnce, Some(_)) => {
                return invalid(
                    "MQTT-2.3.1-5",
                    "MQTT-2.2.1-2",
                    "PUBLISH: QoS 0 with a packet identifier",
                );
            }
            (QoS::AtLeastOnce | QoS::ExactlyOnce, None) => {
                return invalid(
                    "MQTT-2.3.1-1",
                    "MQTT-2.2.1-3",
                    "PUBLISH: QoS > 0 without a packet identifier",
                );
            }
            _ => {}
        }
        if self.dup && self.qos == QoS::AtMostOnce {
            return invalid("MQTT-3.3.1-2", "MQTT-3.3.1-2", "PUBLISH: DUP set on a QoS 0 message");
        }
        if self.topic.is_empty() && (!v.is_v5() || self.properties.topic_alias.is_none()) {
            return invalid(
                "MQTT-4.7.3-1",
                "§3.3.2.1",
                "PUBLISH: empty topic name without a Topic Alias",
            );
        }
        let mut len = string_len(self.topic.as_mqtt_str()) + self.payload.len();
        if self.packet_id.is_some() {
            len += 2;
        }
        if v.is_v5() {
            len += self.properties.encoded_len_prefixed(Context::Publish)?;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, v: ProtocolVersion, sender: Sender, out: &mut BytesMut) {
        self.write_variable_header(v, sender, out);
        out.put_slice(&self.payload);
    }

    /// Writes topic, packet identifier and (v5) properties in `sender`'s order: the body
    /// without the payload.
    pub(crate) fn write_variable_header(
        &self,
        v: ProtocolVersion,
        sender: Sender,
        out: &mut BytesMut,
    ) {
        put_string(out, self.topic.as_mqtt_str());
        if let Some(id) = self.packet_id {
            out.put_u16(id.get());
        }
        if v.is_v5() {
            match sender {
                Sender::Client => self.properties.write(out),
                Sender::Server => self.properties.write_in(Context::Publish, out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::{V4, V5, V31, assert_decode_errors, encode_err, round_trip};

    fn publish(qos: QoS, id: u16) -> Publish {
        Publish {
            qos,
            packet_id: PacketId::new(id),
            ..Publish::new(TopicName::from_static("a/b"), Bytes::from_static(b"hi"))
        }
    }

    #[test]
    fn qos0_publish_in_every_version() {
        let p = Packet::Publish(publish(QoS::AtMostOnce, 0));
        round_trip(&p, V31, &[0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i']);
        round_trip(&p, V4, &[0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i']);
        round_trip(&p, V5, &[0x30, 8, 0, 3, b'a', b'/', b'b', 0, b'h', b'i']);
    }

    #[test]
    fn qos1_and_qos2_publish_carry_flags_and_packet_id() {
        let mut p = publish(QoS::AtLeastOnce, 10);
        p.retain = true;
        round_trip(
            &Packet::Publish(p.clone()),
            V4,
            &[0x33, 9, 0, 3, b'a', b'/', b'b', 0, 10, b'h', b'i'],
        );
        p.qos = QoS::ExactlyOnce;
        p.dup = true;
        round_trip(
            &Packet::Publish(p.clone()),
            V31,
            &[0x3D, 9, 0, 3, b'a', b'/', b'b', 0, 10, b'h', b'i'],
        );
        p.properties.message_expiry_interval = Some(1);
        round_trip(
            &Packet::Publish(p),
            V5,
            &[0x3D, 15, 0, 3, b'a', b'/', b'b', 0, 10, 5, 0x02, 0, 0, 0, 1, b'h', b'i'],
        );
    }

    #[test]
    fn v5_publish_may_replace_its_topic_by_an_alias() {
        let mut p = publish(QoS::AtMostOnce, 0);
        p.topic = TopicName::empty();
        p.payload = Bytes::new();
        p.properties.topic_alias = Some(7);
        round_trip(&Packet::Publish(p.clone()), V5, &[0x30, 6, 0, 0, 3, 0x23, 0, 7]);
        assert_eq!(
            encode_err(&Packet::Publish(p), V4),
            "cannot encode: [v3.1.1 MQTT-4.7.3-1] PUBLISH: empty topic name without a Topic Alias"
        );
    }

    #[test]
    fn header_then_payload_is_the_whole_packet() {
        // Payload sizes around the remaining length's byte boundaries, every version, with
        // and without packet id and properties.
        for size in [0, 2, 100, 16_370, 16_384, 2_097_140, 2_097_152] {
            for version in [V31, V4, V5] {
                for qos in [QoS::AtMostOnce, QoS::ExactlyOnce] {
                    let mut p = publish(qos, if qos == QoS::AtMostOnce { 0 } else { 9 });
                    p.payload = Bytes::from(vec![5; size]);
                    p.properties.content_type = crate::MqttString::new("text/plain").ok();
                    p.properties.subscription_identifiers = vec![3, 300];
                    let mut whole = BytesMut::new();
                    let packet = Packet::Publish(p.clone());
                    crate::encode_as(Sender::Server, &packet, version, u32::MAX, &mut whole)
                        .unwrap();
                    let mut header = BytesMut::from(&b"xy"[..]);
                    let len =
                        crate::encode_publish_header(&p, version, u32::MAX, &mut header).unwrap();
                    assert_eq!(len, header.len() - 2);
                    header.extend_from_slice(&p.payload);
                    assert!(header[2..] == whole[..], "{size} bytes, {version:?}, {qos:?}");
                }
            }
        }
        let p = publish(QoS::AtMostOnce, 0);
        let mut out = BytesMut::new();
        assert!(crate::encode_publish_header(&p, V4, 8, &mut out).is_err(), "9 bytes > 8");
        assert!(
            crate::encode_publish_header(&publish(QoS::AtMostOnce, 3), V4, 99, &mut out).is_err()
        );
        assert!(out.is_empty(), "nothing written on error");
    }

    #[test]
    fn payload_shares_the_read_buffer() {
        let mut buf = BytesMut::from(&[0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i'][..]);
        let start = buf.as_ptr() as usize;
        let Ok(Some(Packet::Publish(p))) = crate::decode(&mut buf, V4, 100) else {
            panic!("decodes")
        };
        assert_eq!(p.payload.as_ptr() as usize, start + 7);
        assert_eq!(p.topic.as_ptr() as usize, start + 4);
    }

    #[test]
    fn publish_violations() {
        let cases: [(&[u8], ProtocolVersion, &str); 6] = [
            (
                &[0x38, 4, 0, 1, b'a', b'x'],
                V4,
                "malformed packet: [v3.1.1 MQTT-3.3.1-2] PUBLISH: DUP set on a QoS 0 message",
            ),
            (
                &[0x30, 4, 0, 1, b'+', b'x'],
                V4,
                "protocol error: [v3.1.1 MQTT-3.3.2-2] PUBLISH: topic name: topic name contains a wildcard ('+' or '#')",
            ),
            (
                &[0x30, 3, 0, 0, b'x'],
                V4,
                "malformed packet: [v3.1.1 MQTT-4.7.3-1] PUBLISH: topic name: topic is empty",
            ),
            (
                &[0x30, 3, 0, 0, 0],
                V5,
                "protocol error: [v5.0 §3.3.2.1] PUBLISH: empty topic name without a Topic Alias",
            ),
            (
                &[0x32, 5, 0, 1, b'a', 0, 0],
                V4,
                "protocol error: [v3.1.1 MQTT-2.3.1-1] PUBLISH: packet identifier is 0",
            ),
            (
                &[0x30, 4, 0, 2, 0xC3, 0x28],
                V5,
                "malformed packet: [v5.0 MQTT-1.5.4-1] PUBLISH: topic name: string is not well-formed UTF-8",
            ),
        ];
        assert_decode_errors(&cases);
        assert_eq!(
            encode_err(&Packet::Publish(publish(QoS::AtMostOnce, 3)), V4),
            "cannot encode: [v3.1.1 MQTT-2.3.1-5] PUBLISH: QoS 0 with a packet identifier"
        );
        assert_eq!(
            encode_err(&Packet::Publish(publish(QoS::AtLeastOnce, 0)), V5),
            "cannot encode: [v5.0 MQTT-2.2.1-3] PUBLISH: QoS > 0 without a packet identifier"
        );
    }
}
