//! QoS 1 and 2 flows that go wrong: the wrong acknowledgement for a message's QoS, duplicate
//! acknowledgements and PUBLISHes, a client that disconnects in the middle of a flow, and
//! in-flight messages that expire while `max_inflight_messages` holds them back.

use super::harness::{A, B, Scenario};
use super::wire::{
    V3_1_1, V5, connect_with, pingreq, puback, pubcomp, publish, publish_with, pubrec, pubrel,
    subscribe,
};
use mqtt_codec::ProtocolVersion;

/// A CONNECT for `client_id` whose session outlives the connection.
fn persistent(version: ProtocolVersion, client_id: &str) -> Vec<u8> {
    connect_with(version, client_id, |c| {
        c.clean_start = false;
        if version == V5 {
            c.properties.session_expiry_interval = Some(300);
        }
    })
}

/// A (persistent) subscribed to `f/#` at `level`, and one message from B at `level`
/// delivered to A, B's own flow finished.
fn delivered(version: ProtocolVersion, level: u8) -> Scenario {
    let scenario = Scenario::new()
        .connect(A, version, persistent(version, "diff-flow-sub"))
        .send(A, subscribe(version, 1, &[("f/#", level)]))
        .recv(A)
        .connect(B, version, persistent(version, "diff-flow-pub"))
        .send(B, publish(version, "f/x", b"m", level, 9))
        .recv(B);
    let scenario = if level == 2 { scenario.send(B, pubrel(version, 9)).recv(B) } else { scenario };
    scenario.recv(A)
}

/// After `ack` from A: whatever comes, then whether A is still served.
fn then_ping(scenario: Scenario, ack: Vec<u8>) -> Scenario {
    scenario.send(A, ack).quiet(A).send(A, pingreq()).recv(A)
}

#[test]
fn v3_1_1_qos1_answered_with_pubrec() {
    then_ping(delivered(V3_1_1, 1), pubrec(V3_1_1, 1)).run();
}

#[test]
fn v5_qos1_answered_with_pubrec() {
    then_ping(delivered(V5, 1), pubrec(V5, 1)).run();
}

#[test]
fn v3_1_1_qos1_answered_with_pubcomp() {
    then_ping(delivered(V3_1_1, 1), pubcomp(V3_1_1, 1)).run();
}

#[test]
fn v5_qos1_answered_with_pubcomp() {
    then_ping(delivered(V5, 1), pubcomp(V5, 1)).run();
}

#[test]
fn v3_1_1_qos2_answered_with_puback() {
    then_ping(delivered(V3_1_1, 2), puback(V3_1_1, 1)).run();
}

#[test]
fn v5_qos2_answered_with_puback() {
    then_ping(delivered(V5, 2), puback(V5, 1)).run();
}

#[test]
fn v3_1_1_duplicate_puback() {
    then_ping(delivered(V3_1_1, 1).send(A, puback(V3_1_1, 1)), puback(V3_1_1, 1)).run();
}

#[test]
fn v5_duplicate_puback() {
    then_ping(delivered(V5, 1).send(A, puback(V5, 1)), puback(V5, 1)).run();
}

#[test]
fn v3_1_1_duplicate_pubrec() {
    then_ping(delivered(V3_1_1, 2).send(A, pubrec(V3_1_1, 1)).recv(A), pubrec(V3_1_1, 1)).run();
}

#[test]
fn v5_duplicate_pubrec() {
    then_ping(delivered(V5, 2).send(A, pubrec(V5, 1)).recv(A), pubrec(V5, 1)).run();
}

#[test]
fn v3_1_1_duplicate_pubcomp() {
    let completed = delivered(V3_1_1, 2).send(A, pubrec(V3_1_1, 1)).recv(A);
    then_ping(completed.send(A, pubcomp(V3_1_1, 1)), pubcomp(V3_1_1, 1)).run();
}

/// B publishes QoS 2 with id 9 twice (the second with DUP) before its PUBREL.
fn qos2_publish_twice(version: ProtocolVersion) {
    delivered(version, 0)
        .send(B, publish(version, "f/y", b"two", 2, 9))
        .recv(B)
        .send(B, publish_with(version, "f/y", b"two", 2, 9, |p| p.dup = true))
        .recv(B)
        .send(B, pubrel(version, 9))
        .recv(B)
        .recv(A)
        .quiet(A)
        .run();
}

#[test]
fn v3_1_1_qos2_publish_resent_before_pubrel() {
    qos2_publish_twice(V3_1_1);
}

#[test]
fn v5_qos2_publish_resent_before_pubrel() {
    qos2_publish_twice(V5);
}

/// B publishes QoS 2, reads PUBREC and drops; back with its session, it sends PUBREL.
fn publisher_drops_before_pubrel(version: ProtocolVersion) {
    delivered(version, 0)
        .send(B, publish(version, "f/z", b"mid", 2, 7))
        .recv(B)
        .drop_conn(B)
        .quiet(A)
        .connect(B, version, persistent(version, "diff-flow-pub"))
        .send(B, pubrel(version, 7))
        .recv(B)
        .quiet(A)
        .run();
}

#[test]
fn v3_1_1_publisher_drops_before_pubrel() {
    publisher_drops_before_pubrel(V3_1_1);
}

#[test]
fn v5_publisher_drops_before_pubrel() {
    publisher_drops_before_pubrel(V5);
}

/// A reads a QoS `level` message, answers PUBREC for QoS 2 (and reads PUBREL), and drops;
/// back with its session, it is sent what is unfinished.
fn subscriber_drops_mid_flow(version: ProtocolVersion, level: u8) {
    let scenario = delivered(version, level);
    let scenario = if level == 2 { scenario.send(A, pubrec(version, 1)).recv(A) } else { scenario };
    scenario
        .drop_conn(A)
        .connect(A, version, persistent(version, "diff-flow-sub"))
        .recv(A)
        .quiet(A)
        .run();
}

#[test]
fn v3_1_1_subscriber_drops_before_puback() {
    subscriber_drops_mid_flow(V3_1_1, 1);
}

#[test]
fn v5_subscriber_drops_before_puback() {
    subscriber_drops_mid_flow(V5, 1);
}

#[test]
fn v3_1_1_subscriber_drops_before_pubcomp() {
    subscriber_drops_mid_flow(V3_1_1, 2);
}

#[test]
fn v5_subscriber_drops_before_pubcomp() {
    subscriber_drops_mid_flow(V5, 2);
}

#[test]
fn v5_queued_qos1_message_expires_behind_max_inflight_messages() {
    let expiring = publish_with(V5, "f/e", b"soon", 1, 10, |p| {
        p.properties.message_expiry_interval = Some(1);
    });
    let queued = delivered(V5, 1).config("max_inflight_messages 1").send(B, expiring).recv(B);
    // Seven quiet steps: 2.1 s, past the expiry whatever the clock's second boundaries
    // (Mosquitto counts whole seconds: after 1.2 s it may still send the message).
    let waited = (0..7).fold(queued, |scenario, _| scenario.quiet(A));
    waited.send(A, puback(V5, 1)).quiet(A).run();
}
