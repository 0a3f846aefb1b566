//! Routing: wildcards, `$` topics, overlapping subscriptions, shared subscriptions,
//! unsubscribe, QoS downgrade, and the broker's own rules on what clients may publish.

use std::sync::Arc;

use mqtt_codec::{Packet, Properties, QoS, ReasonCode};

use super::harness::{Harness, publish_packet};
use crate::{Access, AccessControl, ClientRef, Config, DisconnectReason, DropReason, LogEvent};

#[test]
fn wildcard_subscribers_receive_matching_topics_only() {
    let mut h = Harness::default();
    let plus = h.connect("plus");
    let hash = h.connect("hash");
    assert_eq!(h.subscribe(plus, "home/+/temp", QoS::AtMostOnce), [ReasonCode::Success]);
    assert_eq!(h.subscribe(hash, "home/#", QoS::AtMostOnce), [ReasonCode::Success]);
    let sensor = h.connect("sensor");
    h.publish(sensor, "home/kitchen/temp", "21");
    h.publish(sensor, "home/kitchen/humidity", "40");
    h.publish(sensor, "garden/temp", "12");
    h.assert_published(plus, &[("home/kitchen/temp", "21")]);
    h.assert_published(hash, &[("home/kitchen/temp", "21"), ("home/kitchen/humidity", "40")]);
}

#[test]
fn dollar_topics_are_not_matched_by_a_leading_wildcard() {
    let mut h = Harness::default();
    let everything = h.connect("everything");
    let explicit = h.connect("explicit");
    h.subscribe(everything, "#", QoS::AtMostOnce);
    h.subscribe(explicit, "$foo/#", QoS::AtMostOnce);
    let publisher = h.connect("pub");
    h.publish(publisher, "$foo/bar", "x");
    assert_eq!(h.published_to(everything), []);
    h.assert_published(explicit, &[("$foo/bar", "x")]);
}

#[test]
fn clients_may_not_publish_to_sys_topics() {
    let mut h = Harness::default();
    let watcher = h.subscriber("watcher", "$SYS/#", QoS::AtMostOnce);
    let publisher = h.connect("pub");
    let id = h.publish_qos(publisher, "$SYS/test", "fake", QoS::AtLeastOnce);
    assert_eq!(h.published_to(watcher), []);
    assert!(matches!(h.take(publisher).as_slice(), [Packet::PubAck(a)] if a.packet_id.get() == id));
    assert!(
        h.logs
            .iter()
            .any(|e| matches!(e, LogEvent::PublishDropped { why: DropReason::NotAuthorized, .. }))
    );
}

#[test]
fn v3_overlapping_subscriptions_deliver_one_copy_at_the_highest_qos() {
    let mut h = Harness::default();
    let sub = h.subscriber("overlap", "ov/#", QoS::AtMostOnce);
    h.subscribe(sub, "ov/+", QoS::AtLeastOnce);
    let publisher = h.connect("pub");
    h.publish_qos(publisher, "ov/x", "once", QoS::ExactlyOnce);
    h.send(publisher, Packet::PubRel(super::harness::ack(1)));
    let got = h.take_publishes(sub);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
}

#[test]
fn delivery_qos_is_the_lower_of_publish_and_subscription() {
    let mut h = Harness::default();
    let sub = h.subscriber("sub", "q", QoS::AtLeastOnce);
    let publisher = h.connect("pub");
    h.publish(publisher, "q", "zero");
    h.publish_qos(publisher, "q", "two", QoS::ExactlyOnce);
    h.send(publisher, Packet::PubRel(super::harness::ack(1)));
    let qos: Vec<QoS> = h.take_publishes(sub).iter().map(|p| p.qos).collect();
    assert_eq!(qos, [QoS::AtMostOnce, QoS::AtLeastOnce]);
}

#[test]
fn upgrade_outgoing_qos_delivers_at_the_subscription_qos() {
    let mut h = Harness::new(Config { upgrade_outgoing_qos: true, ..Config::default() });
    let sub = h.subscriber("sub", "q", QoS::AtLeastOnce);
    let publisher = h.connect("pub");
    h.publish(publisher, "q", "zero");
    assert_eq!(h.take_publishes(sub)[0].qos, QoS::AtLeastOnce);
}

#[test]
fn unsubscribed_clients_stop_receiving() {
    let mut h = Harness::default();
    let sub = h.subscriber("sub", "a/#", QoS::AtMostOnce);
    assert_eq!(h.unsubscribe(sub, "a/#"), [], "v3 UNSUBACK has no codes");
    let publisher = h.connect("pub");
    h.publish(publisher, "a/b", "x");
    assert_eq!(h.published_to(sub), []);
    assert_eq!(h.broker.subscription_counts(), (0, 0));
}

#[test]
fn shared_subscription_members_take_turns() {
    let mut h = Harness::default();
    let a = h.connect("a");
    let b = h.connect("b");
    let plain = h.connect("plain");
    h.subscribe(a, "$share/workers/jobs/#", QoS::AtMostOnce);
    h.subscribe(b, "$share/workers/jobs/#", QoS::AtMostOnce);
    h.subscribe(plain, "jobs/#", QoS::AtMostOnce);
    let publisher = h.connect("pub");
    for n in 0..4 {
        h.publish(publisher, "jobs/x", &n.to_string());
    }
    h.assert_published(a, &[("jobs/x", "0"), ("jobs/x", "2")]);
    h.assert_published(b, &[("jobs/x", "1"), ("jobs/x", "3")]);
    assert_eq!(h.published_to(plain).len(), 4, "a plain subscription gets every message");
}

#[test]
fn a_client_cannot_disturb_others_by_publishing_a_flood_of_qos0() {
    let mut h = Harness::default();
    let sub = h.subscriber("sub", "#", QoS::AtMostOnce);
    let publisher = h.connect("pub");
    for _ in 0..1000 {
        h.send(publisher, Packet::Publish(publish_packet("t", "x", QoS::AtMostOnce, false, None)));
    }
    assert_eq!(h.published_to(sub).len(), 1000);
}

struct ReadOnlyFor(&'static str);

impl AccessControl for ReadOnlyFor {
    fn check(&self, client: &ClientRef<'_>, topic: &str, access: Access) -> bool {
        match access {
            Access::Write => client.client_id != self.0,
            Access::Read => !topic.starts_with("secret"),
            Access::Subscribe => true,
        }
    }
}

#[test]
fn access_control_hook_filters_publish_and_delivery() {
    let mut h = Harness::default();
    h.broker.set_access_control(Some(Arc::new(ReadOnlyFor("reader"))));
    let reader = h.connect_v5("reader");
    h.subscribe(reader, "#", QoS::AtMostOnce);
    let id = h.publish_qos(reader, "open", "denied", QoS::AtLeastOnce);
    let acks = h.take(reader);
    assert!(
        matches!(acks.as_slice(), [Packet::PubAck(a)] if a.packet_id.get() == id && a.reason == ReasonCode::NotAuthorized),
        "got {acks:?}"
    );
    let writer = h.connect("writer");
    h.publish(writer, "open", "yes");
    h.publish(writer, "secret/x", "no");
    h.assert_published(reader, &[("open", "yes")]);
}

#[test]
fn mosquitto_acl_file_plugs_into_the_access_hook() {
    let mut h = Harness::default();
    let acl = crate::acl::AclFile::parse("topic read news/#\npattern readwrite clients/%c/#\n")
        .expect("a valid acl file");
    h.broker.set_access_control(Some(Arc::new(acl)));
    let reader = h.subscriber("reader", "#", QoS::AtMostOnce);
    let writer = h.connect("writer");
    h.publish(writer, "news/today", "denied: anonymous may only read news");
    h.publish(writer, "clients/writer/status", "allowed by the pattern");
    h.publish(writer, "clients/reader/status", "denied: not its own");
    assert_eq!(h.published_to(reader), []);
    h.subscribe(writer, "clients/writer/#", QoS::AtMostOnce);
    h.publish(writer, "clients/writer/x", "own");
    h.assert_published(writer, &[("clients/writer/x", "own")]);
}

#[test]
fn memory_limit_counts_each_message_once_and_refuses_what_would_go_above_it() {
    let mut h = Harness::default();
    let bytes = |topic: &str, payload: &str| {
        crate::message::estimated_bytes(topic.len(), payload.len(), &Properties::default())
    };
    let v5 = h.connect_v5("v5");
    let big = "x".repeat(1000);
    // A retained message is held until it is cleared, then its bytes are given back.
    let idle = h.broker.memory_in_use();
    h.publish_retained(v5, "solo", &big);
    assert_eq!(h.broker.memory_in_use(), idle + bytes("solo", &big));
    h.publish_retained(v5, "solo", "");
    assert_eq!(h.broker.memory_in_use(), idle);
    // One message queued for two sessions and retained counts once.
    h.offline_subscriber("s1", "big/#", QoS::AtLeastOnce);
    h.offline_subscriber("s2", "big/#", QoS::AtLeastOnce);
    let before = h.broker.memory_in_use();
    h.send(v5, Packet::Publish(publish_packet("big/1", &big, QoS::AtLeastOnce, true, Some(1))));
    assert_eq!(h.broker.memory_in_use(), before + bytes("big/1", &big));
    h.take(v5);

    let limit = h.broker.memory_in_use() + bytes("big/2", "small");
    h.broker.set_config(Config { memory_limit: limit, ..Config::default() });
    h.publish_qos(v5, "big/2", &big, QoS::AtLeastOnce);
    h.publish_qos(v5, "big/2", &big, QoS::ExactlyOnce);
    let refused: Vec<_> = h
        .take(v5)
        .into_iter()
        .map(|packet| match packet {
            Packet::PubAck(ack) | Packet::PubRec(ack) => ack.reason,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(refused, [ReasonCode::QuotaExceeded, ReasonCode::QuotaExceeded]);
    assert_eq!(h.closed(v5), None, "a v5 client may try again later");
    h.publish_qos(v5, "big/2", "small", QoS::AtLeastOnce);
    assert!(
        matches!(h.take(v5).as_slice(), [Packet::PubAck(ack)] if ack.reason == ReasonCode::Success)
    );
    // v3 cannot be told: the connection closes, as in Mosquitto.
    let v3 = h.connect("v3");
    h.publish_qos(v3, "big/3", &big, QoS::AtLeastOnce);
    assert_eq!(h.closed(v3), Some(&DisconnectReason::OutOfMemory));
}
