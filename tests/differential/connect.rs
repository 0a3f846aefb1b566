//! CONNECT and CONNACK: each version accepted, the CONNACK's v5 properties, and the ways a
//! CONNECT is refused or answered with a close.

use super::harness::{A, B, Scenario};
use super::wire::{V3_1, V3_1_1, V5, connect, connect_with, hex, s};

#[test]
fn v3_1_connect_is_accepted() {
    Scenario::new().connect(A, V3_1, connect(V3_1, "diff-31")).quiet(A).run();
}

#[test]
fn v3_1_1_connect_is_accepted() {
    Scenario::new().connect(A, V3_1_1, connect(V3_1_1, "diff-311")).quiet(A).run();
}

#[test]
fn v5_connect_is_accepted() {
    Scenario::new().connect(A, V5, connect(V5, "diff-5")).quiet(A).run();
}

#[test]
fn v5_connack_carries_every_limit_in_mosquittos_order() {
    Scenario::new()
        .config("max_keepalive 10")
        .config("max_packet_size 1000")
        .config("max_inflight_messages 5")
        .config("max_qos 1")
        .config("retain_available false")
        .config("max_topic_alias 3")
        .connect(A, V5, connect_with(V5, "diff-props", |c| c.keep_alive = 100))
        .run();
}

#[test]
fn v5_connack_assigns_an_id_for_an_empty_one() {
    Scenario::new().connect(A, V5, connect(V5, "")).quiet(A).run();
}
