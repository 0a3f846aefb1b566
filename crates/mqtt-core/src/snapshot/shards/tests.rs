//! Tests of splitting a snapshot over shards and merging the parts back (proptests over
//! arbitrary snapshots and 1–4 shards).

use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::*;

use super::super::format::tests::snapshots;
use super::*;

/// `snapshot` as a broker would have written it: one retained message per topic (the first
/// listed) in topic order, one session per client id in client id order, only the messages
/// something refers to, in id order.
fn canonical(mut snapshot: Snapshot) -> Snapshot {
    let topics: HashMap<u64, String> = snapshot
        .messages
        .iter()
        .map(|message| (message.id, message.topic.as_str().to_owned()))
        .collect();
    let mut retained = BTreeMap::new();
    for id in &snapshot.retained {
        retained.entry(topics[id].clone()).or_insert(*id);
    }
    snapshot.retained = retained.into_values().collect();
    let mut seen = HashSet::new();
    snapshot.sessions.retain(|session| seen.insert(session.client_id.clone()));
    snapshot.sessions.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    let referred = snapshot.referred();
    snapshot.messages.retain(|message| referred.contains(&message.id));
    snapshot.messages.sort_by_key(|message| message.id);
    snapshot
}

proptest! {
    #[test]
    fn merging_the_parts_of_a_split_gives_the_snapshot_back(
        snapshot in snapshots(),
        count in 1usize..5,
    ) {
        let snapshot = canonical(snapshot);
        let parts = snapshot.clone().split(count);
        prop_assert_eq!(parts.len(), count);
        for (index, part) in parts.iter().enumerate() {
            prop_assert_eq!(&part.retained, &snapshot.retained, "every shard keeps a replica");
            for session in &part.sessions {
                prop_assert_eq!(shard_of(&session.client_id, count), index);
            }
            let held: HashSet<u64> = part.messages.iter().map(|message| message.id).collect();
            prop_assert_eq!(&held, &part.referred(), "each part holds exactly what it refers to");
        }
        prop_assert_eq!(Snapshot::merge(parts), snapshot);
    }
}

#[test]
fn one_shard_gets_the_snapshot_unchanged_even_out_of_order() {
    let mut snapshot = canonical(Snapshot::default());
    snapshot.retained = vec![7];
    let parts = snapshot.clone().split(1);
    assert_eq!(parts, [snapshot.clone()]);
    assert_eq!(Snapshot::merge(parts), snapshot, "not reordered, not filtered");
}

#[test]
fn merged_retained_messages_take_the_first_part_and_add_what_it_misses() {
    let message = |id: u64, topic: &str| StoredMessage {
        id,
        topic: mqtt_codec::TopicName::new(topic).expect("topic"),
        payload: bytes::Bytes::from_static(b"x"),
        qos: mqtt_codec::QoS::AtMostOnce,
        retain: true,
        properties: mqtt_codec::Properties::default(),
        expires_at_ms: None,
        source: None,
    };
    let first = Snapshot { messages: vec![message(2, "a")], retained: vec![2], sessions: vec![] };
    // The second shard saw a later "a" (its forward had not reached the first yet) and a
    // will on "b" published as it stopped.
    let second = Snapshot {
        messages: vec![message(3, "a"), message(5, "b")],
        retained: vec![3, 5],
        sessions: vec![],
    };
    let merged = Snapshot::merge(vec![first, second]);
    assert_eq!(merged.retained, [2, 5]);
    assert_eq!(merged.messages.iter().map(|m| m.id).collect::<Vec<_>>(), [2, 5]);
    assert_eq!(merged.last_ids(), LastIds { message: 5, delivery: 0 });
}

#[test]
fn a_session_several_parts_hold_is_merged_once_the_first_parts() {
    let session = |client_id: &str, expiry_secs: u32| StoredSession {
        expiry_secs,
        ..StoredSession::empty(client_id)
    };
    let part = |sessions| Snapshot { messages: Vec::new(), retained: Vec::new(), sessions };
    let first = part(vec![session("b", 1), session("c", 1)]);
    let second = part(vec![session("a", 2), session("b", 2)]);
    let merged = Snapshot::merge(vec![first, second]);
    let sessions: Vec<_> =
        merged.sessions.iter().map(|s| (s.client_id.as_str(), s.expiry_secs)).collect();
    assert_eq!(sessions, [("a", 2), ("b", 1), ("c", 1)]);
}
