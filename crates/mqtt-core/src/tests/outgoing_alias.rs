//! Topic aliases the broker sets up towards v5 clients (Mosquitto 2.1's
//! `max_topic_alias_broker`): who gets them, in which order, what happens when they run out,
//! and that they end with the connection.

use mqtt_codec::QoS;

use super::harness::Harness;
use crate::{Config, ConnId, ListenerOptions};

/// A broker whose listener 0 may set up `max` aliases towards each client.
fn broker(max: u16) -> Harness {
    Harness::new(Config {
        listener_options: vec![ListenerOptions {
            max_topic_alias_broker: max,
            ..ListenerOptions::default()
        }],
        ..Config::default()
    })
}

/// (topic as sent, topic alias) of every PUBLISH `conn` received since the last call.
fn seen(h: &mut Harness, conn: ConnId) -> Vec<(String, Option<u16>)> {
    h.take_publishes(conn)
        .iter()
        .map(|p| (p.topic.as_str().to_owned(), p.properties.topic_alias))
        .collect()
}

/// (topic as sent, topic alias) of each expected PUBLISH.
type Rows<'a> = &'a [(&'a str, Option<u16>)];

/// `(topic, alias)` rows for `seen`.
fn rows(expected: Rows<'_>) -> Vec<(String, Option<u16>)> {
    expected.iter().map(|&(topic, alias)| (topic.to_owned(), alias)).collect()
}

#[test]
fn aliases_go_to_v5_clients_within_both_limits() {
    const TOPICS: &[&str] = &["a/long/topic", "a/long/topic", "b", "c", "b", "c"];
    let plain: Rows<'_> = &[
        ("a/long/topic", None),
        ("a/long/topic", None),
        ("b", None),
        ("c", None),
        ("b", None),
        ("c", None),
    ];
    let two: Rows<'_> = &[
        ("a/long/topic", Some(1)),
        ("", Some(1)),
        ("b", Some(2)),
        ("c", None),
        ("", Some(2)),
        ("c", None),
    ];
    // (listener's max_topic_alias_broker, client's Topic Alias Maximum, expected).
    let cases: &[(u16, Option<u16>, Rows<'_>)] = &[
        // The default (Mosquitto 2.0's): none, even for a client that allows them.
        (0, Some(5), plain),
        // A client that sends no Topic Alias Maximum, or 0, accepts none.
        (10, None, plain),
        (10, Some(0), plain),
        // The lower of the two limits; once it is reached, new topics go out in full.
        (10, Some(2), two),
        (2, Some(10), two),
    ];
    for &(ours, theirs, expected) in cases {
        let mut h = broker(ours);
        let sub = h.connect_with("sub", |c| {
            let c = c.v5();
            match theirs {
                Some(max) => c.topic_alias_maximum(max),
                None => c,
            }
        });
        h.subscribe(sub, "#", QoS::AtMostOnce);
        let publisher = h.connect("pub");
        for topic in TOPICS {
            h.publish(publisher, topic, "x");
        }
        assert_eq!(seen(&mut h, sub), rows(expected), "ours {ours}, theirs {theirs:?}");
    }
}

#[test]
fn a_v3_client_gets_no_alias() {
    let mut h = broker(10);
    let sub = h.subscriber("sub", "t", QoS::AtMostOnce);
    let publisher = h.connect("pub");
    h.publish(publisher, "t", "1");
    h.publish(publisher, "t", "2");
    assert_eq!(seen(&mut h, sub), rows(&[("t", None), ("t", None)]));
}

#[test]
fn retained_messages_and_qos1_use_the_same_table() {
    let mut h = broker(10);
    let publisher = h.connect("pub");
    h.publish_retained(publisher, "r", "kept");
    let sub = h.connect_with("sub", |c| c.v5().topic_alias_maximum(10));
    h.auto_ack(sub);
    h.subscribe(sub, "#", QoS::AtLeastOnce);
    h.publish_qos(publisher, "q", "1", QoS::AtLeastOnce);
    h.publish_qos(publisher, "r", "2", QoS::AtLeastOnce);
    h.publish_qos(publisher, "q", "3", QoS::AtLeastOnce);
    assert_eq!(
        seen(&mut h, sub),
        rows(&[("r", Some(1)), ("q", Some(2)), ("", Some(1)), ("", Some(2))])
    );
}

#[test]
fn a_reconnect_starts_a_new_table_and_resends_the_full_topic() {
    let mut h = broker(10);
    let sub =
        h.connect_with("sub", |c| c.v5().clean(false).session_expiry(60).topic_alias_maximum(4));
    h.subscribe(sub, "#", QoS::AtLeastOnce);
    let publisher = h.connect("pub");
    h.publish_qos(publisher, "first", "1", QoS::AtLeastOnce);
    h.publish_qos(publisher, "t", "2", QoS::AtLeastOnce);
    h.publish_qos(publisher, "t", "3", QoS::AtLeastOnce);
    let sent = seen(&mut h, sub);
    assert_eq!(sent, rows(&[("first", Some(1)), ("t", Some(2)), ("", Some(2))]));
    h.kill(sub);
    // Nothing was acknowledged: the in-flight messages go again on the new connection, under
    // new aliases ([v5 MQTT-3.3.2-7]: aliases end with the network connection).
    let again = h
        .try_connect_with("sub", |c| c.v5().clean(false).session_expiry(60).topic_alias_maximum(4));
    assert_eq!(seen(&mut h, again), rows(&[("first", Some(1)), ("t", Some(2)), ("", Some(2))]));
    h.publish(publisher, "t", "4");
    assert_eq!(seen(&mut h, again), rows(&[("", Some(2))]));
}

#[test]
fn an_alias_whose_publish_was_too_large_is_not_kept() {
    let mut h = broker(10);
    let sub = h.connect_with("sub", |c| c.v5().topic_alias_maximum(10).max_packet_size(64));
    h.subscribe(sub, "t", QoS::AtMostOnce);
    let publisher = h.connect("pub");
    h.publish(publisher, "t", &"x".repeat(100));
    h.publish(publisher, "t", "fits");
    h.publish(publisher, "t", "again");
    assert_eq!(seen(&mut h, sub), rows(&[("t", Some(1)), ("", Some(1))]));
}

#[test]
fn a_mounted_client_gets_aliases_for_the_topics_it_sees() {
    let mut h = Harness::new(Config {
        listener_options: vec![ListenerOptions {
            mount_point: Some("site/".to_owned()),
            max_topic_alias_broker: 10,
            ..ListenerOptions::default()
        }],
        ..Config::default()
    });
    let sub = h.connect_with("sub", |c| c.v5().topic_alias_maximum(10));
    h.subscribe(sub, "t", QoS::AtMostOnce);
    let publisher = h.connect("pub");
    h.publish(publisher, "t", "1");
    h.publish(publisher, "t", "2");
    assert_eq!(seen(&mut h, sub), rows(&[("t", Some(1)), ("", Some(1))]));
}
