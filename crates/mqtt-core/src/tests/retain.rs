//! Retained messages: stored, replaced, deleted by an empty payload, delivered on subscribe
//! with the retain flag, v5 retain handling, and expiry.

use std::sync::Arc;
use std::time::Duration;

use mqtt_codec::{Properties, PropertyValues, QoS, ReasonCode, RetainHandling};

use super::harness::{Harness, expiring, options, publish_packet};
use crate::{AccessControl, Config, DisconnectReason};

/// A broker holding `payload` retained on `topic`, published by the client `pub` (returned).
fn with_retained(topic: &str, payload: &str) -> (Harness, crate::ConnId) {
    let mut h = Harness::default();
    let publisher = h.connect("pub");
    h.publish_retained(publisher, topic, payload);
    (h, publisher)
}

#[test]
fn retained_message_is_delivered_to_new_subscribers_with_the_retain_flag() {
    let (mut h, publisher) = with_retained("status/door", "open");
    let sub = h.subscriber("sub", "status/+", QoS::AtLeastOnce);
    let got = h.take_publishes(sub);
    assert_eq!(got.len(), 1);
    assert!(got[0].retain);
    assert_eq!(got[0].qos, QoS::AtMostOnce, "min of stored and granted QoS");
    // Live messages to an existing subscription carry retain 0 (v3).
    h.publish_retained(publisher, "status/door", "closed");
    let live = h.take_publishes(sub);
    assert!(!live[0].retain);
}

#[test]
fn newer_retained_message_replaces_the_old_and_empty_payload_deletes_it() {
    let (mut h, publisher) = with_retained("t", "old");
    h.publish_retained(publisher, "t", "new");
    let sub = h.subscriber("sub", "t", QoS::AtMostOnce);
    h.assert_published(sub, &[("t", "new")]);
    h.publish_retained(publisher, "t", "");
    assert_eq!(h.broker.retained_count(), 0);
    let later = h.subscriber("later", "#", QoS::AtMostOnce);
    assert_eq!(h.published_to(later), []);
}

#[test]
fn v3_resubscribe_sends_retained_again() {
    let (mut h, _) = with_retained("t", "r");
    let sub = h.subscriber("sub", "t", QoS::AtMostOnce);
    h.subscribe(sub, "t", QoS::AtMostOnce);
    assert_eq!(h.published_to(sub).len(), 2);
}

#[test]
fn v5_retain_handling_controls_retained_delivery() {
    let (mut h, _) = with_retained("t", "r");
    let sub = h.connect_v5("sub");
    let if_new = mqtt_codec::SubscriptionOptions {
        retain_handling: RetainHandling::SendIfNew,
        ..options(QoS::AtMostOnce)
    };
    h.subscribe_with(sub, &[("t", if_new)], Properties::default());
    h.subscribe_with(sub, &[("t", if_new)], Properties::default());
    assert_eq!(h.published_to(sub).len(), 1, "only for the new subscription");
    let never = mqtt_codec::SubscriptionOptions {
        retain_handling: RetainHandling::DoNotSend,
        ..options(QoS::AtMostOnce)
    };
    h.subscribe_with(sub, &[("#", never)], Properties::default());
    assert_eq!(h.published_to(sub), []);
}

#[test]
fn v5_retain_as_published_keeps_the_flag_on_live_delivery() {
    let mut h = Harness::default();
    let sub = h.connect_v5("sub");
    let rap =
        mqtt_codec::SubscriptionOptions { retain_as_published: true, ..options(QoS::AtMostOnce) };
    h.subscribe_with(sub, &[("t", rap)], Properties::default());
    let publisher = h.connect("pub");
    h.publish_retained(publisher, "t", "r");
    assert!(h.take_publishes(sub)[0].retain);
}

#[test]
fn expired_retained_message_is_not_delivered() {
    let mut h = Harness::default();
    let publisher = h.connect_v5("pub");
    let publish = publish_packet("t", "short-lived", QoS::AtMostOnce, true, None);
    h.send(publisher, expiring(publish, 10));
    h.advance(Duration::from_secs(4));
    let early = h.connect_v5("early");
    h.subscribe(early, "t", QoS::AtMostOnce);
    let got = h.take_publishes(early);
    assert_eq!(got[0].properties.message_expiry_interval, Some(6), "remaining lifetime");
    h.advance(Duration::from_secs(6));
    let late = h.subscriber("late", "t", QoS::AtMostOnce);
    assert_eq!(h.published_to(late), []);
}

#[test]
fn retained_publish_is_refused_when_retain_is_unavailable() {
    let mut h = Harness::new(Config { retain_available: false, ..Config::default() });
    let v5 = h.try_connect_with("pub", |c| c.v5());
    assert_eq!(h.connack(v5).properties.retain_available, Some(0));
    h.publish_retained(v5, "t", "r");
    assert_eq!(h.disconnect_reason(v5), Some(ReasonCode::RetainNotSupported));
    assert_eq!(h.closed(v5), Some(&DisconnectReason::QosOrRetainNotSupported));
}

#[test]
fn shared_subscriptions_get_no_retained_messages() {
    let (mut h, _) = with_retained("t", "r");
    let sub = h.subscriber("sub", "$share/g/t", QoS::AtMostOnce);
    assert_eq!(h.published_to(sub), []);
}

#[test]
fn server_published_retained_messages_reach_sys_subscribers() {
    let mut h = Harness::default();
    let version = publish_packet("$SYS/broker/version", "culex", QoS::AtMostOnce, true, None);
    h.broker.publish(version, h.now);
    let watcher = h.subscriber("watcher", "$SYS/#", QoS::AtMostOnce);
    h.assert_published(watcher, &[("$SYS/broker/version", "culex")]);
    assert_eq!(h.broker.connected_count(), 1);
}

#[test]
fn retained_messages_sent_on_subscribe_carry_the_subscription_identifier() {
    let (mut h, _) = with_retained("t", "r");
    let sub = h.connect_v5("sub");
    let props = Properties::from(PropertyValues {
        subscription_identifiers: vec![42],
        ..PropertyValues::default()
    });
    h.subscribe_with(sub, &[("t", options(QoS::AtMostOnce))], props);
    assert_eq!(h.take_publishes(sub)[0].properties.subscription_identifiers, [42]);
}

#[test]
fn check_retain_source_holds_back_what_the_publisher_may_no_longer_write() {
    let rules = |write: bool| {
        let text = if write { "topic read #\npattern write t/%c\n" } else { "topic read #\n" };
        let acl = crate::acl::AclFile::parse(text).expect("a valid acl file");
        Some(Arc::new(acl) as Arc<dyn AccessControl>)
    };
    // (check_retain_source, a restart between publish and subscribe, delivered while denied)
    for (check, restart, delivered) in
        [(false, false, true), (true, false, false), (true, true, false)]
    {
        let mut h = Harness::new(Config { check_retain_source: check, ..Config::default() });
        h.broker.set_access_control(rules(true));
        let publisher = h.connect("pub");
        h.publish_retained(publisher, "t/pub", "kept");
        h.disconnect(publisher);
        if restart {
            // The publisher is stored with the message (the harness checks the round trip).
            h.restart();
        }
        // A reload takes the publisher's write access away.
        h.broker.set_access_control(rules(false));
        let denied = h.subscriber("denied", "t/#", QoS::AtMostOnce);
        let expected: &[(&str, &str)] = if delivered { &[("t/pub", "kept")] } else { &[] };
        h.assert_published(denied, expected);
        // Held back, not deleted (as in Mosquitto): the access comes back with the rules.
        h.broker.set_access_control(rules(true));
        let allowed = h.subscriber("allowed", "t/#", QoS::AtMostOnce);
        h.assert_published(allowed, &[("t/pub", "kept")]);
    }
}
