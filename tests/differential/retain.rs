//! Retained messages: set and clear, delivery to a new subscriber per QoS, v5 Retain As
//! Published and Retain Handling, message expiry on a retained message, and
//! `retain_available false`, and `check_retain_source` across an ACL reload.

use super::harness::{A, B, Scenario, scenarios};
use super::wire::{
    V3_1_1, V5, connect, pingreq, puback, publish, publish_with, pubrel, subscribe_with,
};
use mqtt_codec::{ProtocolVersion, RetainHandling};

/// B publishes `payload` retained on `r/1` at `level` (completing the flow), edited by `edit`.
fn retained_by_b(
    version: ProtocolVersion,
    payload: &'static [u8],
    level: u8,
    edit: impl FnOnce(&mut mqtt_codec::Publish),
) -> Scenario {
    let scenario = Scenario::new().connect(B, version, connect(version, "ret-pub")).send(
        B,
        publish_with(version, "r/1", payload, level, 3, |p| {
            p.retain = true;
            edit(p);
        }),
    );
    match level {
        0 => scenario.send(B, pingreq()).recv(B),
        1 => scenario.recv(B),
        _ => scenario.recv(B).send(B, pubrel(version, 3)).recv(B),
    }
}

/// A retained message at `level` and a new subscriber A at `sub_level`.
fn retained_to_new_subscriber(version: ProtocolVersion, level: u8, sub_level: u8) -> Scenario {
    retained_by_b(version, b"kept", level, |_| {})
        .subscriber(A, version, "ret-sub", &[("r/#", sub_level)])
        .recv(A)
        .quiet(A)
}

scenarios! {
    v3_1_1_retained_qos1_to_a_qos0_subscriber => retained_to_new_subscriber(V3_1_1, 1, 0);
    v3_1_1_retained_qos2_to_a_qos2_subscriber => retained_to_new_subscriber(V3_1_1, 2, 2);
    v3_1_1_retained_qos0_to_a_qos2_subscriber => retained_to_new_subscriber(V3_1_1, 0, 2);
    v5_retained_qos1_to_a_qos0_subscriber => retained_to_new_subscriber(V5, 1, 0);
    v5_retained_qos2_to_a_qos1_subscriber => retained_to_new_subscriber(V5, 2, 1);
    v5_retained_qos2_to_a_qos2_subscriber => retained_to_new_subscriber(V5, 2, 2);

    v5_retained_message_is_cleared =>
        retained_by_b(V5, b"kept", 0, |_| {})
            .send(B, publish_with(V5, "r/1", b"", 0, 0, |p| p.retain = true))
            .send(B, pingreq())
            .recv(B)
            .subscriber(A, V5, "ret-sub", &[("r/#", 0)])
            .quiet(A);

    v3_1_1_retained_message_is_replaced =>
        retained_by_b(V3_1_1, b"old", 1, |_| {})
            .send(B, publish_with(V3_1_1, "r/1", b"new", 1, 4, |p| p.retain = true))
            .recv(B)
            .subscriber(A, V3_1_1, "ret-sub", &[("r/#", 1)])
            .recv(A)
            .send(A, puback(V3_1_1, 1))
            .quiet(A);

    v3_1_1_retained_qos0_on_an_exact_filter =>
        retained_by_b(V3_1_1, b"kept", 0, |_| {})
            .subscriber(A, V3_1_1, "ret-sub", &[("r/1", 0), ("r/2", 0)])
            .recv(A)
            .quiet(A);
}

/// A (v5) subscribed to `r/#` with `edit`ed options; B publishes a live retained message.
fn live_retained(edit: impl FnOnce(&mut mqtt_codec::SubscriptionOptions)) -> Scenario {
    Scenario::new()
        .connect(A, V5, connect(V5, "ret-live"))
        .send(A, subscribe_with(V5, 1, &[("r/#", 1)], |s| edit(&mut s.filters[0].1)))
        .recv(A)
        .connect(B, V5, connect(V5, "ret-pub"))
        .send(B, publish_with(V5, "r/1", b"live", 0, 0, |p| p.retain = true))
        .recv(A)
}

scenarios! {
    v5_live_retained_publish_without_retain_as_published => live_retained(|_| {});

    v5_live_retained_publish_with_retain_as_published =>
        live_retained(|o| o.retain_as_published = true);
}

/// A retained message, then A subscribes to it twice with Retain Handling `handling`.
fn retain_handling(handling: RetainHandling) -> Scenario {
    let sub =
        |id| subscribe_with(V5, id, &[("r/#", 0)], |s| s.filters[0].1.retain_handling = handling);
    retained_by_b(V5, b"kept", 0, |_| {})
        .connect(A, V5, connect(V5, "ret-rh"))
        .send(A, sub(1))
        .recv(A)
        .quiet(A)
        .send(A, sub(2))
        .recv(A)
        .quiet(A)
}

scenarios! {
    v5_retain_handling_0_sends_at_every_subscribe =>
        retain_handling(RetainHandling::SendAtSubscribe);

    v5_retain_handling_1_sends_for_a_new_subscription_only =>
        retain_handling(RetainHandling::SendIfNew);

    v5_retain_handling_2_never_sends => retain_handling(RetainHandling::DoNotSend);

    v5_retained_message_expires =>
        retained_by_b(V5, b"short", 1, |p| p.properties.message_expiry_interval = Some(1))
            .wait(2100)
            .subscriber(A, V5, "ret-sub", &[("r/#", 1)])
            .quiet(A);

    v5_retained_message_keeps_its_expiry =>
        retained_by_b(V5, b"long", 1, |p| p.properties.message_expiry_interval = Some(1000))
            .subscriber(A, V5, "ret-sub", &[("r/#", 1)])
            .recv(A);
}

/// A retained PUBLISH at `level` with `retain_available false`.
fn retain_unavailable(version: ProtocolVersion, level: u8) -> Scenario {
    Scenario::new()
        .config("retain_available false")
        .connect(A, version, connect(version, "ret-none"))
        .send(A, publish_with(version, "r/1", b"no", level, 2, |p| p.retain = true))
        .closed(A)
}

scenarios! {
    v3_1_1_retain_unavailable_closes => retain_unavailable(V3_1_1, 0);
    v5_retain_unavailable_disconnects => retain_unavailable(V5, 1);

    v5_retain_unavailable_allows_unretained =>
        Scenario::new()
            .config("retain_available false")
            .connect(A, V5, connect(V5, "ret-none"))
            .send(A, publish(V5, "r/1", b"yes", 1, 2))
            .recv(A);
}

/// `check_retain_source` set to `check`: B retains `r/1` while the ACL lets it write there,
/// a reload takes the rule away, then A subscribes.
fn retain_source(version: ProtocolVersion, check: bool) -> Scenario {
    let scenario = Scenario::new()
        .file("acl", "topic read #\ntopic write r/1\n")
        .config("acl_file {dir}/acl")
        .config(if check { "check_retain_source true" } else { "check_retain_source false" })
        .connect(B, version, connect(version, "ret-pub"))
        .send(B, publish_with(version, "r/1", b"kept", 1, 3, |p| p.retain = true))
        .recv(B)
        .rewrite("acl", "topic read #\n")
        .reload()
        .subscriber(A, version, "ret-sub", &[("r/#", 0)]);
    if check { scenario.quiet(A) } else { scenario.recv(A).quiet(A) }
}

scenarios! {
    v3_1_1_check_retain_source_holds_back_a_message_its_publisher_may_no_longer_write =>
        retain_source(V3_1_1, true);
    v5_check_retain_source_holds_back_a_message_its_publisher_may_no_longer_write =>
        retain_source(V5, true);
    v5_without_check_retain_source_the_message_still_goes_out => retain_source(V5, false);
}
