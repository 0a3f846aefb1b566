//! The Mosquitto importer: the reference's 332-byte file byte for byte, the second example's
//! records (properties, usernames, in-flight states), every typed error, what is skipped, and
//! arbitrary bytes or truncations never panicking.

use mqtt_codec::{MqttString, Properties, PropertyValues, ProtocolVersion, QoS, TopicName};
use proptest::prelude::*;

use super::*;

/// The reference's worked example (§14), as `xxd` printed it.
const EXAMPLE: &str = "
00b5 006d 6f73 7175 6974 746f 2064 6200 0000 0000 0000 0600 0000 0100 0000 1037
0000 0000 0000 0001 0800 0000 0000 0000 0000 0200 0000 2737 0000 0000 0000 0000
0000 0000 0000 0000 0000 0200 0100 0200 0000 034a 2e02 0070 3261 2f78 6d32 0000
0002 0000 0027 3600 0000 0000 0000 0000 0000 0000 0000 0000 0002 0001 0002 0000
0003 4a2e 0100 7031 612f 786d 3100 0000 0200 0000 2c35 0000 0000 0000 0000 0000
0000 0000 0000 0000 0500 0100 0400 0000 034a 2e01 0172 7075 6272 2f74 6865 6c6c
6f00 0000 0600 0000 1d00 0000 0000 0000 00ff ffff ff00 0200 054a 2e00 0000 0000
0073 6573 7331 0000 0003 0000 0015 3600 0000 0000 0000 0001 0005 010b 0001 7365
7373 3100 0000 0300 0000 1537 0000 0000 0000 0000 0200 0501 0b00 0173 6573 7331
0000 0005 0000 0014 0000 0000 0005 0003 0100 0000 7365 7373 3161 2f23 0000 0004
0000 0008 3500 0000 0000 0000";

/// Unix time the tests run at.
const NOW: i64 = 1_800_000_000;

fn example() -> Vec<u8> {
    let hex: String = EXAMPLE.chars().filter(char::is_ascii_hexdigit).collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn message(topic: &str, payload: &'static [u8], qos: QoS, retain: bool) -> StoredMessage {
    StoredMessage {
        id: 0,
        topic: TopicName::new(topic).expect("valid topic"),
        payload: Bytes::from_static(payload),
        qos,
        retain,
        properties: Properties::default(),
        source: None,
        expires_at_ms: None,
    }
}

/// `messages` with the ids the importer gives them: their position plus one.
fn numbered(mut messages: Vec<StoredMessage>) -> Vec<StoredMessage> {
    for (id, message) in (1..).zip(&mut messages) {
        message.id = id;
    }
    messages
}

#[test]
fn the_reference_example_imports_retained_session_subscription_and_queue() {
    let bytes = example();
    assert_eq!(bytes.len(), 332);
    // Port 18990 is the second listener here.
    let import = decode(&bytes, NOW, &[1883, 18990]).expect("imports");
    assert_eq!(import.skipped, []);
    let mut sess1 = StoredSession::empty("sess1");
    sess1.listener = 1;
    sess1.subscriptions = vec![StoredSubscription {
        filter: "a/#".to_owned(),
        qos: QoS::AtLeastOnce,
        no_local: false,
        retain_as_published: false,
        id: None,
    }];
    // Written newest first: m2 (55), m1 (54), hello (53). The QoS 2 m2 goes at QoS 1.
    let queued = |id, message| StoredDelivery {
        id,
        message,
        qos: QoS::AtLeastOnce,
        retain: false,
        sub_ids: vec![],
    };
    sess1.queued = vec![queued(1, 2), queued(2, 1)];
    let expected = Snapshot {
        messages: numbered(vec![
            message("a/x", b"m2", QoS::ExactlyOnce, false),
            message("a/x", b"m1", QoS::AtLeastOnce, false),
            message("r/t", b"hello", QoS::AtLeastOnce, true),
        ]),
        retained: vec![3],
        sessions: vec![sess1],
    };
    assert_eq!(import.snapshot, expected);
}

#[test]
fn a_session_on_an_unknown_port_comes_back_on_the_first_listener() {
    let import = decode(&example(), NOW, &[1883]).expect("imports");
    assert_eq!(import.snapshot.sessions[0].listener, 0);
}

/// A header and a CFG chunk, version `version`.
fn header(version: u32) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&version.to_be_bytes());
    chunk(&mut out, CHUNK_CFG, &[&100u64.to_le_bytes(), &[1, 8], &[0; 6]]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: u32, parts: &[&[u8]]) {
    let body: Vec<u8> = parts.concat();
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&u32::try_from(body.len()).expect("small").to_be_bytes());
    out.extend_from_slice(&body);
}

fn be16(n: usize) -> [u8; 2] {
    u16::try_from(n).expect("small").to_be_bytes()
}

/// A MSG_STORE chunk (source ids and port as in the second example).
#[allow(clippy::too_many_arguments)]
fn msg_store(
    out: &mut Vec<u8>,
    store_id: u64,
    expiry_time: i64,
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: u8,
    properties: &[u8],
) {
    let fixed = [
        &store_id.to_le_bytes()[..],
        &expiry_time.to_le_bytes(),
        &u32::try_from(payload.len()).expect("small").to_be_bytes(),
        &[0x12, 0x34],
        &be16(4),
        &be16(3),
        &be16(topic.len()),
        &[0x4a, 0x2e, qos, retain],
    ]
    .concat();
    chunk(out, CHUNK_MSG_STORE, &[&fixed, b"pub5", b"bob", topic.as_bytes(), payload, properties]);
}

/// A CLIENT_MSG chunk.
#[allow(clippy::too_many_arguments)]
fn client_msg(
    out: &mut Vec<u8>,
    store_id: u64,
    mid: u16,
    client: &str,
    qos: u8,
    state: u8,
    retain_dup: u8,
    direction: u8,
    properties: &[u8],
) {
    let fixed = [
        &store_id.to_le_bytes()[..],
        &mid.to_be_bytes(),
        &be16(client.len()),
        &[qos, state, retain_dup, direction],
    ]
    .concat();
    chunk(out, CHUNK_CLIENT_MSG, &[&fixed, client.as_bytes(), properties]);
}

/// A version 6 CLIENT chunk.
fn client(out: &mut Vec<u8>, expiry_time: i64, interval: u32, id: &str, username: &[u8]) {
    let fixed = [
        &expiry_time.to_le_bytes()[..],
        &interval.to_be_bytes(),
        &[0, 4],
        &be16(id.len()),
        &[0x4a, 0x2e],
        &be16(username.len()),
        &[0; 4],
    ]
    .concat();
    chunk(out, CHUNK_CLIENT, &[&fixed, id.as_bytes(), username]);
}

fn sub(out: &mut Vec<u8>, identifier: u32, id: &str, filter: &str, qos: u8, options: u8) {
    let fixed = [
        &identifier.to_be_bytes()[..],
        &be16(id.len()),
        &be16(filter.len()),
        &[qos, options, 0, 0],
    ]
    .concat();
    chunk(out, CHUNK_SUB, &[&fixed, id.as_bytes(), filter.as_bytes()]);
}

fn text(s: &str) -> MqttString {
    MqttString::new(s).expect("valid")
}

#[test]
fn the_second_examples_records_keep_properties_usernames_and_flow_states() {
    let mut file = header(6);
    // A retained v5 message with a Content Type that expires 7200 s after NOW.
    msg_store(&mut file, 57, NOW + 7200, "r/props", b"RP", 1, 1, b"\x05\x03\x00\x02ct");
    // An incoming QoS 2 message with the five properties Mosquitto keeps.
    let props = b"\x24\x01\x01\x03\x00\x0atext/plain\x08\x00\x06resp/t\x09\x00\x02\xca\xfe\x26\x00\x01k\x00\x01v";
    msg_store(&mut file, 53, 0, "b/in", b"INQ2", 2, 0, props);
    msg_store(&mut file, 54, 0, "b/out", b"OUT", 1, 0, b"");
    client(&mut file, 0, 3600, "s5", b"alice");
    client_msg(&mut file, 53, 0x1234, "pub5", 2, 7, 0, 0, b"");
    client_msg(&mut file, 54, 1, "s5", 1, 3, 0x01, 1, b"\x02\x0b\x07");
    client_msg(&mut file, 54, 2, "s5", 2, 9, 0, 1, b"");
    client_msg(&mut file, 54, 3, "s5", 1, 11, 0x10, 1, b"");
    sub(&mut file, 7, "s5", "b/#", 2, 0x0c);
    chunk(&mut file, CHUNK_RETAIN, &[&57u64.to_le_bytes()]);
    let import = decode(&file, NOW, &[18990]).expect("imports");
    assert_eq!(import.skipped, []);
    let snapshot = import.snapshot;

    let mut retained = message("r/props", b"RP", QoS::AtLeastOnce, true);
    retained.properties.content_type = Some(text("ct"));
    retained.expires_at_ms = Some((NOW as u64 + 7200) * 1000);
    let mut incoming = message("b/in", b"INQ2", QoS::ExactlyOnce, false);
    incoming.properties = Properties::from(PropertyValues {
        payload_format_indicator: Some(1),
        content_type: Some(text("text/plain")),
        response_topic: Some(TopicName::new("resp/t").expect("valid")),
        correlation_data: Some(Bytes::from_static(b"\xca\xfe")),
        user_properties: vec![(text("k"), text("v"))],
        ..PropertyValues::default()
    });
    assert_eq!(
        snapshot.messages,
        numbered(vec![retained, incoming, message("b/out", b"OUT", QoS::AtLeastOnce, false)])
    );
    assert_eq!(snapshot.retained, [1]);

    let mut pub5 = StoredSession::empty("pub5");
    pub5.incoming = vec![StoredIncoming { packet_id: 0x1234, message: Some(2) }];
    let mut s5 = StoredSession::empty("s5");
    s5.username = Some("alice".to_owned());
    s5.protocol = ProtocolVersion::V5;
    s5.expiry_secs = 3600;
    s5.subscriptions = vec![StoredSubscription {
        filter: "b/#".to_owned(),
        qos: QoS::ExactlyOnce,
        no_local: true,
        retain_as_published: true,
        id: Some(7),
    }];
    let delivery =
        |id, qos, retain, sub_ids| StoredDelivery { id, message: 3, qos, retain, sub_ids };
    s5.inflight = vec![
        StoredInFlight {
            packet_id: 1,
            // Client messages are numbered in file order; pub5's incoming one was the first.
            delivery: delivery(2, QoS::AtLeastOnce, false, vec![7]),
            state: FlowState::AwaitingPubAck,
        },
        StoredInFlight {
            packet_id: 2,
            delivery: delivery(3, QoS::ExactlyOnce, false, vec![]),
            state: FlowState::AwaitingPubComp,
        },
    ];
    s5.queued = vec![delivery(4, QoS::AtLeastOnce, true, vec![])];
    assert_eq!(snapshot.sessions, [pub5, s5]);
}

#[test]
fn expiry_times_become_seconds_left_and_the_past_is_dropped() {
    let mut file = header(6);
    msg_store(&mut file, 1, NOW - 1, "gone", b"x", 1, 1, b"");
    msg_store(&mut file, 2, NOW + 60, "kept", b"x", 1, 1, b"");
    client(&mut file, NOW + 100, 3600, "detached", b"");
    client(&mut file, NOW - 100, 3600, "overdue", b"");
    client(&mut file, 0, 0, "ends-with-connection", b"");
    client_msg(&mut file, 1, 1, "detached", 1, 11, 0, 1, b"");
    chunk(&mut file, CHUNK_RETAIN, &[&1u64.to_le_bytes()]);
    chunk(&mut file, CHUNK_RETAIN, &[&2u64.to_le_bytes()]);
    let import = decode(&file, NOW, &[]).expect("imports");
    let snapshot = import.snapshot;
    assert_eq!(snapshot.messages.len(), 1);
    assert_eq!(snapshot.messages[0].expires_at_ms, Some((NOW as u64 + 60) * 1000));
    assert_eq!(snapshot.messages[0].properties.message_expiry_interval, None);
    assert_eq!(snapshot.retained, [1]);
    let ids: Vec<_> =
        snapshot.sessions.iter().map(|s| (s.client_id.as_str(), s.expires_at_ms)).collect();
    let at = |unix: i64| u64::try_from(unix * 1000).ok();
    assert_eq!(ids, [("detached", at(NOW + 100)), ("overdue", at(NOW - 100))]);
    assert!(snapshot.sessions[0].queued.is_empty());
    assert_eq!(import.skipped.len(), 2, "{:?}", import.skipped);
}

#[test]
fn retained_messages_are_in_topic_order_and_the_last_one_per_topic_wins() {
    let mut file = header(6);
    for (id, topic) in [(1u64, "b"), (2, "a"), (3, "b")] {
        msg_store(&mut file, id, 0, topic, b"x", 0, 1, b"");
        chunk(&mut file, CHUNK_RETAIN, &[&id.to_le_bytes()]);
    }
    let import = decode(&file, NOW, &[]).expect("imports");
    // Our ids are the messages' positions plus one: "a" is the second, the last "b" the third.
    assert_eq!(import.snapshot.retained, [2, 3]);
}

#[test]
fn the_username_bug_of_2_0_15_and_older_is_read_as_a_c_string() {
    let mut file = header(6);
    let mut garbage = b"zed\0".to_vec();
    garbage.extend_from_slice(&[0xff; 764]);
    client(&mut file, 0, EXPIRY_NEVER, "n1", &garbage);
    let import = decode(&file, NOW, &[]).expect("imports");
    assert_eq!(import.snapshot.sessions[0].username.as_deref(), Some("zed"));
}

#[test]
fn version_5_clients_have_a_shorter_fixed_part() {
    let mut file = header(5);
    let fixed = [&0i64.to_le_bytes()[..], &EXPIRY_NEVER.to_be_bytes(), &[0, 1], &be16(3)].concat();
    chunk(&mut file, CHUNK_CLIENT, &[&fixed, b"old"]);
    let import = decode(&file, NOW, &[]).expect("imports");
    assert_eq!(import.snapshot.sessions, [StoredSession::empty("old")]);
}

#[test]
fn unusable_records_are_skipped_and_listed() {
    let mut file = header(6);
    msg_store(&mut file, 1, 0, "t", b"x", 1, 0, b"");
    let unknown_at = file.len();
    chunk(&mut file, 99, &[b"whatever"]);
    client(&mut file, 0, EXPIRY_NEVER, "", b"");
    client_msg(&mut file, 1, 1, "", 1, 11, 0, 1, b"");
    client_msg(&mut file, 42, 1, "c", 1, 11, 0, 1, b"");
    sub(&mut file, 0, "c", "bad/#/filter", 1, 0);
    sub(&mut file, 0, "c", "ok", 3, 0);
    chunk(&mut file, CHUNK_RETAIN, &[&42u64.to_le_bytes()]);
    let import = decode(&file, NOW, &[]).expect("imports");
    assert_eq!(import.skipped.len(), 7, "{:?}", import.skipped);
    assert_eq!(import.skipped[0], Skipped { what: "chunk of an unknown type", offset: unknown_at });
    assert_eq!(import.snapshot.sessions, []);
}

#[test]
fn fewer_than_eight_trailing_bytes_end_the_file_as_in_mosquitto() {
    let mut file = example();
    let whole = decode(&file, NOW, &[]).expect("imports");
    file.extend_from_slice(&[0, 0, 0, 6, 0, 0, 0]);
    assert_eq!(decode(&file, NOW, &[]), Ok(whole));
    assert_eq!(decode(&header(6)[..23], NOW, &[]), Ok(Import::default()));
}

#[test]
fn damaged_files_are_typed_errors() {
    let file = example();
    assert_eq!(decode(b"", NOW, &[]), Err(ImportError::Truncated { what: "header", offset: 0 }));
    assert_eq!(
        decode(&file[..20], NOW, &[]),
        Err(ImportError::Truncated { what: "header", offset: 20 })
    );
    assert_eq!(decode(b"not a mosquitto file", NOW, &[]), Err(ImportError::NotMosquitto));
    assert_eq!(decode(b"\x89culex", NOW, &[]), Err(ImportError::NotMosquitto));
    let mut v7 = file.clone();
    v7[22] = 7;
    assert_eq!(decode(&v7, NOW, &[]), Err(ImportError::UnsupportedVersion { found: 7 }));
    assert!(ImportError::UnsupportedVersion { found: 3 }.to_string().contains("versions 5 and 6"));
    let mut dbid = file.clone();
    dbid[0x28] = 4;
    assert_eq!(decode(&dbid, NOW, &[]), Err(ImportError::DbIdSize { found: 4 }));
    // Cut inside the CLIENT chunk at 0x0c1.
    assert_eq!(
        decode(&file[..0xd0], NOW, &[]),
        Err(ImportError::Truncated { what: "chunk", offset: 0xc9 })
    );
    // A MSG_STORE whose length is shorter than its declared parts.
    let mut short = file.clone();
    short[0x36] = 0x20;
    assert!(matches!(decode(&short, NOW, &[]), Err(ImportError::Malformed { offset: 0x2f, .. })));
    // QoS 3 in a message body.
    let mut qos = file.clone();
    qos[0x55] = 3;
    assert_eq!(
        decode(&qos, NOW, &[]),
        Err(ImportError::Malformed { what: "message QoS", offset: 0x2f })
    );
    // A wildcard in a stored topic.
    let mut topic = file.clone();
    topic[0x5b] = b'#';
    assert_eq!(
        decode(&topic, NOW, &[]),
        Err(ImportError::Malformed { what: "message topic or properties", offset: 0x2f })
    );
}

#[test]
fn a_property_block_with_extra_or_forbidden_bytes_is_refused() {
    for props in [&b"\x00\x01"[..], b"\x02\x11\x00", b"\x05\x03\x00\x02c"] {
        let mut file = header(6);
        msg_store(&mut file, 1, 0, "t", b"x", 1, 0, props);
        assert!(matches!(decode(&file, NOW, &[]), Err(ImportError::Malformed { .. })), "{props:?}");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_after_the_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut file = header(6);
        file.extend_from_slice(&tail);
        let _ = decode(&file, NOW, &[1883]);
        let _ = decode(&tail, NOW, &[]);
    }

    #[test]
    fn chunks_with_arbitrary_bodies_never_panic(
        chunks in proptest::collection::vec((1u32..8, proptest::collection::vec(any::<u8>(), 0..60)), 0..8),
    ) {
        let mut file = header(6);
        for (kind, body) in &chunks {
            chunk(&mut file, *kind, &[body]);
        }
        let _ = decode(&file, NOW, &[]);
    }

    #[test]
    fn truncations_and_flipped_bytes_never_panic(cut in 0usize..332, at in 0usize..332, byte in any::<u8>()) {
        let file = example();
        let _ = decode(&file[..cut], NOW, &[]);
        let mut flipped = file;
        flipped[at] = byte;
        let _ = decode(&flipped, NOW, &[18990]);
    }
}
