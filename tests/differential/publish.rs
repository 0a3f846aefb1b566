//! PUBLISH flows: QoS 0, 1 and 2 in both directions, retained messages, wills, ping and
//! DISCONNECT, and malformed or illegal packets from a connected client.

use super::harness::{A, B, C as C_CONN, Scenario};
use super::wire::{
    V3_1_1, V5, connect, connect_with, disconnect, hex, pingreq, puback, pubcomp, publish,
    publish_with, pubrec, pubrel, s, subscribe, will,
};
use mqtt_codec::ProtocolVersion;

/// A subscribed to `filter` at `level`, B connected as publisher, both speaking `version`.
pub(crate) fn pair(version: ProtocolVersion, filter: &str, level: u8) -> Scenario {
    Scenario::new()
        .connect(A, version, connect(version, "diff-sub"))
        .send(A, subscribe(version, 1, &[(filter, level)]))
        .recv(A)
        .connect(B, version, connect(version, "diff-pub"))
}

#[test]
fn v3_1_1_ping() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-ping"))
        .send(A, pingreq())
        .recv(A)
        .run();
}

#[test]
fn v5_ping() {
    Scenario::new().connect(A, V5, connect(V5, "diff-ping5")).send(A, pingreq()).recv(A).run();
}

#[test]
fn v3_1_1_disconnect_closes() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-bye"))
        .send(A, disconnect(V3_1_1))
        .closed(A)
        .run();
}

#[test]
fn v5_disconnect_closes() {
    Scenario::new()
        .connect(A, V5, connect(V5, "diff-bye5"))
        .send(A, disconnect(V5))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_qos0_is_forwarded() {
    pair(V3_1_1, "t/0", 0).send(B, publish(V3_1_1, "t/0", b"zero", 0, 0)).recv(A).quiet(B).run();
}

#[test]
fn v5_qos0_is_forwarded() {
    pair(V5, "t/0", 0).send(B, publish(V5, "t/0", b"zero", 0, 0)).recv(A).quiet(B).run();
}

#[test]
fn v3_1_1_qos1_both_ways() {
    pair(V3_1_1, "t/1", 1)
        .send(B, publish(V3_1_1, "t/1", b"one", 1, 9))
        .recv(B)
        .recv(A)
        .send(A, puback(V3_1_1, 1))
        .quiet(A)
        .run();
}

#[test]
fn v5_qos1_both_ways() {
    pair(V5, "t/1", 1)
        .send(B, publish(V5, "t/1", b"one", 1, 9))
        .recv(B)
        .recv(A)
        .send(A, puback(V5, 1))
        .quiet(A)
        .run();
}

#[test]
fn v3_1_1_qos2_both_ways() {
    pair(V3_1_1, "t/2", 2)
        .send(B, publish(V3_1_1, "t/2", b"two", 2, 5))
        .recv(B)
        .send(B, pubrel(V3_1_1, 5))
        .recv(B)
        .recv(A)
        .send(A, pubrec(V3_1_1, 1))
        .recv(A)
        .send(A, pubcomp(V3_1_1, 1))
        .quiet(A)
        .run();
}

#[test]
fn v5_qos2_both_ways() {
    pair(V5, "t/2", 2)
        .send(B, publish(V5, "t/2", b"two", 2, 5))
        .recv(B)
        .send(B, pubrel(V5, 5))
        .recv(B)
        .recv(A)
        .send(A, pubrec(V5, 1))
        .recv(A)
        .send(A, pubcomp(V5, 1))
        .quiet(A)
        .run();
}

#[test]
fn v3_1_1_qos2_is_downgraded_to_the_subscription() {
    pair(V3_1_1, "t/d", 1)
        .send(B, publish(V3_1_1, "t/d", b"down", 2, 5))
        .recv(B)
        .send(B, pubrel(V3_1_1, 5))
        .recv(B)
        .recv(A)
        .run();
}

/// A client connected with `version` sends `ack` for packet id 77, which the broker never
/// used, and reads the answer.
fn unknown_id(version: ProtocolVersion, client: &str, ack: fn(ProtocolVersion, u16) -> Vec<u8>) {
    Scenario::new()
        .connect(A, version, connect(version, client))
        .send(A, ack(version, 77))
        .recv(A)
        .run();
}

#[test]
fn v3_1_1_unknown_pubrel_is_completed() {
    unknown_id(V3_1_1, "diff-rel", pubrel);
}

#[test]
fn v5_unknown_pubrel_is_completed_with_success() {
    unknown_id(V5, "diff-rel5", pubrel);
}

#[test]
fn v3_1_1_unknown_pubrec_is_released() {
    unknown_id(V3_1_1, "diff-rec", pubrec);
}

#[test]
fn v5_unknown_pubrec_is_released_with_success() {
    unknown_id(V5, "diff-rec5", pubrec);
}

#[test]
fn v3_1_1_unknown_puback_is_ignored() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-ack"))
        .send(A, puback(V3_1_1, 77))
        .send(A, pingreq())
        .recv(A)
        .run();
}

#[test]
fn v3_1_1_retained_message_is_sent_at_subscribe() {
    Scenario::new()
        .connect(B, V3_1_1, connect(V3_1_1, "diff-ret-pub"))
        .send(B, publish_with(V3_1_1, "r/1", b"kept", 1, 3, |p| p.retain = true))
        .recv(B)
        .connect(A, V3_1_1, connect(V3_1_1, "diff-ret-sub"))
        .send(A, subscribe(V3_1_1, 1, &[("r/#", 1)]))
        .recv_n(A, 2)
        .run();
}

#[test]
fn v5_retained_message_is_sent_at_subscribe() {
    Scenario::new()
        .connect(B, V5, connect(V5, "diff-ret-pub5"))
        .send(B, publish_with(V5, "r/1", b"kept", 1, 3, |p| p.retain = true))
        .recv(B)
        .connect(A, V5, connect(V5, "diff-ret-sub5"))
        .send(A, subscribe(V5, 1, &[("r/#", 1)]))
        .recv_n(A, 2)
        .run();
}

#[test]
fn v3_1_1_retained_message_is_cleared() {
    Scenario::new()
        .connect(B, V3_1_1, connect(V3_1_1, "diff-clr-pub"))
        .send(B, publish_with(V3_1_1, "r/c", b"kept", 0, 0, |p| p.retain = true))
        .send(B, publish_with(V3_1_1, "r/c", b"", 0, 0, |p| p.retain = true))
        .send(B, pingreq())
        .recv(B)
        .connect(A, V3_1_1, connect(V3_1_1, "diff-clr-sub"))
        .send(A, subscribe(V3_1_1, 1, &[("r/#", 0)]))
        .recv(A)
        .quiet(A)
        .run();
}

#[test]
fn v3_1_1_live_retained_publish_is_not_flagged() {
    pair(V3_1_1, "r/live", 0)
        .send(B, publish_with(V3_1_1, "r/live", b"now", 0, 0, |p| p.retain = true))
        .recv(A)
        .run();
}

#[test]
fn v5_publish_properties_are_forwarded() {
    pair(V5, "p/5", 0)
        .send(
            B,
            publish_with(V5, "p/5", b"props", 0, 0, |p| {
                p.properties.content_type = Some(s("text/plain"));
            }),
        )
        .recv(A)
        .run();
}

#[test]
fn v5_topic_alias_is_resolved() {
    pair(V5, "ta/1", 0)
        .send(B, publish_with(V5, "ta/1", b"first", 0, 0, |p| p.properties.topic_alias = Some(1)))
        .send(B, hex("30 0a 00 00 03 23 00 01 61 67 61 6e"))
        .recv_n(A, 2)
        .run();
}

#[test]
fn v3_1_1_will_is_published_on_drop() {
    let with_will = connect_with(V3_1_1, "diff-will", |c| c.will = Some(will("w/1", b"gone")));
    pair(V3_1_1, "w/#", 0).connect(C_CONN, V3_1_1, with_will).drop_conn(C_CONN).recv(A).run();
}

#[test]
fn v3_1_1_will_is_not_published_after_disconnect() {
    let with_will = connect_with(V3_1_1, "diff-will2", |c| c.will = Some(will("w/2", b"gone")));
    pair(V3_1_1, "w/#", 0)
        .connect(C_CONN, V3_1_1, with_will)
        .send(C_CONN, disconnect(V3_1_1))
        .closed(C_CONN)
        .quiet(A)
        .run();
}

#[test]
fn v5_will_is_published_on_drop() {
    let with_will = connect_with(V5, "diff-will5", |c| c.will = Some(will("w/5", b"gone")));
    pair(V5, "w/#", 0).connect(C_CONN, V5, with_will).drop_conn(C_CONN).recv(A).run();
}

#[test]
fn v3_1_1_publish_qos_3_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-q3"))
        .send(A, hex("36 05 00 01 61 00 01"))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_publish_to_a_wildcard_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-wild"))
        .send(A, hex("30 04 00 01 23 78"))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_publish_qos1_packet_id_0_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-id0"))
        .send(A, hex("32 05 00 01 61 00 00"))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_remaining_length_too_long_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-len"))
        .send(A, hex("30 ff ff ff ff 01"))
        .closed(A)
        .run();
}

#[test]
fn v5_remaining_length_too_long_is_closed() {
    Scenario::new()
        .connect(A, V5, connect(V5, "diff-len5"))
        .send(A, hex("30 ff ff ff ff 01"))
        .closed(A)
        .differs("2.0.11 closes without a DISCONNECT when the remaining length is too long; culex sends DISCONNECT 0x82 first, as for any protocol error in a PUBLISH")
        .run();
}

#[test]
fn v5_reserved_packet_type_is_closed() {
    Scenario::new().connect(A, V5, connect(V5, "diff-t05")).send(A, hex("00 00")).closed(A).run();
}

#[test]
fn v3_1_1_reserved_packet_type_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-t0"))
        .send(A, hex("00 00"))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_disconnect_with_a_body_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-discbody"))
        .send(A, hex("e0 01 00"))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_client_sending_connack_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-connack"))
        .send(A, hex("20 02 00 00"))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_auth_packet_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-auth3"))
        .send(A, hex("f0 00"))
        .closed(A)
        .run();
}

#[test]
fn v5_puback_with_properties_is_accepted() {
    pair(V5, "t/pa", 1)
        .send(B, publish(V5, "t/pa", b"one", 1, 9))
        .recv(B)
        .recv(A)
        .send(A, hex("40 04 00 01 00 00"))
        .send(A, pingreq())
        .recv(A)
        .run();
}
