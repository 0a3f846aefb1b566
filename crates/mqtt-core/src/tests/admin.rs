//! The HTTP API's views of the broker (`broker/admin.rs`): clients, subscriptions, retained
//! messages and offline sessions, paged and sorted; the administrative disconnect; the
//! `$SYS` values as last published.

use std::time::Duration;

use mqtt_codec::{ProtocolVersion, QoS, ReasonCode};

use super::harness::*;
use crate::{Config, DisconnectReason, PageRequest};

const ALL: PageRequest = PageRequest { offset: 0, limit: 1000 };

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

#[test]
fn clients_are_sorted_by_id_searched_and_paged() {
    let mut h = Harness::default();
    for id in ["carol", "alice", "bob"] {
        h.connect(id);
    }
    let v5 = h.connect_with("dave", |c| c.v5().keep_alive_secs(30).session_expiry(60));
    h.subscribe(v5, "a/b", QoS::AtLeastOnce);
    h.advance(Duration::from_secs(5));
    let ids = |page: &crate::Page<crate::ClientInfo>| {
        page.items.iter().map(|c| c.id.clone()).collect::<Vec<_>>()
    };
    let all = h.broker.clients(None, ALL, h.now);
    assert_eq!((ids(&all), all.total), (strings(&["alice", "bob", "carol", "dave"]), 4));
    let page = h.broker.clients(None, PageRequest { offset: 1, limit: 2 }, h.now);
    assert_eq!((ids(&page), page.total), (strings(&["bob", "carol"]), 4));
    let found = h.broker.clients(Some("a"), ALL, h.now);
    assert_eq!(ids(&found), ["alice", "carol", "dave"]);
    let dave = &all.items[3];
    assert_eq!(
        (dave.protocol, dave.keep_alive, dave.session_expiry_interval, dave.subscriptions),
        (ProtocolVersion::V5, 30, 60, 1)
    );
    assert!(dave.clean_start);
    assert_eq!(dave.connected_for, Duration::from_secs(5));
}

#[test]
fn one_client_comes_with_its_subscriptions() {
    let mut h = Harness::default();
    let conn = h.connect("c");
    h.subscribe(conn, "z/#", QoS::ExactlyOnce);
    h.subscribe(conn, "a", QoS::AtMostOnce);
    let (info, subs) = h.broker.client("c", h.now).expect("connected");
    assert_eq!(info.id, "c");
    let filters: Vec<_> = subs.iter().map(|s| (s.filter.as_str(), s.qos)).collect();
    assert_eq!(filters, [("a", QoS::AtMostOnce), ("z/#", QoS::ExactlyOnce)]);
    assert!(h.broker.client("nobody", h.now).is_none());
}

#[test]
fn subscriptions_filter_by_prefix() {
    let mut h = Harness::default();
    h.subscriber("b", "sensors/+/t", QoS::AtLeastOnce);
    h.subscriber("a", "sensors/#", QoS::AtMostOnce);
    h.subscriber("c", "other", QoS::AtMostOnce);
    let page = h.broker.subscriptions(Some("sensors/"), ALL);
    let rows: Vec<_> =
        page.items.iter().map(|s| (s.client_id.as_str(), s.filter.as_str())).collect();
    assert_eq!((rows, page.total), (vec![("a", "sensors/#"), ("b", "sensors/+/t")], 2));
    assert_eq!(h.broker.subscriptions(None, PageRequest { offset: 2, limit: 5 }).items.len(), 1);
}

#[test]
fn retained_messages_show_a_preview_of_their_payload() {
    let mut h = Harness::default();
    let publisher = h.connect("p");
    h.publish_retained(publisher, "t/long", &"x".repeat(100));
    h.publish_retained(publisher, "t/short", "hi");
    h.publish_retained(publisher, "u", "no");
    let page = h.broker.retained_messages(Some("t/"), ALL, h.now);
    assert_eq!(page.total, 2);
    let long = &page.items[0];
    assert_eq!((long.topic.as_str(), long.bytes, long.preview.len()), ("t/long", 100, 64));
    assert_eq!(&page.items[1].preview[..], b"hi");
}

#[test]
fn offline_sessions_list_their_queues_and_expiry() {
    let mut h = Harness::new(Config { persistent_client_expiration: None, ..Config::default() });
    h.offline_subscriber("sleeper", "q", QoS::AtLeastOnce);
    let publisher = h.connect("p");
    h.publish_qos(publisher, "q", "12345", QoS::AtLeastOnce);
    let v5 = h.connect_with("brief", |c| c.v5().session_expiry(100));
    h.disconnect(v5);
    h.advance(Duration::from_secs(40));
    let page = h.broker.offline_sessions(ALL, h.now);
    let rows: Vec<_> = page
        .items
        .iter()
        .map(|s| (s.id.as_str(), s.queued, s.queued_bytes, s.expires_in))
        .collect();
    assert_eq!(rows, [("brief", 0, 0, Some(Duration::from_secs(60))), ("sleeper", 1, 5, None)]);
    assert_eq!(h.broker.queued_messages(), (1, 5), "the broker-wide queue totals");
}

#[test]
fn an_administrative_disconnect_tells_a_v5_client_why_and_closes_a_v3_one() {
    let mut h = Harness::default();
    let v5 = h.connect_v5("five");
    let v3 = h.connect("three");
    assert!(h.broker.disconnect_client("five", h.now));
    assert!(h.broker.disconnect_client("three", h.now));
    h.pump();
    assert_eq!(h.disconnect_reason(v5), Some(ReasonCode::AdministrativeAction));
    assert_eq!(h.disconnect_reason(v3), None);
    assert_eq!(h.closed(v3), Some(&DisconnectReason::Administrative));
    assert!(!h.broker.disconnect_client("three", h.now), "no longer connected");
}

#[test]
fn sys_values_are_the_last_published_ones_and_uptime_is_live() {
    let mut h = Harness::new(Config { sys_interval: 10, ..Config::default() });
    h.broker.start_sys("culex", h.now);
    let before = h.broker.sys_values(h.now);
    let total = before.iter().find(|(topic, _)| topic.ends_with("clients/total"));
    assert_eq!(total.map(|v| v.1), Some(1), "never published: 1, as in 2.1");
    h.update_sys();
    h.connect("c");
    h.advance(Duration::from_secs(3));
    let values = h.broker.sys_values(h.now);
    let value = |name: &str| values.iter().find(|(t, _)| *t == name).map(|v| v.1);
    assert_eq!(value("$SYS/broker/clients/connected"), Some(0), "the snapshot, not live");
    assert_eq!(value("$SYS/broker/clients/maximum"), Some(1));
    assert_eq!(value("$SYS/broker/uptime"), Some(3));
    assert_eq!(values.len(), 22);
    assert_eq!(values.last().map(|v| v.0), Some("$SYS/broker/uptime"));
}
