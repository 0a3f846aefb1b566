//! Criterion benchmark of the broker's hot path: one QoS 0 PUBLISH routed to 10 v5
//! subscribers that allow topic aliases, with `max_topic_alias_broker` off (the default: no
//! alias work at all) and on. Run with `cargo bench -p mqtt-core`.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mqtt_codec::{
    Connect, MqttString, Packet, PacketId, ProtocolVersion, Publish, Subscribe,
    SubscriptionOptions, TopicFilter, TopicName,
};
use mqtt_core::{Broker, Config, ConnId, ListenerOptions, PeerInfo};

/// Subscribers each PUBLISH goes to.
const SUBSCRIBERS: u64 = 10;
/// Topics the publisher cycles through (all get an alias when aliases are on).
const TOPICS: [&str; 4] =
    ["sensors/a/temperature", "sensors/b/temperature", "sensors/c/humidity", "sensors/d/pressure"];

/// A broker with `SUBSCRIBERS` v5 clients on `sensors/#` that allow 10 topic aliases, and
/// a publisher (connection 0), all connected and subscribed, outputs drained.
fn broker(config: Config, now: Instant) -> Broker {
    let mut broker = Broker::new(config, [1; 32]);
    let peer =
        PeerInfo { address: "127.0.0.1".into(), port: 1, listener: 0, certificate_username: None };
    for n in 0..=SUBSCRIBERS {
        let conn = ConnId(n);
        broker.handle_open(conn, peer.clone(), now);
        let mut connect =
            Connect::new(ProtocolVersion::V5, MqttString::new(&format!("c{n}")).expect("id"));
        connect.properties.topic_alias_maximum = Some(10);
        broker.handle_packet(conn, Packet::Connect(Box::new(connect)), now);
        if n > 0 {
            let filter = TopicFilter::new("sensors/#").expect("filter");
            let subscribe = Subscribe {
                packet_id: PacketId::MIN,
                filters: vec![(filter, SubscriptionOptions::default())],
                properties: Default::default(),
            };
            broker.handle_packet(conn, Packet::Subscribe(subscribe), now);
        }
    }
    while broker.poll_output().is_some() {}
    broker
}

fn bench(c: &mut Criterion) {
    #[expect(clippy::disallowed_methods, reason = "the benchmark's one fixed instant")]
    let now = Instant::now();
    let publishes: Vec<Packet> = TOPICS
        .iter()
        .map(|topic| {
            let topic = TopicName::new(topic).expect("topic");
            Packet::Publish(Publish::new(topic, Bytes::from_static(&[0x5A; 64])))
        })
        .collect();
    let aliases_on = Config {
        listener_options: vec![ListenerOptions {
            max_topic_alias_broker: 10,
            ..ListenerOptions::default()
        }],
        ..Config::default()
    };
    let mut group = c.benchmark_group("fanout_qos0_10_subscribers");
    group.throughput(Throughput::Elements(SUBSCRIBERS));
    for (name, config) in [("aliases_off", Config::default()), ("aliases_on", aliases_on)] {
        let mut broker = broker(config, now);
        let mut next = publishes.iter().cycle();
        group.bench_function(name, |b| {
            b.iter(|| {
                let packet = next.next().expect("cycle").clone();
                broker.handle_packet(ConnId(0), packet, now);
                while let Some(output) = broker.poll_output() {
                    black_box(output);
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
