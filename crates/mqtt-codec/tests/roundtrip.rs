//! Property tests: encode→decode is the identity for arbitrary valid packets of every type in
//! every version (also when the bytes arrive in two pieces), and decoding arbitrary bytes never
//! panics and never grows the buffer beyond the stated maximum packet size.

use bytes::{Bytes, BytesMut};
use mqtt_codec::PropertyContext as Ctx;
use mqtt_codec::{
    Ack, Auth, ConnAck, Connect, DecodeError, Disconnect, EncodeError, MAX_PACKET_SIZE, MqttString,
    Packet, PacketId, Properties, PropertyValues, ProtocolVersion, Publish, QoS, ReasonCode,
    RetainHandling, SubAck, Subscribe, SubscriptionOptions, TopicFilter, TopicName, UnsubAck,
    Unsubscribe, Will, decode, encode, encoded_len,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

const VERSIONS: [ProtocolVersion; 3] =
    [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1, ProtocolVersion::V5];

fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop::sample::select(&VERSIONS[..])
}

fn mqtt_string() -> impl Strategy<Value = MqttString> {
    "[a-zA-Z0-9 /+#$é€😀\u{a0}]{0,12}"
        .prop_map(|s| MqttString::try_from(s).expect("allowed code points, short"))
}

fn topic_name() -> impl Strategy<Value = TopicName> {
    "[a-z0-9/$é]{1,12}".prop_map(|s| TopicName::try_from(s).expect("no wildcards, non-empty"))
}

fn topic_filter() -> impl Strategy<Value = TopicFilter> {
    let level = prop_oneof![Just("+".to_owned()), "[a-z0-9é]{0,4}"];
    (option::of("[a-z]{1,4}"), vec(level, 1..4), any::<bool>()).prop_map(|(share, levels, hash)| {
        let mut filter = levels.join("/");
        if hash {
            filter.push_str("/#");
        }
        if filter.is_empty() {
            filter.push('x');
        }
        if let Some(group) = share {
            filter = format!("$share/{group}/{filter}");
        }
        TopicFilter::try_from(filter).expect("wildcards only as whole levels")
    })
}

fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn qos() -> impl Strategy<Value = QoS> {
    prop::sample::select(&[QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][..])
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(|id| PacketId::new(id).expect("non-zero"))
}

fn reason(codes: &'static [u8]) -> impl Strategy<Value = ReasonCode> {
    prop::sample::select(codes).prop_map(|b| ReasonCode::from_u8(b).expect("defined code"))
}

/// `value` if the property is allowed, else nothing.
fn keep<T>(allowed: bool, value: Option<T>) -> Option<T> {
    if allowed { value } else { None }
}

/// Arbitrary properties, restricted to what `ctx` allows (the test's own copy of the spec's
/// table, v5.0 §2.2.2.2).
fn properties(ctx: Ctx) -> impl Strategy<Value = Properties> {
    let bytes = (
        option::of(0..=1u8),
        option::of(0..=1u8),
        option::of(0..=1u8),
        option::of(0..=1u8),
        option::of(0..=1u8),
        option::of(0..=1u8),
        option::of(0..=1u8),
        option::of(0..=1u8),
    );
    let ints = (
        option::of(any::<u32>()),
        option::of(any::<u32>()),
        option::of(any::<u32>()),
        option::of(1..=u32::MAX),
        option::of(any::<u16>()),
        option::of(1..=u16::MAX),
        option::of(any::<u16>()),
        option::of(1..=u16::MAX),
    );
    let strings = (
        option::of(mqtt_string()),
        option::of(topic_name()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
    );
    let rest = (
        option::of(binary()),
        option::of(binary()),
        vec(1..=268_435_455u32, 0..3),
        vec((mqtt_string(), mqtt_string()), 0..3),
    );
    (bytes, ints, strings, rest).prop_map(move |(b, i, s, r)| {
        use Ctx::*;
        let on = |contexts: &[Ctx]| contexts.contains(&ctx);
        let message = on(&[Publish, Will]);
        let acks = [PubAck, PubRec, PubRel, PubComp];
        let reasoned = on(&[ConnAck, SubAck, UnsubAck, Disconnect, Auth]) || on(&acks);
        let authenticated = on(&[Connect, ConnAck, Auth]);
        let authentication_method = keep(authenticated, s.5);
        let mut subscription_identifiers = if on(&[Publish, Subscribe]) { r.2 } else { Vec::new() };
        if ctx == Subscribe {
            subscription_identifiers.truncate(1);
        }
        Properties::from(PropertyValues {
            payload_format_indicator: keep(message, b.0),
            message_expiry_interval: keep(message, i.0),
            content_type: keep(message, s.0),
            response_topic: keep(message, s.1),
            correlation_data: keep(message, r.0),
            subscription_identifiers,
            session_expiry_interval: keep(on(&[Connect, ConnAck, Disconnect]), i.1),
            assigned_client_identifier: keep(on(&[ConnAck]), s.2),
            server_keep_alive: keep(on(&[ConnAck]), i.4),
            authentication_data: keep(authentication_method.is_some(), r.1),
            authentication_method,
            request_problem_information: keep(on(&[Connect]), b.1),
            will_delay_interval: keep(on(&[Will]), i.2),
            request_response_information: keep(on(&[Connect]), b.2),
            response_information: keep(on(&[ConnAck]), s.3),
            server_reference: keep(on(&[ConnAck, Disconnect]), s.4),
            reason_string: keep(reasoned, s.6),
            receive_maximum: keep(on(&[Connect, ConnAck]), i.5),
            topic_alias_maximum: keep(on(&[Connect, ConnAck]), i.6),
            topic_alias: keep(on(&[Publish]), i.7),
            maximum_qos: keep(on(&[ConnAck]), b.3),
            retain_available: keep(on(&[ConnAck]), b.4),
            user_properties: r.3,
            maximum_packet_size: keep(on(&[Connect, ConnAck]), i.3),
            wildcard_subscription_available: keep(on(&[ConnAck]), b.5),
            subscription_identifiers_available: keep(on(&[ConnAck]), b.6),
            shared_subscription_available: keep(on(&[ConnAck]), b.7),
            order: mqtt_codec::WriteOrder::default(),
        })
    })
}

/// Properties for `ctx` in 5.0, none before.
fn props(v: ProtocolVersion, ctx: Ctx) -> BoxedStrategy<Properties> {
    if v.is_v5() { properties(ctx).boxed() } else { Just(Properties::default()).boxed() }
}

fn connect(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let will = (topic_name(), binary(), qos(), any::<bool>(), props(v, Ctx::Will)).prop_map(
        |(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        },
    );
    (
        any::<bool>(),
        any::<u16>(),
        mqtt_string(),
        option::of(will),
        option::of(mqtt_string()),
        option::of(binary()),
        props(v, Ctx::Connect),
    )
        .prop_map(
            move |(
                clean_start,
                keep_alive,
                client_id,
                will,
                mut username,
                password,
                properties,
            )| {
                if password.is_some() && username.is_none() && !v.is_v5() {
                    username = Some(MqttString::from_static("user"));
                }
                Packet::Connect(Box::new(Connect {
                    protocol: v,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                    bridge: false,
                }))
            },
        )
}

fn connack(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = if v.is_v5() {
        reason(&[
            0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90,
            0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
        ])
        .boxed()
    } else {
        (0..=5u8).prop_map(|c| ReasonCode::from_v3_connack(c).expect("0..=5")).boxed()
    };
    (any::<bool>(), code, props(v, Ctx::ConnAck)).prop_map(move |(session, reason, properties)| {
        let session_present = session && !reason.is_error() && v != ProtocolVersion::V3_1;
        Packet::ConnAck(ConnAck { session_present, reason, properties })
    })
}

fn publish(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        packet_id(),
        props(v, Ctx::Publish),
        binary(),
    )
        .prop_map(move |(qos, dup, retain, topic, aliased, id, properties, payload)| {
            let has_id = qos != QoS::AtMostOnce;
            let topic = if aliased && properties.topic_alias.is_some() {
                TopicName::empty()
            } else {
                topic
            };
            Packet::Publish(Publish {
                dup: dup && has_id,
                qos,
                retain,
                topic,
                packet_id: has_id.then_some(id),
                properties,
                payload,
            })
        })
}

fn ack(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let pub_codes: &'static [u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
    let rel_codes: &'static [u8] = &[0x00, 0x92];
    // The four acknowledgements allow the same properties.
    (0..4usize, packet_id(), reason(pub_codes), reason(rel_codes), props(v, Ctx::PubAck)).prop_map(
        move |(kind, packet_id, pub_reason, rel_reason, properties)| {
            let reason = match (v.is_v5(), kind) {
                (false, _) => ReasonCode::Success,
                (true, 0 | 1) => pub_reason,
                (true, _) => rel_reason,
            };
            let ack = Ack { packet_id, reason, properties };
            match kind {
                0 => Packet::PubAck(ack),
                1 => Packet::PubRec(ack),
                2 => Packet::PubRel(ack),
                _ => Packet::PubComp(ack),
            }
        },
    )
}

fn subscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let options =
        (qos(), any::<bool>(), any::<bool>(), 0..3u8).prop_map(move |(qos, nl, rap, rh)| {
            if !v.is_v5() {
                return SubscriptionOptions::new(qos);
            }
            let retain_handling = match rh {
                0 => RetainHandling::SendAtSubscribe,
                1 => RetainHandling::SendIfNew,
                _ => RetainHandling::DoNotSend,
            };
            SubscriptionOptions { qos, no_local: nl, retain_as_published: rap, retain_handling }
        });
    (packet_id(), vec((topic_filter(), options), 1..4), props(v, Ctx::Subscribe)).prop_map(
        |(packet_id, mut filters, properties)| {
            for (filter, options) in &mut filters {
                options.no_local &= filter.shared().is_none();
            }
            Packet::Subscribe(Subscribe { packet_id, filters, properties })
        },
    )
}

fn suback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes: &'static [u8] = if v.is_v5() {
        &[0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2]
    } else {
        &[0x00, 0x01, 0x02, 0x80]
    };
    (packet_id(), vec(reason(codes), 0..5), props(v, Ctx::SubAck)).prop_map(
        |(packet_id, reasons, properties)| {
            Packet::SubAck(SubAck { packet_id, reasons, properties })
        },
    )
}

fn unsubscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (packet_id(), vec(topic_filter(), 1..4), props(v, Ctx::Unsubscribe)).prop_map(
        |(packet_id, filters, properties)| {
            Packet::Unsubscribe(Unsubscribe { packet_id, filters, properties })
        },
    )
}

fn unsuback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes = reason(&[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]);
    (packet_id(), vec(codes, 0..5), props(v, Ctx::UnsubAck)).prop_map(
        move |(packet_id, reasons, properties)| {
            let reasons = if v.is_v5() { reasons } else { Vec::new() };
            Packet::UnsubAck(UnsubAck { packet_id, reasons, properties })
        },
    )
}

fn disconnect(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes = reason(&[
        0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
        0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
    ]);
    (codes, props(v, Ctx::Disconnect)).prop_map(move |(reason, properties)| {
        let reason = if v.is_v5() { reason } else { ReasonCode::Success };
        Packet::Disconnect(Disconnect { reason, properties })
    })
}

fn auth() -> impl Strategy<Value = Packet> {
    (reason(&[0x00, 0x18, 0x19]), properties(Ctx::Auth))
        .prop_map(|(reason, properties)| Packet::Auth(Auth { reason, properties }))
}

/// Any valid packet for `v`.
fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let common = prop_oneof![
        connect(v),
        connack(v),
        publish(v),
        ack(v),
        subscribe(v),
        suback(v),
        unsubscribe(v),
        unsuback(v),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect(v),
    ];
    if v.is_v5() { prop_oneof![10 => common, 1 => auth()].boxed() } else { common.boxed() }
}

fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| packet(v).prop_map(move |p| (v, p)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encode_then_decode_is_the_identity((v, packet) in versioned_packet(), split in any::<prop::sample::Index>()) {
        let mut wire = BytesMut::new();
        encode(&packet, v, MAX_PACKET_SIZE, &mut wire).expect("valid packets encode");
        prop_assert_eq!(encoded_len(&packet, v), Ok(wire.len()));
        // The bytes arrive in two pieces: nothing until the packet is complete.
        let at = split.index(wire.len());
        let mut buf = BytesMut::from(&wire[..at]);
        prop_assert_eq!(decode(&mut buf, v, MAX_PACKET_SIZE), Ok(None));
        buf.extend_from_slice(&wire[at..]);
        prop_assert_eq!(decode(&mut buf, v, MAX_PACKET_SIZE), Ok(Some(packet.clone())));
        prop_assert!(buf.is_empty());
        // A limit one byte short refuses the packet both ways.
        let short = u32::try_from(wire.len() - 1).expect("small");
        let mut buf = BytesMut::from(&wire[..]);
        let refused = matches!(decode(&mut buf, v, short), Err(DecodeError::PacketTooLarge { .. }));
        prop_assert!(refused, "decode accepted a packet over the limit");
        let refused = matches!(encode(&packet, v, short, &mut BytesMut::new()), Err(EncodeError::PacketTooLarge { .. }));
        prop_assert!(refused, "encode wrote a packet over the limit");
    }
}

/// Feeds `bytes` to `decode` until it stops, checking the buffer never grows past `max`.
fn decode_all(bytes: &[u8], v: ProtocolVersion, max: u32) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::from(bytes);
    let limit = buf.capacity().max(max as usize);
    loop {
        let result = decode(&mut buf, v, max);
        prop_assert!(buf.capacity() <= limit, "capacity {} over {}", buf.capacity(), limit);
        match result {
            Ok(Some(packet)) => {
                // Whatever decodes re-encodes (possibly differently) and decodes to the same packet.
                let mut wire = BytesMut::new();
                encode(&packet, v, MAX_PACKET_SIZE, &mut wire)
                    .map_err(|e| TestCaseError::fail(format!("{packet:?}: {e}")))?;
                let version = if let Packet::Connect(c) = &packet { c.protocol } else { v };
                prop_assert_eq!(decode(&mut wire, version, MAX_PACKET_SIZE), Ok(Some(packet)));
            }
            Ok(None) | Err(_) => return Ok(()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..200), v in version(), max in 0..300u32) {
        decode_all(&bytes, v, max)?;
    }

    #[test]
    fn arbitrary_bodies_behind_valid_headers_never_panic(
        first in prop::sample::select(&[0x10u8, 0x20, 0x30, 0x32, 0x34, 0x3B, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90, 0xA2, 0xB0, 0xC0, 0xD0, 0xE0, 0xF0][..]),
        body in vec(any::<u8>(), 0..120),
        v in version(),
    ) {
        let mut bytes = vec![first, u8::try_from(body.len()).expect("short")];
        bytes.extend_from_slice(&body);
        decode_all(&bytes, v, MAX_PACKET_SIZE)?;
    }
}
