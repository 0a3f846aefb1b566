//! Packet size in both directions: the client's Maximum Packet Size applied to what the
//! broker forwards, the broker's `max_packet_size` applied to what clients send, and long
//! topics and payload format indicators passed through.

use bytes::Bytes;
use mqtt_codec::ProtocolVersion;

use super::harness::{A, B, Scenario, scenarios};
use super::publish::pair;
use super::wire::{V3_1_1, V5, connect, connect_with, publish, publish_with, pubrel, subscribe};

/// A subscribed to `pfi`; B publishes `payload` there with Payload Format Indicator `format`.
fn formatted(payload: &'static [u8], format: u8) -> Scenario {
    let marked = publish_with(V5, "pfi", payload, 0, 0, |p| {
        p.properties.payload_format_indicator = Some(format);
    });
    pair(V5, "pfi", 0).send(B, marked)
}

/// Why a packet over the broker's `max_packet_size` ends differently.
const OVERSIZE_RESET: &str = "culex reads the rest of an oversized packet before it closes, so the client reads what was sent and a clean close; 2.0.11 leaves it unread and the kernel resets the connection";

/// With `max_packet_size 40`, a client of `version` sends a larger CONNECT.
fn large_connect(version: ProtocolVersion) -> Scenario {
    Scenario::new()
        .config("max_packet_size 40")
        .open(A, version)
        .send(A, connect(version, &"c".repeat(60)))
        .closed(A)
        .differs(OVERSIZE_RESET)
}

/// A PUBLISH to `topic` at `level` (identifier 1) with a payload of `len` bytes.
fn sized(version: ProtocolVersion, topic: &str, level: u8, len: usize) -> Vec<u8> {
    publish_with(version, topic, b"", level, 1, |p| p.payload = Bytes::from(vec![b'x'; len]))
}

/// A allows packets of at most 40 bytes and subscribes to `mp` at `level`; B publishes a
/// 100-byte payload and then a 1-byte one at `level`.
fn limited_subscriber(level: u8) -> Scenario {
    let limited = connect_with(V5, "diff-mps", |c| c.properties.maximum_packet_size = Some(40));
    let mut scenario = Scenario::new()
        .connect(A, V5, limited)
        .send(A, subscribe(V5, 1, &[("mp", level)]))
        .recv(A)
        .connect(B, V5, connect(V5, "diff-mps-pub"))
        .send(B, sized(V5, "mp", level, 100));
    if level > 0 {
        scenario = scenario.recv(B);
    }
    if level == 2 {
        scenario = scenario.send(B, pubrel(V5, 1)).recv(B);
    }
    scenario.send(B, publish(V5, "mp", b"s", 0, 0)).recv(A).quiet(A)
}

scenarios! {
    v5_client_maximum_packet_size_drops_an_oversized_qos0 =>
        limited_subscriber(0);

    v5_client_maximum_packet_size_drops_an_oversized_qos1 =>
        limited_subscriber(1);

    v5_client_maximum_packet_size_drops_an_oversized_qos2 =>
        limited_subscriber(2);

    v5_client_maximum_packet_size_drops_an_oversized_retained_message => {
        let limited =
            connect_with(V5, "diff-mps-ret", |c| c.properties.maximum_packet_size = Some(40));
        Scenario::new()
            .connect(B, V5, connect(V5, "diff-mps-ret-pub"))
            .send(
                B,
                publish_with(V5, "mpr/big", b"", 0, 0, |p| {
                    p.retain = true;
                    p.payload = Bytes::from(vec![b'x'; 100]);
                }),
            )
            .send(B, publish_with(V5, "mpr/small", b"s", 0, 0, |p| p.retain = true))
            .send(B, super::wire::pingreq())
            .recv(B)
            .connect(A, V5, limited)
            .send(A, subscribe(V5, 1, &[("mpr/#", 0)]))
            .recv(A)
            .recv(A)
            .quiet(A)
    };

    v5_packet_one_byte_over_the_client_maximum_is_dropped => {
        let limited =
            connect_with(V5, "diff-mps-eq", |c| c.properties.maximum_packet_size = Some(13));
        Scenario::new()
            .connect(A, V5, limited)
            .send(A, subscribe(V5, 1, &[("eq", 0)]))
            .recv(A)
            .connect(B, V5, connect(V5, "diff-mps-eq-pub"))
            .send(B, sized(V5, "eq", 0, 6))
            .send(B, sized(V5, "eq", 0, 7))
            .send(B, sized(V5, "eq", 0, 5))
            .recv_n(A, 2)
            .quiet(A)
            .differs("2.0.11 leaves the fixed header's first byte out of the size it checks against the client's Maximum Packet Size, so it sends a packet one byte too large")
    };

    v5_broker_max_packet_size_refuses_a_large_qos0 =>
        broker_limit(V5, 0, 100);

    v5_broker_max_packet_size_refuses_a_large_qos1 =>
        broker_limit(V5, 1, 100);

    v3_1_1_broker_max_packet_size_refuses_a_large_publish =>
        broker_limit(V3_1_1, 0, 100);

    v5_broker_max_packet_size_accepts_a_packet_at_the_limit =>
        Scenario::new()
            .config("max_packet_size 40")
            .connect(A, V5, connect(V5, "diff-bmps-eq"))
            .send(A, subscribe(V5, 1, &[("bm", 0)]))
            .recv(A)
            .send(A, sized(V5, "bm", 0, 33))
            .recv(A);

    v5_broker_max_packet_size_refuses_a_large_subscribe => {
        let long = "f".repeat(60);
        Scenario::new()
            .config("max_packet_size 40")
            .connect(A, V5, connect(V5, "diff-bmps-sub"))
            .send(A, subscribe(V5, 1, &[(long.as_str(), 0)]))
            .closed(A)
            .differs(OVERSIZE_RESET)
    };

    v5_broker_max_packet_size_refuses_a_large_connect =>
        large_connect(V5);

    v3_1_1_broker_max_packet_size_refuses_a_large_connect =>
        large_connect(V3_1_1);

    v3_1_1_topic_of_201_levels_is_forwarded =>
        deep_topic(V3_1_1, 201);

    v3_1_1_topic_of_202_levels_is_refused =>
        deep_topic(V3_1_1, 202);

    v5_topic_of_202_levels_is_refused =>
        deep_topic(V5, 202);

    v3_1_1_filter_of_201_levels_is_granted =>
        deep_filter(V3_1_1, 201);

    v3_1_1_filter_of_202_levels_is_refused =>
        deep_filter(V3_1_1, 202);

    v5_filter_of_202_levels_is_refused =>
        deep_filter(V5, 202);

    v5_unsubscribe_of_a_filter_of_202_levels => {
        let filter = "f/".repeat(201) + "#";
        Scenario::new()
            .connect(A, V5, connect(V5, "diff-deep-unsub"))
            .send(A, super::wire::unsubscribe(V5, 1, &[filter.as_str()]))
            .quiet(A)
    };

    v3_1_1_will_topic_of_202_levels => {
        let topic = "w/".repeat(201) + "end";
        let packet = connect_with(V3_1_1, "diff-deep-will", |c| {
            c.will = Some(super::wire::will(&topic, b"deep"));
        });
        Scenario::new().open(A, V3_1_1).send(A, packet).quiet(A)
    };

    v5_topic_of_the_largest_length_is_forwarded => {
        let topic = "t".repeat(65_535);
        pair(V5, "+", 0).send(B, publish(V5, &topic, b"max", 0, 0)).recv(A)
    };

    v5_large_payload_is_forwarded =>
        pair(V5, "big", 1).send(B, sized(V5, "big", 1, 300_000)).recv(B).recv(A);

    v5_payload_format_indicator_is_forwarded =>
        formatted(b"text", 1).recv(A);

    v5_payload_format_indicator_with_invalid_utf8 =>
        formatted(b"\xff\xfe", 1).quiet(B).quiet(A);

    v5_payload_format_indicator_0_with_binary =>
        formatted(b"\xff\x00", 0).recv(A);
}

/// With `max_packet_size 40`, a client of `version` publishes `len` payload bytes at `level`.
fn broker_limit(version: ProtocolVersion, level: u8, len: usize) -> Scenario {
    Scenario::new()
        .config("max_packet_size 40")
        .connect(A, version, connect(version, "diff-bmps"))
        .send(A, sized(version, "bm", level, len))
        .closed(A)
        .differs(OVERSIZE_RESET)
}

/// B publishes to a topic of `levels` levels; A, subscribed to `l/#`, listens.
fn deep_topic(version: ProtocolVersion, levels: usize) -> Scenario {
    let topic = "l/".repeat(levels - 1) + "end";
    pair(version, "l/#", 0).send(B, publish(version, &topic, b"deep", 0, 0)).quiet(B).quiet(A)
}

/// A subscribes to a filter of `levels` levels.
fn deep_filter(version: ProtocolVersion, levels: usize) -> Scenario {
    let filter = "f/".repeat(levels - 1) + "#";
    Scenario::new()
        .connect(A, version, connect(version, "diff-deep-filter"))
        .send(A, subscribe(version, 1, &[(filter.as_str(), 0)]))
        .quiet(A)
}
