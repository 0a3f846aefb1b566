//! Persistence: what a snapshot keeps across a restart (retained messages, persistent
//! sessions, subscriptions, queued, in-flight and incoming QoS 2 messages), what it leaves out,
//! and how expiry counts after a restore.

use std::time::Duration;

use mqtt_codec::{Packet, Properties, PropertyValues, QoS};

use super::harness::{Harness, ack, expiring, publish_packet};
use crate::{Config, ConnId, INTERNAL_LISTENER};

/// A broker holding the retained message `r` = `kept` and, for the offline persistent
/// subscriber `X` to `filter`, `one` published to `topic` at QoS 1; and the publisher.
fn holding_retained_and_queued(filter: &str, topic: &str) -> (Harness, ConnId) {
    let mut h = Harness::default();
    h.offline_subscriber("X", filter, QoS::AtLeastOnce);
    let publisher = h.connect("pub");
    h.publish_retained(publisher, "r", "kept");
    h.publish_qos(publisher, topic, "one", QoS::AtLeastOnce);
    (h, publisher)
}

#[test]
fn retained_messages_and_queued_messages_survive_a_restart() {
    let (mut h, publisher) = holding_retained_and_queued("t/#", "t/1");
    h.publish_qos(publisher, "t/2", "two", QoS::ExactlyOnce);
    h.send(publisher, Packet::PubRel(ack(2)));

    h.restart();
    assert_eq!((h.broker.retained_count(), h.broker.session_count()), (1, 1));
    assert_eq!(h.broker.subscription_counts(), (1, 0));
    let back = h.try_connect_with("X", |c| c.clean(false));
    assert!(h.connack(back).session_present);
    h.assert_published(back, &[("t/1", "one"), ("t/2", "two")]);
    let reader = h.subscriber("reader", "r", QoS::AtMostOnce);
    h.assert_published(reader, &[("r", "kept")]);
    // The subscription itself came back: new messages are routed to it.
    h.auto_ack(back);
    let publisher = h.connect("pub");
    h.publish_qos(publisher, "t/3", "three", QoS::AtLeastOnce);
    h.assert_published(back, &[("t/3", "three")]);
}

#[test]
fn clean_sessions_and_expiry_zero_sessions_are_not_kept() {
    let mut h = Harness::default();
    h.subscriber("clean", "a", QoS::AtLeastOnce);
    let v5 = h.connect_with("v5-zero", |c| c.v5().clean(false).session_expiry(0));
    h.subscribe(v5, "b", QoS::AtLeastOnce);
    // A save while they are connected leaves them out too.
    assert!(h.broker.snapshot(h.now).sessions.is_empty());
    h.restart();
    assert_eq!(h.broker.session_count(), 0);
    assert_eq!(h.broker.subscription_counts(), (0, 0));
}

#[test]
fn unacknowledged_messages_are_resent_with_dup_after_a_restart() {
    let mut h = Harness::default();
    // PUBREC for the second: the broker now waits for PUBCOMP.
    let (_, sent) = h.two_in_flight("flaky");
    let ids: Vec<u16> = sent.iter().filter_map(|p| p.packet_id.map(|id| id.get())).collect();
    assert_eq!(ids.len(), 2);
    // Saved while connected (SIGUSR1), then the process dies.
    let snapshot = h.broker.snapshot(h.now);
    h.restart_from(snapshot);

    let back = h.reconnect_persistent("flaky");
    let received = h.take(back);
    match received.as_slice() {
        [Packet::Publish(first), Packet::PubRel(rel)] => {
            assert!(first.dup, "re-sent with DUP");
            assert_eq!(first.packet_id.map(|id| id.get()), Some(ids[0]));
            assert_eq!(&first.payload[..], b"a");
            assert_eq!(rel.packet_id.get(), ids[1]);
        }
        other => panic!("expected the PUBLISH again and the PUBREL, got {other:?}"),
    }
    // New messages get an id that is not in flight.
    let publisher = h.connect("pub");
    h.publish_qos(publisher, "t", "c", QoS::AtLeastOnce);
    let next = h.take_publishes(back);
    assert_eq!(next.len(), 1);
    assert!(!ids.contains(&next[0].packet_id.map_or(0, |id| id.get())));
}

#[test]
fn incoming_qos2_waiting_for_pubrel_is_routed_after_a_restart() {
    let mut h = Harness::default();
    let reader = h.connect_persistent("reader");
    h.subscribe(reader, "q2", QoS::AtMostOnce);
    let publisher = h.connect_persistent("writer");
    h.send(
        publisher,
        Packet::Publish(publish_packet("q2", "held", QoS::ExactlyOnce, false, Some(7))),
    );
    assert!(h.published_to(reader).is_empty(), "held until PUBREL");
    h.restart();

    let reader = h.try_connect_with("reader", |c| c.clean(false));
    h.connack(reader);
    let writer = h.try_connect_with("writer", |c| c.clean(false));
    assert!(h.connack(writer).session_present);
    h.send(writer, Packet::PubRel(ack(7)));
    assert!(
        h.take(writer).iter().any(|p| matches!(p, Packet::PubComp(c) if c.packet_id.get() == 7))
    );
    h.assert_published(reader, &[("q2", "held")]);
}

#[test]
fn v5_subscription_options_and_message_properties_survive() {
    let mut h = Harness::default();
    let sub = h.connect_with("opts", |c| c.v5().clean(false).session_expiry(3600));
    let mut options = super::harness::options(QoS::AtLeastOnce);
    options.no_local = true;
    let properties = Properties::from(PropertyValues {
        subscription_identifiers: vec![9],
        ..PropertyValues::default()
    });
    h.subscribe_with(sub, &[("p/#", options)], properties);
    h.disconnect(sub);
    let publisher = h.connect_v5("pub");
    let mut publish = publish_packet("p/1", "x", QoS::AtLeastOnce, false, Some(1));
    publish.properties.content_type = Some(super::harness::mqtt_string("text/plain"));
    publish.properties.message_expiry_interval = Some(100);
    h.send(publisher, Packet::Publish(publish));
    h.advance(Duration::from_secs(30));
    h.restart();
    h.advance(Duration::from_secs(10));

    let back = h.try_connect_with("opts", |c| c.v5().clean(false).session_expiry(3600));
    assert!(h.connack(back).session_present);
    let got = h.take_publishes(back);
    assert_eq!(got.len(), 1);
    let props = &got[0].properties;
    assert_eq!(props.content_type.as_ref().map(|s| s.as_str()), Some("text/plain"));
    assert_eq!(props.subscription_identifiers, [9]);
    // 100 s, 30 s gone before the save, 10 s after the restore.
    assert_eq!(props.message_expiry_interval, Some(60));
}

/// The Message Expiry Intervals of the retained messages a new v5 subscriber to `r/#` gets.
fn retained_expiry_intervals(h: &mut Harness) -> Vec<Option<u32>> {
    let sub = h.connect_v5("sub");
    h.subscribe(sub, "r/#", QoS::AtMostOnce);
    h.take_publishes(sub).iter().map(|publish| publish.properties.message_expiry_interval).collect()
}

/// A retained message with a 3 s expiry, saved 1 s after it was published, and what a new
/// subscriber gets of it after `downtime` more: the expiry is stored as an absolute time, so
/// the time the broker was down counts, as in Mosquitto.
fn retained_after_downtime(downtime: Duration) -> Vec<Option<u32>> {
    let mut h = Harness::default();
    let publisher = h.connect_v5("pub");
    let publish = publish_packet("r/expiring", "soon", QoS::AtMostOnce, true, None);
    h.send(publisher, expiring(publish, 3));
    h.advance(Duration::from_secs(1));
    let saved = h.broker.snapshot(h.now);
    h.now += downtime;
    h.restart_from(saved);
    retained_expiry_intervals(&mut h)
}

#[test]
fn message_expiry_counts_while_the_broker_is_down() {
    let cases = [(0, vec![Some(2)]), (1, vec![Some(1)]), (2, vec![]), (60, vec![])];
    for (downtime, expected) in cases {
        assert_eq!(retained_after_downtime(Duration::from_secs(downtime)), expected, "{downtime}");
    }
}

#[test]
fn seconds_left_from_older_files_count_again_from_the_restore() {
    // Format version 3 and the journal's tag 12 stored the seconds left, not the time.
    let mut h = Harness::default();
    let publisher = h.connect_v5("pub");
    h.publish_retained(publisher, "r/old", "kept");
    let mut saved = h.broker.snapshot(h.now);
    saved.messages[0].properties.message_expiry_interval = Some(5);
    h.now += Duration::from_secs(60);
    h.restart_from(saved);
    h.advance(Duration::from_secs(4));
    assert_eq!(retained_expiry_intervals(&mut h), [Some(1)]);
}

#[test]
fn expired_messages_leave_queues_but_incoming_qos_2_flows_complete() {
    let mut h = Harness::default();
    h.offline_subscriber("offline", "q", QoS::AtLeastOnce);
    let publisher = h.connect_with("pub2", |c| c.v5().clean(false).session_expiry(3600));
    for (topic, packet_id) in [("q", 1), ("unheard", 2)] {
        let publish = publish_packet(topic, "short", QoS::ExactlyOnce, false, Some(packet_id));
        h.send(publisher, expiring(publish, 2));
    }
    // The first is released and queued for the subscriber; the second waits for PUBREL.
    h.send(publisher, Packet::PubRel(ack(1)));
    let saved = h.broker.snapshot(h.now);
    let held = |id: &str| saved.sessions.iter().find(|s| s.client_id == id).expect("saved");
    assert_eq!((held("offline").queued.len(), held("pub2").incoming.len()), (1, 1));
    h.now += Duration::from_secs(5);
    h.restart_from(saved);
    let back = h.reconnect_persistent("offline");
    assert!(h.take_publishes(back).is_empty(), "expired while the broker was down");
    let publisher = h.try_connect_with("pub2", |c| c.v5().clean(false).session_expiry(3600));
    h.take(publisher);
    h.send(publisher, Packet::PubRel(ack(2)));
    assert!(
        h.take(publisher).iter().any(|p| matches!(p, Packet::PubComp(c) if c.packet_id.get() == 2))
    );
}

/// A v5 session with a 3 s expiry and a QoS 1 subscription, detached and saved 1 s later;
/// `edit` changes the saved state, the broker is down for `downtime`, and a message is
/// published after the restart: whether the session came back, and what the client got.
fn session_after_downtime(
    downtime: Duration,
    edit: impl FnOnce(&mut crate::snapshot::StoredSession),
) -> (bool, usize) {
    let mut h = Harness::default();
    let sub = h.connect_with("short", |c| c.v5().clean(false).session_expiry(3));
    h.subscribe(sub, "q", QoS::AtLeastOnce);
    h.disconnect(sub);
    h.advance(Duration::from_secs(1));
    let mut saved = h.broker.snapshot(h.now);
    edit(&mut saved.sessions[0]);
    h.now += downtime;
    h.restart_from(saved);
    let publisher = h.connect("pub");
    h.publish_qos(publisher, "q", "meanwhile", QoS::AtLeastOnce);
    let back = h.try_connect_with("short", |c| c.v5().clean(false).session_expiry(3));
    (h.connack(back).session_present, h.take_publishes(back).len())
}

#[test]
fn session_expiry_counts_while_the_broker_is_down() {
    let at = (super::harness::EPOCH_UNIX + 3) * 1000;
    let as_saved = |session: &mut crate::snapshot::StoredSession| {
        assert_eq!((session.expires_at_ms, session.expires_in), (Some(at), None));
    };
    assert_eq!(session_after_downtime(Duration::from_secs(1), as_saved), (true, 1));
    assert_eq!(session_after_downtime(Duration::from_secs(2), as_saved), (false, 0));
    assert_eq!(session_after_downtime(Duration::from_secs(4), as_saved), (false, 0));
    // Files before version 5 (and a broker without a wall clock) stored the seconds left:
    // they count again from the restore.
    let seconds_left = |session: &mut crate::snapshot::StoredSession| {
        (session.expires_at_ms, session.expires_in) = (None, Some(2));
    };
    assert_eq!(session_after_downtime(Duration::from_secs(4), seconds_left), (true, 1));
}

#[test]
fn a_detached_session_keeps_the_rest_of_its_expiry() {
    let mut h = Harness::default();
    let sub = h.connect_with("short", |c| c.v5().clean(false).session_expiry(100));
    h.disconnect(sub);
    h.advance(Duration::from_secs(40));
    h.restart();
    h.advance(Duration::from_secs(59));
    assert_eq!(h.broker.session_count(), 1);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.broker.session_count(), 0, "expired 60 s after the restore");
}

#[test]
fn a_message_queued_for_many_sessions_is_stored_once() {
    let mut h = Harness::new(Config::default());
    for id in ["a", "b", "c"] {
        let conn = h.connect_persistent(id);
        h.subscribe(conn, "fan", QoS::AtLeastOnce);
        h.disconnect(conn);
    }
    let publisher = h.connect("pub");
    h.publish_qos(publisher, "fan", "shared", QoS::AtLeastOnce);
    let snapshot = h.broker.snapshot(h.now);
    assert_eq!(snapshot.messages.len(), 1);
    assert_eq!(snapshot.sessions.iter().map(|s| s.queued.len()).sum::<usize>(), 3);
    h.restart_from(snapshot);
    assert_eq!(h.broker.stored_messages().0, 1, "shared again after the restore");
}

#[test]
fn changes_count_durable_state_only() {
    let mut h = Harness::default();
    let before = h.broker.changes();
    let publisher = h.connect("pub");
    let after_connect = h.broker.changes();
    assert!(after_connect > before);
    h.publish(publisher, "nobody/listens", "qos0");
    assert_eq!(h.broker.changes(), after_connect, "a QoS 0 message changes nothing durable");
    h.publish_retained(publisher, "r", "x");
    assert!(h.broker.changes() > after_connect);
}

#[test]
fn durable_ids_are_kept_by_a_restart_and_new_ones_come_after_them() {
    let (mut h, _) = holding_retained_and_queued("t", "t");
    let before = h.broker.snapshot(h.now);
    let message_ids: Vec<u64> = before.messages.iter().map(|m| m.id).collect();
    let queued = &before.sessions[0].queued;
    assert_eq!((message_ids.len(), queued.len()), (2, 1));
    assert!(message_ids.iter().all(|&id| id != 0) && message_ids[0] != message_ids[1]);
    assert!(queued[0].id != 0 && message_ids.contains(&queued[0].message));

    h.restart_from(before.clone());
    assert_eq!(h.broker.snapshot(h.now), before, "a restore keeps every id");
    let publisher = h.connect("pub");
    h.publish_qos(publisher, "t", "two", QoS::AtLeastOnce);
    let after = h.broker.snapshot(h.now);
    let newest = after.sessions[0].queued.last().expect("queued").clone();
    assert!(message_ids.iter().all(|&id| newest.message > id), "{newest:?}");
    assert!(newest.id > queued[0].id, "{newest:?}");
}

#[test]
fn a_bridge_session_stays_on_the_internal_listener_after_a_restart() {
    for journal in [false, true] {
        let mut h = Harness::new(Config { journal, ..Config::default() });
        h.listener = INTERNAL_LISTENER;
        h.offline_subscriber("bridge", "t/#", QoS::AtLeastOnce);
        h.listener = 1;
        h.offline_subscriber("client", "t/#", QoS::AtLeastOnce);
        if journal {
            let replayed = super::journal::replayed(&h);
            h.restart_from(replayed);
        } else {
            h.restart();
        }
        assert_eq!(
            h.broker.session_listener("bridge"),
            Some(INTERNAL_LISTENER),
            "journal {journal}"
        );
        assert_eq!(h.broker.session_listener("client"), Some(1), "journal {journal}");
    }
}
