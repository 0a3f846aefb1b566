//! A slow consumer (issue 12): a subscriber that stops reading while two publishers flood its
//! topic at QoS 0 and QoS 1. With `max_queued_messages` and `max_queued_bytes` set, the broker's
//! memory stays under the queue bound plus a constant, what it drops is counted in
//! `$SYS/broker/publish/messages/dropped` and logged as Mosquitto logs it, and a healthy
//! subscriber keeps receiving. Debian's Mosquitto runs the same flood, for its log line and
//! counter.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::broker_21::{ACCEPTED, first_packet, try_connect};
use crate::differential::wire::{V3_1_1, connect, publish, subscribe};
use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, PeakRss, our_bin, reference_client, reference_tool, rss, run,
};

/// The payload of every flood message: 4 KiB, so the flood is bytes more than packets.
static PAYLOAD: [u8; 4096] = [b'x'; 4096];
/// Messages each publisher sends, alternately QoS 0 and QoS 1: 2 × 8,000 × 4 KiB = 64 MiB to
/// each subscriber, several times what loopback's socket buffers hold for the stalled one
/// (its receive buffer and the broker's send buffer, at most 6 + 4 MiB with autotuning), so
/// the broker's own bound decides.
const PER_PUBLISHER: usize = 8_000;
/// Messages a publisher sends before it waits for the broker to route them.
const BATCH: usize = 32;
/// `max_queued_bytes`: what a client may have waiting, per kind of queue.
const MAX_QUEUED_BYTES: u64 = 1024 * 1024;
/// `max_queued_messages`.
const MAX_QUEUED_MESSAGES: u64 = 100;
/// What the broker may hold beyond the stalled client's queues: its 20 QoS 1 messages in
/// flight (80 KiB), the publishers' read buffers that its queued QoS 1 messages share (up to
/// 64 KiB each: 6.4 MiB at most), each connection's read buffer and decode batch (a few
/// 64 KiB buffers), the healthy subscriber's own queue when it falls behind (1 MiB, bounded
/// like the stalled one's), and the allocator's spare heap. Measured: 5 MiB in all; without
/// the bound on the stalled connection's QoS 0 bytes, 90 MiB.
const CONSTANT: u64 = 16 * 1024 * 1024;
/// The line both brokers log when they begin to drop a client's messages.
const DROPPING: &str = "Outgoing messages are being dropped for client stalled.";

#[test]
fn a_stalled_subscriber_costs_its_queue_bound_and_drops_are_counted() {
    for program in [our_bin("culex"), reference_tool("mosquitto")] {
        let outcome = flood(&program);
        let name = program.file_name().map(|n| n.to_string_lossy().into_owned());
        eprintln!("{name:?}: {outcome:?}");
        assert!(outcome.dropped > 0, "{name:?}: nothing counted as dropped");
        assert!(outcome.logged, "{name:?}: no `{DROPPING}` line");
        assert!(outcome.healthy > 0, "{name:?}: the healthy subscriber got nothing");
        if name.as_deref() == Some("culex") {
            // Both queues of the stalled client (QoS 0 bytes waiting, QoS 1 queued) and the
            // constant above.
            let bound = 2 * MAX_QUEUED_BYTES + CONSTANT;
            assert!(outcome.growth < bound, "{name:?}: grew {} bytes", outcome.growth);
        }
    }
}

/// What one broker did under the flood.
#[derive(Debug)]
struct Outcome {
    /// Peak resident memory during the flood minus the memory before it.
    growth: u64,
    /// `$SYS/broker/publish/messages/dropped` afterwards.
    dropped: u64,
    /// Whether the broker logged [`DROPPING`].
    logged: bool,
    /// Flood messages the healthy subscriber received.
    healthy: usize,
}

/// Runs the flood against `program`.
fn flood(program: &Path) -> Outcome {
    let config = |ports: &[u16]| {
        format!(
            "listener {} 127.0.0.1\nallow_anonymous true\nsys_interval 1\n\
             max_queued_messages {MAX_QUEUED_MESSAGES}\nmax_queued_bytes {MAX_QUEUED_BYTES}\n",
            ports[0]
        )
    };
    let broker = BrokerProcess::start_with(program, 1, config, &[]);
    let port = broker.port;
    // Subscribed, then never read again.
    let _stalled = subscriber(port, "stalled", 1);
    let healthy = subscriber(port, "healthy", 0);
    let healthy = std::thread::spawn(move || count_until_end(healthy));
    let before = rss(broker.pid());
    let peak = PeakRss::start(broker.pid());
    let publishers: Vec<JoinHandle<TcpStream>> =
        (0..2).map(|n| std::thread::spawn(move || publisher(port, n))).collect();
    let publishers: Vec<TcpStream> =
        publishers.into_iter().map(|p| p.join().expect("publisher thread")).collect();
    // Memory is read until the broker has written what the healthy subscriber can take.
    std::thread::sleep(Duration::from_secs(2));
    let peak = peak.stop();
    let mut last = publishers.into_iter().next().expect("a publisher");
    last.write_all(&publish(V3_1_1, "flood/end", b"end", 0, 0)).expect("the end marker");
    let healthy = healthy.join().expect("healthy subscriber thread");
    // The counter is published every sys_interval + 1 seconds: wait for one more update.
    std::thread::sleep(Duration::from_secs(3));
    Outcome {
        growth: peak.saturating_sub(before),
        dropped: dropped_counter(port),
        logged: broker.log_lines().iter().any(|line| line.ends_with(DROPPING)),
        healthy,
    }
}

/// A client `id` subscribed to `flood/#` at `qos`, its SUBACK read.
fn subscriber(port: u16, id: &str, qos: u8) -> TcpStream {
    let (connack, _, mut stream) = try_connect(port, &connect(V3_1_1, id));
    assert_eq!(connack, ACCEPTED);
    stream.write_all(&subscribe(V3_1_1, 1, &[("flood/#", qos)])).expect("subscribing");
    assert_eq!(first_packet(&mut stream), [0x90, 0x03, 0x00, 0x01, qos]);
    stream
}

/// Publisher `n`: [`PER_PUBLISHER`] messages as fast as the broker routes them, alternately
/// QoS 0 and QoS 1, in batches of [`BATCH`]: the PUBACK of a batch's last message says the
/// broker has routed the batch (it handles a client's packets in order). So the flood waits
/// on the broker's routing, not in front of it, and the memory measured is what the
/// subscribers' queues hold.
fn publisher(port: u16, n: usize) -> TcpStream {
    let (connack, _, mut stream) = try_connect(port, &connect(V3_1_1, &format!("publisher{n}")));
    assert_eq!(connack, ACCEPTED);
    stream.set_read_timeout(Some(COMMAND_DEADLINE)).expect("read timeout");
    let qos0 = publish(V3_1_1, "flood/t", &PAYLOAD, 0, 0);
    let mut batch = Vec::new();
    for i in 0..PER_PUBLISHER {
        let id = u16::try_from(i % 60_000 + 1).expect("a packet identifier");
        if i % 2 == 0 {
            batch.extend_from_slice(&qos0);
            continue;
        }
        batch.extend_from_slice(&publish(V3_1_1, "flood/t", &PAYLOAD, 1, id));
        if batch.len() >= BATCH * PAYLOAD.len() || i + 1 == PER_PUBLISHER {
            stream.write_all(&batch).expect("publishing");
            batch.clear();
            let last = id.to_be_bytes();
            while read_packet(&mut stream) != [0x40, 0x02, last[0], last[1]] {}
        }
    }
    stream
}

/// Reads PUBLISHes from `stream` until one to `flood/end`; returns how many came before it.
fn count_until_end(mut stream: TcpStream) -> usize {
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("read timeout");
    let start = Instant::now();
    let mut count = 0;
    loop {
        assert!(start.elapsed() < Duration::from_secs(120), "no end marker after {count}");
        let packet = read_packet(&mut stream);
        if packet[0] >> 4 != 3 {
            continue;
        }
        // After the fixed header: the topic's length and the topic.
        let body = &packet[header_len(&packet)..];
        let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
        if &body[2..2 + topic_len] == b"flood/end" {
            return count;
        }
        count += 1;
    }
}

/// The length of `packet`'s fixed header (type byte and variable-length remaining length).
fn header_len(packet: &[u8]) -> usize {
    1 + packet[1..].iter().position(|byte| byte & 0x80 == 0).map_or(4, |at| at + 1)
}

/// One whole packet from `stream`.
fn read_packet(stream: &mut TcpStream) -> Vec<u8> {
    let mut packet = vec![0];
    stream.read_exact(&mut packet).expect("a packet's first byte");
    let mut remaining = 0;
    for shift in [0, 7, 14, 21] {
        let mut byte = [0];
        stream.read_exact(&mut byte).expect("the remaining length");
        packet.push(byte[0]);
        remaining |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    let start = packet.len();
    packet.resize(start + remaining, 0);
    stream.read_exact(&mut packet[start..]).expect("the packet's body");
    packet
}

/// The retained `$SYS/broker/publish/messages/dropped`, read with Debian's `mosquitto_sub`.
fn dropped_counter(port: u16) -> u64 {
    let done = run(
        reference_client("mosquitto_sub", port).args([
            "-t",
            "$SYS/broker/publish/messages/dropped",
            "-C",
            "1",
            "-W",
            "10",
        ]),
        COMMAND_DEADLINE,
    );
    done.stdout.trim().parse().unwrap_or_else(|_| panic!("dropped counter: {:?}", done.stdout))
}
