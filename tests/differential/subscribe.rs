//! SUBSCRIBE / SUBACK and UNSUBSCRIBE / UNSUBACK per QoS and version, refused filters, and
//! malformed subscription packets.

use super::harness::{A, Scenario};
use super::wire::{V3_1, V3_1_1, V5, connect, hex, subscribe, subscribe_with, unsubscribe};

fn subscribed(version: mqtt_codec::ProtocolVersion, filters: &[(&str, u8)]) -> Scenario {
    Scenario::new()
        .connect(A, version, connect(version, "diff-sub"))
        .send(A, subscribe(version, 1, filters))
        .recv(A)
}

#[test]
fn v3_1_subscribe_each_qos() {
    subscribed(V3_1, &[("a/0", 0), ("a/1", 1), ("a/2", 2)]).quiet(A).run();
}

#[test]
fn v3_1_1_subscribe_each_qos() {
    subscribed(V3_1_1, &[("a/0", 0), ("a/1", 1), ("a/2", 2)]).quiet(A).run();
}

#[test]
fn v5_subscribe_each_qos() {
    subscribed(V5, &[("a/0", 0), ("a/1", 1), ("a/2", 2)]).quiet(A).run();
}

#[test]
fn v3_1_1_subscribe_wildcards() {
    subscribed(V3_1_1, &[("a/+/c", 1), ("#", 0), ("+", 2)]).quiet(A).run();
}

#[test]
fn v5_subscribe_with_max_qos_1_is_downgraded() {
    Scenario::new()
        .config("max_qos 1")
        .connect(A, V5, connect(V5, "diff-sub-q"))
        .send(A, subscribe(V5, 7, &[("x", 2)]))
        .recv(A)
        .run();
}

#[test]
fn v3_1_1_subscribe_with_max_qos_1_is_downgraded() {
    Scenario::new()
        .config("max_qos 1")
        .connect(A, V3_1_1, connect(V3_1_1, "diff-sub-q3"))
        .send(A, subscribe(V3_1_1, 7, &[("x", 2)]))
        .recv(A)
        .run();
}

#[test]
fn v5_subscribe_with_identifier() {
    let packet = subscribe_with(V5, 3, &[("s/i", 1)], |s| {
        s.properties.subscription_identifiers.push(42);
    });
    Scenario::new().connect(A, V5, connect(V5, "diff-subid")).send(A, packet).recv(A).run();
}

#[test]
fn v5_shared_subscription_is_granted() {
    subscribed(V5, &[("$share/g/t", 1)]).quiet(A).run();
}

#[test]
fn v3_1_1_subscribe_bad_flags_is_closed() {
    let bad = hex("80 06 00 01 00 01 61 00");
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-sub-bad"))
        .send(A, bad)
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_subscribe_without_filters_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-sub-none"))
        .send(A, hex("82 02 00 01"))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_subscribe_packet_id_0_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-sub-id0"))
        .send(A, hex("82 06 00 00 00 01 61 00"))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_subscribe_qos_3_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-sub-q3x"))
        .send(A, hex("82 06 00 01 00 01 61 03"))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_subscribe_invalid_filter_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-sub-filter"))
        .send(A, hex("82 0a 00 01 00 05 61 2f 23 2f 62 00"))
        .closed(A)
        .run();
}

#[test]
fn v5_subscribe_invalid_filter_is_closed() {
    Scenario::new()
        .connect(A, V5, connect(V5, "diff-sub-filter5"))
        .send(A, hex("82 0b 00 01 00 00 05 61 2f 23 2f 62 00"))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_unsubscribe_is_acknowledged() {
    subscribed(V3_1_1, &[("u/1", 1)])
        .send(A, unsubscribe(V3_1_1, 2, &["u/1", "u/none"]))
        .recv(A)
        .run();
}

#[test]
fn v5_unsubscribe_reports_each_filter() {
    subscribed(V5, &[("u/1", 1)]).send(A, unsubscribe(V5, 2, &["u/1", "u/none"])).recv(A).run();
}

#[test]
fn v3_1_1_unsubscribe_without_filters_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-unsub-none"))
        .send(A, hex("a2 02 00 01"))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_unsubscribe_bad_flags_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-unsub-bad"))
        .send(A, hex("a0 05 00 01 00 01 61"))
        .closed(A)
        .run();
}
