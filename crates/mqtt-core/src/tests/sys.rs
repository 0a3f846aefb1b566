//! `$SYS` topics: what each update publishes, in which order, when, and the load averages,
//! against Mosquitto 2.0.11's `sys_tree.c`.

use std::time::Duration;

use mqtt_codec::QoS;

use super::harness::*;
use crate::{Config, SYS_LOAD_COUNTERS};

fn with_interval(secs: u16) -> Harness {
    Harness::new(Config { sys_interval: secs, ..Config::default() })
}

/// A harness with `sys_interval` `secs` whose `$SYS` tree started now, as `culex`.
fn started(secs: u16) -> Harness {
    let mut h = with_interval(secs);
    h.broker.start_sys("culex", h.now);
    h
}

fn topics(published: &[(String, String)]) -> Vec<&str> {
    published.iter().map(|(topic, _)| topic.strip_prefix("$SYS/broker/").unwrap_or(topic)).collect()
}

fn value<'a>(published: &'a [(String, String)], topic: &str) -> Option<&'a str> {
    let topic = format!("$SYS/broker/{topic}");
    published.iter().find(|(t, _)| *t == topic).map(|(_, payload)| payload.as_str())
}

#[test]
fn the_first_update_publishes_everything_in_mosquittos_order() {
    let mut h = with_interval(2);
    h.broker.start_sys("culex version 9.9.9", h.now);
    assert_eq!(h.broker.sys_deadline(), Some(h.now), "the first update is due at start");
    let watcher = h.subscriber("watcher", "$SYS/#", QoS::AtMostOnce);
    h.assert_published(watcher, &[("$SYS/broker/version", "culex version 9.9.9")]);
    h.broker.count_bytes(40, 10);
    h.update_sys();
    let published = h.published_to(watcher);
    let mut expected = vec![
        "uptime",
        "clients/total",
        "clients/maximum",
        "clients/inactive",
        "clients/disconnected",
        "clients/active",
        "clients/connected",
        "clients/expired",
    ];
    let loads: Vec<String> = ["1min", "5min", "15min"]
        .iter()
        .flat_map(|window| {
            SYS_LOAD_COUNTERS.iter().map(move |name| format!("load/{name}/{window}"))
        })
        .collect();
    expected.extend(loads.iter().map(String::as_str));
    expected.extend([
        "messages/stored",
        "store/messages/count",
        "store/messages/bytes",
        "subscriptions/count",
        "shared_subscriptions/count",
        "retained messages/count",
        "heap/current",
        "heap/maximum",
        "messages/received",
        "messages/sent",
        "publish/messages/dropped",
        "publish/messages/received",
        "publish/messages/sent",
        "bytes/received",
        "bytes/sent",
        "publish/bytes/received",
        "publish/bytes/sent",
    ]);
    assert_eq!(topics(&published), expected);
    assert_eq!(value(&published, "uptime"), Some("0 seconds"));
    assert_eq!(value(&published, "clients/total"), Some("1"));
    assert_eq!(value(&published, "clients/maximum"), Some("1"));
    assert_eq!(value(&published, "clients/disconnected"), Some("0"));
    assert_eq!(value(&published, "clients/connected"), Some("1"));
    assert!(loads.iter().all(|load| value(&published, load) == Some("0.00")));
    assert_eq!(value(&published, "subscriptions/count"), Some("1"));
    // CONNECT and SUBSCRIBE in; CONNACK, SUBACK, the version and this update's PUBLISHes out.
    assert_eq!(value(&published, "messages/received"), Some("2"));
    assert_eq!(value(&published, "bytes/received"), Some("40"));
    // Everything published before the count is retained by then: version, uptime, 7
    // clients/*, 27 loads, stored ×2, bytes, the two subscription counts.
    assert_eq!(value(&published, "retained messages/count"), Some("41"));
    // Stored before the count: version, uptime, clients/*, loads.
    assert_eq!(value(&published, "messages/stored"), Some("36"));
    assert_eq!(value(&published, "publish/messages/received"), Some("0"));
    // The estimate of `memory_limit`, read before the counters below were published.
    let heap = value(&published, "heap/current").and_then(|n| n.parse::<usize>().ok());
    assert!(heap.is_some_and(|n| n > 0 && n < h.broker.memory_in_use()), "{heap:?}");
    assert_eq!(value(&published, "heap/maximum"), value(&published, "heap/current"));
}

#[test]
fn updates_come_when_more_than_the_interval_has_passed_and_carry_only_changes() {
    let mut h = started(2);
    let start = h.now;
    h.update_sys();
    assert_eq!(h.broker.sys_deadline(), Some(start + Duration::from_secs(3)));
    let watcher = h.subscriber("watcher", "$SYS/broker/uptime", QoS::AtMostOnce);
    h.subscribe(watcher, "$SYS/broker/clients/+", QoS::AtMostOnce);
    h.take(watcher);
    // As in Mosquitto 2.0.11 (`now - interval > last_update`, whole seconds): not at 2 s.
    h.now = start + Duration::from_millis(2999);
    h.update_sys();
    assert_eq!(h.published_to(watcher), []);
    h.now = start + Duration::from_secs(3);
    h.update_sys();
    h.assert_published(
        watcher,
        &[
            ("$SYS/broker/uptime", "3 seconds"),
            ("$SYS/broker/clients/total", "1"),
            ("$SYS/broker/clients/maximum", "1"),
            ("$SYS/broker/clients/active", "1"),
            ("$SYS/broker/clients/connected", "1"),
        ],
    );
    assert_eq!(h.broker.sys_deadline(), Some(start + Duration::from_secs(6)));
    h.disconnect(watcher);
    let watcher = h.subscriber("watcher2", "$SYS/broker/clients/+", QoS::AtMostOnce);
    h.take(watcher);
    h.now = start + Duration::from_secs(6);
    h.update_sys();
    assert_eq!(h.published_to(watcher), [], "same counts, nothing new (maximum stays 1)");
}

#[test]
fn load_averages_follow_the_rate_per_minute() {
    let mut h = started(2);
    let start = h.now;
    h.update_sys();
    let publisher = h.connect("publisher");
    for _ in 0..120 {
        h.publish(publisher, "t", "x");
    }
    let watcher = h.subscriber("watcher", "$SYS/broker/load/publish/received/+", QoS::AtMostOnce);
    h.take(watcher);
    h.now = start + Duration::from_secs(3);
    h.update_sys();
    // 120 in 3 s is 2400 a minute; one step of each average from 0.
    h.assert_published(
        watcher,
        &[
            ("$SYS/broker/load/publish/received/1min", "117.05"),
            ("$SYS/broker/load/publish/received/5min", "23.88"),
            ("$SYS/broker/load/publish/received/15min", "7.99"),
        ],
    );
    h.now = start + Duration::from_secs(6);
    h.update_sys();
    let decayed = h.published_to(watcher);
    assert_eq!(topics(&decayed).len(), 3, "no traffic: each average decays and is republished");
    assert_eq!(value(&decayed, "load/publish/received/1min"), Some("111.34"));
}

#[test]
fn sys_interval_zero_publishes_nothing() {
    let mut h = started(0);
    assert_eq!(h.broker.sys_deadline(), None);
    h.update_sys();
    assert_eq!(h.broker.retained_count(), 0);
}

#[test]
fn the_store_counts_each_message_once_however_many_hold_it() {
    // Two offline persistent sessions subscribed to `t`.
    let mut h = Harness::default();
    for id in ["a", "b"] {
        let conn = h.connect_with(id, |c| c.clean(false));
        h.subscribe(conn, "t", QoS::AtLeastOnce);
        h.disconnect(conn);
    }
    let publisher = h.connect("publisher");
    h.publish_qos(publisher, "t", "queued twice", QoS::AtLeastOnce);
    h.publish_qos(publisher, "u", "nobody wants it", QoS::AtLeastOnce);
    assert_eq!(h.broker.stored_messages(), (1, "queued twice".len()));
    let retained = publish_packet("t", "1234", QoS::AtLeastOnce, true, Some(77));
    h.send(publisher, mqtt_codec::Packet::Publish(retained));
    // Retained and queued for both sessions: three holders, one message.
    assert_eq!(h.broker.stored_messages(), (2, "queued twice".len() + 4));
}

#[test]
fn a_reload_can_turn_updates_on_and_off() {
    let mut h = started(0);
    h.broker.set_config(Config { sys_interval: 5, ..Config::default() });
    // As Mosquitto: the version is only published at start, updates begin at once.
    assert_eq!(h.broker.sys_deadline(), Some(h.now));
    h.update_sys();
    let retained = h.broker.retained_count();
    assert!(retained > 40, "{retained}");
    h.broker.set_config(Config { sys_interval: 0, ..Config::default() });
    assert_eq!(h.broker.sys_deadline(), None);
    h.now += Duration::from_secs(60);
    h.update_sys();
    assert_eq!(h.broker.retained_count(), retained);
}

#[test]
fn a_publish_the_runtime_dropped_counts_as_dropped_not_sent() {
    let mut h = Harness::default();
    let subscriber = h.subscriber("s", "t", QoS::AtMostOnce);
    let publisher = h.connect("publisher");
    h.publish(publisher, "t", "12345");
    assert_eq!(h.published_to(subscriber).len(), 1);
    let before = h.broker.stats().clone();
    h.broker.count_dropped(5);
    let after = h.broker.stats();
    assert_eq!(after.publish_dropped, before.publish_dropped + 1);
    assert_eq!(after.publish_sent, before.publish_sent - 1);
    assert_eq!(after.messages_sent, before.messages_sent - 1);
    assert_eq!(after.publish_bytes_sent, before.publish_bytes_sent - 5);
}
