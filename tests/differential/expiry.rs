//! Message expiry on messages queued for an offline session, and session expiry: v5 Session
//! Expiry Interval 0 and above, its change at DISCONNECT, and reconnects with a clean start.

use super::harness::{A, B, Scenario, scenarios};
use super::wire::{
    V3_1_1, V5, bytes, connect, connect_with, disconnect, publish, publish_with, subscribe,
};
use mqtt_codec::{Connect, Disconnect, Packet, ProtocolVersion, ReasonCode};

/// A CONNECT edit: clean start `clean` and, for v5, session expiry `session`.
fn session(version: ProtocolVersion, clean: bool, session: u32) -> impl Fn(&mut Connect) {
    move |c| {
        c.clean_start = clean;
        if version == V5 {
            c.properties.session_expiry_interval = Some(session);
        }
    }
}

/// A connected as `exp-sub` with `first`, subscribed to `e/#` at QoS 1, disconnected
/// normally; B connected as publisher.
fn offline(version: ProtocolVersion, first: impl Fn(&mut Connect)) -> Scenario {
    Scenario::new()
        .connect(A, version, connect_with(version, "exp-sub", first))
        .send(A, subscribe(version, 1, &[("e/#", 1)]))
        .recv(A)
        .send(A, disconnect(version))
        .closed(A)
        .connect(B, version, connect(version, "exp-pub"))
}

/// A connects again as `exp-sub` with `again` (a new connection in A's slot) and listens for
/// what the session holds.
fn back(scenario: Scenario, version: ProtocolVersion, again: impl Fn(&mut Connect)) -> Scenario {
    scenario.connect(A, version, connect_with(version, "exp-sub", again)).quiet(A)
}

/// A queued QoS 1 message with Message Expiry Interval `expiry`, read `wait_ms` later.
fn queued_with_expiry(expiry: u32, wait_ms: u64) -> Scenario {
    let scenario = offline(V5, session(V5, false, 60))
        .send(
            B,
            publish_with(V5, "e/1", b"queued", 1, 7, |p| {
                p.properties.message_expiry_interval = Some(expiry);
            }),
        )
        .recv(B)
        .wait(wait_ms);
    back(scenario, V5, session(V5, false, 60))
}

scenarios! {
    v5_queued_message_expires => queued_with_expiry(1, 2100);
    v5_queued_message_keeps_its_expiry => queued_with_expiry(1000, 0);
}

/// A message at `level` queued for an offline v3.1.1 persistent session.
fn v3_queued(level: u8) -> Scenario {
    let scenario = offline(V3_1_1, session(V3_1_1, false, 0))
        .send(B, publish(V3_1_1, "e/1", b"queued", level, 7))
        .recv(B);
    back(scenario, V3_1_1, session(V3_1_1, false, 0))
}

scenarios! {
    v3_1_1_queued_qos1_is_delivered_on_reconnect => v3_queued(1);

    v3_1_1_queued_qos0_is_dropped => {
        let scenario = offline(V3_1_1, session(V3_1_1, false, 0))
            .send(B, publish(V3_1_1, "e/1", b"dropped", 0, 0))
            .send(B, publish(V3_1_1, "e/2", b"kept", 1, 7))
            .recv(B);
        back(scenario, V3_1_1, session(V3_1_1, false, 0))
    };

    v3_1_1_clean_reconnect_discards_the_session => {
        let scenario = offline(V3_1_1, session(V3_1_1, false, 0))
            .send(B, publish(V3_1_1, "e/1", b"queued", 1, 7))
            .recv(B);
        back(scenario, V3_1_1, session(V3_1_1, true, 0))
            .send(B, publish(V3_1_1, "e/2", b"unsubscribed", 1, 8))
            .recv(B)
            .quiet(A)
    };
}

/// A v5 session with expiry `first`, reconnected with `again` after `wait_ms`; a publish
/// then shows whether the subscription survived.
fn session_expiry(first: u32, wait_ms: u64, clean_again: bool) -> Scenario {
    let scenario = offline(V5, session(V5, false, first)).wait(wait_ms);
    back(scenario, V5, session(V5, clean_again, 60))
        .send(B, publish(V5, "e/1", b"after", 1, 8))
        .recv(B)
        .quiet(A)
}

scenarios! {
    v5_session_expiry_0_ends_the_session_at_disconnect => session_expiry(0, 0, false);
    v5_session_expiry_keeps_the_session => session_expiry(60, 0, false);
    v5_session_expires_after_its_interval => session_expiry(1, 2100, false);
    v5_clean_start_discards_a_kept_session => session_expiry(60, 0, true);
}

/// A v5 DISCONNECT that sets the session expiry to `interval`.
fn disconnect_with_expiry(interval: u32) -> Vec<u8> {
    let mut packet = Disconnect::new(ReasonCode::Success);
    packet.properties.session_expiry_interval = Some(interval);
    bytes(&Packet::Disconnect(packet), V5)
}

/// A v5 session with expiry `first`, subscribed, whose DISCONNECT sets `at_disconnect`;
/// back `wait_ms` later.
fn disconnect_changes_the_expiry(first: u32, at_disconnect: u32, wait_ms: u64) -> Scenario {
    let scenario = Scenario::new()
        .connect(A, V5, connect_with(V5, "exp-sub", session(V5, false, first)))
        .send(A, subscribe(V5, 1, &[("e/#", 1)]))
        .recv(A)
        .send(A, disconnect_with_expiry(at_disconnect))
        .closed(A)
        .wait(wait_ms)
        .connect(B, V5, connect(V5, "exp-pub"));
    back(scenario, V5, session(V5, false, 60))
}

scenarios! {
    v5_disconnect_cannot_raise_a_zero_session_expiry =>
        Scenario::new()
            .connect(A, V5, connect_with(V5, "exp-raise", session(V5, false, 0)))
            .send(A, disconnect_with_expiry(60))
            .closed(A);

    v5_disconnect_can_end_a_kept_session => disconnect_changes_the_expiry(60, 0, 0);
    v5_disconnect_can_lengthen_a_kept_session => disconnect_changes_the_expiry(1, 60, 2100);

    v5_live_message_expiry_is_forwarded =>
        Scenario::new()
            .subscriber(A, V5, "exp-live", &[("e/#", 0)])
            .connect(B, V5, connect(V5, "exp-pub"))
            .send(
                B,
                publish_with(V5, "e/1", b"live", 0, 0, |p| {
                    p.properties.message_expiry_interval = Some(1000);
                }),
            )
            .recv(A);
}
