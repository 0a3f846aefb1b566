//! Topic aliases: the ones a client sets and uses (valid, 0, above the maximum, remapped,
//! with and without a topic) and whether the broker uses any towards a client that allows them.

use mqtt_codec::ProtocolVersion;

use super::harness::{A, B, C, Scenario, scenarios};
use super::publish::pair;
use super::wire::{V5, connect, connect_with, hex, publish, publish_with, subscribe};

/// A PUBLISH at QoS 0 of `payload` to `topic` (may be empty) carrying topic alias `alias`
/// (may be 0), written by hand: the encoder refuses alias 0.
fn aliased(topic: &str, alias: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0x30, 0];
    bytes.extend_from_slice(&u16::try_from(topic.len()).expect("a short topic").to_be_bytes());
    bytes.extend_from_slice(topic.as_bytes());
    bytes.extend_from_slice(&[3, 0x23]);
    bytes.extend_from_slice(&alias.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes[1] = u8::try_from(bytes.len() - 2).expect("a short test packet");
    bytes
}

/// A subscribed to `ta/#`; B publishes `publishes` and A listens.
fn aliases(config: &str, publishes: &[Vec<u8>]) -> Scenario {
    let mut scenario = Scenario::new().config(config);
    scenario = scenario
        .connect(A, V5, connect(V5, "diff-alias-sub"))
        .send(A, subscribe(V5, 1, &[("ta/#", 0)]))
        .recv(A)
        .connect(B, V5, connect(V5, "diff-alias-pub"));
    for packet in publishes {
        scenario = scenario.send(B, packet.clone());
    }
    scenario.quiet(B).quiet(A)
}

scenarios! {
    v5_alias_0_is_refused =>
        aliases("", &[aliased("ta/0", 0, b"zero")]);

    v5_alias_at_the_default_maximum_is_used =>
        aliases("", &[aliased("ta/10", 10, b"max"), aliased("", 10, b"again")]);

    v5_alias_above_a_configured_maximum_is_refused =>
        aliases("max_topic_alias 3", &[aliased("ta/4", 4, b"over")]);

    v5_alias_when_aliases_are_off_is_refused =>
        aliases("max_topic_alias 0", &[aliased("ta/off", 1, b"off")]);

    v5_alias_is_remapped =>
        aliases(
            "",
            &[aliased("ta/a", 1, b"a"), aliased("ta/b", 1, b"b"), aliased("", 1, b"still b")],
        );

    v5_two_aliases_are_kept_apart =>
        aliases(
            "",
            &[
                aliased("ta/x", 1, b"x"),
                aliased("ta/y", 2, b"y"),
                aliased("", 1, b"x"),
                aliased("", 2, b"y"),
            ],
        );

    v5_topic_with_an_alias_is_sent_as_the_topic =>
        aliases("", &[aliased("ta/t", 3, b"t"), publish(V5, "ta/t", b"plain", 0, 0)]);

    v5_alias_with_qos1 =>
        pair(V5, "ta/q", 1)
            .send(B, publish_with(V5, "ta/q", b"q", 1, 4, |p| p.properties.topic_alias = Some(2)))
            .recv(B)
            .send(B, hex("32 0a 00 00 00 05 03 23 00 02 71 32"))
            .recv(B)
            .recv_n(A, 2);

    v5_empty_topic_without_an_alias_is_refused =>
        aliases("", &[hex("30 04 00 00 00 65")]);

    v5_alias_is_per_connection => {
        let set = aliased("ta/own", 1, b"own");
        pair(V5, "ta/#", 0)
            .send(B, set)
            .recv(A)
            .connect(C, V5, connect(V5, "diff-alias-other"))
            .send(C, aliased("ta/other", 1, b"other"))
            .recv(A)
            .send(B, aliased("", 1, b"own again"))
            .recv(A)
    };

    v5_broker_with_a_client_allowing_aliases =>
        outbound(V5, 5);

    v5_broker_with_a_client_allowing_no_aliases =>
        outbound(V5, 0);
}

/// A allows `maximum` topic aliases and subscribes to `out/#`; B publishes to `out/a` twice.
fn outbound(version: ProtocolVersion, maximum: u16) -> Scenario {
    let allowing = connect_with(version, "diff-alias-out", |c| {
        c.properties.topic_alias_maximum = Some(maximum);
    });
    Scenario::new()
        .connect(A, version, allowing)
        .send(A, subscribe(version, 1, &[("out/#", 0)]))
        .recv(A)
        .connect(B, version, connect(version, "diff-alias-out-pub"))
        .send(B, publish(version, "out/a", b"1", 0, 0))
        .send(B, publish(version, "out/a", b"2", 0, 0))
        .recv_n(A, 2)
}
