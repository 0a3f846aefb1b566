//! Persistent sessions: subscriptions and QoS 1/2 messages kept while offline, bounded
//! queues, re-sending with DUP on reconnect, session present, and session expiry.

use std::time::Duration;

use mqtt_codec::{Packet, Properties, PropertyValues, QoS, ReasonCode};

use super::harness::{Harness, ack};
use crate::{Config, LogEvent};

#[test]
fn offline_persistent_client_gets_queued_messages_in_order_on_reconnect() {
    let mut h = Harness::default();
    h.offline_subscriber("pers", "q/#", QoS::AtLeastOnce);
    let publisher = h.connect("pub");
    h.publish_qos(publisher, "q/1", "first", QoS::AtLeastOnce);
    h.publish_qos(publisher, "q/2", "second", QoS::ExactlyOnce);
    h.send(publisher, Packet::PubRel(ack(2)));
    h.publish(publisher, "q/3", "qos0 is not queued");

    let back = h.try_connect_with("pers", |c| c.clean(false));
    assert!(h.connack(back).session_present);
    h.assert_published(back, &[("q/1", "first"), ("q/2", "second")]);
}

#[test]
fn clean_session_client_loses_everything_on_disconnect() {
    let mut h = Harness::default();
    let sub = h.subscriber("clean", "q/#", QoS::AtLeastOnce);
    h.disconnect(sub);
    assert_eq!(h.broker.session_count(), 0);
    assert_eq!(h.broker.subscription_counts(), (0, 0));
}

#[test]
fn unacknowledged_messages_are_resent_with_dup_on_reconnect() {
    let mut h = Harness::default();
    // The client got PUBREC through for the second, then its socket died.
    let (sub, first) = h.two_in_flight("flaky");
    let second_id = first[1].packet_id.expect("QoS 2").get();
    h.kill(sub);

    let back = h.reconnect_persistent("flaky");
    let again = h.take(back);
    match again.as_slice() {
        [Packet::Publish(p), Packet::PubRel(rel)] => {
            assert!(p.dup);
            assert_eq!(p.packet_id, first[0].packet_id);
            assert_eq!(rel.packet_id.get(), second_id);
        }
        other => panic!("expected PUBLISH dup + PUBREL, got {other:?}"),
    }
}

#[test]
fn incoming_qos2_state_survives_a_reconnect() {
    let mut h = Harness::default();
    let sub = h.subscriber("sub", "t", QoS::AtMostOnce);
    let publisher = h.connect_persistent("pub");
    h.publish_qos(publisher, "t", "exactly once", QoS::ExactlyOnce);
    h.kill(publisher);
    let publisher = h.connect_with("pub", |c| c.clean(false));
    h.send(publisher, Packet::PubRel(ack(1)));
    assert_eq!(h.take(publisher), [Packet::PubComp(ack(1))]);
    h.assert_published(sub, &[("t", "exactly once")]);
}

#[test]
fn offline_queue_is_bounded_and_overflow_is_reported_once() {
    let mut h = Harness::new(Config { max_queued_messages: 2, ..Config::default() });
    h.offline_subscriber("full", "t", QoS::AtLeastOnce);
    let publisher = h.connect("pub");
    for n in 0..5 {
        h.publish_qos(publisher, "t", &n.to_string(), QoS::AtLeastOnce);
    }
    let warnings = h.logs.iter().filter(|e| matches!(e, LogEvent::QueueFull { .. })).count();
    assert_eq!(warnings, 1);
    let back = h.connect_persistent("full");
    h.assert_published(back, &[("t", "0"), ("t", "1")]);
    assert_eq!(h.broker.stats().publish_dropped, 3);
}

#[test]
fn queued_bytes_limit_bounds_the_queue_too() {
    let mut h = Harness::new(Config { max_queued_bytes: 10, ..Config::default() });
    h.offline_subscriber("bytes", "t", QoS::AtLeastOnce);
    let publisher = h.connect("pub");
    h.publish_qos(publisher, "t", "123456", QoS::AtLeastOnce);
    h.publish_qos(publisher, "t", "123456", QoS::AtLeastOnce);
    let back = h.connect_persistent("bytes");
    assert_eq!(h.published_to(back).len(), 1);
}

#[test]
fn v5_session_expires_after_its_interval() {
    let mut h = Harness::default();
    let sub = h.connect_with("exp", |c| c.v5().clean(true).session_expiry(60));
    h.subscribe(sub, "t", QoS::AtLeastOnce);
    h.disconnect(sub);
    h.advance(Duration::from_secs(59));
    assert_eq!(h.broker.session_count(), 1);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.broker.session_count(), 0);
    assert!(h.logs.contains(&LogEvent::SessionExpired { client_id: "exp".into() }));
    let back = h.try_connect_with("exp", |c| c.v5().clean(false));
    assert!(!h.connack(back).session_present);
}

#[test]
fn v5_session_expiry_can_be_shortened_at_disconnect() {
    let mut h = Harness::default();
    let conn = h.connect_with("short", |c| c.v5().session_expiry(3600));
    let properties = Properties::from(PropertyValues {
        session_expiry_interval: Some(0),
        ..PropertyValues::default()
    });
    h.disconnect_with(conn, ReasonCode::Success, properties);
    assert_eq!(h.broker.session_count(), 0);
}

#[test]
fn v5_session_expiry_cannot_be_set_at_disconnect_when_it_was_zero() {
    let mut h = Harness::default();
    let conn = h.connect_v5("zero");
    let properties = Properties::from(PropertyValues {
        session_expiry_interval: Some(30),
        ..PropertyValues::default()
    });
    h.disconnect_with(conn, ReasonCode::Success, properties);
    assert_eq!(h.disconnect_reason(conn), Some(ReasonCode::ProtocolError));
}

#[test]
fn persistent_client_expiration_bounds_v3_sessions() {
    let mut h = Harness::new(Config {
        persistent_client_expiration: Some(Duration::from_secs(3600)),
        ..Config::default()
    });
    let sub = h.connect_persistent("old");
    h.disconnect(sub);
    h.advance(Duration::from_secs(3599));
    assert_eq!(h.broker.session_count(), 1);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.broker.session_count(), 0);
}

#[test]
fn v3_persistent_session_never_expires_by_default() {
    let mut h = Harness::default();
    let sub = h.connect_persistent("forever");
    h.disconnect(sub);
    h.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    assert_eq!(h.broker.session_count(), 1);
    assert_eq!(h.broker.poll_timeout(), None);
}
