//! QoS 1 and 2 in both directions: acknowledgements, exactly-once inbound, the in-flight
//! window and the queue behind it, packet ids, and unknown ids.

use mqtt_codec::{Packet, QoS, ReasonCode};

use super::harness::{Harness, ack, ack_with, publish_packet};
use crate::{Config, LogEvent};

#[test]
fn qos1_publish_is_forwarded_then_acknowledged() {
    let mut h = Harness::default();
    let sub = h.subscriber("sub", "t", QoS::AtLeastOnce);
    let publisher = h.connect("pub");
    let id = h.publish_qos(publisher, "t", "m", QoS::AtLeastOnce);
    assert_eq!(h.take(publisher), [Packet::PubAck(ack(id))]);
    let got = h.take_publishes(sub);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].qos, got[0].packet_id.map(|p| p.get()), got[0].dup),
        (QoS::AtLeastOnce, Some(1), false)
    );
    h.send(sub, Packet::PubAck(ack(1)));
    assert!(!h.logs.iter().any(|e| matches!(e, LogEvent::UnknownPacketId { .. })));
}

#[test]
fn qos2_publish_is_held_until_pubrel_and_delivered_exactly_once() {
    let mut h = Harness::default();
    let sub = h.subscriber("sub", "t", QoS::ExactlyOnce);
    let publisher = h.connect("pub");
    h.send(
        publisher,
        Packet::Publish(publish_packet("t", "once", QoS::ExactlyOnce, false, Some(7))),
    );
    assert_eq!(h.take(publisher), [Packet::PubRec(ack(7))]);
    assert_eq!(h.published_to(sub), [], "not forwarded before PUBREL");
    // The publisher did not see the PUBREC and sends the PUBLISH again with DUP.
    let mut again = publish_packet("t", "once", QoS::ExactlyOnce, false, Some(7));
    again.dup = true;
    h.send(publisher, Packet::Publish(again));
    assert_eq!(h.take(publisher), [Packet::PubRec(ack(7))]);
    h.send(publisher, Packet::PubRel(ack(7)));
    assert_eq!(h.take(publisher), [Packet::PubComp(ack(7))]);
    h.assert_published(sub, &[("t", "once")]);
    // A late duplicate PUBREL is completed but routes nothing.
    h.send(publisher, Packet::PubRel(ack(7)));
    assert_eq!(h.published_to(sub), []);
}

#[test]
fn qos2_outgoing_flow_runs_pubrec_pubrel_pubcomp() {
    let mut h = Harness::default();
    let sub = h.subscriber("sub", "t", QoS::ExactlyOnce);
    let publisher = h.connect("pub");
    h.auto_ack(publisher);
    h.publish_qos(publisher, "t", "m", QoS::ExactlyOnce);
    h.send(publisher, Packet::PubRel(ack(1)));
    let got = h.take_publishes(sub);
    let id = got[0].packet_id.expect("QoS 2 has an id").get();
    h.send(sub, Packet::PubRec(ack(id)));
    assert_eq!(h.take(sub), [Packet::PubRel(ack(id))]);
    h.send(sub, Packet::PubComp(ack(id)));
    assert!(!h.logs.iter().any(|e| matches!(e, LogEvent::UnknownPacketId { .. })));
}

#[test]
fn inflight_window_holds_back_messages_until_acknowledged() {
    let mut h = Harness::new(Config { max_inflight_messages: 2, ..Config::default() });
    let sub = h.subscriber("slow", "t", QoS::AtLeastOnce);
    let publisher = h.connect("pub");
    for n in 1..=4 {
        h.publish_qos(publisher, "t", &n.to_string(), QoS::AtLeastOnce);
    }
    let first: Vec<String> = h
        .take_publishes(sub)
        .iter()
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect();
    assert_eq!(first, ["1", "2"]);
    h.send(sub, Packet::PubAck(ack(1)));
    h.assert_published(sub, &[("t", "3")]);
    h.send(sub, Packet::PubAck(ack(2)));
    h.send(sub, Packet::PubAck(ack(3)));
    h.assert_published(sub, &[("t", "4")]);
}

#[test]
fn qos0_messages_bypass_the_window() {
    let mut h = Harness::new(Config { max_inflight_messages: 1, ..Config::default() });
    let sub = h.subscriber("sub", "t", QoS::AtLeastOnce);
    let publisher = h.connect("pub");
    h.publish_qos(publisher, "t", "q1", QoS::AtLeastOnce);
    h.publish_qos(publisher, "t", "q1-waits", QoS::AtLeastOnce);
    h.publish(publisher, "t", "q0");
    h.assert_published(sub, &[("t", "q1"), ("t", "q0")]);
}

#[test]
fn unknown_packet_ids_are_logged_not_fatal() {
    let mut h = Harness::default();
    let conn = h.connect("c");
    h.send(conn, Packet::PubAck(ack(99)));
    h.send(conn, Packet::PubRel(ack(98)));
    assert!(h.logs.iter().any(|e| matches!(e, LogEvent::UnknownPacketId { packet_id: 99, .. })));
    assert_eq!(h.take(conn), [Packet::PubComp(ack_with(98, ReasonCode::Success))]);
    assert_eq!(h.closed(conn), None);
}

#[test]
fn an_unknown_pubrec_is_released_with_success_as_mosquitto_does() {
    let mut h = Harness::default();
    let conn = h.connect_v5("c");
    h.send(conn, Packet::PubRec(ack(97)));
    assert!(h.logs.iter().any(|e| matches!(e, LogEvent::UnknownPacketId { packet_id: 97, .. })));
    assert_eq!(h.take(conn), [Packet::PubRel(ack_with(97, ReasonCode::Success))]);
    assert_eq!(h.closed(conn), None);
}

#[test]
fn oversized_payload_is_dropped_and_acknowledged_with_149() {
    let mut h = Harness::new(Config { message_size_limit: 3, ..Config::default() });
    let sub = h.subscriber("sub", "t", QoS::AtLeastOnce);
    let publisher = h.connect_v5("pub");
    let id = h.publish_qos(publisher, "t", "too long", QoS::AtLeastOnce);
    assert_eq!(h.take(publisher), [Packet::PubAck(ack_with(id, ReasonCode::PacketTooLarge))]);
    assert_eq!(h.published_to(sub), []);
}

#[test]
fn v5_puback_says_when_nobody_was_subscribed() {
    let mut h = Harness::default();
    let publisher = h.connect_v5("pub");
    let id = h.publish_qos(publisher, "nobody/listens", "m", QoS::AtLeastOnce);
    assert_eq!(
        h.take(publisher),
        [Packet::PubAck(ack_with(id, ReasonCode::NoMatchingSubscribers))]
    );
}

#[test]
fn v3_qos2_publish_dropped_for_size_still_completes_its_flow() {
    let mut h = Harness::new(Config { message_size_limit: 1, ..Config::default() });
    let publisher = h.connect("pub");
    h.send(
        publisher,
        Packet::Publish(publish_packet("t", "too big", QoS::ExactlyOnce, false, Some(5))),
    );
    let pubrec = h.take(publisher);
    assert!(matches!(pubrec.as_slice(), [Packet::PubRec(a)] if a.packet_id.get() == 5));
    h.send(publisher, Packet::PubRel(ack(5)));
    assert_eq!(h.take(publisher), [Packet::PubComp(ack(5))]);
}

#[test]
fn v5_pubrec_with_an_error_code_ends_the_outgoing_flow() {
    let mut h = Harness::new(Config { max_inflight_messages: 1, ..Config::default() });
    let sub = h.connect_v5("sub");
    h.subscribe(sub, "t", QoS::ExactlyOnce);
    let publisher = h.connect("pub");
    h.auto_ack(publisher);
    for n in 1..=2 {
        h.publish_qos(publisher, "t", &n.to_string(), QoS::ExactlyOnce);
        h.send(publisher, Packet::PubRel(ack(n)));
    }
    let first = h.take_publishes(sub);
    assert_eq!(first.len(), 1, "window of one");
    let id = first[0].packet_id.expect("QoS 2").get();
    let refused = ack_with(id, ReasonCode::QuotaExceeded);
    h.send(sub, Packet::PubRec(refused));
    let after = h.take(sub);
    assert!(!after.iter().any(|p| matches!(p, Packet::PubRel(_))), "no PUBREL after an error");
    let next: Vec<_> = after.iter().filter(|p| matches!(p, Packet::Publish(_))).collect();
    assert_eq!(next.len(), 1, "the window moved on to the second message");
}
