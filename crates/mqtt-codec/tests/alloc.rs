//! Proves the zero-copy claim with a counting global allocator: once the read buffer is shared,
//! decoding a PUBLISH with a 64-byte payload allocates nothing; the packet's topic and payload
//! are `Bytes` handles into the read buffer, and an empty property list is a null pointer.

use bytes::{Bytes, BytesMut};
use mqtt_codec::{
    MAX_PACKET_SIZE, Packet, PacketId, Properties, PropertyValues, ProtocolVersion, Publish, QoS,
    TopicName, decode, encode,
};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_during;

fn publish(qos: QoS) -> Packet {
    let mut publish = Publish::new(
        TopicName::from_static("sensors/building-1/temperature"),
        Bytes::from(vec![7; 64]),
    );
    if qos != QoS::AtMostOnce {
        publish.qos = qos;
        publish.packet_id = PacketId::new(1);
    }
    Packet::Publish(publish)
}

#[test]
fn decoding_a_64_byte_publish_allocates_nothing() {
    for version in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let packet = publish(qos);
            let mut wire = BytesMut::new();
            for _ in 0..100 {
                encode(&packet, version, MAX_PACKET_SIZE, &mut wire).expect("valid");
            }
            // The first split turns the read buffer into a shared one: one small allocation per
            // buffer, not per packet.
            let mut first_packet = None;
            let first = allocations_during(|| {
                first_packet = Some(decode(&mut wire, version, MAX_PACKET_SIZE))
            });
            assert_eq!(first_packet, Some(Ok(Some(packet))));
            assert!(first <= 1, "{first} allocations for the first packet");
            let mut decoded = 0;
            let rest = allocations_during(|| {
                while let Ok(Some(Packet::Publish(p))) = decode(&mut wire, version, MAX_PACKET_SIZE)
                {
                    assert_eq!(p.payload.len(), 64);
                    decoded += 1;
                }
            });
            assert_eq!(decoded, 99);
            assert_eq!(
                rest, 0,
                "{version} {qos:?}: {rest} allocations decoding 99 PUBLISH packets"
            );
        }
    }
}

#[test]
fn an_empty_property_list_allocates_only_when_written_to() {
    let mut properties = Properties::default();
    let mut copy = None;
    let reading = allocations_during(|| {
        copy = Some(properties.clone());
        assert!(properties.is_empty() && properties.topic_alias.is_none());
        assert!(properties.get_mut().is_none());
        assert_eq!(Properties::from(PropertyValues::default()), properties);
    });
    assert_eq!(reading, 0, "{reading} allocations making, cloning and reading an empty list");
    let writing = allocations_during(|| properties.topic_alias = Some(1));
    assert_eq!(writing, 1, "the values are allocated on the first write");
    properties.topic_alias = None;
    assert_eq!(Some(properties), copy, "allocated but empty equals absent");
}
