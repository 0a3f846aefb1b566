//! One broker and three shards are the same broker to its clients: random subscriptions,
//! publishes and reconnections give every subscriber the same messages from each publisher,
//! in the same order, whether the broker runs unsharded or as three shards, with the journal
//! off or on (then a PUBACK waits for the other shards' answers, which come at once here).

use proptest::prelude::*;

use mqtt_codec::{Packet, QoS};

use super::harness::Harness;
use crate::{Config, ConnId};

const CLIENTS: usize = 6;
const FILTERS: [&str; 6] = ["a", "a/+", "a/#", "+/b", "#", "b"];
const TOPICS: [&str; 4] = ["a", "a/b", "b", "c/b"];

#[derive(Clone, Debug)]
enum Op {
    Subscribe {
        client: usize,
        filter: usize,
        qos: QoS,
    },
    Unsubscribe {
        client: usize,
        filter: usize,
    },
    Publish {
        client: usize,
        topic: usize,
        qos: QoS,
        retain: bool,
    },
    /// Disconnects an online client, or brings an offline one back to its session.
    Toggle {
        client: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let client = 0..CLIENTS;
    let qos = prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)];
    prop_oneof![
        1 => (client.clone(), 0..FILTERS.len(), qos.clone())
            .prop_map(|(client, filter, qos)| Op::Subscribe { client, filter, qos }),
        1 => (client.clone(), 0..FILTERS.len())
            .prop_map(|(client, filter)| Op::Unsubscribe { client, filter }),
        3 => (client.clone(), 0..TOPICS.len(), qos, any::<bool>()).prop_map(
            |(client, topic, qos, retain)| Op::Publish { client, topic, qos, retain }
        ),
        1 => client.prop_map(|client| Op::Toggle { client }),
    ]
}

/// One PUBLISH a client received: topic, payload (`{publisher}:{sequence}`), QoS, retain.
type Delivered = (String, String, QoS, bool);

/// What each client received.
type Received = Vec<Vec<Delivered>>;

fn run(shards: usize, journal: bool, ops: &[Op]) -> Received {
    let mut h = Harness::sharded(Config { journal, ..Config::default() }, shards);
    let ids: Vec<String> = (0..CLIENTS).map(|n| format!("client{n}")).collect();
    let mut conns: Vec<Option<ConnId>> = ids
        .iter()
        .map(|id| {
            let conn = h.connect_persistent(id);
            h.auto_ack(conn);
            Some(conn)
        })
        .collect();
    let mut received: Received = vec![Vec::new(); CLIENTS];
    // Notes the messages `client` received; returns how many PUBACKs it got.
    let take = |h: &mut Harness, received: &mut Received, client: usize, conn: ConnId| {
        let mut pubacks = 0;
        for packet in h.take(conn) {
            match packet {
                Packet::Publish(p) => {
                    let payload = String::from_utf8_lossy(&p.payload).into_owned();
                    received[client].push((p.topic.as_str().to_owned(), payload, p.qos, p.retain));
                }
                Packet::PubAck(_) => pubacks += 1,
                _ => {}
            }
        }
        pubacks
    };
    for (sequence, op) in ops.iter().enumerate() {
        match *op {
            Op::Subscribe { client, filter, qos } => {
                if let Some(conn) = conns[client] {
                    h.subscribe(conn, FILTERS[filter], qos);
                }
            }
            Op::Unsubscribe { client, filter } => {
                if let Some(conn) = conns[client] {
                    h.unsubscribe(conn, FILTERS[filter]);
                }
            }
            Op::Publish { client, topic, qos, retain } => {
                let Some(conn) = conns[client] else { continue };
                let payload = format!("{client}:{sequence}");
                if retain {
                    h.publish_retained(conn, TOPICS[topic], &payload);
                } else {
                    h.publish_qos(conn, TOPICS[topic], &payload, qos);
                    let pubacks = take(&mut h, &mut received, client, conn);
                    assert_eq!(pubacks, usize::from(qos == QoS::AtLeastOnce), "nothing left held");
                }
            }
            Op::Toggle { client } => match conns[client] {
                Some(conn) => {
                    take(&mut h, &mut received, client, conn);
                    h.disconnect(conn);
                    conns[client] = None;
                }
                None => {
                    let conn = h.reconnect_persistent(&ids[client]);
                    h.auto_ack(conn);
                    conns[client] = Some(conn);
                }
            },
        }
    }
    for (client, conn) in conns.into_iter().enumerate() {
        if let Some(conn) = conn {
            take(&mut h, &mut received, client, conn);
        }
    }
    received
}

/// `received` split by publisher: each publisher's messages to each client, in order.
fn by_publisher(received: &Received) -> Vec<Vec<Vec<Delivered>>> {
    received
        .iter()
        .map(|messages| {
            (0..CLIENTS)
                .map(|publisher| {
                    let prefix = format!("{publisher}:");
                    messages.iter().filter(|m| m.1.starts_with(&prefix)).cloned().collect()
                })
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn three_shards_deliver_what_one_broker_delivers(ops in proptest::collection::vec(op(), 0..60)) {
        let one = by_publisher(&run(1, false, &ops));
        for journal in [false, true] {
            prop_assert_eq!(&one, &by_publisher(&run(3, journal, &ops)), "journal {}", journal);
        }
    }
}
