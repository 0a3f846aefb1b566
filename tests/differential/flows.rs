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

/// An acknowledgement builder from `wire`.
type AckFn = fn(ProtocolVersion, u16) -> Vec<u8>;

/// Runs `scenario` for v3.1.1 and for v5.
fn in_both_versions(scenario: impl Fn(ProtocolVersion) -> Scenario) {
    for version in [V3_1_1, V5] {
        scenario(version).run();
    }
}

#[test]
fn the_other_qos_acknowledgement_closes_the_connection() {
    let cases: [(u8, AckFn); 3] = [(1, pubrec), (1, pubcomp), (2, puback)];
    for (level, wrong) in cases {
        in_both_versions(|v| then_ping(delivered(v, level), wrong(v, 1)));
    }
}

#[test]
fn duplicate_acknowledgements_are_ignored() {
    in_both_versions(|v| then_ping(delivered(v, 1).send(A, puback(v, 1)), puback(v, 1)));
    in_both_versions(|v| then_ping(delivered(v, 2).send(A, pubrec(v, 1)).recv(A), pubrec(v, 1)));
    in_both_versions(|v| {
        let completed = delivered(v, 2).send(A, pubrec(v, 1)).recv(A).send(A, pubcomp(v, 1));
        then_ping(completed, pubcomp(v, 1))
    });
}

#[test]
fn qos2_publish_resent_before_pubrel_is_delivered_once() {
    in_both_versions(|v| {
        delivered(v, 0)
            .send(B, publish(v, "f/y", b"two", 2, 9))
            .recv(B)
            .send(B, publish_with(v, "f/y", b"two", 2, 9, |p| p.dup = true))
            .recv(B)
            .send(B, pubrel(v, 9))
            .recv(B)
            .recv(A)
            .quiet(A)
    });
}

/// B publishes QoS 2, reads PUBREC and drops; back with its session, it sends PUBREL.
#[test]
fn publisher_drops_before_pubrel() {
    in_both_versions(|v| {
        delivered(v, 0)
            .send(B, publish(v, "f/z", b"mid", 2, 7))
            .recv(B)
            .drop_conn(B)
            .quiet(A)
            .connect(B, v, persistent(v, "diff-flow-pub"))
            .send(B, pubrel(v, 7))
            .recv(B)
            .quiet(A)
    });
}

/// A reads a QoS `level` message, answers PUBREC for QoS 2 (and reads PUBREL), and drops;
/// back with its session, it is sent what is unfinished.
fn subscriber_drops_mid_flow(version: ProtocolVersion, level: u8) -> Scenario {
    let scenario = delivered(version, level);
    let scenario = if level == 2 { scenario.send(A, pubrec(version, 1)).recv(A) } else { scenario };
    scenario.drop_conn(A).connect(A, version, persistent(version, "diff-flow-sub")).recv(A).quiet(A)
}

#[test]
fn subscriber_drops_before_puback() {
    in_both_versions(|v| subscriber_drops_mid_flow(v, 1));
}

#[test]
fn subscriber_drops_before_pubcomp() {
    in_both_versions(|v| subscriber_drops_mid_flow(v, 2));
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
