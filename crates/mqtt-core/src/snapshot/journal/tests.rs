//! Journal records: every change round trips, a torn tail is told from damage in the middle
//! at every offset, replay applies changes onto a checkpoint, and no bytes make it panic.

use bytes::Bytes;
use mqtt_codec::{Properties, PropertyValues, ProtocolVersion, QoS, TopicName};
use proptest::prelude::*;

use super::*;
use crate::snapshot::StoredSource;

fn message(id: u64, topic: &str, payload: &'static [u8]) -> StoredMessage {
    StoredMessage {
        id,
        topic: TopicName::new(topic).expect("valid topic"),
        payload: Bytes::from_static(payload),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: PropertyValues {
            message_expiry_interval: Some(60),
            ..PropertyValues::default()
        }
        .into(),
        source: None,
        expires_at_ms: None,
    }
}

fn delivery(id: u64, message: u64) -> StoredDelivery {
    StoredDelivery { id, message, qos: QoS::ExactlyOnce, retain: true, sub_ids: vec![4, 9] }
}

fn session(client_id: &str) -> Change {
    Change::Session {
        client_id: client_id.into(),
        username: Some("leo".to_owned()),
        listener: 1,
        protocol: ProtocolVersion::V5,
        expiry_secs: 3600,
    }
}

fn id(client_id: &str) -> ShortStr {
    client_id.into()
}

/// One change of every kind.
fn every_change() -> Vec<Change> {
    vec![
        Change::Message(Box::new(StoredMessage {
            retain: true,
            source: Some(StoredSource {
                client_id: "pub".to_owned(),
                username: None,
                listener: u32::MAX,
            }),
            expires_at_ms: Some(1_800_000_060_000),
            ..message(1, "a/b", b"one")
        })),
        Change::Retained { topic: TopicName::new("a/b").expect("valid"), message: Some(1) },
        Change::Retained { topic: TopicName::new("a/b").expect("valid"), message: None },
        session("c"),
        Change::Subscribed {
            client_id: id("c"),
            subscription: StoredSubscription {
                filter: "$share/g/a/#".to_owned(),
                qos: QoS::ExactlyOnce,
                no_local: true,
                retain_as_published: true,
                id: Some(4),
            },
        },
        Change::Unsubscribed { client_id: id("c"), filter: "x/+".to_owned() },
        Change::Queued { client_id: id("c"), delivery: delivery(7, 1) },
        Change::InFlight {
            client_id: id("c"),
            delivery: 7,
            packet_id: 65535,
            state: FlowState::AwaitingPubComp,
        },
        Change::Delivered { client_id: id("c"), delivery: 7 },
        Change::Incoming { client_id: id("c"), packet_id: 3, message: Some(1) },
        Change::Incoming { client_id: id("c"), packet_id: 4, message: None },
        Change::Released { client_id: id("c"), packet_id: 3 },
        Change::SessionGone { client_id: id("c") },
    ]
}

fn encode_all(changes: &[Change]) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = Vec::new();
    let mut starts = Vec::new();
    for change in changes {
        starts.push(bytes.len());
        encode_record(change, &mut bytes).expect("encodes");
    }
    (bytes, starts)
}

#[test]
fn one_encoder_writes_what_fresh_ones_write() {
    // Its buffer carries a long message's bytes into the records after it.
    let mut changes = every_change();
    changes.insert(0, Change::Message(Box::new(message(9, "a/much/longer/topic", &[7; 300]))));
    let mut encoder = RecordEncoder::default();
    let mut reused = Vec::new();
    for change in &changes {
        encoder.encode(change, &mut reused).expect("encodes");
    }
    assert_eq!(reused, encode_all(&changes).0);
    // A large message's buffer is let go of after its record.
    let large = Change::Message(Box::new(message(10, "big", &[1; 100_000])));
    encoder.encode(&large, &mut reused).expect("encodes");
    assert!(encoder.packet.capacity() <= SCRATCH_KEPT);
}

#[test]
fn every_change_round_trips() {
    let changes = every_change();
    let (bytes, _) = encode_all(&changes);
    let records = read_records(&bytes);
    assert_eq!(records.tail, Tail::Clean);
    assert_eq!(records.good_len, bytes.len());
    assert_eq!(records.changes, changes);
    assert_eq!(read_records(&[]), Records { changes: Vec::new(), good_len: 0, tail: Tail::Clean });
}

#[test]
fn a_cut_anywhere_in_the_last_record_is_a_torn_tail() {
    let changes = every_change();
    let (bytes, starts) = encode_all(&changes);
    let last = *starts.last().expect("records");
    for len in last + 1..bytes.len() {
        let records = read_records(&bytes[..len]);
        assert_eq!(records.changes, changes[..changes.len() - 1], "cut at {len}");
        assert_eq!(records.good_len, last);
        assert_eq!(records.tail, Tail::Torn { at: last, dropped: len - last });
    }
    // A cut on a record boundary leaves a clean, shorter journal.
    for (n, &start) in starts.iter().enumerate() {
        let records = read_records(&bytes[..start]);
        assert_eq!((records.changes.len(), records.tail), (n, Tail::Clean));
    }
}

#[test]
fn damage_in_the_last_record_is_torn_and_in_the_middle_is_corrupt() {
    let changes = every_change();
    let (bytes, starts) = encode_all(&changes);
    let last = *starts.last().expect("records");
    for at in last..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        let records = read_records(&damaged);
        assert_eq!(records.changes.len(), changes.len() - 1, "flip at {at}");
        assert!(matches!(records.tail, Tail::Torn { at, .. } if at == last), "flip at {at}");
    }
    // A flipped bit in the fourth record: three are good, and later records still check out.
    let fourth = starts[3];
    for at in fourth..starts[4] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        let records = read_records(&damaged);
        assert_eq!(records.changes, changes[..3], "flip at {at}");
        assert!(matches!(records.tail, Tail::Corrupt { at, .. } if at == fourth), "flip at {at}");
    }
}

/// `body` framed as a record: its length and CRC, then itself.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&u32::try_from(body.len()).expect("small").to_be_bytes());
    bytes.extend_from_slice(&crc32fast::hash(body).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn message_records_written_before_sources_or_expiry_times_still_read() {
    // A message with neither, so every older record holds all of it.
    let old = message(5, "old/topic", b"kept");
    let mut new = Vec::new();
    encode_record(&Change::Message(Box::new(old.clone())), &mut new).expect("encodes");
    assert_eq!(new[RECORD_HEADER_LEN], TAG_TIMED_MESSAGE);
    // The old records: the same fields without the trailing "no expiry time" byte (tag 12),
    // and without the "no source" byte before it (tag 1).
    for (tag, dropped) in [(TAG_SOURCED_MESSAGE, 1), (TAG_MESSAGE, 2)] {
        let mut body = new[RECORD_HEADER_LEN..new.len() - dropped].to_vec();
        body[0] = tag;
        let records = read_records(&frame(&body));
        assert_eq!(records.tail, Tail::Clean, "tag {tag}");
        assert_eq!(records.changes, [Change::Message(Box::new(old.clone()))], "tag {tag}");
    }
}

#[test]
fn a_valid_frame_with_a_bad_body_is_refused() {
    // A frame whose CRC holds but whose body is no change, then a good record.
    let mut bytes = frame(&[0xEE_u8]);
    encode_record(&Change::SessionGone { client_id: id("x") }, &mut bytes).expect("encodes");
    let records = read_records(&bytes);
    assert!(records.changes.is_empty());
    assert!(matches!(
        records.tail,
        Tail::Corrupt { at: 0, error: FormatError::Malformed { what: "record tag", .. } }
    ));
    // The same frame last: a torn tail.
    let records = read_records(&bytes[..9]);
    assert_eq!(records.tail, Tail::Torn { at: 0, dropped: 9 });
}

fn checkpoint() -> Snapshot {
    Snapshot {
        messages: vec![message(1, "r", b"retained"), message(2, "q", b"queued")],
        retained: vec![1],
        sessions: vec![StoredSession {
            client_id: "old".to_owned(),
            username: None,
            listener: 0,
            protocol: ProtocolVersion::V3_1_1,
            expiry_secs: u32::MAX,
            expires_in: Some(30),
            expires_at_ms: None,
            subscriptions: Vec::new(),
            inflight: vec![StoredInFlight {
                packet_id: 1,
                delivery: delivery(10, 2),
                state: FlowState::AwaitingPubRec,
            }],
            queued: vec![delivery(11, 2)],
            incoming: Vec::new(),
        }],
    }
}

#[test]
fn an_empty_journal_gives_back_the_checkpoint() {
    assert_eq!(Replay::new(checkpoint()).finish(), checkpoint());
}

#[test]
fn replay_applies_changes_in_order_onto_the_checkpoint() {
    let mut replay = Replay::new(checkpoint());
    let changes = vec![
        // The checkpoint's in-flight delivery completes; its queued one goes out.
        Change::Delivered { client_id: id("old"), delivery: 10 },
        Change::InFlight {
            client_id: id("old"),
            delivery: 11,
            packet_id: 2,
            state: FlowState::AwaitingPubRec,
        },
        // A new session subscribes and gets a new message queued, then one more that is
        // delivered at once.
        session("new"),
        Change::Subscribed {
            client_id: id("new"),
            subscription: StoredSubscription {
                filter: "q".to_owned(),
                qos: QoS::AtLeastOnce,
                no_local: false,
                retain_as_published: false,
                id: None,
            },
        },
        Change::Message(Box::new(message(3, "q", b"three"))),
        Change::Queued { client_id: id("new"), delivery: delivery(12, 3) },
        Change::Message(Box::new(message(4, "q", b"four"))),
        Change::Queued { client_id: id("new"), delivery: delivery(13, 4) },
        Change::Delivered { client_id: id("new"), delivery: 13 },
        Change::Incoming { client_id: id("new"), packet_id: 9, message: Some(3) },
        // It detaches, reconnects (the countdown stops) and detaches again.
        Change::Detached { client_id: id("new"), expires_at_ms: 1_800_000_000_000 },
        session("new"),
        Change::Detached { client_id: id("new"), expires_at_ms: 1_800_000_300_000 },
        // The retained message is cleared; a record about an unknown session is skipped.
        Change::Retained { topic: TopicName::new("r").expect("valid"), message: None },
        Change::Delivered { client_id: id("nobody"), delivery: 1 },
        Change::Queued { client_id: id("new"), delivery: delivery(14, 99) },
    ];
    for change in changes {
        replay.apply(change);
    }
    assert_eq!(replay.skipped(), 2);
    let state = replay.finish();
    // Message 1 (retained, cleared) and 4 (delivered) are gone; each kept message is stored once.
    let ids: Vec<u64> = state.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [3, 2]);
    assert!(state.retained.is_empty());
    assert_eq!(state.sessions.len(), 2);
    let new = &state.sessions[0];
    assert_eq!(new.client_id, "new");
    assert_eq!(new.username.as_deref(), Some("leo"));
    assert_eq!(new.expires_in, None);
    assert_eq!(new.expires_at_ms, Some(1_800_000_300_000));
    assert_eq!(new.subscriptions.len(), 1);
    assert_eq!(new.queued, [delivery(12, 3)]);
    assert_eq!(new.incoming, [StoredIncoming { packet_id: 9, message: Some(3) }]);
    let old = &state.sessions[1];
    assert_eq!(old.expires_in, Some(30), "no record changed hands: the countdown stays");
    assert_eq!(old.expires_at_ms, None);
    assert!(old.queued.is_empty());
    assert_eq!(
        old.inflight,
        [StoredInFlight {
            packet_id: 2,
            delivery: delivery(11, 2),
            state: FlowState::AwaitingPubRec
        }]
    );
}

#[test]
fn a_checkpoint_of_a_replay_replays_like_the_whole_journal() {
    let changes = every_change();
    let (split_at, rest) = changes.split_at(7);
    let mut whole = Replay::new(Snapshot::default());
    for change in changes.clone() {
        whole.apply(change);
    }
    let mut first = Replay::new(Snapshot::default());
    for change in split_at.iter().cloned() {
        first.apply(change);
    }
    let mut resumed = Replay::new(first.finish());
    for change in rest.iter().cloned() {
        resumed.apply(change);
    }
    assert_eq!(resumed.finish(), whole.finish());
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
}

fn changes() -> impl Strategy<Value = Change> {
    let client = || "[a-z]{0,4}".prop_map(ShortStr::from);
    prop_oneof![
        ("[a-z/]{1,8}", proptest::collection::vec(any::<u8>(), 0..30), qos(), 1u64..).prop_map(
            |(topic, payload, qos, id)| Change::Message(Box::new(StoredMessage {
                id,
                topic: TopicName::new(&topic).expect("valid"),
                payload: Bytes::from(payload),
                qos,
                retain: false,
                properties: Properties::default(),
                source: None,
                expires_at_ms: None,
            }))
        ),
        ("[a-z]{1,5}", proptest::option::of(1u64..)).prop_map(|(topic, message)| {
            Change::Retained { topic: TopicName::new(&topic).expect("valid"), message }
        }),
        (client(), any::<u32>()).prop_map(|(client_id, expiry_secs)| Change::Session {
            client_id,
            username: None,
            listener: 0,
            protocol: ProtocolVersion::V5,
            expiry_secs,
        }),
        client().prop_map(|client_id| Change::SessionGone { client_id }),
        (client(), any::<u64>())
            .prop_map(|(client_id, expires_at_ms)| Change::Detached { client_id, expires_at_ms }),
        (client(), 1u64.., 1u64.., qos()).prop_map(|(client_id, id, message, qos)| {
            Change::Queued {
                client_id,
                delivery: StoredDelivery { id, message, qos, retain: false, sub_ids: Vec::new() },
            }
        }),
        (client(), any::<u64>(), 1u16..).prop_map(|(client_id, delivery, packet_id)| {
            Change::InFlight { client_id, delivery, packet_id, state: FlowState::AwaitingPubAck }
        }),
        (client(), any::<u64>())
            .prop_map(|(client_id, delivery)| Change::Delivered { client_id, delivery }),
        (client(), 1u16.., proptest::option::of(1u64..)).prop_map(
            |(client_id, packet_id, message)| Change::Incoming { client_id, packet_id, message }
        ),
    ]
}

proptest! {
    #[test]
    fn generated_changes_round_trip(changes in proptest::collection::vec(changes(), 0..20)) {
        let (bytes, _) = encode_all(&changes);
        let records = read_records(&bytes);
        prop_assert_eq!(records.tail, Tail::Clean);
        prop_assert_eq!(records.changes, changes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let records = read_records(&bytes);
        prop_assert!(records.good_len <= bytes.len());
        let mut replay = Replay::new(Snapshot::default());
        for change in records.changes {
            replay.apply(change);
        }
        let _ = replay.finish();
    }
}
