//! Journaling: with `Config::journal` on, the changes the broker emits, replayed from nothing,
//! give the same durable state as its snapshot, after any workload; acknowledgements are
//! marked; and with journaling off nothing is emitted.

use std::time::Duration;

use mqtt_codec::{Packet, QoS};
use proptest::prelude::*;

use super::harness::{Harness, ack};
use crate::snapshot::Snapshot;
use crate::snapshot::journal::{Change, Replay, comparable};
use crate::{Config, ConnId, acknowledges_durable_state};

fn journaling() -> Harness {
    Harness::new(Config { journal: true, ..Config::default() })
}

pub(super) fn replayed(h: &Harness) -> Snapshot {
    let mut replay = Replay::new(Snapshot::default());
    for change in h.journal.iter().cloned() {
        replay.apply(change);
    }
    assert_eq!(replay.skipped(), 0, "every record names something known");
    replay.finish()
}

#[derive(Clone, Debug)]
enum Op {
    Connect {
        client: u8,
        persistent: bool,
        v5: bool,
        auto_ack: bool,
    },
    Disconnect {
        client: u8,
    },
    Kill {
        client: u8,
    },
    Subscribe {
        client: u8,
        filter: u8,
        qos: u8,
    },
    Unsubscribe {
        client: u8,
        filter: u8,
    },
    Publish {
        client: u8,
        topic: u8,
        qos: u8,
        retain: bool,
        empty: bool,
    },
    /// PUBREL for the client's last QoS 2 publish.
    Release {
        client: u8,
    },
    /// Acknowledge everything the client holds (PUBACK, PUBREC, then PUBCOMP for PUBRELs).
    Ack {
        client: u8,
    },
    Advance {
        secs: u8,
    },
}

fn ops() -> impl Strategy<Value = Op> {
    let client = 0u8..3;
    prop_oneof![
        3 => (client.clone(), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(client, persistent, v5, auto_ack)| Op::Connect { client, persistent, v5, auto_ack }),
        1 => client.clone().prop_map(|client| Op::Disconnect { client }),
        1 => client.clone().prop_map(|client| Op::Kill { client }),
        2 => (client.clone(), 0u8..3, 0u8..3).prop_map(|(client, filter, qos)| Op::Subscribe { client, filter, qos }),
        1 => (client.clone(), 0u8..3).prop_map(|(client, filter)| Op::Unsubscribe { client, filter }),
        5 => (client.clone(), 0u8..2, 0u8..3, any::<bool>(), proptest::bool::weighted(0.1))
            .prop_map(|(client, topic, qos, retain, empty)| Op::Publish { client, topic, qos, retain, empty }),
        1 => client.clone().prop_map(|client| Op::Release { client }),
        2 => client.prop_map(|client| Op::Ack { client }),
        1 => (0u8..4).prop_map(|secs| Op::Advance { secs }),
    ]
}

fn qos(n: u8) -> QoS {
    match n {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// Runs `ops`, checking after each one that the journal replays to the snapshot.
fn run(ops: &[Op]) {
    let mut h = journaling();
    let mut conns: [Option<ConnId>; 3] = [None; 3];
    let mut last_qos2: [Option<u16>; 3] = [None; 3];
    for op in ops {
        match *op {
            Op::Connect { client, persistent, v5, auto_ack } => {
                if let Some(old) = conns[usize::from(client)].take() {
                    h.kill(old);
                }
                let conn = h.connect_with(&format!("c{client}"), |c| {
                    if v5 {
                        c.v5().clean(!persistent).session_expiry(if persistent { 2 } else { 0 });
                    } else {
                        c.clean(!persistent);
                    }
                    c.will("will/topic", "gone");
                    c
                });
                if auto_ack {
                    h.auto_ack(conn);
                }
                conns[usize::from(client)] = Some(conn);
            }
            Op::Disconnect { client } => {
                if let Some(conn) = conns[usize::from(client)].take() {
                    h.disconnect(conn);
                }
            }
            Op::Kill { client } => {
                if let Some(conn) = conns[usize::from(client)].take() {
                    h.kill(conn);
                }
            }
            Op::Subscribe { client, filter, qos: q } => {
                if let Some(conn) = conns[usize::from(client)] {
                    h.subscribe(conn, ["t/#", "t/a", "will/+"][usize::from(filter)], qos(q));
                }
            }
            Op::Unsubscribe { client, filter } => {
                if let Some(conn) = conns[usize::from(client)] {
                    h.unsubscribe(conn, ["t/#", "t/a", "will/+"][usize::from(filter)]);
                }
            }
            Op::Publish { client, topic, qos: q, retain, empty } => {
                if let Some(conn) = conns[usize::from(client)] {
                    let topic = ["t/a", "t/b"][usize::from(topic)];
                    let payload = if empty { "" } else { "data" };
                    let id = if retain {
                        h.publish_retained(conn, topic, payload);
                        0
                    } else {
                        h.publish_qos(conn, topic, payload, qos(q))
                    };
                    if qos(q) == QoS::ExactlyOnce && !retain {
                        last_qos2[usize::from(client)] = Some(id);
                    }
                }
            }
            Op::Release { client } => {
                if let (Some(conn), Some(id)) =
                    (conns[usize::from(client)], last_qos2[usize::from(client)].take())
                {
                    h.send(conn, Packet::PubRel(ack(id)));
                }
            }
            Op::Ack { client } => {
                if let Some(conn) = conns[usize::from(client)] {
                    for packet in h.take(conn) {
                        let reply = match packet {
                            Packet::Publish(p) => match (p.qos, p.packet_id) {
                                (QoS::AtLeastOnce, Some(id)) => Packet::PubAck(ack(id.get())),
                                (QoS::ExactlyOnce, Some(id)) => Packet::PubRec(ack(id.get())),
                                _ => continue,
                            },
                            Packet::PubRel(rel) => Packet::PubComp(ack(rel.packet_id.get())),
                            _ => continue,
                        };
                        h.send(conn, reply);
                    }
                }
            }
            Op::Advance { secs } => h.advance(Duration::from_secs(u64::from(secs))),
        }
        let snapshot = h.broker.snapshot(h.now);
        assert_eq!(comparable(replayed(&h)), comparable(snapshot), "after {op:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn the_journal_replays_to_the_snapshot(ops in proptest::collection::vec(ops(), 1..40)) {
        run(&ops);
    }
}

#[test]
fn a_persistent_session_and_its_queue_are_journaled_and_a_clean_one_is_not() {
    let mut h = journaling();
    let sub = h.connect_with("durable", |c| c.clean(false));
    h.subscribe(sub, "t", QoS::AtLeastOnce);
    h.disconnect(sub);
    let clean = h.connect("clean");
    h.subscribe(clean, "t", QoS::AtLeastOnce);
    let before = h.journal.len();
    h.publish_qos(clean, "t", "one", QoS::AtLeastOnce);
    let state = replayed(&h);
    assert!(h.journal.len() > before);
    assert_eq!(state.sessions.len(), 1);
    assert_eq!(state.sessions[0].client_id, "durable");
    assert_eq!(state.sessions[0].queued.len(), 1);
    assert_eq!(state.messages[0].payload.as_ref(), b"one");
    // Nothing about the clean session.
    assert!(h.journal.iter().all(|change| !format!("{change:?}").contains("\"clean\"")));
}

#[test]
fn a_retained_message_dropped_as_expired_is_journaled_as_gone() {
    // Found by the `broker` fuzz target: a subscription met an expired retained message and
    // dropped it, but the journal kept it, so a replay would have brought it back.
    let mut h = journaling();
    let publisher = h.connect_v5("pub");
    let publish = super::harness::publish_packet("r", "old", QoS::AtMostOnce, true, None);
    h.send(publisher, super::harness::expiring(publish, 1));
    h.advance(Duration::from_secs(2));
    let sub = h.connect_v5("sub");
    h.subscribe(sub, "#", QoS::AtMostOnce);
    let snapshot = h.broker.snapshot(h.now);
    assert!(snapshot.retained.is_empty());
    assert_eq!(comparable(replayed(&h)), comparable(snapshot));
}

#[test]
fn a_retained_message_that_expired_unmet_is_replayed_and_not_restored() {
    // Found by the `broker` fuzz target (fuzz/corpus/broker/regression-expired-retained-will): a retained
    // will with a 3 s expiry that nothing met after it expired. The snapshot left it out, the
    // journal (which stored its expiry as the seconds left) still had it, so a restart after a
    // crash brought it back with a fresh countdown. Both now hold it with its expiry time, and
    // the restore drops it.
    let mut h = journaling();
    let victim =
        h.connect_with("victim", |c| c.v5().will("wall/t", "gone").will_retain().will_expiry(3));
    h.kill(victim);
    h.advance(Duration::from_secs(4));
    let snapshot = h.broker.snapshot(h.now);
    assert_eq!(snapshot.messages[0].expires_at_ms, Some((super::harness::EPOCH_UNIX + 3) * 1000));
    let replay = replayed(&h);
    assert_eq!(comparable(replay.clone()), comparable(snapshot));
    h.restart_from(replay);
    let sub = h.connect_v5("sub");
    h.subscribe(sub, "#", QoS::AtMostOnce);
    assert!(h.take_publishes(sub).is_empty(), "expired while nothing met it");
}

#[test]
fn a_detached_sessions_expiry_time_is_replayed_and_counts_while_down() {
    let mut h = journaling();
    let sub = h.connect_with("detached", |c| c.v5().clean(false).session_expiry(3));
    h.subscribe(sub, "q", QoS::AtLeastOnce);
    h.disconnect(sub);
    h.advance(Duration::from_secs(1));
    let snapshot = h.broker.snapshot(h.now);
    let at = (super::harness::EPOCH_UNIX + 3) * 1000;
    assert_eq!(snapshot.sessions[0].expires_at_ms, Some(at));
    let replay = replayed(&h);
    assert_eq!(comparable(replay.clone()), comparable(snapshot));
    // A reconnect stops the countdown.
    let back = h.try_connect_with("detached", |c| c.v5().clean(false).session_expiry(3));
    assert!(h.connack(back).session_present);
    assert_eq!(replayed(&h).sessions[0].expires_at_ms, None);
    h.disconnect(back);
    // A crash, and the broker down until after the expiry: the session is gone.
    h.now += Duration::from_secs(4);
    h.restart_from(replayed(&h));
    assert_eq!(h.broker.session_count(), 0);
}

#[test]
fn without_journaling_nothing_is_emitted() {
    let mut h = Harness::default();
    let sub = h.connect_with("durable", |c| c.clean(false));
    h.subscribe(sub, "t", QoS::ExactlyOnce);
    h.disconnect(sub);
    let publisher = h.connect("pub");
    h.publish_qos(publisher, "t", "one", QoS::AtLeastOnce);
    h.publish_retained(publisher, "r", "kept");
    assert!(h.journal.is_empty());
}

#[test]
fn acknowledgements_and_qos_2_steps_are_the_packets_held_for_durability() {
    use mqtt_codec::{ConnAck, Properties, ReasonCode};
    let connack = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: Properties::default(),
    });
    assert!(acknowledges_durable_state(&connack));
    assert!(acknowledges_durable_state(&Packet::PubAck(ack(1))));
    assert!(acknowledges_durable_state(&Packet::PubRec(ack(1))));
    assert!(acknowledges_durable_state(&Packet::PubRel(ack(1))));
    assert!(acknowledges_durable_state(&Packet::PubComp(ack(1))));
    let publish =
        |qos| Packet::Publish(super::harness::publish_packet("t", "x", qos, false, Some(1)));
    assert!(acknowledges_durable_state(&publish(QoS::ExactlyOnce)));
    assert!(!acknowledges_durable_state(&publish(QoS::AtLeastOnce)));
    assert!(!acknowledges_durable_state(&Packet::PingResp));
}

#[test]
fn a_journal_restart_resends_in_flight_messages_in_the_order_they_were_first_sent() {
    let mut h = journaling();
    // "a" (QoS 1) then "b" (QoS 2) went out; only b's flow is in the journal.
    h.two_in_flight("flaky");
    let replayed = replayed(&h);
    h.restart_from(replayed);

    let back = h.reconnect_persistent("flaky");
    let received = h.take(back);
    match received.as_slice() {
        [Packet::Publish(first), Packet::PubRel(_)] => {
            assert!(first.dup, "a went out before: re-sent with DUP");
            assert_eq!(&first.payload[..], b"a");
        }
        other => panic!("expected a again, then b's PUBREL, got {other:?}"),
    }
}

#[test]
fn each_shard_journals_the_messages_its_own_records_refer_to() {
    let count = 2;
    let mut h = Harness::sharded(Config { journal: true, ..Config::default() }, count);
    let id_on = |name: &str, shard: usize| {
        (0..)
            .map(|n| format!("{name}{n}"))
            .find(|id| crate::shard_of(id, count) == shard)
            .expect("some id maps to every shard")
    };
    for shard in 0..count {
        let sub = h.connect_persistent(&id_on("sub", shard));
        h.subscribe(sub, "t", QoS::AtLeastOnce);
        h.disconnect(sub);
    }
    let publisher = h.connect(&id_on("pub", 0));
    assert_eq!(h.shard_of_conn(publisher), Some(0));
    h.publish_qos(publisher, "t", "queued", QoS::AtLeastOnce);
    h.publish_retained(publisher, "r", "kept");
    for shard in 0..count {
        let journal = h.shard_journals.get(shard).cloned().unwrap_or_default();
        let messages = journal.iter().filter(|change| matches!(change, Change::Message(_)));
        assert_eq!(messages.count(), 2, "shard {shard} records the queued and the retained one");
        // Each shard's journal replays on its own to that shard's state.
        let mut replay = Replay::new(Snapshot::default());
        for change in journal {
            replay.apply(change);
        }
        assert_eq!(replay.skipped(), 0, "shard {shard}'s records name only what it recorded");
        let snapshot = h.shard(shard).snapshot(h.now);
        assert_eq!(comparable(replay.finish()), comparable(snapshot), "shard {shard}");
    }
}
