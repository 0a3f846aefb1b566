//! CONNECT and CONNACK: each version accepted, the CONNACK's v5 properties, and the ways a
//! CONNECT is refused or answered with a close.

use super::harness::{A, B, Scenario, scenarios};
use super::wire::disconnect;
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

#[test]
fn v3_1_1_unknown_protocol_name_is_closed() {
    let bad = hex("10 0c 00 04 4d 51 54 58 04 02 00 3c 00 00");
    Scenario::new().open(A, V3_1_1).send(A, bad).closed(A).run();
}

#[test]
fn v3_1_1_unknown_protocol_level_is_refused() {
    let bad = hex("10 0c 00 04 4d 51 54 54 06 02 00 3c 00 00");
    Scenario::new().open(A, V3_1_1).send(A, bad).closed(A).run();
}

#[test]
fn v3_1_name_with_level_4_is_refused() {
    let bad = hex("10 0e 00 06 4d 51 49 73 64 70 04 02 00 3c 00 00");
    Scenario::new().open(A, V3_1).send(A, bad).closed(A).run();
}

/// MQTT 3.1 has no rule for the reserved bit: Mosquitto accepts it.
#[test]
fn v3_1_reserved_connect_flag_is_accepted() {
    let odd = hex("10 0f 00 06 4d 51 49 73 64 70 03 03 00 3c 00 01 61");
    Scenario::new().open(A, V3_1).send(A, odd).recv(A).quiet(A).run();
}

/// Nor for will QoS and retain without a will: Mosquitto accepts them and has no will.
#[test]
fn v3_1_will_qos_and_retain_without_will_flag_are_accepted() {
    let odd = hex("10 0f 00 06 4d 51 49 73 64 70 03 2a 00 3c 00 01 61");
    Scenario::new().open(A, V3_1).send(A, odd).recv(A).quiet(A).run();
}

#[test]
fn v3_1_1_reserved_connect_flag_is_closed() {
    let bad = hex("10 0d 00 04 4d 51 54 54 04 03 00 3c 00 01 61");
    Scenario::new().open(A, V3_1_1).send(A, bad).closed(A).run();
}

#[test]
fn v5_reserved_connect_flag_is_closed() {
    let bad = hex("10 0e 00 04 4d 51 54 54 05 03 00 3c 00 00 01 61");
    Scenario::new().open(A, V5).send(A, bad).closed(A).run();
}

#[test]
fn v3_1_1_will_qos_without_will_flag_is_closed() {
    let bad = hex("10 0d 00 04 4d 51 54 54 04 0a 00 3c 00 01 61");
    Scenario::new().open(A, V3_1_1).send(A, bad).closed(A).run();
}

#[test]
fn v3_1_1_will_retain_without_will_flag_is_closed() {
    let bad = hex("10 0d 00 04 4d 51 54 54 04 22 00 3c 00 01 61");
    Scenario::new().open(A, V3_1_1).send(A, bad).closed(A).run();
}

#[test]
fn v3_1_1_will_qos_3_is_closed() {
    let bad = hex("10 13 00 04 4d 51 54 54 04 1e 00 3c 00 01 61 00 01 74 00 01 70");
    Scenario::new().open(A, V3_1_1).send(A, bad).closed(A).run();
}

#[test]
fn v3_1_1_password_without_username_is_closed() {
    let bad = hex("10 10 00 04 4d 51 54 54 04 42 00 3c 00 01 61 00 01 70");
    Scenario::new().open(A, V3_1_1).send(A, bad).closed(A).run();
}

#[test]
fn v3_1_1_empty_id_with_clean_session_is_accepted() {
    Scenario::new().connect(A, V3_1_1, connect(V3_1_1, "")).quiet(A).run();
}

#[test]
fn v3_1_1_empty_id_without_clean_session_is_refused() {
    let packet = connect_with(V3_1_1, "", |c| c.clean_start = false);
    Scenario::new().connect(A, V3_1_1, packet).closed(A).run();
}

#[test]
fn v3_1_empty_id_is_refused() {
    Scenario::new().connect(A, V3_1, connect(V3_1, "")).closed(A).run();
}

#[test]
fn v5_empty_id_without_clean_start_is_assigned_one() {
    let packet = connect_with(V5, "", |c| c.clean_start = false);
    Scenario::new().connect(A, V5, packet).quiet(A).run();
}

#[test]
fn v3_1_1_second_connect_is_closed() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-twice"))
        .send(A, connect(V3_1_1, "diff-twice"))
        .closed(A)
        .run();
}

#[test]
fn v3_1_1_duplicate_id_takes_over() {
    Scenario::new()
        .connect(A, V3_1_1, connect(V3_1_1, "diff-dup"))
        .connect(B, V3_1_1, connect(V3_1_1, "diff-dup"))
        .closed(A)
        .quiet(B)
        .run();
}

#[test]
fn v5_duplicate_id_takes_over_with_a_disconnect() {
    Scenario::new()
        .connect(A, V5, connect(V5, "diff-dup5"))
        .connect(B, V5, connect(V5, "diff-dup5"))
        .closed(A)
        .differs("culex sends the old v5 connection DISCONNECT 0x8E (the spec's SHOULD); 2.0.11 closes it without a word")
        .quiet(B)
        .run();
}

#[test]
fn v3_1_1_session_present_after_reconnect() {
    let persistent = connect_with(V3_1_1, "diff-persist", |c| c.clean_start = false);
    Scenario::new()
        .connect(A, V3_1_1, persistent.clone())
        .send(A, disconnect(V3_1_1))
        .closed(A)
        .connect(B, V3_1_1, persistent)
        .run();
}

#[test]
fn v5_session_present_with_session_expiry() {
    let persistent = connect_with(V5, "diff-persist5", |c| {
        c.clean_start = false;
        c.properties.session_expiry_interval = Some(60);
    });
    Scenario::new()
        .connect(A, V5, persistent.clone())
        .send(A, disconnect(V5))
        .closed(A)
        .connect(B, V5, persistent)
        .run();
}

#[test]
fn v5_session_without_expiry_is_not_present() {
    let again = connect_with(V5, "diff-gone5", |c| c.clean_start = false);
    Scenario::new()
        .connect(A, V5, again.clone())
        .send(A, disconnect(V5))
        .closed(A)
        .connect(B, V5, again)
        .run();
}

#[test]
fn v5_keep_alive_zero_with_a_maximum() {
    Scenario::new()
        .config("max_keepalive 30")
        .connect(A, V5, connect_with(V5, "diff-ka0", |c| c.keep_alive = 0))
        .run();
}

#[test]
fn v5_unknown_authentication_method_is_refused() {
    let packet = connect_with(V5, "diff-auth", |c| {
        c.properties.authentication_method = Some(s("SCRAM-SHA-1"));
    });
    Scenario::new().connect(A, V5, packet).closed(A).run();
}

#[test]
fn v5_unknown_connect_property_is_malformed() {
    let bad = hex("10 10 00 04 4d 51 54 54 05 02 00 3c 02 7f 00 00 01 61");
    Scenario::new().open(A, V5).send(A, bad).closed(A).run();
}

#[test]
fn v5_connect_with_user_properties_is_accepted() {
    let packet = connect_with(V5, "diff-user", |c| {
        c.properties.user_properties.push((s("k"), s("v")));
        c.properties.request_problem_information = Some(0);
        c.properties.receive_maximum = Some(10);
    });
    Scenario::new().connect(A, V5, packet).quiet(A).run();
}

#[test]
fn v3_1_1_connect_with_username_is_accepted() {
    let packet = connect_with(V3_1_1, "diff-user3", |c| {
        c.username = Some(s("alice"));
        c.password = Some(bytes::Bytes::from_static(b"secret"));
    });
    Scenario::new().connect(A, V3_1_1, packet).quiet(A).run();
}

#[test]
fn v3_1_1_truncated_connect_is_closed() {
    let bad = hex("10 0c 00 04 4d 51 54 54 04 02 00 3c 00");
    Scenario::new()
        .open(A, V3_1_1)
        .send(A, bad)
        .drop_conn(A)
        .open(B, V3_1_1)
        .send(B, connect(V3_1_1, "diff-after"))
        .recv(B)
        .run();
}

#[test]
fn v3_1_1_connect_with_trailing_bytes_is_closed() {
    let bad = hex("10 0f 00 04 4d 51 54 54 04 02 00 3c 00 01 61 ff ff");
    Scenario::new().open(A, V3_1_1).send(A, bad).closed(A).run();
}

#[test]
fn v5_connack_with_max_qos_0() {
    Scenario::new().config("max_qos 0").connect(A, V5, connect(V5, "diff-q0")).run();
}

#[test]
fn v5_connack_without_retain() {
    Scenario::new().config("retain_available false").connect(A, V5, connect(V5, "diff-nr")).run();
}

#[test]
fn v5_connack_with_topic_aliases_off() {
    Scenario::new().config("max_topic_alias 0").connect(A, V5, connect(V5, "diff-ta0")).run();
}

/// Opens A for `version`, sends `packet` and records everything up to the close.
fn refused(version: mqtt_codec::ProtocolVersion, packet: Vec<u8>) -> Scenario {
    Scenario::new().open(A, version).send(A, packet).closed(A)
}

/// Opens A for `version`, sends `packet` and records the answer and anything after it.
fn answered(version: mqtt_codec::ProtocolVersion, packet: Vec<u8>) -> Scenario {
    Scenario::new().connect(A, version, packet).quiet(A)
}

scenarios! {
    max_connections_0_is_no_limit =>
        answered(V3_1_1, connect(V3_1_1, "diff-mc0")).config("max_connections 0");

    v3_1_id_of_23_characters_is_accepted =>
        answered(V3_1, connect(V3_1, &"i".repeat(23)));

    v3_1_id_of_24_characters_is_refused =>
        refused(V3_1, connect(V3_1, &"i".repeat(24)));

    v3_1_1_long_id_is_accepted =>
        answered(V3_1_1, connect(V3_1_1, &"i".repeat(200)));

    v5_long_id_is_accepted =>
        answered(V5, connect(V5, &"i".repeat(200)));

    v3_1_1_id_with_invalid_utf8_is_closed =>
        refused(V3_1_1, hex("10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 c3 28"));

    v5_name_mqisdp_with_level_5_is_refused =>
        refused(V5, hex("10 10 00 06 4d 51 49 73 64 70 05 02 00 3c 00 00 01 61"));

    v5_lowercase_protocol_name_is_closed =>
        refused(V5, hex("10 0e 00 04 6d 71 74 74 05 02 00 3c 00 00 01 61"));

    v3_1_1_protocol_level_3_with_mqtt_is_refused =>
        refused(V3_1_1, hex("10 0d 00 04 4d 51 54 54 03 02 00 3c 00 01 61"));

    v5_protocol_level_6_is_refused =>
        refused(V5, hex("10 0e 00 04 4d 51 54 54 06 02 00 3c 00 00 01 61"));

    v5_password_without_username_is_accepted =>
        answered(V5, hex("10 12 00 04 4d 51 54 54 05 42 00 3c 00 00 01 61 00 02 70 77"));

    v3_1_password_without_username_is_closed =>
        refused(V3_1, hex("10 12 00 06 4d 51 49 73 64 70 03 42 00 3c 00 01 61 00 01 70"));

    v3_1_1_username_flag_without_a_username_is_closed =>
        refused(V3_1_1, hex("10 0d 00 04 4d 51 54 54 04 82 00 3c 00 01 61"));

    v5_will_qos_without_will_flag_is_closed =>
        refused(V5, hex("10 0e 00 04 4d 51 54 54 05 0a 00 3c 00 00 01 61"));

    v5_will_retain_without_will_flag_is_closed =>
        refused(V5, hex("10 0e 00 04 4d 51 54 54 05 22 00 3c 00 00 01 61"));

    v3_1_1_will_topic_with_a_wildcard_is_refused =>
        refused(V3_1_1, hex("10 13 00 04 4d 51 54 54 04 06 00 3c 00 01 61 00 01 23 00 01 70"));

    v5_will_topic_with_a_wildcard_is_refused => {
        let bad = hex("10 15 00 04 4d 51 54 54 05 06 00 3c 00 00 01 61 00 00 01 2b 00 01 70");
        refused(V5, bad)
    };

    v3_1_1_empty_will_topic_is_refused =>
        refused(V3_1_1, hex("10 12 00 04 4d 51 54 54 04 06 00 3c 00 01 61 00 00 00 01 70"));

    v3_1_1_keep_alive_above_max_keepalive =>
        Scenario::new()
            .config("max_keepalive 30")
            .connect(A, V3_1_1, connect_with(V3_1_1, "diff-ka3", |c| c.keep_alive = 100))
            .quiet(A);

    v3_1_1_keep_alive_zero_with_max_keepalive =>
        Scenario::new()
            .config("max_keepalive 30")
            .connect(A, V3_1_1, connect_with(V3_1_1, "diff-ka30", |c| c.keep_alive = 0))
            .quiet(A);

    v5_keep_alive_below_max_keepalive_is_kept =>
        Scenario::new()
            .config("max_keepalive 30")
            .connect(A, V5, connect_with(V5, "diff-ka5", |c| c.keep_alive = 20))
            .quiet(A);

    v5_receive_maximum_0_is_a_protocol_error =>
        refused(V5, hex("10 11 00 04 4d 51 54 54 05 02 00 3c 03 21 00 00 00 01 61"));

    v5_maximum_packet_size_0_is_a_protocol_error =>
        refused(V5, hex("10 13 00 04 4d 51 54 54 05 02 00 3c 05 27 00 00 00 00 00 01 61"));

    v5_duplicate_session_expiry_is_a_protocol_error => {
        let bad =
            hex("10 18 00 04 4d 51 54 54 05 02 00 3c 0a 11 00 00 00 01 11 00 00 00 02 00 01 61");
        refused(V5, bad)
    };

    v5_request_response_information_is_accepted => {
        let packet =
            connect_with(V5, "diff-rri", |c| c.properties.request_response_information = Some(1));
        answered(V5, packet)
    };

    v5_topic_alias_maximum_in_connect_is_accepted => {
        let packet = connect_with(V5, "diff-tam", |c| c.properties.topic_alias_maximum = Some(10));
        answered(V5, packet)
    };

    v3_1_1_empty_id_refused_when_not_allowed =>
        Scenario::new()
            .config("allow_zero_length_clientid false")
            .connect(A, V3_1_1, connect(V3_1_1, ""))
            .closed(A);

    v5_empty_id_refused_when_not_allowed =>
        Scenario::new()
            .config("allow_zero_length_clientid false")
            .connect(A, V5, connect(V5, ""))
            .closed(A)
            .differs("CONNACK 0x85 (client identifier not valid) where 2.0.11 says 0x80 (unspecified)");

    v5_assigned_id_uses_auto_id_prefix =>
        Scenario::new().config("auto_id_prefix pfx-").connect(A, V5, connect(V5, "")).quiet(A);

    v5_session_expiry_in_connect_is_accepted => {
        let packet =
            connect_with(V5, "diff-sei", |c| c.properties.session_expiry_interval = Some(30));
        answered(V5, packet)
    };

    v3_1_1_packet_before_connect_is_reset =>
        refused(V3_1_1, hex("c0 00"));

    v3_1_1_connect_flags_with_clean_session_off =>
        answered(V3_1_1, connect_with(V3_1_1, "diff-cs0", |c| c.clean_start = false));
}
