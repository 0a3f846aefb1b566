//! Listener options (`max_qos`, `use_username_as_clientid`) and `queue_qos0_messages`: what
//! Mosquitto 2.0.11 does with them, checked through the core.

use mqtt_codec::{QoS, ReasonCode};

use super::harness::Harness;
use crate::{Config, DisconnectReason, ListenerOptions};

/// Listener 0 has `max_qos 1` and `use_username_as_clientid true`; others the defaults.
fn limited() -> Harness {
    Harness::new(Config {
        listener_options: vec![ListenerOptions {
            max_qos: QoS::AtLeastOnce,
            use_username_as_clientid: true,
            ..ListenerOptions::default()
        }],
        ..Config::default()
    })
}

#[test]
fn max_qos_caps_granted_qos_and_is_announced_to_v5_clients() {
    let mut h = limited();
    h.listener = 0;
    let v5 = h.try_connect_with("x", |c| c.v5().username("five"));
    assert_eq!(h.connack(v5).properties.maximum_qos, Some(1));
    assert_eq!(h.subscribe(v5, "a/#", QoS::ExactlyOnce), vec![ReasonCode::GrantedQoS1]);
    h.listener = 1;
    let other = h.try_connect_with("other", |c| c.v5());
    assert_eq!(h.connack(other).properties.maximum_qos, None, "default listener: 2, not sent");
    assert_eq!(h.subscribe(other, "a/#", QoS::ExactlyOnce), vec![ReasonCode::GrantedQoS2]);
}

#[test]
fn publish_above_max_qos_disconnects() {
    let mut h = limited();
    h.listener = 0;
    let v5 = h.try_connect_with("", |c| c.v5().username("five"));
    h.connack(v5);
    h.publish_qos(v5, "a/b", "hi", QoS::ExactlyOnce);
    assert_eq!(h.disconnect_reason(v5), Some(ReasonCode::QoSNotSupported));
    assert_eq!(h.closed(v5), Some(&DisconnectReason::QosNotSupported));
    let v3 = h.try_connect_with("", |c| c.username("three"));
    h.connack(v3);
    h.publish_qos(v3, "a/b", "hi", QoS::AtLeastOnce);
    assert!(h.closed(v3).is_none(), "QoS 1 is allowed");
    h.publish_qos(v3, "a/b", "hi", QoS::ExactlyOnce);
    assert_eq!(h.closed(v3), Some(&DisconnectReason::QosNotSupported));
}

#[test]
fn will_above_max_qos_is_refused() {
    let mut h = limited();
    h.listener = 0;
    let v5 = h.try_connect_with("w", |c| {
        c.v5().username("u").will("w/t", "gone");
        c.0.will.as_mut().expect("a will").qos = QoS::ExactlyOnce;
        c
    });
    let refused = h.connack(v5);
    assert_eq!(refused.reason, ReasonCode::QoSNotSupported);
    assert_eq!(refused.properties.maximum_qos, Some(1), "the maximum, as Mosquitto");
    assert_eq!(h.closed(v5), Some(&DisconnectReason::QosNotSupported));
    let allowed = h.try_connect_with("w0", |c| c.v5().username("u0").will("w/t", "gone"));
    assert_eq!(h.connack(allowed).reason, ReasonCode::Success, "a QoS 0 will is fine");
}

#[test]
fn use_username_as_clientid_replaces_the_id_and_needs_a_username() {
    let mut h = limited();
    h.listener = 0;
    let conn = h.try_connect_with("given-id", |c| c.username("alice"));
    assert_eq!(h.connack(conn).reason, ReasonCode::Success);
    assert_eq!(h.broker.client_id(conn), Some("alice"));
    let anonymous = h.try_connect_with("given-id", |c| c);
    assert_eq!(h.connack(anonymous).reason, ReasonCode::NotAuthorized);
    let v5 = h.try_connect_with("x", |c| c.v5());
    assert_eq!(h.connack(v5).reason, ReasonCode::NotAuthorized);
}

#[test]
fn queue_qos0_messages_queues_for_offline_sessions() {
    for queue in [false, true] {
        let mut h = Harness::new(Config { queue_qos0_messages: queue, ..Config::default() });
        let sub = h.connect_with("sub", |c| c.clean(false));
        h.subscribe(sub, "q/#", QoS::AtLeastOnce);
        h.kill(sub);
        let publisher = h.connect("pub");
        h.publish(publisher, "q/0", "zero");
        let sub = h.connect_with("sub", |c| c.clean(false));
        let got = h.published_to(sub);
        if queue {
            assert_eq!(got, vec![("q/0".to_owned(), "zero".to_owned())]);
        } else {
            assert!(got.is_empty(), "{got:?}");
        }
    }
}

/// Listener 0 mounts its clients under `site/`; listener 1 has no mount point.
fn mounted() -> Harness {
    Harness::new(Config {
        listener_options: vec![ListenerOptions {
            mount_point: Some("site/".to_owned()),
            ..ListenerOptions::default()
        }],
        ..Config::default()
    })
}

#[test]
fn mount_point_prefixes_what_clients_send_and_strips_what_they_receive() {
    let mut h = mounted();
    h.listener = 1;
    let outside = h.subscriber("outside", "#", QoS::AtMostOnce);
    h.listener = 0;
    let inside = h.subscriber("inside", "a/#", QoS::AtMostOnce);
    h.publish(inside, "a/b", "from inside");
    h.assert_published(outside, &[("site/a/b", "from inside")]);
    h.assert_published(inside, &[("a/b", "from inside")]);
    h.publish(outside, "site/a/c", "from outside");
    h.publish(outside, "a/c", "not mounted");
    h.assert_published(inside, &[("a/c", "from outside")]);
    assert_eq!(h.unsubscribe(inside, "a/#"), Vec::<ReasonCode>::new());
    h.publish(outside, "site/a/d", "after unsubscribe");
    assert!(h.published_to(inside).is_empty());
}

#[test]
fn mount_point_applies_to_retained_messages_wills_and_shared_subscriptions() {
    let mut h = mounted();
    h.listener = 1;
    let outside = h.subscriber("outside", "site/gone", QoS::AtMostOnce);
    h.publish_retained(outside, "site/kept", "retained");
    h.listener = 0;
    let inside = h.subscriber("inside", "kept", QoS::AtMostOnce);
    h.assert_published(inside, &[("kept", "retained")]);
    h.subscribe(inside, "$share/g/s/#", QoS::AtMostOnce);
    h.publish(outside, "site/s/1", "shared");
    h.assert_published(inside, &[("s/1", "shared")]);
    let dying = h.connect_with("dying", |c| c.will("gone", "bye"));
    h.kill(dying);
    h.assert_published(outside, &[("site/gone", "bye")]);
}

#[test]
fn allow_duplicate_messages_sends_one_copy_per_matching_subscription() {
    for (allow, copies) in [(false, 1), (true, 2)] {
        let mut h = Harness::new(Config { allow_duplicate_messages: allow, ..Config::default() });
        let sub = h.subscriber("sub", "ov/#", QoS::AtMostOnce);
        h.subscribe(sub, "ov/+", QoS::AtMostOnce);
        let publisher = h.connect("pub");
        h.publish(publisher, "ov/x", "m");
        assert_eq!(h.published_to(sub).len(), copies, "allow_duplicate_messages {allow}");
    }
}

#[test]
fn max_inflight_bytes_holds_messages_back_until_acknowledged() {
    let mut h = Harness::new(Config { max_inflight_bytes: 10, ..Config::default() });
    let sub = h.subscriber("sub", "t", QoS::AtLeastOnce);
    let publisher = h.connect("pub");
    for payload in ["first!", "second", "third!"] {
        h.publish_qos(publisher, "t", payload, QoS::AtLeastOnce);
    }
    // 0 < 10 and 6 < 10 bytes in flight: two go; at 12 the third waits.
    let sent = h.take_publishes(sub);
    assert_eq!(sent.len(), 2);
    let first = sent[0].packet_id.expect("QoS 1");
    h.send(sub, mqtt_codec::Packet::PubAck(super::harness::ack(first.get())));
    let rest = h.published_to(sub);
    assert_eq!(rest, vec![("t".to_owned(), "third!".to_owned())]);
}
