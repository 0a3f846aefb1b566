//! Encoded PUBLISH headers for payloads that outboxes queue by reference. A message fanned out
//! to many subscribers needs the same header for each of them (same version, flags, topic,
//! properties and payload size, no packet id), so the driver encodes it once and every outbox
//! holds a reference to the same bytes; a header that differs in anything is encoded afresh.
//! Headers are cut from one block of memory, so a miss costs no allocation of its own either.

use bytes::{Bytes, BytesMut};
use mqtt_codec::{EncodeError, Properties, ProtocolVersion, Publish, QoS, TopicName};

/// Bytes taken for headers at a time.
const BLOCK: usize = 4 * 1024;
/// Below this much room left in the block, a new one is taken before encoding.
const LOW_WATER: usize = 256;

/// The driver's header encoder with a memory of the last QoS 0 header.
#[derive(Debug, Default)]
pub(crate) struct Headers {
    /// Where headers are encoded, then split off as shared `Bytes`.
    block: BytesMut,
    /// The last header of a PUBLISH without a packet id, and what it was made of.
    last: Option<(Shape, Bytes)>,
}

/// Everything a PUBLISH header without a packet id depends on.
#[derive(Debug)]
struct Shape {
    version: ProtocolVersion,
    dup: bool,
    qos: QoS,
    retain: bool,
    topic: TopicName,
    properties: Properties,
    payload_len: usize,
}

impl Shape {
    fn of(publish: &Publish, version: ProtocolVersion) -> Self {
        Self {
            version,
            dup: publish.dup,
            qos: publish.qos,
            retain: publish.retain,
            topic: publish.topic.clone(),
            // Only v5 writes properties.
            properties: if version.is_v5() {
                publish.properties.clone()
            } else {
                Properties::default()
            },
            payload_len: publish.payload.len(),
        }
    }

    /// Whether `publish` (without a packet id) encodes to the same header for `version`.
    fn fits(&self, publish: &Publish, version: ProtocolVersion) -> bool {
        publish.packet_id.is_none()
            && self.payload_len == publish.payload.len()
            && self.version == version
            && self.dup == publish.dup
            && self.qos == publish.qos
            && self.retain == publish.retain
            && self.topic == publish.topic
            && (!version.is_v5() || self.properties == publish.properties)
    }
}

impl Headers {
    /// The encoded header of `publish` for `version` (`publish.payload` is meant to follow
    /// it), shared with earlier callers when it is the same as the last one.
    pub(crate) fn header(
        &mut self,
        publish: &Publish,
        version: ProtocolVersion,
    ) -> Result<Bytes, EncodeError> {
        if let Some((shape, header)) = &self.last {
            if shape.fits(publish, version) {
                return Ok(header.clone());
            }
        }
        if self.block.capacity() - self.block.len() < LOW_WATER {
            self.block.reserve(BLOCK);
        }
        mqtt_codec::encode_publish_header(publish, version, u32::MAX, &mut self.block)?;
        let header = self.block.split().freeze();
        if publish.packet_id.is_none() {
            self.last = Some((Shape::of(publish, version), header.clone()));
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use mqtt_codec::{Packet, PacketId};

    use super::*;

    fn publish(topic: &str, size: usize) -> Publish {
        Publish::new(TopicName::new(topic).unwrap(), Bytes::from(vec![1; size]))
    }

    fn whole(publish: &Publish, version: ProtocolVersion) -> BytesMut {
        let mut out = BytesMut::new();
        let packet = Packet::Publish(publish.clone());
        mqtt_codec::encode_as(mqtt_codec::Sender::Server, &packet, version, u32::MAX, &mut out)
            .unwrap();
        out
    }

    #[test]
    fn the_same_header_is_shared_and_a_different_one_encoded_afresh() {
        let v4 = ProtocolVersion::V3_1_1;
        let mut headers = Headers::default();
        let first = publish("a/b", 4096);
        let one = headers.header(&first, v4).unwrap();
        // Another message of the same shape: same bytes, same memory.
        let two = headers.header(&publish("a/b", 4096), v4).unwrap();
        assert_eq!(one.as_ptr(), two.as_ptr());
        let mut bytes = BytesMut::from(&one[..]);
        bytes.extend_from_slice(&first.payload);
        assert_eq!(bytes, whole(&first, v4));

        // 3.1.1 has no properties: they make no difference to its header.
        let mut with_property = publish("a/b", 4096);
        with_property.properties.message_expiry_interval = Some(5);
        assert_eq!(headers.header(&with_property, v4).unwrap().as_ptr(), one.as_ptr());

        let mut variants = vec![publish("a/c", 4096), publish("a/b", 4095)];
        let mut retained = publish("a/b", 4096);
        retained.retain = true;
        variants.push(retained);
        let mut with_id = publish("a/b", 4096);
        with_id.qos = QoS::AtLeastOnce;
        with_id.packet_id = PacketId::new(7);
        variants.push(with_id);
        let mut cases: Vec<_> = variants.into_iter().map(|variant| (v4, variant)).collect();
        cases.push((ProtocolVersion::V5, publish("a/b", 4096)));
        cases.push((ProtocolVersion::V5, with_property));
        for (version, variant) in cases {
            let header = headers.header(&variant, version).unwrap();
            assert_ne!(header.as_ptr(), one.as_ptr(), "{variant:?}");
            let mut bytes = BytesMut::from(&header[..]);
            bytes.extend_from_slice(&variant.payload);
            assert_eq!(bytes, whole(&variant, version), "{variant:?}");
        }
    }

    #[test]
    fn an_unencodable_publish_is_an_error() {
        let mut broken = publish("a", 10);
        broken.packet_id = PacketId::new(1);
        let mut headers = Headers::default();
        assert!(headers.header(&broken, ProtocolVersion::V3_1_1).is_err());
    }
}
