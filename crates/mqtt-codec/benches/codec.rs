//! Criterion benchmarks: decode and encode of QoS 0 / QoS 1 PUBLISH (64 B and 4 KiB payloads)
//! and of CONNECT. Run with `cargo bench -p mqtt-codec`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mqtt_codec::{
    Connect, MAX_PACKET_SIZE, MqttString, Packet, PacketId, ProtocolVersion, Publish, QoS,
    TopicName, Will, decode, encode,
};

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
/// Packets per read buffer in the decode benchmarks.
const BATCH: usize = 256;

fn publish(qos: QoS, payload_len: usize) -> Packet {
    let mut publish = Publish::new(
        TopicName::from_static("sensors/building-1/floor-2/temperature"),
        Bytes::from(vec![0x5A; payload_len]),
    );
    if qos != QoS::AtMostOnce {
        publish.qos = qos;
        publish.packet_id = PacketId::new(42);
    }
    Packet::Publish(publish)
}

fn connect() -> Packet {
    let mut connect = Connect::new(V4, MqttString::from_static("bench-client-0001"));
    connect.username = Some(MqttString::from_static("user"));
    connect.password = Some(Bytes::from_static(b"password"));
    connect.will = Some(Will {
        topic: TopicName::from_static("clients/bench-client-0001/status"),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: Default::default(),
    });
    Packet::Connect(Box::new(connect))
}

fn wire(packet: &Packet) -> Bytes {
    let mut out = BytesMut::new();
    encode(packet, V4, MAX_PACKET_SIZE, &mut out).expect("benchmark packets are valid");
    out.freeze()
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("publish_qos0_64B", publish(QoS::AtMostOnce, 64)),
        ("publish_qos1_64B", publish(QoS::AtLeastOnce, 64)),
        ("publish_qos0_4KiB", publish(QoS::AtMostOnce, 4096)),
        ("publish_qos1_4KiB", publish(QoS::AtLeastOnce, 4096)),
        ("connect", connect()),
    ];
    let mut group = c.benchmark_group("decode");
    for (name, packet) in &cases {
        let bytes = wire(packet);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        // A read buffer holding up to BATCH packets, as a connection's would after a large read;
        // refilling it is not timed.
        let batch: Vec<u8> = bytes.iter().copied().cycle().take(bytes.len() * BATCH).collect();
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(BATCH as u64);
                    let mut buf = BytesMut::from(&batch[..bytes.len() * n as usize]);
                    let start = Instant::now();
                    for _ in 0..n {
                        black_box(
                            decode(&mut buf, V4, MAX_PACKET_SIZE)
                                .expect("valid")
                                .expect("whole packet"),
                        );
                    }
                    timed += start.elapsed();
                    left -= n;
                }
                timed
            });
        });
    }
    group.finish();
    let mut group = c.benchmark_group("encode");
    for (name, packet) in &cases {
        group.throughput(Throughput::Bytes(wire(packet).len() as u64));
        let mut out = BytesMut::with_capacity(64 * 1024);
        group.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                encode(black_box(packet), V4, MAX_PACKET_SIZE, &mut out).expect("valid");
                black_box(out.len())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
