//! Subscriptions as a subscriber sees them: overlapping filters, wildcards and `$` topics,
//! shared subscriptions, No Local, Subscription Identifiers, Retain As Published and Retain
//! Handling, refused options, and what an UNSUBSCRIBE stops.

use mqtt_codec::{ProtocolVersion, RetainHandling, Subscribe};

use super::harness::{A, B, C, Scenario, scenarios};
use super::malformed::answer;
use super::publish::pair;
use super::wire::{
    V3_1_1, V5, connect, connect_with, disconnect, hex, puback, publish, publish_with, subscribe,
    subscribe_with, unsubscribe,
};

/// Why overlapping v5 subscriptions deliver differently.
const OVERLAP: &str = "culex sends one copy with every matching Subscription Identifier (the spec's choice); 2.0.11 one copy per subscription";

/// Why a repeated subscription's options differ.
const RESUBSCRIBE: &str = "a SUBSCRIBE to a filter the client has replaces the subscription, options included ([MQTT-3.8.4-3]); 2.0.11 updates only the QoS and the identifier, and keeps No Local and Retain As Published from the first";

/// Why a refused shared subscription differs.
const SHARE: &str = "2.0.11 grants a $share filter with a wildcard share name or no filter, which the spec forbids ([MQTT-4.8.2-1], [MQTT-4.8.2-2]); culex refuses it as malformed";

/// A subscribed to `filter` at QoS 1 with the options `edit` sets, B connected as publisher.
fn pair_with(
    version: ProtocolVersion,
    filter: &str,
    edit: impl FnOnce(&mut Subscribe),
) -> Scenario {
    Scenario::new()
        .connect(A, version, connect(version, "diff-sub"))
        .send(A, subscribe_with(version, 1, &[(filter, 1)], edit))
        .recv(A)
        .connect(B, version, connect(version, "diff-pub"))
}

/// A subscribed to `filters` (QoS 0) in one SUBSCRIBE; B publishes to each of `topics` at
/// QoS 0 and then sends a PINGREQ, so that everything it sent is routed before A listens.
fn routes(version: ProtocolVersion, filters: &[(&str, u8)], topics: &[&str]) -> Scenario {
    let mut scenario = Scenario::new()
        .connect(A, version, connect(version, "diff-route"))
        .send(A, subscribe(version, 1, filters))
        .recv(A)
        .connect(B, version, connect(version, "diff-route-pub"));
    for topic in topics {
        scenario = scenario.send(B, publish(version, topic, b"m", 0, 0));
    }
    scenario.send(B, hex("c0 00")).recv(B).quiet(A)
}

/// A subscribes to `filter` and unsubscribes; B publishes to `topic`, which A must not get.
fn unsubscribed(version: ProtocolVersion, filter: &str, topic: &str) -> Scenario {
    pair(version, filter, 0)
        .send(A, unsubscribe(version, 2, &[filter]))
        .recv(A)
        .send(B, publish(version, topic, b"late", 0, 0))
        .quiet(A)
}

/// v3.1.1: A subscribes to `first`, then to `second`; B publishes to `topic` at QoS 1.
fn subscribed_again(first: (&str, u8), second: (&str, u8), topic: &str) -> Scenario {
    pair(V3_1_1, first.0, first.1)
        .send(A, subscribe(V3_1_1, 2, &[second]))
        .recv(A)
        .send(B, publish(V3_1_1, topic, b"again", 1, 4))
        .recv(B)
}

/// A subscription identifier on every filter of a SUBSCRIBE.
fn with_id(id: u32) -> impl FnOnce(&mut Subscribe) {
    move |s| s.properties.subscription_identifiers.push(id)
}

scenarios! {
    v3_1_1_overlapping_filters_in_one_subscribe =>
        routes(V3_1_1, &[("o/+", 0), ("o/#", 1)], &["o/x"]);

    v3_1_1_overlapping_qos1_filters_deliver_at_the_highest =>
        subscribed_again(("o/+", 0), ("o/#", 1), "o/x")
            .quiet(A)
            .differs("2.0.11 sends one copy at the QoS of the first matching subscription; [MQTT-3.3.5-1] wants the highest");

    v5_overlapping_filters_in_one_subscribe =>
        routes(V5, &[("o/+", 0), ("o/#", 1)], &["o/x"]).differs(OVERLAP);

    v5_overlapping_filters_with_identifiers =>
        pair_with(V5, "o/+", with_id(1))
            .send(A, subscribe_with(V5, 2, &[("o/#", 0)], with_id(2)))
            .recv(A)
            .send(B, publish(V5, "o/x", b"both", 0, 0))
            .quiet(A)
            .differs(OVERLAP);

    v3_1_1_hash_does_not_match_dollar_topics =>
        routes(V3_1_1, &[("#", 0)], &["$x/y", "n/y"]);

    v3_1_1_plus_does_not_match_dollar_topics =>
        routes(V3_1_1, &[("+/y", 0)], &["$x/y", "n/y"]);

    v3_1_1_dollar_filter_matches_dollar_topics =>
        routes(V3_1_1, &[("$x/#", 0)], &["$x/y", "$x"]);

    v5_hash_does_not_match_sys =>
        routes(V5, &[("#", 0)], &["$SYS/x", "s/y"]);

    v3_1_1_plus_matches_an_empty_level =>
        routes(V3_1_1, &[("a/+/c", 0)], &["a//c", "a/b/c", "a/b/d"]);

    v3_1_1_hash_matches_the_parent_level =>
        routes(V3_1_1, &[("h/#", 0)], &["h", "h/i/j", "hh"]);

    v3_1_1_leading_slash_is_a_level =>
        routes(V3_1_1, &[("/+", 0)], &["/x", "x", "/x/y"]);

    v5_topics_are_case_sensitive =>
        routes(V5, &[("Case/+", 0)], &["case/x", "Case/x"]);

    v5_shared_subscription_delivers =>
        pair(V5, "$share/g/s/t", 1).send(B, publish(V5, "s/t", b"shared", 1, 3)).recv(B).recv(A);

    v3_1_1_shared_subscription_delivers =>
        pair(V3_1_1, "$share/g/s/t", 1)
            .send(B, publish(V3_1_1, "s/t", b"shared", 1, 3))
            .recv(B)
            .recv(A);

    v5_shared_and_plain_subscriptions_of_one_client =>
        routes(V5, &[("$share/g/sp", 0), ("sp", 0)], &["sp"]);

    v5_shared_subscription_with_a_wildcard =>
        routes(V5, &[("$share/g/w/#", 0)], &["w/a", "w/b/c", "v/a"]);

    v5_shared_group_name_with_a_wildcard_is_refused =>
        answer(V5, &[], "82 10 00 01 00 00 0a 24 73 68 61 72 65 2f 2b 2f 74 00")
            .differs(SHARE);

    v5_shared_without_a_filter_is_refused =>
        answer(V5, &[], "82 0f 00 01 00 00 09 24 73 68 61 72 65 2f 67 2f 00")
            .differs(SHARE);

    v5_shared_subscription_is_unsubscribed =>
        unsubscribed(V5, "$share/g/u", "u");

    v5_no_local_skips_the_clients_own_messages =>
        pair_with(V5, "nl", |s| s.filters[0].1.no_local = true)
            .send(A, publish(V5, "nl", b"mine", 0, 0))
            .send(B, publish(V5, "nl", b"theirs", 0, 0))
            .recv(A)
            .quiet(A);

    v5_without_no_local_the_client_gets_its_own_messages =>
        pair(V5, "own", 0).send(A, publish(V5, "own", b"mine", 0, 0)).recv(A).quiet(A);

    v5_no_local_holds_in_a_resumed_session => {
        let persistent = connect_with(V5, "diff-nl-keep", |c| {
            c.clean_start = false;
            c.properties.session_expiry_interval = Some(60);
        });
        Scenario::new()
            .connect(A, V5, persistent.clone())
            .send(A, subscribe_with(V5, 1, &[("nlp", 0)], |s| s.filters[0].1.no_local = true))
            .recv(A)
            .send(A, disconnect(V5))
            .closed(A)
            .connect(B, V5, persistent)
            .send(B, publish(V5, "nlp", b"mine", 0, 0))
            .quiet(B)
    };

    v5_resubscribing_without_no_local_brings_the_own_messages_back =>
        pair_with(V5, "nl/re", |s| s.filters[0].1.no_local = true)
            .send(A, subscribe(V5, 2, &[("nl/re", 0)]))
            .recv(A)
            .send(A, publish(V5, "nl/re", b"mine", 0, 0))
            .recv(A)
            .quiet(A)
            .differs(RESUBSCRIBE);

    v5_resubscribing_without_retain_as_published_clears_the_flag =>
        pair_with(V5, "rap/re", |s| s.filters[0].1.retain_as_published = true)
            .send(A, subscribe(V5, 2, &[("rap/re", 0)]))
            .recv(A)
            .send(B, publish_with(V5, "rap/re", b"kept", 0, 0, |p| p.retain = true))
            .recv(A)
            .differs(RESUBSCRIBE);

    v5_subscription_identifier_is_forwarded =>
        pair_with(V5, "si", with_id(7)).send(B, publish(V5, "si", b"id", 1, 2)).recv(B).recv(A);

    v5_largest_subscription_identifier_is_forwarded =>
        pair_with(V5, "si/max", with_id(268_435_455))
            .send(B, publish(V5, "si/max", b"id", 0, 0))
            .recv(A);

    v5_subscription_identifier_covers_every_filter_of_the_subscribe =>
        Scenario::new()
            .connect(A, V5, connect(V5, "diff-si-all"))
            .send(A, subscribe_with(V5, 1, &[("s/a", 0), ("s/b", 0)], with_id(9)))
            .recv(A)
            .connect(B, V5, connect(V5, "diff-si-pub"))
            .send(B, publish(V5, "s/b", b"b", 0, 0))
            .recv(A);

    v5_resubscribing_without_an_identifier_drops_it =>
        pair_with(V5, "si/re", with_id(5))
            .send(A, subscribe(V5, 2, &[("si/re", 0)]))
            .recv(A)
            .send(B, publish(V5, "si/re", b"plain", 0, 0))
            .recv(A);

    v5_subscription_identifier_0_is_a_protocol_error =>
        answer(V5, &[], "82 09 00 01 02 0b 00 00 01 61 00");

    v5_retain_as_published_keeps_the_flag =>
        pair_with(V5, "rap", |s| s.filters[0].1.retain_as_published = true)
            .send(B, publish_with(V5, "rap", b"kept", 0, 0, |p| p.retain = true))
            .recv(A);

    v5_without_retain_as_published_the_flag_is_cleared =>
        pair(V5, "norap", 0)
            .send(B, publish_with(V5, "norap", b"kept", 0, 0, |p| p.retain = true))
            .recv(A);

    v5_retain_handling_0_sends_at_every_subscribe =>
        retained_twice(RetainHandling::SendAtSubscribe);

    v5_retain_handling_1_sends_for_a_new_subscription_only =>
        retained_twice(RetainHandling::SendIfNew);

    v5_retain_handling_2_never_sends_at_subscribe =>
        retained_twice(RetainHandling::DoNotSend);

    v5_retain_handling_3_is_malformed =>
        answer(V5, &[], "82 07 00 01 00 00 01 61 30");

    v5_reserved_subscription_option_bits_are_malformed =>
        answer(V5, &[], "82 07 00 01 00 00 01 61 c1");

    v3_1_1_v5_option_bits_are_malformed =>
        answer(V3_1_1, &[], "82 06 00 01 00 01 61 04");

    v5_empty_filter_is_refused =>
        answer(V5, &[], "82 06 00 01 00 00 00 00");

    v3_1_1_unsubscribe_stops_delivery =>
        unsubscribed(V3_1_1, "us", "us");

    v5_unsubscribe_of_an_unknown_filter =>
        Scenario::new()
            .connect(A, V5, connect(V5, "diff-unsub-unknown"))
            .send(A, unsubscribe(V5, 3, &["never/subscribed"]))
            .recv(A);

    v5_unsubscribe_of_an_invalid_filter_is_refused =>
        answer(V5, &[], "a2 08 00 01 00 00 03 61 23 62");

    v3_1_1_unsubscribe_packet_id_0_is_closed =>
        answer(V3_1_1, &[], "a2 05 00 00 00 01 61");

    v3_1_1_resubscribing_replaces_the_qos =>
        subscribed_again(("rq", 2), ("rq", 0), "rq").recv(A).quiet(A);

    v5_qos1_to_a_qos1_subscriber_is_acknowledged_through =>
        pair(V5, "ack", 1)
            .send(B, publish(V5, "ack", b"a", 1, 8))
            .recv(B)
            .recv(A)
            .send(A, puback(V5, 1))
            .send(B, publish(V5, "ack", b"b", 1, 9))
            .recv(B)
            .recv(A);

    v5_subscribe_with_user_properties => {
        let packet = subscribe_with(V5, 4, &[("up", 0)], |s| {
            s.properties.user_properties.push((super::wire::s("k"), super::wire::s("v")));
        });
        Scenario::new().connect(A, V5, connect(V5, "diff-sub-up")).send(A, packet).recv(A)
    };

    v5_two_shared_members_take_turns =>
        Scenario::new()
            .connect(A, V5, connect(V5, "diff-sh-a"))
            .send(A, subscribe(V5, 1, &[("$share/g/rr", 0)]))
            .recv(A)
            .connect(C, V5, connect(V5, "diff-sh-c"))
            .send(C, subscribe(V5, 1, &[("$share/g/rr", 0)]))
            .recv(C)
            .connect(B, V5, connect(V5, "diff-sh-pub"))
            .send(B, publish(V5, "rr", b"1", 0, 0))
            .send(B, publish(V5, "rr", b"2", 0, 0))
            .send(B, hex("c0 00"))
            .recv(B)
            .quiet(A)
            .quiet(C);

    v5_subscription_option_qos_3_is_malformed =>
        answer(V5, &[], "82 07 00 01 00 00 01 61 03");
}

/// B retains a message on `rh/t`; A subscribes to it twice with `handling`.
fn retained_twice(handling: RetainHandling) -> Scenario {
    let options = move |s: &mut Subscribe| s.filters[0].1.retain_handling = handling;
    Scenario::new()
        .connect(B, V5, connect(V5, "diff-rh-pub"))
        .send(B, publish_with(V5, "rh/t", b"old", 1, 1, |p| p.retain = true))
        .recv(B)
        .connect(A, V5, connect(V5, "diff-rh"))
        .send(A, subscribe_with(V5, 1, &[("rh/t", 0)], options))
        .recv(A)
        .quiet(A)
        .send(A, subscribe_with(V5, 2, &[("rh/t", 0)], options))
        .recv(A)
        .quiet(A)
}
