//! Packet bytes for scenarios: well-formed packets built with `mqtt_codec::encode`, and
//! [`hex`] for the malformed ones no encoder would write.

use bytes::{Bytes, BytesMut};
use mqtt_codec::{
    Ack, Connect, Disconnect, MAX_PACKET_SIZE, MqttString, Packet, PacketId, Properties,
    ProtocolVersion, Publish, QoS, ReasonCode, Subscribe, SubscriptionOptions, TopicFilter,
    TopicName, Unsubscribe, Will, encode,
};

pub(crate) use mqtt_codec::ProtocolVersion::{V3_1, V3_1_1, V5};

/// The bytes of `packet` for `version`.
///
/// # Panics
/// If the codec refuses it: a scenario that means to send an illegal packet writes it in hex.
pub(crate) fn bytes(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(packet, version, MAX_PACKET_SIZE, &mut out)
        .unwrap_or_else(|err| panic!("encoding {packet:?}: {err}"));
    out.to_vec()
}

/// Bytes written as hex pairs, spaces allowed: `hex("c0 00")`.
///
/// # Panics
/// On anything but hex digits and spaces (a typo in a scenario).
pub(crate) fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits in {text:?}");
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("ASCII");
            u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("bad hex {pair:?} in {text:?}"))
        })
        .collect()
}

/// A string for a packet field.
pub(crate) fn s(text: &str) -> MqttString {
    MqttString::new(text).expect("a valid MQTT string")
}

/// A packet identifier.
pub(crate) fn pid(id: u16) -> PacketId {
    PacketId::new(id).expect("a non-zero packet identifier")
}

/// A QoS from its number.
pub(crate) fn qos(level: u8) -> QoS {
    QoS::from_u8(level).expect("QoS 0, 1 or 2")
}

/// A CONNECT from `version` with `client_id`, clean, keep alive 60.
pub(crate) fn connect(version: ProtocolVersion, client_id: &str) -> Vec<u8> {
    connect_with(version, client_id, |_| {})
}

/// A CONNECT like [`connect`], changed by `edit` first.
pub(crate) fn connect_with(
    version: ProtocolVersion,
    client_id: &str,
    edit: impl FnOnce(&mut Connect),
) -> Vec<u8> {
    let mut packet = Connect::new(version, s(client_id));
    edit(&mut packet);
    bytes(&Packet::Connect(Box::new(packet)), version)
}

/// A will on `topic` with `payload`, QoS 0, not retained.
pub(crate) fn will(topic: &str, payload: &'static [u8]) -> Will {
    Will {
        topic: TopicName::new(topic).expect("a valid topic"),
        payload: Bytes::from_static(payload),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::default(),
    }
}

/// A PUBLISH of `payload` to `topic` at `level`; QoS 1 and 2 get packet identifier `id`.
pub(crate) fn publish(
    version: ProtocolVersion,
    topic: &str,
    payload: &'static [u8],
    level: u8,
    id: u16,
) -> Vec<u8> {
    publish_with(version, topic, payload, level, id, |_| {})
}

/// A PUBLISH like [`publish`], changed by `edit` first.
pub(crate) fn publish_with(
    version: ProtocolVersion,
    topic: &str,
    payload: &'static [u8],
    level: u8,
    id: u16,
    edit: impl FnOnce(&mut Publish),
) -> Vec<u8> {
    let mut packet =
        Publish::new(TopicName::new(topic).expect("a valid topic"), Bytes::from_static(payload));
    packet.qos = qos(level);
    packet.packet_id = (level > 0).then(|| pid(id));
    edit(&mut packet);
    bytes(&Packet::Publish(packet), version)
}

/// A SUBSCRIBE with identifier `id` to `filters`, each with its QoS.
pub(crate) fn subscribe(version: ProtocolVersion, id: u16, filters: &[(&str, u8)]) -> Vec<u8> {
    subscribe_with(version, id, filters, |_| {})
}

/// A SUBSCRIBE like [`subscribe`], changed by `edit` first.
pub(crate) fn subscribe_with(
    version: ProtocolVersion,
    id: u16,
    filters: &[(&str, u8)],
    edit: impl FnOnce(&mut Subscribe),
) -> Vec<u8> {
    let filters = filters
        .iter()
        .map(|(filter, level)| {
            let filter = TopicFilter::new(filter).expect("a valid filter");
            (filter, SubscriptionOptions::new(qos(*level)))
        })
        .collect();
    let mut packet = Subscribe::new(pid(id), filters);
    edit(&mut packet);
    bytes(&Packet::Subscribe(packet), version)
}

/// An UNSUBSCRIBE with identifier `id` from `filters`.
pub(crate) fn unsubscribe(version: ProtocolVersion, id: u16, filters: &[&str]) -> Vec<u8> {
    let filters =
        filters.iter().map(|filter| TopicFilter::new(filter).expect("a valid filter")).collect();
    bytes(&Packet::Unsubscribe(Unsubscribe::new(pid(id), filters)), version)
}

/// PUBACK for `id`.
pub(crate) fn puback(version: ProtocolVersion, id: u16) -> Vec<u8> {
    bytes(&Packet::PubAck(Ack::new(pid(id))), version)
}

/// PUBREC for `id`.
pub(crate) fn pubrec(version: ProtocolVersion, id: u16) -> Vec<u8> {
    bytes(&Packet::PubRec(Ack::new(pid(id))), version)
}

/// PUBREL for `id`.
pub(crate) fn pubrel(version: ProtocolVersion, id: u16) -> Vec<u8> {
    bytes(&Packet::PubRel(Ack::new(pid(id))), version)
}

/// PUBCOMP for `id`.
pub(crate) fn pubcomp(version: ProtocolVersion, id: u16) -> Vec<u8> {
    bytes(&Packet::PubComp(Ack::new(pid(id))), version)
}

/// PINGREQ.
pub(crate) fn pingreq() -> Vec<u8> {
    hex("c0 00")
}

/// A normal DISCONNECT.
pub(crate) fn disconnect(version: ProtocolVersion) -> Vec<u8> {
    bytes(&Packet::Disconnect(Disconnect::new(ReasonCode::Success)), version)
}
