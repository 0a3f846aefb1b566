//! Sharded brokers ([`Harness::sharded`]): what crosses shards. A publisher and a subscriber on
//! different shards, takeover and resumption on the shard of the client id, and assigned ids.

use mqtt_codec::{Packet, QoS, ReasonCode};

use super::harness::{Harness, ack};
use crate::{Config, shard_of};

/// A client id starting with `name` that shard `shard` of `count` owns.
fn id_on(name: &str, shard: usize, count: usize) -> String {
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
