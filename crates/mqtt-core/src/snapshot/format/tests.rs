//! The file format: round trips (hand-made and generated), every typed error, and arbitrary
//! bytes never panicking.

use bytes::Bytes;
use mqtt_codec::{MqttString, Properties, ProtocolVersion, QoS, TopicName};
use proptest::prelude::*;

use super::*;

fn message(topic: &str, payload: &'static [u8], qos: QoS) -> StoredMessage {
    StoredMessage {
        topic: TopicName::new(topic).expect("valid topic"),
        payload: Bytes::from_static(payload),
        qos,
        retain: false,
        properties: Properties::default(),
    }
}

fn delivery(message: u32, qos: QoS) -> StoredDelivery {
    StoredDelivery { message, qos, retain: false, sub_ids: Vec::new() }
}

/// A snapshot using every field.
fn rich() -> Snapshot {
    let mut retained = message("r/1", b"retained", QoS::AtLeastOnce);
    retained.retain = true;
    retained.properties = Properties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(42),
        content_type: Some(MqttString::new("text/plain").expect("valid")),
        response_topic: Some(TopicName::new("reply").expect("valid")),
        correlation_data: Some(Bytes::from_static(b"\x00\x01")),
        user_properties: vec![(
            MqttString::new("k").expect("valid"),
            MqttString::new("v").expect("valid"),
        )],
        ..Properties::default()
    };
    Snapshot {
        messages: vec![
            retained,
            message("q/1", b"", QoS::AtLeastOnce),
            message("q/2", b"two", QoS::ExactlyOnce),
        ],
        retained: vec![0],
        sessions: vec![
            StoredSession {
                client_id: "X".to_owned(),
                username: Some("user".to_owned()),
                listener: 2,
                protocol: ProtocolVersion::V5,
                expiry_secs: 3600,
                expires_in: Some(1200),
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
                            message: 1,
                            qos: QoS::AtLeastOnce,
                            retain: true,
                            sub_ids: vec![7, 8],
                        },
                        state: FlowState::AwaitingPubAck,
                    },
                    StoredInFlight {
                        packet_id: 1,
                        delivery: delivery(2, QoS::ExactlyOnce),
                        state: FlowState::AwaitingPubComp,
                    },
                ],
                queued: vec![delivery(2, QoS::AtLeastOnce), delivery(0, QoS::AtMostOnce)],
                incoming: vec![
                    StoredIncoming { packet_id: 3, message: Some(2) },
                    StoredIncoming { packet_id: 4, message: None },
                ],
            },
            StoredSession {
                client_id: "v3".to_owned(),
                username: None,
                listener: 0,
                protocol: ProtocolVersion::V3_1,
                expiry_secs: u32::MAX,
                expires_in: None,
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
    // One retained index pointing past the message table.
    let snapshot = Snapshot { retained: vec![0], ..Snapshot::default() };
    let mut bytes =
        encode(&Snapshot { messages: vec![message("a", b"x", QoS::AtMostOnce)], ..snapshot })
            .expect("encodes");
    // Body: message count 1, length, packet, retained count 1, index 0: make it 5.
    let index_at = bytes.len() - 4 - 4 - 4;
    bytes[index_at..index_at + 4].copy_from_slice(&5u32.to_be_bytes());
    reseal(&mut bytes);
    assert!(matches!(
        decode(&bytes),
        Err(FormatError::Malformed { what: "retained message index", .. })
    ));
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
    ) -> StoredMessage {
        StoredMessage {
            topic: TopicName::new(&topic).expect("valid topic"),
            payload: Bytes::from(payload),
            qos,
            retain,
            properties: Properties { message_expiry_interval: expiry, ..Properties::default() },
        }
    }
}

prop_compose! {
    fn stored_session(messages: u32)(
        client_id in "\\PC{0,10}",
        username in proptest::option::of("[a-z]{0,5}"),
        listener in any::<u32>(),
        expiry_secs in any::<u32>(),
        expires_in in proptest::option::of(any::<u32>()),
        filters in proptest::collection::vec(("[a-z+#/]{1,8}", qos(), any::<bool>(), any::<bool>(), proptest::option::of(1u32..)), 0..4),
        queued in proptest::collection::vec((0..messages, qos(), any::<bool>(), proptest::collection::vec(any::<u32>(), 0..3)), 0..4),
        inflight in proptest::collection::vec((1u16.., 0..messages, qos(), 0u8..3), 0..4),
        incoming in proptest::collection::vec((1u16.., proptest::option::of(0..messages)), 0..4),
    ) -> StoredSession {
        StoredSession {
            client_id,
            username,
            listener,
            protocol: ProtocolVersion::V5,
            expiry_secs,
            expires_in,
            subscriptions: filters.into_iter().map(|(filter, qos, no_local, retain_as_published, id)| {
                StoredSubscription { filter, qos, no_local, retain_as_published, id }
            }).collect(),
            inflight: inflight.into_iter().map(|(packet_id, message, qos, state)| StoredInFlight {
                packet_id,
                delivery: delivery(message, qos),
                state: match state {
                    0 => FlowState::AwaitingPubAck,
                    1 => FlowState::AwaitingPubRec,
                    _ => FlowState::AwaitingPubComp,
                },
            }).collect(),
            queued: queued.into_iter().map(|(message, qos, retain, sub_ids)| {
                StoredDelivery { message, qos, retain, sub_ids }
            }).collect(),
            incoming: incoming.into_iter().map(|(packet_id, message)| {
                StoredIncoming { packet_id, message }
            }).collect(),
        }
    }
}

fn snapshots() -> impl Strategy<Value = Snapshot> {
    proptest::collection::vec(stored_message(), 1..5).prop_flat_map(|messages| {
        let n = u32::try_from(messages.len()).expect("few");
        (
            Just(messages),
            proptest::collection::vec(0..n, 0..4),
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
