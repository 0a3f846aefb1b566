//! Mosquitto's `-d` lines (`Client <id> sending CONNECT`, …), byte for byte as libmosquitto
//! 2.0.11 logs them, built from the packets the client sends and receives.

use mqtt_codec::{Packet, ProtocolVersion, RetainHandling};

use crate::session::Transmit;

/// Receives each debug line (without newline). The tools print them to stdout.
pub type DebugHook = Box<dyn FnMut(&str) + Send>;

/// The hook the tools use: each line on stdout, with its newline.
pub fn stdout_hook() -> DebugHook {
    Box::new(|line: &str| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    })
}

/// How a missing client id prints (glibc's `%s` of NULL, as Debian's 2.0.11 shows it).
pub const NULL_ID: &str = "(null)";

/// The lines for a packet being sent (SUBSCRIBE and UNSUBSCRIBE give one per filter).
pub fn sending_lines(
    id: Option<&str>,
    protocol: ProtocolVersion,
    transmit: &Transmit,
) -> Vec<String> {
    let id = id.unwrap_or(NULL_ID);
    let mid = transmit.mid;
    let one = |what: String| vec![format!("Client {id} sending {what}")];
    match &transmit.packet {
        Packet::Connect(_) => one("CONNECT".into()),
        Packet::Publish(publish) => one(format!(
            "PUBLISH (d{}, q{}, r{}, m{mid}, '{}', ... ({} bytes))",
            u8::from(publish.dup),
            publish.qos.as_u8(),
            u8::from(publish.retain),
            topic_or_null(publish.topic.as_str()),
            publish.payload.len()
        )),
        Packet::PubAck(ack) => one(format!("PUBACK (m{mid}, rc{})", ack.reason.as_u8())),
        Packet::PubRec(ack) => one(format!("PUBREC (m{mid}, rc{})", ack.reason.as_u8())),
        Packet::PubRel(_) => one(format!("PUBREL (m{mid})")),
        Packet::PubComp(_) => one(format!("PUBCOMP (m{mid})")),
        Packet::Subscribe(subscribe) => subscribe
            .filters
            .iter()
            .map(|(filter, options)| {
                let bits = if protocol == ProtocolVersion::V5 {
                    u8::from(options.no_local) << 2
                        | u8::from(options.retain_as_published) << 3
                        | retain_handling_bits(options.retain_handling) << 4
                } else {
                    0
                };
                format!(
                    "Client {id} sending SUBSCRIBE (Mid: {mid}, Topic: {}, QoS: {}, Options: 0x{bits:02x})",
                    filter.as_str(),
                    options.qos.as_u8()
                )
            })
            .collect(),
        Packet::Unsubscribe(unsubscribe) => unsubscribe
            .filters
            .iter()
            .map(|filter| {
                format!("Client {id} sending UNSUBSCRIBE (Mid: {mid}, Topic: {})", filter.as_str())
            })
            .collect(),
        Packet::PingReq => one("PINGREQ".into()),
        Packet::Disconnect(_) => one("DISCONNECT".into()),
        Packet::Auth(_) => one("AUTH".into()),
        other => one(other.packet_type().to_string()),
    }
}

fn retain_handling_bits(handling: RetainHandling) -> u8 {
    match handling {
        RetainHandling::SendAtSubscribe => 0,
        RetainHandling::SendIfNew => 1,
        RetainHandling::DoNotSend => 2,
    }
}

fn topic_or_null(topic: &str) -> &str {
    if topic.is_empty() { NULL_ID } else { topic }
}

/// The line for a packet received from the broker, `id` being the id known *after* handling
/// it (a v5 CONNACK may have assigned one).
pub fn received_line(id: Option<&str>, protocol: ProtocolVersion, packet: &Packet) -> String {
    let id = id.unwrap_or(NULL_ID);
    let what = match packet {
        Packet::ConnAck(connack) => {
            let code = if protocol == ProtocolVersion::V5 {
                connack.reason.as_u8()
            } else {
                connack.reason.to_v3_connack()
            };
            format!("CONNACK ({code})")
        }
        Packet::Publish(publish) => format!(
            "PUBLISH (d{}, q{}, r{}, m{}, '{}', ... ({} bytes))",
            u8::from(publish.dup),
            publish.qos.as_u8(),
            u8::from(publish.retain),
            publish.packet_id.map_or(0, |id| id.get()),
            topic_or_null(publish.topic.as_str()),
            publish.payload.len()
        ),
        Packet::PubAck(ack) => {
            format!("PUBACK (Mid: {}, RC:{})", ack.packet_id.get(), ack.reason.as_u8())
        }
        Packet::PubRec(ack) => format!("PUBREC (Mid: {})", ack.packet_id.get()),
        Packet::PubRel(ack) => format!("PUBREL (Mid: {})", ack.packet_id.get()),
        Packet::PubComp(ack) => {
            format!("PUBCOMP (Mid: {}, RC:{})", ack.packet_id.get(), ack.reason.as_u8())
        }
        Packet::SubAck(_) => "SUBACK".into(),
        Packet::UnsubAck(_) => "UNSUBACK".into(),
        Packet::PingResp => "PINGRESP".into(),
        Packet::Disconnect(disconnect) => {
            return format!("Received DISCONNECT ({})", disconnect.reason.as_u8());
        }
        Packet::Auth(_) => "AUTH".into(),
        other => other.packet_type().to_string(),
    };
    format!("Client {id} received {what}")
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use mqtt_codec::{
        Ack, ConnAck, PacketId, Properties, Publish, QoS, ReasonCode, Subscribe,
        SubscriptionOptions, TopicFilter, TopicName,
    };

    use super::*;

    fn publish(topic: &str, qos: QoS, retain: bool) -> Packet {
        Packet::Publish(Publish {
            dup: false,
            qos,
            retain,
            topic: if topic.is_empty() {
                TopicName::empty()
            } else {
                TopicName::new(topic).unwrap()
            },
            packet_id: PacketId::new(if qos == QoS::AtMostOnce { 0 } else { 1 }),
            properties: Properties::default(),
            payload: Bytes::from_static(b"qos one"),
        })
    }

    #[test]
    fn publish_lines_match_mosquitto() {
        let sent = Transmit { packet: publish("test/b", QoS::AtLeastOnce, false), mid: 1 };
        assert_eq!(
            sending_lines(Some("pubq1"), ProtocolVersion::V3_1_1, &sent),
            ["Client pubq1 sending PUBLISH (d0, q1, r0, m1, 'test/b', ... (7 bytes))"]
        );
        let aliased = Transmit { packet: publish("", QoS::AtMostOnce, true), mid: 2 };
        assert_eq!(
            sending_lines(None, ProtocolVersion::V5, &aliased),
            ["Client (null) sending PUBLISH (d0, q0, r1, m2, '(null)', ... (7 bytes))"]
        );
        assert_eq!(
            received_line(Some("s"), ProtocolVersion::V3_1_1, &publish("a", QoS::AtMostOnce, true)),
            "Client s received PUBLISH (d0, q0, r1, m0, 'a', ... (7 bytes))"
        );
    }

    #[test]
    fn ack_lines_match_mosquitto() {
        let id = PacketId::new(1).unwrap();
        let ack =
            Ack { packet_id: id, reason: ReasonCode::Success, properties: Properties::default() };
        assert_eq!(
            received_line(Some("c"), ProtocolVersion::V5, &Packet::PubAck(ack.clone())),
            "Client c received PUBACK (Mid: 1, RC:0)"
        );
        assert_eq!(
            received_line(Some("c"), ProtocolVersion::V5, &Packet::PubRec(ack.clone())),
            "Client c received PUBREC (Mid: 1)"
        );
        assert_eq!(
            received_line(Some("c"), ProtocolVersion::V5, &Packet::PubComp(ack.clone())),
            "Client c received PUBCOMP (Mid: 1, RC:0)"
        );
        let sent = Transmit { packet: Packet::PubRel(ack.clone()), mid: 1 };
        assert_eq!(
            sending_lines(Some("c"), ProtocolVersion::V5, &sent),
            ["Client c sending PUBREL (m1)"]
        );
        let sent = Transmit { packet: Packet::PubRec(ack), mid: 2 };
        assert_eq!(
            sending_lines(Some("c"), ProtocolVersion::V5, &sent),
            ["Client c sending PUBREC (m2, rc0)"]
        );
        let connack = Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::NotAuthorized,
            properties: Properties::default(),
        });
        assert_eq!(
            received_line(None, ProtocolVersion::V5, &connack),
            "Client (null) received CONNACK (135)"
        );
        assert_eq!(
            received_line(None, ProtocolVersion::V3_1_1, &connack),
            "Client (null) received CONNACK (5)"
        );
    }

    #[test]
    fn subscribe_prints_one_line_per_filter_and_v3_options_are_zero() {
        let options = SubscriptionOptions {
            qos: QoS::ExactlyOnce,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::DoNotSend,
        };
        let packet = Packet::Subscribe(Subscribe {
            packet_id: PacketId::new(1).unwrap(),
            filters: vec![
                (TopicFilter::new("rr/#").unwrap(), options),
                (TopicFilter::new("zz/#").unwrap(), options),
            ],
            properties: Properties::default(),
        });
        let sent = Transmit { packet, mid: 1 };
        assert_eq!(
            sending_lines(Some("s"), ProtocolVersion::V5, &sent),
            [
                "Client s sending SUBSCRIBE (Mid: 1, Topic: rr/#, QoS: 2, Options: 0x20)",
                "Client s sending SUBSCRIBE (Mid: 1, Topic: zz/#, QoS: 2, Options: 0x20)"
            ]
        );
        assert!(
            sending_lines(Some("s"), ProtocolVersion::V3_1_1, &sent)[0].ends_with("Options: 0x00)")
        );
    }
}
