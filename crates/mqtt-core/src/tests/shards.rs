//! Sharded brokers ([`Harness::sharded`]): what crosses shards. A publisher and a subscriber on
//! different shards, takeover and resumption on the shard of the client id, assigned ids,
//! retained replicas, "No matching subscribers", `$share` groups across shards, and which
//! shards a message is forwarded to.

use std::time::Duration;

use mqtt_codec::{Packet, QoS, ReasonCode};

use super::harness::{Harness, ack, publish_packet};
use crate::{Config, shard_of};

/// A client id starting with `name` that shard `shard` of `count` owns.
pub(super) fn id_on(name: &str, shard: usize, count: usize) -> String {
    (0..)
        .map(|n| format!("{name}{n}"))
        .find(|id| shard_of(id, count) == shard)
        .expect("some id maps to every shard")
}

#[test]
fn a_subscriber_gets_in_order_what_a_publisher_on_another_shard_sends_at_every_qos() {
    let mut h = Harness::sharded(Config::default(), 2);
    let sub_id = id_on("sub", 1, 2);
    let sub = h.subscriber(&sub_id, "t/#", QoS::ExactlyOnce);
    h.auto_ack(sub);
    let publisher = h.connect(&id_on("pub", 0, 2));
    assert_eq!((h.shard_of_conn(sub), h.shard_of_conn(publisher)), (Some(1), Some(0)));
    let mut expected = Vec::new();
    for round in 0..3 {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let payload = format!("{round}-{}", qos.as_u8());
            let id = h.publish_qos(publisher, "t/x", &payload, qos);
            match qos {
                QoS::AtMostOnce => assert_eq!(h.take(publisher), []),
                QoS::AtLeastOnce => assert_eq!(h.take(publisher), [Packet::PubAck(ack(id))]),
                QoS::ExactlyOnce => {
                    assert_eq!(h.take(publisher), [Packet::PubRec(ack(id))]);
                    h.send(publisher, Packet::PubRel(ack(id)));
                    assert_eq!(h.take(publisher), [Packet::PubComp(ack(id))]);
                }
            }
            expected.push((qos, payload));
        }
    }
    let got: Vec<(QoS, String)> = h
        .take_publishes(sub)
        .into_iter()
        .map(|p| (p.qos, String::from_utf8_lossy(&p.payload).into_owned()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(h.shard(0).stats().publish_received, 9);
    assert_eq!(h.shard(1).stats().publish_sent, 9);
}

#[test]
fn a_client_id_always_reaches_its_shard_for_takeover_and_resumption() {
    let mut h = Harness::sharded(Config::default(), 3);
    let id = id_on("c", 2, 3);
    let first = h.connect_persistent(&id);
    h.subscribe(first, "t", QoS::AtLeastOnce);
    h.listener = 1;
    let second = h.try_connect_with(&id, |c| c.clean(false));
    assert!(h.connack(second).session_present);
    assert_eq!(h.closed(first), Some(&crate::DisconnectReason::TakenOver));
    h.disconnect(second);
    let publisher = h.connect(&id_on("p", 0, 3));
    h.publish_qos(publisher, "t", "queued", QoS::AtLeastOnce);
    let third = h.reconnect_persistent(&id);
    h.assert_published(third, &[("t", "queued")]);
    let shards: Vec<_> = [first, second, third].map(|c| h.shard_of_conn(c)).into();
    assert_eq!(shards, [Some(2); 3]);
}

#[test]
fn assigned_ids_belong_to_the_shard_that_assigns_them() {
    let count = 3;
    let mut h = Harness::sharded(Config::default(), count);
    for _ in 0..12 {
        let conn = h.try_connect_with("", |c| c.v5());
        let connack = h.connack(conn);
        assert_eq!(connack.reason, ReasonCode::Success);
        let assigned = connack.properties.assigned_client_identifier.clone().expect("assigned");
        let shard = h.shard_of_conn(conn).expect("placed");
        assert_eq!(shard_of(assigned.as_str(), count), shard, "{assigned:?}");
        assert_eq!(h.shard(shard).client_id(conn), Some(assigned.as_str()));
    }
}

#[test]
fn a_retained_message_set_on_one_shard_is_read_on_another() {
    let mut h = Harness::sharded(Config::default(), 2);
    let publisher = h.connect(&id_on("pub", 0, 2));
    h.publish_retained(publisher, "r/t", "kept");
    let reader = h.connect(&id_on("reader", 1, 2));
    h.subscribe(reader, "r/#", QoS::AtMostOnce);
    h.assert_published(reader, &[("r/t", "kept")]);
    assert_eq!([0, 1].map(|shard| h.shard(shard).retained_count()), [1, 1]);
    h.publish_retained(publisher, "r/t", "");
    assert_eq!([0, 1].map(|shard| h.shard(shard).retained_count()), [0, 0]);
}

#[test]
fn concurrent_retained_sets_on_two_shards_converge_on_the_last_writer() {
    let mut h = Harness::sharded(Config::default(), 2);
    let first = h.connect(&id_on("a", 0, 2));
    let second = h.connect(&id_on("b", 1, 2));
    let retained =
        |payload| Packet::Publish(publish_packet("r", payload, QoS::AtMostOnce, true, None));
    let mut readers = 0;
    let mut read = |h: &mut Harness| {
        readers += 1;
        [0, 1].map(|shard| {
            let reader = h.connect(&id_on(&format!("reader{readers}-"), shard, 2));
            h.subscribe(reader, "r", QoS::AtMostOnce);
            h.published_to(reader).into_iter().map(|(_, payload)| payload).collect::<Vec<_>>()
        })
    };
    // The later wins whatever the shard, though each shard applied its own first.
    let later = Duration::from_millis(1);
    h.send_at_once(vec![(second, retained("older")), (first, retained("newer"))], later);
    assert_eq!(read(&mut h), [["newer"], ["newer"]]);
    h.send_at_once(vec![(first, retained("older")), (second, retained("newer"))], later);
    assert_eq!(read(&mut h), [["newer"], ["newer"]]);
    // At the same instant the higher shard index wins, on both replicas.
    h.send_at_once(vec![(second, retained("one")), (first, retained("zero"))], Duration::ZERO);
    assert_eq!(read(&mut h), [["one"], ["one"]]);
    // A deletion is an update like any other.
    h.send_at_once(vec![(first, retained("kept")), (second, retained(""))], later);
    assert_eq!(read(&mut h), [[], []] as [[&str; 0]; 2]);
}

#[test]
fn v5_no_matching_subscribers_counts_the_subscribers_of_every_shard() {
    let mut h = Harness::sharded(Config::default(), 2);
    let publisher = h.connect_v5(&id_on("pub", 0, 2));
    let subscriber = h.subscriber(&id_on("sub", 1, 2), "t/+", QoS::AtMostOnce);
    let puback = |h: &mut Harness| match h.take(publisher).as_slice() {
        [Packet::PubAck(ack)] => ack.reason,
        other => panic!("expected one PUBACK, got {other:?}"),
    };
    h.publish_qos(publisher, "t/1", "x", QoS::AtLeastOnce);
    assert_eq!(puback(&mut h), ReasonCode::Success);
    h.publish_qos(publisher, "u", "x", QoS::AtLeastOnce);
    assert_eq!(puback(&mut h), ReasonCode::NoMatchingSubscribers);
    h.unsubscribe(subscriber, "t/+");
    h.publish_qos(publisher, "t/1", "x", QoS::AtLeastOnce);
    assert_eq!(puback(&mut h), ReasonCode::NoMatchingSubscribers);
    let shared = h.connect(&id_on("member", 1, 2));
    h.subscribe(shared, "$share/g/t/#", QoS::AtMostOnce);
    h.publish_qos(publisher, "t/1", "x", QoS::AtLeastOnce);
    assert_eq!(puback(&mut h), ReasonCode::Success);
    h.kill(shared);
    h.publish_qos(publisher, "t/1", "x", QoS::AtLeastOnce);
    assert_eq!(puback(&mut h), ReasonCode::NoMatchingSubscribers, "its session ended");
}

#[test]
fn a_shared_subscription_with_members_on_every_shard_gets_each_message_once() {
    let count = 3;
    let mut h = Harness::sharded(Config::default(), count);
    let members: Vec<_> = (0..2 * count)
        .map(|n| {
            let member = h.connect(&id_on(&format!("m{n}-"), n % count, count));
            h.subscribe(member, "$share/g/jobs/#", QoS::AtLeastOnce);
            h.auto_ack(member);
            member
        })
        .collect();
    let publishers: Vec<_> = (0..count).map(|shard| h.connect(&id_on("p", shard, count))).collect();
    let mut sent = Vec::new();
    for n in 0..36 {
        let publisher = publishers[n % count];
        let payload = n.to_string();
        h.publish_qos(publisher, "jobs/x", &payload, QoS::AtLeastOnce);
        sent.push(payload);
    }
    let per_member: Vec<Vec<String>> = members
        .iter()
        .map(|&m| h.published_to(m).into_iter().map(|(_, payload)| payload).collect())
        .collect();
    let mut got: Vec<String> = per_member.iter().flatten().cloned().collect();
    got.sort_by_key(|p| p.parse::<u32>().expect("numbers"));
    assert_eq!(got, sent, "each message exactly once");
    assert!(per_member.iter().all(|m| m.len() == 6), "round robin: {per_member:?}");
}

#[test]
fn a_group_pick_on_a_shard_whose_member_just_left_goes_to_the_next_shard() {
    let count = 3;
    let mut h = Harness::sharded(Config::default(), count);
    let leaving = h.connect(&id_on("leaving", 1, count));
    let staying = h.connect(&id_on("staying", 2, count));
    for member in [leaving, staying] {
        h.subscribe(member, "$share/g/t", QoS::AtMostOnce);
    }
    let publisher = h.connect(&id_on("p", 0, count));
    let publish = || Packet::Publish(publish_packet("t", "x", QoS::AtMostOnce, false, None));
    // Shard 0's pick (round robin: shard 1 first) is on its way when the member leaves.
    h.send_at_once(
        vec![(publisher, publish()), (leaving, Packet::Disconnect(Default::default()))],
        Duration::ZERO,
    );
    h.assert_published(staying, &[("t", "x")]);
    // With no member left anywhere, the message goes nowhere.
    h.send_at_once(
        vec![(publisher, publish()), (staying, Packet::Disconnect(Default::default()))],
        Duration::ZERO,
    );
    assert_eq!(h.published_to(staying), []);
}

#[test]
fn sessions_of_every_shard_and_retained_messages_survive_a_restart_into_any_shard_count() {
    for (before, after) in [(2, 2), (2, 3), (1, 3), (3, 1)] {
        let mut h = Harness::sharded(Config::default(), before);
        // A persistent subscriber on every shard of the first run.
        let subscribers: Vec<String> = (0..before).map(|shard| id_on("s", shard, before)).collect();
        for id in &subscribers {
            h.offline_subscriber(id, "t/#", QoS::AtLeastOnce);
        }
        // Publishers on every shard: messages forwarded across keep their origin's ids.
        for shard in 0..before {
            let publisher = h.connect(&id_on("p", shard, before));
            h.publish_qos(publisher, "t/a", &format!("from {shard}"), QoS::AtLeastOnce);
            h.publish_retained(publisher, &format!("r/{shard}"), "kept");
        }
        // The merged file holds every message once under one id (decode refuses duplicates).
        let saved = h.snapshot();
        assert_eq!(saved.sessions.len(), before);
        assert_eq!(saved.retained.len(), before);
        h.restart_sharded(saved.clone(), after);
        let by_id = |mut snapshot: crate::snapshot::Snapshot| {
            snapshot.messages.sort_by_key(|message| message.id);
            snapshot
        };
        assert_eq!(by_id(h.snapshot()), by_id(saved), "{before} → {after}: every id kept");
        let expected: Vec<(String, String)> =
            (0..before).map(|shard| ("t/a".to_owned(), format!("from {shard}"))).collect();
        for id in &subscribers {
            let back = h.try_connect_with(id, |c| c.clean(false));
            assert!(h.connack(back).session_present, "{id} came back on its shard");
            assert_eq!(h.published_to(back), expected, "{before} → {after}: {id}");
            h.auto_ack(back);
        }
        let reader = h.subscriber(&id_on("reader", after - 1, after), "r/#", QoS::AtMostOnce);
        assert_eq!(h.published_to(reader).len(), before, "every shard has every retained one");
        // New messages get ids no restored one has, on every shard: the file still decodes.
        for shard in 0..after {
            let publisher = h.connect(&id_on("q", shard, after));
            h.publish_qos(publisher, "t/b", "new", QoS::AtLeastOnce);
            h.publish_retained(publisher, &format!("r/new{shard}"), "new");
        }
        let snapshot = h.snapshot();
        assert_eq!(snapshot.retained.len(), before + after);
        h.restart_from(snapshot);
    }
}

#[test]
fn sys_publishes_once_from_shard_0_the_sums_of_every_shard() {
    let count = 3;
    let mut h = Harness::sharded(Config { sys_interval: 1, ..Config::default() }, count);
    h.start_sys();
    let watcher = h.subscriber(&id_on("watcher", 1, count), "$SYS/broker/#", QoS::AtMostOnce);
    assert_eq!(h.published_to(watcher), [("$SYS/broker/version".into(), "culex".into())]);
    for shard in 0..count {
        let client = h.connect(&id_on("c", shard, count));
        h.subscribe(client, "a", QoS::AtMostOnce);
        h.subscribe(client, "$share/g/b", QoS::AtMostOnce);
    }
    let publisher = h.connect(&id_on("p", 2, count));
    h.publish_retained(publisher, "r", "x");
    // Shard 0 asks the others for their figures and publishes once they answered: the first
    // update already has every shard's.
    h.update_sys();
    let published = h.published_to(watcher);
    let last = |topic: &str| {
        let topic = format!("$SYS/broker/{topic}");
        let mut values = published.iter().filter(|(t, _)| *t == topic);
        values.next_back().map(|(_, value)| value.clone()).unwrap_or_default()
    };
    assert_eq!(last("clients/connected"), "5");
    assert_eq!(last("clients/total"), "5");
    assert_eq!(last("subscriptions/count"), "4", "the watcher's and three");
    assert_eq!(last("shared_subscriptions/count"), "3");
    let replicas = [0, 1, 2].map(|shard| h.shard(shard).retained_count());
    assert_eq!(replicas, [replicas[0]; 3], "$SYS topics are retained on every replica too");
    assert_eq!(last("publish/messages/received"), "1");
    let uptimes = published.iter().filter(|(t, _)| t == "$SYS/broker/uptime").count();
    assert_eq!(uptimes, 1, "one publisher, not one per shard");
    let more = h.connect(&id_on("late", 2, count));
    h.advance(Duration::from_secs(2));
    h.update_sys();
    let published = h.published_to(watcher);
    let mut connected = published.iter().filter(|(t, _)| t == "$SYS/broker/clients/connected");
    assert_eq!(
        connected.next_back().map(|(_, v)| v.as_str()),
        Some("6"),
        "{more:?} counted at once"
    );
}

#[test]
fn global_max_clients_and_max_connections_count_every_shard() {
    let count = 3;
    let config = Config { max_clients: Some(2), ..Config::default() };
    let mut h = Harness::sharded(config, count);
    let kept = h.connect_persistent(&id_on("kept", 0, count));
    h.disconnect(kept);
    h.connect(&id_on("live", 1, count));
    let third = h.try_connect_with(&id_on("third", 2, count), |c| c.v5());
    assert_eq!(h.connack(third).reason, ReasonCode::ServerBusy);
    h.reconnect_persistent(&id_on("kept", 0, count));

    let config = Config { max_connections: Some(2), ..Config::default() };
    let mut h = Harness::sharded(config, count);
    let ids = [0, 1, 2].map(|shard| id_on("c", shard, count));
    h.connect(&ids[0]);
    h.connect(&ids[1]);
    let refused = h.try_connect_with(&ids[2], |c| c);
    assert_eq!(h.closed(refused), Some(&crate::DisconnectReason::MaxConnections));
}

#[test]
fn a_connection_silent_for_connect_timeout_closes_on_its_own_shard_as_unsharded() {
    let mut h = Harness::sharded(Config::default(), 2);
    let silent = h.open();
    let slow = h.open();
    h.advance(Config::default().connect_timeout / 2);
    h.send(slow, Packet::Connect(Box::new(Harness::connect_packet(&id_on("slow", 0, 2)).0)));
    assert_eq!(h.connack(slow).reason, ReasonCode::Success);
    h.advance(Config::default().connect_timeout / 2);
    assert_eq!(h.closed(silent), Some(&crate::DisconnectReason::KeepAliveTimeout));
    assert_eq!(h.shard_of_conn(silent), Some(usize::try_from(silent.0).unwrap() % 2));
    let logged = crate::LogEvent::ClientDisconnected {
        conn: silent,
        client_id: None,
        reason: crate::DisconnectReason::KeepAliveTimeout,
    };
    assert!(h.logs.contains(&logged));
    assert_eq!(h.closed(slow), None);
}

#[test]
fn memory_in_use_is_the_sum_of_every_shards_gauge() {
    let count = 2;
    let mut h = Harness::sharded(Config::default(), count);
    let idle = [0, 1].map(|shard| h.shard(shard).memory_in_use());
    assert_eq!(idle[0], idle[1]);
    let publisher = h.connect(&id_on("p", 1, count));
    let before = h.shard(0).memory_in_use();
    h.publish_retained(publisher, "kept", "payload");
    // Charged on shard 1's gauge (where the message was made), read the same on shard 0.
    let after = [0, 1].map(|shard| h.shard(shard).memory_in_use());
    assert!(after[0] > before, "{after:?} vs {before}");
    assert_eq!(after[0], after[1]);
    h.publish_retained(publisher, "kept", "");
    assert_eq!(h.shard(0).memory_in_use(), before, "given back on every replica's drop");
}

#[test]
fn restored_subscriptions_count_on_every_shard_for_no_matching_subscribers() {
    let mut h = Harness::sharded(Config::default(), 2);
    let kept = h.connect_persistent(&id_on("kept", 1, 2));
    h.subscribe(kept, "t/#", QoS::AtLeastOnce);
    h.disconnect(kept);
    h.restart();
    let publisher = h.connect_v5(&id_on("pub", 0, 2));
    h.publish_qos(publisher, "t/1", "x", QoS::AtLeastOnce);
    match h.take(publisher).as_slice() {
        [Packet::PubAck(ack)] => assert_eq!(ack.reason, ReasonCode::Success),
        other => panic!("expected one PUBACK, got {other:?}"),
    }
}

/// The messages forwarded since the `since`-th forwarded item: (from, to, for the plain
/// subscribers there, retained).
fn publishes_forwarded(h: &Harness, since: usize) -> Vec<(usize, usize, bool, bool)> {
    let publishes = h.forwarded[since..].iter().filter_map(|forwarded| {
        let (plain, retained) = forwarded.publish?;
        Some((forwarded.from, forwarded.to, plain, retained))
    });
    publishes.collect()
}

#[test]
fn a_message_goes_only_to_the_shards_that_subscribe_and_a_retained_one_to_every_shard() {
    let mut h = Harness::sharded(Config::default(), 3);
    let sub = h.subscriber(&id_on("sub", 1, 3), "t/+", QoS::AtMostOnce);
    let publisher = h.connect(&id_on("pub", 0, 3));
    let since = h.forwarded.len();
    h.publish(publisher, "t/x", "to 1");
    h.publish(publisher, "u", "to nobody");
    assert_eq!(publishes_forwarded(&h, since), [(0, 1, true, false)]);
    assert_eq!(h.published_to(sub), [("t/x".to_owned(), "to 1".to_owned())]);

    let since = h.forwarded.len();
    h.publish_retained(publisher, "u", "kept");
    assert_eq!(
        publishes_forwarded(&h, since),
        [(0, 1, false, true), (0, 2, false, true)],
        "every replica, no walk where nobody subscribes"
    );
    let late = h.connect(&id_on("late", 2, 3));
    h.subscribe(late, "u", QoS::AtMostOnce);
    assert_eq!(h.published_to(late), [("u".to_owned(), "kept".to_owned())]);

    h.unsubscribe(sub, "t/+");
    let since = h.forwarded.len();
    h.publish(publisher, "t/x", "to nobody");
    assert_eq!(publishes_forwarded(&h, since), []);
}

#[test]
fn a_suback_and_what_follows_it_wait_until_every_shard_knows_the_subscription() {
    let mut h = Harness::sharded(Config::default(), 3);
    let publisher = h.connect(&id_on("pub", 0, 3));
    h.publish_retained(publisher, "t", "old");
    let sub = h.connect(&id_on("sub", 1, 3));
    h.delay_forwards();
    assert_eq!(h.subscribe(sub, "t", QoS::AtMostOnce), [], "no SUBACK yet");
    assert_eq!(h.take(sub), [], "nor the retained message after it");
    // Shard 0 has not heard of the subscription: nothing forwarded, and the client was not
    // told it is subscribed.
    h.publish(publisher, "t", "before");
    h.deliver_forwards();
    match h.take(sub).as_slice() {
        [Packet::SubAck(_), Packet::Publish(retained)] => assert_eq!(&retained.payload[..], b"old"),
        other => panic!("expected the SUBACK, then the retained message: {other:?}"),
    }
    h.publish(publisher, "t", "after");
    assert_eq!(h.published_to(sub), [("t".to_owned(), "after".to_owned())]);
}

#[test]
fn a_connection_closing_while_its_suback_waits_gets_it_first_and_a_late_acknowledgement_is_ignored()
{
    let mut h = Harness::sharded(Config::default(), 2);
    let sub = h.connect(&id_on("sub", 1, 2));
    h.delay_forwards();
    h.subscribe(sub, "t", QoS::AtMostOnce);
    h.disconnect(sub);
    assert!(matches!(h.take(sub).as_slice(), [Packet::SubAck(_)]));
    assert!(h.closed(sub).is_some());
    // The harness fails on any packet to a closed connection.
    h.deliver_forwards();
    assert_eq!(h.take(sub), []);
}
