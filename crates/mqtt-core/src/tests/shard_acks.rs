//! Acknowledgements across shards with the journal on: a PUBACK (QoS 1), or a PUBCOMP and its
//! `Released` record (QoS 2), waits until every shard the message went to answered that its
//! records of it are durable; one shard, or the journal off, asks nothing.

use mqtt_codec::{Packet, QoS};

use super::harness::{Durable, Harness, ack, publish_packet};
use super::shards::id_on;
use crate::snapshot::journal::Change;
use crate::{Config, ConnId};

fn journaling(count: usize) -> Harness {
    Harness::sharded(Config { journal: true, ..Config::default() }, count)
}

/// A publisher on shard 0 of `count` and a persistent subscriber to `t` at QoS 1 on shard 1,
/// offline, so that shard 1 queues (and journals) what is published.
fn publisher_and_queue(count: usize) -> (Harness, ConnId) {
    let mut h = journaling(count);
    h.offline_subscriber(&id_on("queue", 1, count), "t", QoS::AtLeastOnce);
    let publisher = h.connect_persistent(&id_on("pub", 0, count));
    (h, publisher)
}

/// The durability requests and answers forwarded since the `since`-th forwarded item: from,
/// to, which.
fn durability_items(h: &Harness, since: usize) -> Vec<(usize, usize, Durable)> {
    let items = h.forwarded[since..].iter().filter(|f| f.durable != Durable::No);
    items.map(|f| (f.from, f.to, f.durable)).collect()
}

/// A QoS 2 message `publisher` published and got its PUBREC for, with forwards delayed from
/// then on: its packet id.
fn received_qos2(h: &mut Harness, publisher: ConnId) -> u16 {
    let id = h.publish_qos(publisher, "t", "x", QoS::ExactlyOnce);
    h.take(publisher);
    h.delay_forwards();
    id
}

/// Whether a `Released` record was journaled.
fn released(h: &Harness) -> bool {
    h.journal.iter().any(|change| matches!(change, Change::Released { .. }))
}

#[test]
fn a_puback_waits_for_the_answer_of_the_shard_that_queued_the_message() {
    let (mut h, publisher) = publisher_and_queue(2);
    h.delay_forwards();
    let since = h.forwarded.len();
    let id = h.publish_qos(publisher, "t", "x", QoS::AtLeastOnce);
    assert_eq!(h.take(publisher), [], "not before shard 1 has it");
    h.deliver_one(0, 1);
    assert_eq!(h.take(publisher), [], "shard 1's answer is on its way");
    assert!(h.journal.iter().any(|c| matches!(c, Change::Queued { .. })), "queued there");
    h.deliver_one(1, 0);
    assert_eq!(h.take(publisher), [Packet::PubAck(ack(id))]);
    assert_eq!(
        durability_items(&h, since),
        [(0, 1, Durable::Asks), (1, 0, Durable::Answers(0, 0))]
    );
}

#[test]
fn a_stream_of_qos1_publishes_gets_each_puback_in_order_as_its_answer_comes() {
    let (mut h, publisher) = publisher_and_queue(2);
    h.delay_forwards();
    let ids: Vec<u16> =
        (0..3).map(|n| h.publish_qos(publisher, "t", &n.to_string(), QoS::AtLeastOnce)).collect();
    for _ in &ids {
        h.deliver_one(0, 1);
    }
    h.deliver_one(1, 0);
    assert_eq!(h.take(publisher), [Packet::PubAck(ack(ids[0]))], "the first, not starved");
    // Publishing goes on meanwhile: the later acknowledgements still come one by one.
    let last = h.publish_qos(publisher, "t", "3", QoS::AtLeastOnce);
    h.deliver_one(0, 1);
    for id in ids[1..].iter().copied().chain([last]) {
        h.deliver_one(1, 0);
        assert_eq!(h.take(publisher), [Packet::PubAck(ack(id))]);
    }
}

#[test]
fn a_pubcomp_and_the_released_record_wait_for_the_answer() {
    let (mut h, publisher) = publisher_and_queue(2);
    let id = h.publish_qos(publisher, "t", "x", QoS::ExactlyOnce);
    assert_eq!(h.take(publisher), [Packet::PubRec(ack(id))], "not routed before PUBREL");
    h.delay_forwards();
    h.send(publisher, Packet::PubRel(ack(id)));
    h.deliver_one(0, 1);
    assert_eq!(h.take(publisher), []);
    let released =
        |h: &Harness| h.journal.iter().position(|c| matches!(c, Change::Released { .. }));
    assert_eq!(released(&h), None, "not journaled before shard 1's records are durable");
    h.deliver_one(1, 0);
    assert_eq!(h.take(publisher), [Packet::PubComp(ack(id))]);
    let queued = h.journal.iter().position(|c| matches!(c, Change::Queued { .. }));
    assert!(queued < released(&h), "{:?}", h.journal);
}

#[test]
fn a_retained_qos1_publish_waits_for_every_shard() {
    let mut h = journaling(3);
    let publisher = h.connect(&id_on("pub", 0, 3));
    h.delay_forwards();
    let since = h.forwarded.len();
    h.send(publisher, Packet::Publish(publish_packet("r", "x", QoS::AtLeastOnce, true, Some(1))));
    h.deliver_one(0, 2);
    h.deliver_one(2, 0);
    assert_eq!(h.take(publisher), [], "shard 1 has not answered");
    h.deliver_one(0, 1);
    h.deliver_one(1, 0);
    assert_eq!(h.take(publisher), [Packet::PubAck(ack(1))]);
    let asked: Vec<_> =
        durability_items(&h, since).into_iter().filter(|i| i.2 == Durable::Asks).collect();
    assert_eq!(asked, [(0, 1, Durable::Asks), (0, 2, Durable::Asks)]);
}

#[test]
fn a_share_pick_passed_on_is_answered_by_both_shards_in_either_order() {
    let count = 3;
    let mut h = journaling(count);
    let leaving = h.connect(&id_on("leaving", 1, count));
    let staying = h.connect_persistent(&id_on("staying", 2, count));
    for member in [leaving, staying] {
        h.subscribe(member, "$share/g/t", QoS::AtLeastOnce);
    }
    let publisher = h.connect(&id_on("p", 0, count));
    h.delay_forwards();
    // Shard 0 has not heard that the member on shard 1 left when it picks it (round robin:
    // shard 1 first); shard 1 passes the message on to shard 2.
    h.disconnect(leaving);
    let since = h.forwarded.len();
    let id = h.publish_qos(publisher, "t", "x", QoS::AtLeastOnce);
    h.deliver_one(0, 1);
    h.deliver_one(1, 2);
    h.deliver_one(1, 2);
    h.assert_published(staying, &[("t", "x")]);
    // The hop's answer overtakes the one announcing it.
    h.deliver_one(2, 0);
    assert_eq!(h.take(publisher), [], "shard 1's answer is still on its way");
    h.deliver_one(1, 0);
    h.deliver_one(1, 0);
    assert_eq!(h.take(publisher), [Packet::PubAck(ack(id))]);
    assert_eq!(
        durability_items(&h, since),
        [
            (0, 1, Durable::Asks),
            (1, 2, Durable::Asks),
            (1, 0, Durable::Answers(0, 1)),
            (2, 0, Durable::Answers(1, 0))
        ]
    );
}

#[test]
fn a_connection_closing_while_it_waits_gets_no_acknowledgement_and_the_release_waits_on() {
    let (mut h, publisher) = publisher_and_queue(2);
    let qos2 = received_qos2(&mut h, publisher);
    h.publish_qos(publisher, "t", "y", QoS::AtLeastOnce);
    h.send(publisher, Packet::PubRel(ack(qos2)));
    h.kill(publisher);
    assert_eq!(h.take(publisher), [], "no PUBACK nor PUBCOMP: neither is durable");
    assert!(h.closed(publisher).is_some());
    assert!(!released(&h));
    // The harness fails on any packet to a closed connection.
    h.deliver_forwards();
    assert!(released(&h), "journaled once shard 1's records are durable");
    assert_eq!(h.take(publisher), []);
}

#[test]
fn a_pubrel_sent_again_on_a_new_connection_gets_its_pubcomp_once_the_release_is_journaled() {
    let (mut h, publisher) = publisher_and_queue(2);
    let id = received_qos2(&mut h, publisher);
    h.send(publisher, Packet::PubRel(ack(id)));
    h.kill(publisher);
    let again = h.connect_persistent(&id_on("pub", 0, 2));
    h.take(again);
    h.send(again, Packet::PubRel(ack(id)));
    assert_eq!(h.take(again), [], "the first PUBREL's release is not durable yet");
    assert!(!released(&h));
    h.deliver_forwards();
    assert!(released(&h));
    assert_eq!(h.take(again), [Packet::PubComp(ack(id))]);
}

#[test]
fn one_shard_or_the_journal_off_asks_nothing_and_holds_nothing() {
    let count = 2;
    for (config, count) in
        [(Config { journal: true, ..Config::default() }, 1), (Config::default(), count)]
    {
        let mut h = Harness::sharded(config, count);
        let sub = h.subscriber(&id_on("sub", count - 1, count), "t", QoS::AtLeastOnce);
        h.auto_ack(sub);
        let publisher = h.connect(&id_on("pub", 0, count));
        h.delay_forwards();
        let since = h.forwarded.len();
        let id = h.publish_qos(publisher, "t", "x", QoS::AtLeastOnce);
        assert_eq!(h.take(publisher), [Packet::PubAck(ack(id))], "at once");
        let id = h.publish_qos(publisher, "t", "y", QoS::ExactlyOnce);
        h.send(publisher, Packet::PubRel(ack(id)));
        assert_eq!(h.take(publisher), [Packet::PubRec(ack(id)), Packet::PubComp(ack(id))]);
        h.deliver_forwards();
        assert_eq!(durability_items(&h, since), []);
    }
}
