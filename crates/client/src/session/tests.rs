//! Scenario tests for `ClientSession`: every QoS flow, message ids, in-flight window and
//! keep-alive, driven with plain calls and a fake clock.

use std::time::{Duration, Instant};

use bytes::Bytes;
use mqtt_codec::{
    Ack, ConnAck, MqttString, Packet, PacketId, Properties, PropertyValues, ProtocolVersion,
    Publish, QoS, ReasonCode, SubAck, TopicName,
};

use super::*;

fn session(protocol: ProtocolVersion, max_inflight: u16) -> (ClientSession, Instant) {
    let start = Instant::now();
    let config = SessionConfig { protocol, keep_alive: 60, max_inflight, client_id: None };
    let mut session = ClientSession::new(config, start);
    session.connect(Connect::new(protocol, MqttString::from_static("")), start);
    let connect = session.poll_transmit().unwrap();
    assert!(matches!(connect.packet, Packet::Connect(_)));
    (session, start)
}

fn connack(session: &mut ClientSession, properties: Properties, now: Instant) {
    let packet = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties,
    });
    session.handle_packet(packet, now).unwrap();
    assert!(matches!(session.poll_event(), Some(Event::ConnAck { code: 0, .. })));
}

fn id(value: u16) -> PacketId {
    PacketId::new(value).unwrap()
}

fn ack(value: u16, reason: ReasonCode) -> Ack {
    Ack { packet_id: id(value), reason, properties: Properties::default() }
}

fn publish(session: &mut ClientSession, qos: QoS, now: Instant) -> u16 {
    let message = Publish::new(TopicName::new("t").unwrap(), Bytes::from_static(b"m"));
    session.publish(Publish { qos, ..message }, now)
}

#[test]
fn v5_connack_adopts_the_assigned_client_id() {
    let (mut session, now) = session(ProtocolVersion::V5, 20);
    assert_eq!(session.client_id(), None);
    let properties = Properties::from(PropertyValues {
        assigned_client_identifier: Some(MqttString::from_static("auto-1")),
        ..PropertyValues::default()
    });
    connack(&mut session, properties, now);
    assert_eq!(session.client_id(), Some("auto-1"));
    assert!(session.is_connected());
}

#[test]
fn qos0_publish_uses_a_message_id_and_is_done_at_once() {
    let (mut session, now) = session(ProtocolVersion::V3_1_1, 20);
    connack(&mut session, Properties::default(), now);
    assert_eq!(publish(&mut session, QoS::AtMostOnce, now), 1);
    assert_eq!(publish(&mut session, QoS::AtMostOnce, now), 2);
    let sent = session.poll_transmit().unwrap();
    assert_eq!(sent.mid, 1);
    assert!(matches!(sent.packet, Packet::Publish(Publish { packet_id: None, .. })));
    assert_eq!(
        session.poll_event(),
        Some(Event::PublishDone { mid: 1, reason: 0, reason_string: None })
    );
}

#[test]
fn qos2_publish_goes_through_pubrec_pubrel_pubcomp() {
    let (mut session, now) = session(ProtocolVersion::V3_1_1, 20);
    connack(&mut session, Properties::default(), now);
    let mid = publish(&mut session, QoS::ExactlyOnce, now);
    assert!(session.poll_transmit().is_some());
    session.handle_packet(Packet::PubRec(ack(mid, ReasonCode::Success)), now).unwrap();
    assert!(matches!(session.poll_transmit().unwrap().packet, Packet::PubRel(_)));
    assert_eq!(session.poll_event(), None);
    session.handle_packet(Packet::PubComp(ack(mid, ReasonCode::Success)), now).unwrap();
    assert_eq!(
        session.poll_event(),
        Some(Event::PublishDone { mid, reason: 0, reason_string: None })
    );
    assert_eq!(session.pending_publishes(), 0);
}

#[test]
fn v5_pubrec_error_finishes_the_publish_with_its_reason() {
    let (mut session, now) = session(ProtocolVersion::V5, 20);
    connack(&mut session, Properties::default(), now);
    let mid = publish(&mut session, QoS::ExactlyOnce, now);
    session.poll_transmit();
    session.handle_packet(Packet::PubRec(ack(mid, ReasonCode::PacketTooLarge)), now).unwrap();
    assert_eq!(session.poll_transmit(), None);
    assert_eq!(
        session.poll_event(),
        Some(Event::PublishDone { mid, reason: 149, reason_string: None })
    );
}

#[test]
fn incoming_qos1_is_acked_before_delivery_and_qos2_delivered_on_pubrel() {
    let (mut session, now) = session(ProtocolVersion::V3_1_1, 20);
    connack(&mut session, Properties::default(), now);
    let incoming = |qos, packet_id| {
        Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: TopicName::new("a").unwrap(),
            packet_id,
            properties: Properties::default(),
            payload: Bytes::from_static(b"x"),
        })
    };
    session.handle_packet(incoming(QoS::AtLeastOnce, Some(id(7))), now).unwrap();
    assert!(matches!(session.poll_transmit().unwrap().packet, Packet::PubAck(_)));
    assert!(matches!(session.poll_event(), Some(Event::Message(Message { mid: 7, qos: 1, .. }))));
    session.handle_packet(incoming(QoS::ExactlyOnce, Some(id(8))), now).unwrap();
    session.handle_packet(incoming(QoS::ExactlyOnce, Some(id(8))), now).unwrap();
    assert!(matches!(session.poll_transmit().unwrap().packet, Packet::PubRec(_)));
    assert!(matches!(session.poll_transmit().unwrap().packet, Packet::PubRec(_)));
    assert_eq!(session.poll_event(), None);
    session.handle_packet(Packet::PubRel(ack(8, ReasonCode::Success)), now).unwrap();
    assert!(matches!(session.poll_transmit().unwrap().packet, Packet::PubComp(_)));
    assert!(matches!(session.poll_event(), Some(Event::Message(Message { mid: 8, qos: 2, .. }))));
    assert_eq!(session.poll_event(), None, "a resent QoS 2 PUBLISH is delivered once");
}

#[test]
fn inflight_window_holds_back_messages_until_acked() {
    let (mut session, now) = session(ProtocolVersion::V3_1_1, 1);
    connack(&mut session, Properties::default(), now);
    let first = publish(&mut session, QoS::AtLeastOnce, now);
    let second = publish(&mut session, QoS::AtLeastOnce, now);
    assert_eq!(session.poll_transmit().unwrap().mid, first);
    assert_eq!(session.poll_transmit(), None);
    session.handle_packet(Packet::PubAck(ack(first, ReasonCode::Success)), now).unwrap();
    assert_eq!(session.poll_transmit().unwrap().mid, second);
}

#[test]
fn unknown_ack_produces_mosquittos_warning() {
    let (mut session, now) = session(ProtocolVersion::V3_1_1, 20);
    connack(&mut session, Properties::default(), now);
    session.handle_packet(Packet::PubAck(ack(9, ReasonCode::Success)), now).unwrap();
    assert_eq!(
        session.poll_warning().as_deref(),
        Some("Warning: Received PUBACK from (null) for an unknown packet identifier 9.")
    );
}

#[test]
fn keepalive_sends_pingreq_then_times_out_without_pingresp() {
    let (mut session, start) = session(ProtocolVersion::V3_1_1, 20);
    connack(&mut session, Properties::default(), start);
    let deadline = session.poll_timeout().unwrap();
    assert_eq!(deadline, start + Duration::from_secs(60));
    session.handle_timeout(deadline).unwrap();
    assert_eq!(session.poll_transmit().unwrap().packet, Packet::PingReq);
    let next = session.poll_timeout().unwrap();
    assert_eq!(session.handle_timeout(next), Err(SessionError::KeepaliveTimeout));
}

#[test]
fn pingresp_keeps_the_connection_alive() {
    let (mut session, start) = session(ProtocolVersion::V3_1_1, 20);
    connack(&mut session, Properties::default(), start);
    let deadline = session.poll_timeout().unwrap();
    session.handle_timeout(deadline).unwrap();
    session.poll_transmit();
    session.handle_packet(Packet::PingResp, deadline).unwrap();
    let next = session.poll_timeout().unwrap();
    session.handle_timeout(next).unwrap();
    assert_eq!(session.poll_transmit().unwrap().packet, Packet::PingReq);
}

#[test]
fn suback_reports_granted_codes() {
    let (mut session, now) = session(ProtocolVersion::V3_1_1, 20);
    connack(&mut session, Properties::default(), now);
    let suback = SubAck {
        packet_id: id(1),
        reasons: vec![ReasonCode::GrantedQoS1, ReasonCode::UnspecifiedError],
        properties: Properties::default(),
    };
    session.handle_packet(Packet::SubAck(suback), now).unwrap();
    assert!(
        matches!(session.poll_event(), Some(Event::SubAck { mid: 1, granted, .. }) if granted == [1, 128])
    );
}

#[test]
fn no_connack_within_the_keepalive_interval_times_out() {
    let (mut session, start) = session(ProtocolVersion::V3_1_1, 20);
    let deadline = session.poll_timeout().unwrap();
    assert_eq!(deadline, start + Duration::from_secs(60));
    assert_eq!(session.handle_timeout(deadline), Err(SessionError::KeepaliveTimeout));
}

#[test]
fn topic_aliases_from_the_broker_are_resolved_per_connection() {
    let (mut session, now) = session(ProtocolVersion::V5, 20);
    connack(&mut session, Properties::default(), now);
    let aliased = |topic: &str, alias| {
        let topic =
            if topic.is_empty() { TopicName::empty() } else { TopicName::new(topic).unwrap() };
        let mut publish = Publish::new(topic, Bytes::from_static(b"x"));
        publish.properties.topic_alias = Some(alias);
        Packet::Publish(publish)
    };
    let topics = |session: &mut ClientSession, packets: Vec<Packet>| -> Vec<String> {
        packets
            .into_iter()
            .map(|packet| {
                session.handle_packet(packet, now).unwrap();
                match session.poll_event() {
                    Some(Event::Message(message)) => message.topic,
                    other => panic!("expected a message, got {other:?}"),
                }
            })
            .collect()
    };
    let first =
        vec![aliased("a/b", 1), aliased("", 1), aliased("c", 2), aliased("", 2), aliased("", 3)];
    assert_eq!(topics(&mut session, first), ["a/b", "a/b", "c", "c", ""]);
    // A new connection starts without aliases.
    session.connect(Connect::new(ProtocolVersion::V5, MqttString::from_static("")), now);
    assert!(session.poll_transmit().is_some());
    connack(&mut session, Properties::default(), now);
    assert_eq!(topics(&mut session, vec![aliased("", 1)]), [""]);
}
