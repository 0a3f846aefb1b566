//! Misbehaving clients: random (well-formed) packets in random order, from every protocol
//! version, must never panic the broker or disturb a well-behaved pair of clients.

use std::time::Duration;

use bytes::Bytes;
use mqtt_codec::{
    Ack, Auth, ConnAck, Disconnect, Packet, Properties, ProtocolVersion, QoS, ReasonCode,
    RetainHandling, SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};

use super::harness::{Harness, packet_id, publish_packet, topic_filter};
use crate::Config;

/// A small deterministic PRNG so a failure is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const TOPICS: &[&str] = &["a", "a/b", "$SYS/x", "x/y/z", "", "$share"];
const FILTERS: &[&str] = &["#", "a/+", "$share/g/a", "$share/g/#", "+/+/+", "a"];

fn pick_filter(rng: &mut Rng) -> &'static str {
    FILTERS[rng.below(FILTERS.len() as u64) as usize]
}

fn qos(rng: &mut Rng) -> QoS {
    *rng.pick(&[QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn random_properties(rng: &mut Rng) -> Properties {
    let mut properties = Properties::default();
    if rng.below(3) == 0 {
        properties.topic_alias = Some(rng.below(13) as u16);
    }
    if rng.below(4) == 0 {
        properties.message_expiry_interval = Some(rng.below(5) as u32);
    }
    if rng.below(5) == 0 {
        properties.session_expiry_interval = Some(rng.below(3) as u32 * 10);
    }
    if rng.below(5) == 0 {
        properties.subscription_identifiers = vec![rng.below(3) as u32];
    }
    properties
}

fn random_packet(rng: &mut Rng) -> Packet {
    let id = packet_id(1 + rng.below(4) as u16);
    let ack = |rng: &mut Rng| Ack {
        packet_id: id,
        reason: ReasonCode::Success,
        properties: random_properties(rng),
    };
    match rng.below(14) {
        0..=3 => {
            let topic = *rng.pick(TOPICS);
            let qos = qos(rng);
            let mut publish = publish_packet("t", "payload", qos, rng.below(3) == 0, None);
            publish.topic = mqtt_codec::TopicName::new(topic)
                .unwrap_or_else(|_| mqtt_codec::TopicName::empty());
            publish.packet_id = (qos != QoS::AtMostOnce).then_some(id);
            publish.dup = rng.below(2) == 0;
            publish.properties = random_properties(rng);
            publish.payload =
                if rng.below(4) == 0 { Bytes::new() } else { Bytes::from_static(b"p") };
            Packet::Publish(publish)
        }
        4 => Packet::PubAck(ack(rng)),
        5 => Packet::PubRec(ack(rng)),
        6 => Packet::PubRel(ack(rng)),
        7 => Packet::PubComp(ack(rng)),
        8 => {
            let options = SubscriptionOptions {
                qos: qos(rng),
                no_local: rng.below(3) == 0,
                retain_as_published: rng.below(2) == 0,
                retain_handling: *rng.pick(&[
                    RetainHandling::SendAtSubscribe,
                    RetainHandling::SendIfNew,
                    RetainHandling::DoNotSend,
                ]),
            };
            let filter = topic_filter(pick_filter(rng));
            Packet::Subscribe(Subscribe {
                packet_id: id,
                filters: vec![(filter, options)],
                properties: random_properties(rng),
            })
        }
        9 => Packet::Unsubscribe(Unsubscribe {
            packet_id: id,
            filters: vec![topic_filter(pick_filter(rng))],
            properties: Properties::default(),
        }),
        10 => Packet::PingReq,
        11 => match rng.below(3) {
            0 => Packet::Disconnect(Disconnect {
                reason: ReasonCode::DisconnectWithWillMessage,
                properties: random_properties(rng),
            }),
            1 => Packet::Auth(Auth {
                reason: ReasonCode::ContinueAuthentication,
                properties: Properties::default(),
            }),
            _ => Packet::PingResp,
        },
        12 => Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::Success,
            properties: Properties::default(),
        }),
        _ => {
            if rng.below(2) == 0 {
                Packet::SubAck(SubAck {
                    packet_id: id,
                    reasons: vec![ReasonCode::Success],
                    properties: Properties::default(),
                })
            } else {
                Packet::UnsubAck(UnsubAck {
                    packet_id: id,
                    reasons: Vec::new(),
                    properties: Properties::default(),
                })
            }
        }
    }
}

#[test]
fn random_packet_storms_never_panic_or_disturb_a_well_behaved_pair() {
    for seed in 1..=200_u64 {
        storm(seed);
    }
}

#[test]
fn same_inputs_give_the_same_outputs_in_the_same_order() {
    for seed in [3_u64, 17, 99] {
        assert_eq!(storm(seed), storm(seed), "seed {seed}");
    }
}

/// Runs one storm and returns everything observable: the log and what each client received.
fn storm(seed: u64) -> (Vec<crate::LogEvent>, Vec<Vec<Packet>>) {
    {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut h = Harness::new(Config {
            max_inflight_messages: 2,
            max_queued_messages: 5,
            ..Config::default()
        });
        let listener = h.connect_with("listener", |c| c.clean(false));
        h.auto_ack(listener);
        h.subscribe(listener, "good/#", QoS::ExactlyOnce);

        let mut attackers = Vec::new();
        for n in 0..3 {
            let version =
                *rng.pick(&[ProtocolVersion::V3_1, ProtocolVersion::V3_1_1, ProtocolVersion::V5]);
            let name = format!("bad{n}");
            let conn = h.try_connect_with(&name, |c| {
                c.version(version).clean(rng.below(2) == 0).keep_alive_secs(rng.below(20) as u16);
                if rng.below(2) == 0 {
                    c.will("a/b", "will");
                }
                if rng.below(2) == 0 {
                    c.properties().session_expiry_interval = Some(30);
                }
                if rng.below(2) == 0 {
                    c.properties().receive_maximum = Some(1);
                }
                c
            });
            attackers.push(conn);
        }
        let mut sent = 0;
        for step in 0..300 {
            let attacker = *rng.pick(&attackers);
            let packet = random_packet(&mut rng);
            h.send(attacker, packet);
            if rng.below(20) == 0 {
                h.advance(Duration::from_secs(rng.below(30)));
            }
            if rng.below(30) == 0 {
                // Attackers come back, taking over ids and resuming sessions.
                let index = rng.below(attackers.len() as u64) as usize;
                let name = format!("bad{index}");
                attackers[index] =
                    h.try_connect_with(&name, |c| c.clean(false).v5().session_expiry(30));
            }
            if rng.below(40) == 0 {
                // The connection task gives up on an attacker: bad bytes or a dead socket.
                let attacker = *rng.pick(&attackers);
                if rng.below(2) == 0 {
                    let reason = *rng.pick(&[
                        ReasonCode::MalformedPacket,
                        ReasonCode::ProtocolError,
                        ReasonCode::PacketTooLarge,
                        ReasonCode::UnsupportedProtocolVersion,
                    ]);
                    h.broker.handle_decode_error(attacker, None, reason, h.now);
                    h.advance(Duration::ZERO);
                } else {
                    h.kill(attacker);
                }
            }
            if step % 10 == 0 {
                let talker_now = h.connect(&format!("talker{step}"));
                h.auto_ack(talker_now);
                h.publish_qos(talker_now, "good/news", &step.to_string(), QoS::AtLeastOnce);
                h.disconnect(talker_now);
                sent += 1;
            }
            // Keep the listener alive.
            h.send(listener, Packet::PingReq);
        }
        let received =
            h.published_to(listener).iter().filter(|(topic, _)| topic == "good/news").count();
        assert_eq!(received, sent, "seed {seed}: the listener got every message");
        let mut seen = vec![h.take(listener)];
        seen.extend(attackers.iter().map(|&a| h.take(a)));
        (std::mem::take(&mut h.logs), seen)
    }
}

#[test]
fn mutated_bytes_decoded_by_the_codec_never_panic_the_broker() {
    for seed in 1..=100_u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
        let mut h = Harness::default();
        let good = h.subscriber("good", "#", QoS::AtLeastOnce);
        h.auto_ack(good);
        let version =
            *rng.pick(&[ProtocolVersion::V3_1, ProtocolVersion::V3_1_1, ProtocolVersion::V5]);
        let conn = h.try_connect_with("fuzzed", |c| c.version(version));
        for _ in 0..200 {
            // A valid packet's bytes with a few bytes flipped, decoded as the runtime would.
            let mut wire = bytes::BytesMut::new();
            if mqtt_codec::encode(
                &random_packet(&mut rng),
                version,
                mqtt_codec::MAX_PACKET_SIZE,
                &mut wire,
            )
            .is_err()
            {
                continue;
            }
            for _ in 0..rng.below(3) {
                let at = rng.below(wire.len() as u64) as usize;
                wire[at] ^= 1 << rng.below(8);
            }
            match mqtt_codec::decode(&mut wire, version, mqtt_codec::MAX_PACKET_SIZE) {
                Ok(Some(packet)) => h.send(conn, packet),
                Ok(None) => {}
                Err(error) => {
                    h.broker.handle_decode_error(conn, None, error.reason_code(), h.now);
                    h.advance(Duration::ZERO);
                }
            }
            if h.closed(conn).is_some() {
                break;
            }
        }
        let publisher = h.connect("publisher");
        h.publish(publisher, "still/working", "yes");
        assert!(
            h.published_to(good).contains(&("still/working".into(), "yes".into())),
            "seed {seed}: the good client still receives"
        );
    }
}
