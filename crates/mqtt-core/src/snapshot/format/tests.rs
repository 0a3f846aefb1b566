//! The file format: round trips (hand-made and generated), every typed error, and arbitrary
//! bytes never panicking.

use bytes::{Bytes, BytesMut};
use mqtt_codec::{MqttString, Properties, PropertyValues, ProtocolVersion, QoS, TopicName};
use proptest::prelude::*;

use super::*;

fn message(id: u64, topic: &str, payload: &'static [u8], qos: QoS) -> StoredMessage {
    StoredMessage {
        id,
        topic: TopicName::new(topic).expect("valid topic"),
        payload: Bytes::from_static(payload),
        qos,
        retain: false,
        properties: Properties::default(),
        source: None,
        expires_at_ms: None,
    }
}

fn delivery(id: u64, message: u64, qos: QoS) -> StoredDelivery {
    StoredDelivery { id, message, qos, retain: false, sub_ids: Vec::new() }
}

/// A snapshot using every field.
fn rich() -> Snapshot {
    let mut retained = message(10, "r/1", b"retained", QoS::AtLeastOnce);
    retained.retain = true;
    retained.source = Some(StoredSource {
        client_id: "publisher".to_owned(),
        username: Some("writer".to_owned()),
        listener: 1,
    });
    retained.properties = Properties::from(PropertyValues {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(42),
        content_type: Some(MqttString::new("text/plain").expect("valid")),
        response_topic: Some(TopicName::new("reply").expect("valid")),
        correlation_data: Some(Bytes::from_static(b"\x00\x01")),
        user_properties: vec![(
            MqttString::new("k").expect("valid"),
            MqttString::new("v").expect("valid"),
        )],
        ..PropertyValues::default()
    });
    Snapshot {
        messages: vec![
            retained,
            message(11, "q/1", b"", QoS::AtLeastOnce),
            StoredMessage {
                expires_at_ms: Some(1_800_000_000_000),
                ..message(12, "q/2", b"two", QoS::ExactlyOnce)
            },
        ],
        retained: vec![10],
        sessions: vec![
            StoredSession {
                client_id: "X".to_owned(),
                username: Some("user".to_owned()),
                listener: 2,
                protocol: ProtocolVersion::V5,
                expiry_secs: 3600,
                expires_in: Some(1200),
                expires_at_ms: None,
                subscriptions: vec![
                    StoredSubscription {
                        filter: "$share/g/q/#".to_owned(),
                        qos: QoS::ExactlyOnce,
                        no_local: false,
                        retain_as_published: true,
                        id: Some(7),
                    },
                    StoredSubscription {
                        filter: "t".to_owned(),
                        qos: QoS::AtMostOnce,
                        no_local: true,
                        retain_as_published: false,
                        id: None,
                    },
                ],
                inflight: vec![
                    StoredInFlight {
                        packet_id: 65535,
                        delivery: StoredDelivery {
                            id: 100,
                            message: 11,
                            qos: QoS::AtLeastOnce,
                            retain: true,
                            sub_ids: vec![7, 8],
                        },
                        state: FlowState::AwaitingPubAck,
                    },
                    StoredInFlight {
                        packet_id: 1,
                        delivery: delivery(101, 12, QoS::ExactlyOnce),
                        state: FlowState::AwaitingPubComp,
                    },
                ],
                queued: vec![
                    delivery(102, 12, QoS::AtLeastOnce),
                    delivery(103, 10, QoS::AtMostOnce),
                ],
                incoming: vec![
                    StoredIncoming { packet_id: 3, message: Some(12) },
                    StoredIncoming { packet_id: 4, message: None },
                ],
            },
            StoredSession {
                client_id: "v3".to_owned(),
                username: None,
                listener: 0,
                protocol: ProtocolVersion::V3_1,
                expiry_secs: 600,
                expires_in: None,
                expires_at_ms: Some(1_800_000_600_000),
                subscriptions: Vec::new(),
                inflight: Vec::new(),
                queued: Vec::new(),
                incoming: Vec::new(),
            },
        ],
    }
}

/// Replaces the checksum so that a deliberately broken body gets past it.
fn reseal(bytes: &mut [u8]) {
    let at = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..at]);
    bytes[at..].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn every_field_round_trips() {
    let snapshot = rich();
    let bytes = encode(&snapshot).expect("encodes");
    assert!(bytes.starts_with(MAGIC));
    assert_eq!(decode(&bytes), Ok(snapshot));
    let empty = encode(&Snapshot::default()).expect("encodes");
    assert_eq!(decode(&empty), Ok(Snapshot::default()));
}

/// The version 1 layout (no ids, messages by index), written out by hand.
fn encode_v1(snapshot: &Snapshot) -> Vec<u8> {
    let index = |id: u64| {
        let at = snapshot.messages.iter().position(|m| m.id == id).expect("known id");
        u32::try_from(at).expect("few")
    };
    let mut body = Vec::new();
    put_len(&mut body, snapshot.messages.len());
    for message in &snapshot.messages {
        let mut packet = BytesMut::new();
        encode_message(message, &mut packet).expect("encodes");
        put_len(&mut body, packet.len());
        body.extend_from_slice(&packet);
    }
    put_list(&mut body, &snapshot.retained, |out, &id| put_u32(out, index(id)));
    let put_delivery_v1 = |body: &mut Vec<u8>, d: &StoredDelivery| {
        put_u32(body, index(d.message));
        body.push(d.qos.as_u8() | (u8::from(d.retain) << 2));
        put_list(body, &d.sub_ids, |out, &id| put_u32(out, id));
    };
    put_len(&mut body, snapshot.sessions.len());
    for session in &snapshot.sessions {
        put_str(&mut body, &session.client_id);
        put_opt_str(&mut body, session.username.as_deref());
        put_u32(&mut body, session.listener);
        body.push(session.protocol.level());
        put_u32(&mut body, session.expiry_secs);
        put_opt_u32(&mut body, session.expires_in);
        put_list(&mut body, &session.subscriptions, put_subscription);
        put_list(&mut body, &session.inflight, |out, flight| {
            out.extend_from_slice(&flight.packet_id.to_be_bytes());
            out.push(flow_state_byte(flight.state));
            put_delivery_v1(out, &flight.delivery);
        });
        put_list(&mut body, &session.queued, put_delivery_v1);
        put_list(&mut body, &session.incoming, |out, incoming| {
            out.extend_from_slice(&incoming.packet_id.to_be_bytes());
            put_opt_u32(out, incoming.message.map(index));
        });
    }
    seal(1, &body)
}

/// The layout of version 2 (messages without their source or expiry time), 3 (without their
/// expiry time) or 4 (sessions without their expiry time), written out by hand.
fn encode_v2_to_v4(snapshot: &Snapshot, version: u32) -> Vec<u8> {
    let mut body = Vec::new();
    put_len(&mut body, snapshot.messages.len());
    for message in &snapshot.messages {
        let mut packet = BytesMut::new();
        encode_message(message, &mut packet).expect("encodes");
        put_u64(&mut body, message.id);
        put_len(&mut body, packet.len());
        body.extend_from_slice(&packet);
        if version >= 3 {
            match &message.source {
                Some(source) => {
                    body.push(1);
                    put_str(&mut body, &source.client_id);
                    put_opt_str(&mut body, source.username.as_deref());
                    put_u32(&mut body, source.listener);
                }
                None => body.push(0),
            }
        }
        if version == 4 {
            put_opt_u64(&mut body, message.expires_at_ms);
        }
    }
    put_list(&mut body, &snapshot.retained, |out, &id| put_u64(out, id));
    put_list(&mut body, &snapshot.sessions, |out, session| {
        put_session(out, session);
        // Before version 5 a session ended with its incoming messages: drop the absent
        // expiry time's flag.
        assert_eq!(out.pop(), Some(0), "old versions hold no session expiry time");
    });
    seal(version, &body)
}

/// A file of `version` around `body`: header, body, checksum.
fn seal(version: u32, body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    put_u32(&mut out, version);
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out);
    put_u32(&mut out, crc);
    out
}

/// `rich()` as a file of an older `version` holds it: no session has an expiry time, before
/// version 4 no message has one (its Message Expiry Interval, if any, is kept), and before
/// version 3 none has a source.
fn rich_as_of(version: u32) -> Snapshot {
    let mut snapshot = rich();
    for session in &mut snapshot.sessions {
        session.expires_at_ms = None;
    }
    for message in &mut snapshot.messages {
        if version < 4 {
            message.expires_at_ms = None;
        }
        if version < 3 {
            message.source = None;
        }
    }
    snapshot
}

#[test]
fn version_2_to_4_files_are_read_without_what_they_did_not_hold() {
    for version in [2, 3, 4] {
        let old = rich_as_of(version);
        assert_eq!(decode(&encode_v2_to_v4(&old, version)), Ok(old), "version {version}");
    }
}

#[test]
fn version_1_files_are_read_with_ids_from_positions() {
    let mut expected = rich_as_of(1);
    // Version 1 had no ids: message i is read as id i + 1, deliveries are numbered in order.
    let renumber = |id: u64| id - 9;
    for message in &mut expected.messages {
        message.id = renumber(message.id);
    }
    expected.retained = expected.retained.iter().map(|&id| renumber(id)).collect();
    let mut next = 0;
    for session in &mut expected.sessions {
        for delivery in session.deliveries_mut() {
            next += 1;
            delivery.id = next;
            delivery.message = renumber(delivery.message);
        }
        for incoming in &mut session.incoming {
            incoming.message = incoming.message.map(renumber);
        }
    }
    assert_eq!(decode(&encode_v1(&rich())), Ok(expected));
}

#[test]
fn mosquitto_files_and_foreign_files_are_told_apart() {
    assert_eq!(decode(b""), Err(FormatError::Empty));
    // The start of a real mosquitto.db: magic, CRC 0, version 6.
    let mut mosquitto = MOSQUITTO_MAGIC.to_vec();
    mosquitto.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 6]);
    assert_eq!(decode(&mosquitto), Err(FormatError::Mosquitto));
    assert_eq!(decode(b"hello world, not a database"), Err(FormatError::NotCulex));
    assert!(FormatError::Mosquitto.to_string().contains("Mosquitto persistence file"));
}

#[test]
fn truncation_at_any_point_is_an_error() {
    let bytes = encode(&rich()).expect("encodes");
    for len in 1..bytes.len() {
        match decode(&bytes[..len]) {
            Err(FormatError::Truncated { found, .. }) => assert_eq!(found, len),
            other => panic!("cut at {len}: {other:?}"),
        }
    }
}

#[test]
fn damage_is_caught_by_the_checksum_and_the_version_check() {
    let bytes = encode(&rich()).expect("encodes");
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    assert!(matches!(decode(&flipped), Err(FormatError::Checksum { .. })));
    let mut version = bytes.clone();
    version[MAGIC.len() + 3] = 9;
    assert_eq!(decode(&version), Err(FormatError::UnsupportedVersion { found: 9 }));
    let mut longer = bytes;
    longer.push(0);
    assert_eq!(decode(&longer), Err(FormatError::TrailingBytes { extra: 1 }));
}

#[test]
fn bad_fields_behind_a_valid_checksum_are_malformed() {
    // One retained id naming no message.
    let snapshot = Snapshot { retained: vec![1], ..Snapshot::default() };
    let mut bytes =
        encode(&Snapshot { messages: vec![message(1, "a", b"x", QoS::AtMostOnce)], ..snapshot })
            .expect("encodes");
    // Body: message count 1, id, length, packet, retained count 1, id 1: make it 5.
    let id_at = bytes.len() - 4 - 4 - 8;
    bytes[id_at..id_at + 8].copy_from_slice(&5u64.to_be_bytes());
    reseal(&mut bytes);
    assert!(matches!(
        decode(&bytes),
        Err(FormatError::Malformed { what: "retained message id", .. })
    ));
    // Two messages with one id.
    let twice =
        vec![message(1, "a", b"x", QoS::AtMostOnce), message(1, "b", b"y", QoS::AtMostOnce)];
    let bytes = encode(&Snapshot { messages: twice, ..Snapshot::default() }).expect("encodes");
    assert!(matches!(decode(&bytes), Err(FormatError::Malformed { what: "message id", .. })));
    // A huge count does not allocate; it is refused.
    let mut bytes = encode(&Snapshot::default()).expect("encodes");
    let count_at = MAGIC.len() + 12;
    bytes[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    reseal(&mut bytes);
    assert!(matches!(decode(&bytes), Err(FormatError::Malformed { what: "message count", .. })));
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
}

prop_compose! {
    fn stored_message()(
        topic in "[a-z/]{1,12}",
        payload in proptest::collection::vec(any::<u8>(), 0..40),
        qos in qos(),
        retain in any::<bool>(),
        expiry in proptest::option::of(any::<u32>()),
        expires_at_ms in proptest::option::of(any::<u64>()),
        source in proptest::option::of(("\\PC{0,10}", proptest::option::of("[a-z]{0,5}"), any::<u32>())),
    ) -> StoredMessage {
        StoredMessage {
            id: 0,
            topic: TopicName::new(&topic).expect("valid topic"),
            payload: Bytes::from(payload),
            qos,
            retain,
            properties: PropertyValues { message_expiry_interval: expiry, ..PropertyValues::default() }.into(),
            expires_at_ms,
            source: source.map(|(client_id, username, listener)| StoredSource {
                client_id,
                username,
                listener,
            }),
        }
    }
}

prop_compose! {
    fn stored_session(messages: u64)(
        client_id in "\\PC{0,10}",
        username in proptest::option::of("[a-z]{0,5}"),
        listener in any::<u32>(),
        expiry_secs in any::<u32>(),
        expires_in in proptest::option::of(any::<u32>()),
        expires_at_ms in proptest::option::of(any::<u64>()),
        filters in proptest::collection::vec(("[a-z+#/]{1,8}", qos(), any::<bool>(), any::<bool>(), proptest::option::of(1u32..)), 0..4),
        queued in proptest::collection::vec((1u64.., 1..=messages, qos(), any::<bool>(), proptest::collection::vec(any::<u32>(), 0..3)), 0..4),
        inflight in proptest::collection::vec((1u16.., 1u64.., 1..=messages, qos(), 0u8..3), 0..4),
        incoming in proptest::collection::vec((1u16.., proptest::option::of(1..=messages)), 0..4),
    ) -> StoredSession {
        StoredSession {
            client_id,
            username,
            listener,
            protocol: ProtocolVersion::V5,
            expiry_secs,
            expires_in,
            expires_at_ms,
            subscriptions: filters.into_iter().map(|(filter, qos, no_local, retain_as_published, id)| {
                StoredSubscription { filter, qos, no_local, retain_as_published, id }
            }).collect(),
            inflight: inflight.into_iter().map(|(packet_id, id, message, qos, state)| StoredInFlight {
                packet_id,
                delivery: delivery(id, message, qos),
                state: match state {
                    0 => FlowState::AwaitingPubAck,
                    1 => FlowState::AwaitingPubRec,
                    _ => FlowState::AwaitingPubComp,
                },
            }).collect(),
            queued: queued.into_iter().map(|(id, message, qos, retain, sub_ids)| {
                StoredDelivery { id, message, qos, retain, sub_ids }
            }).collect(),
            incoming: incoming.into_iter().map(|(packet_id, message)| {
                StoredIncoming { packet_id, message }
            }).collect(),
        }
    }
}

pub(crate) fn snapshots() -> impl Strategy<Value = Snapshot> {
    proptest::collection::vec(stored_message(), 1..5).prop_flat_map(|mut messages| {
        for (id, message) in (1..).zip(&mut messages) {
            message.id = id;
        }
        let n = messages.len() as u64;
        (
            Just(messages),
            proptest::collection::vec(1..=n, 0..4),
            proptest::collection::vec(stored_session(n), 0..3),
        )
            .prop_map(|(messages, retained, sessions)| Snapshot {
                messages,
                retained,
                sessions,
            })
    })
}

proptest! {
    #[test]
    fn generated_snapshots_round_trip(snapshot in snapshots()) {
        let bytes = encode(&snapshot).expect("encodes");
        prop_assert_eq!(decode(&bytes), Ok(snapshot));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_header_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_be_bytes());
        bytes.extend_from_slice(&(body.len() as u64).to_be_bytes());
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&[0; 4]);
        reseal(&mut bytes);
        let _ = decode(&bytes);
    }
}
