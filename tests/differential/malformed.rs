//! Illegal and malformed packets from a connected client, and what answers them: the reason
//! code and length of a v5 DISCONNECT (no Reason String, as in Mosquitto), or the close.

use super::harness::{A, Scenario};
use super::wire::{V3_1_1, V5, connect, hex};
use mqtt_codec::ProtocolVersion;

/// A client connected with `version` sends `bad` (hex) and reads what comes back until the
/// close; `config` lines go to both brokers.
pub(crate) fn answer(version: ProtocolVersion, config: &[&str], bad: &str) -> Scenario {
    let scenario = config.iter().fold(Scenario::new(), |scenario, line| scenario.config(line));
    scenario.connect(A, version, connect(version, "diff-bad")).send(A, hex(bad)).closed(A)
}

#[test]
fn v5_topic_alias_above_the_maximum() {
    answer(V5, &[], "30 08 00 01 74 03 23 00 0b 78").run();
}

#[test]
fn v5_topic_alias_not_yet_set() {
    answer(V5, &[], "30 07 00 00 03 23 00 05 78").run();
}

#[test]
fn v5_retain_when_not_available() {
    answer(V5, &["retain_available false"], "31 04 00 01 74 00").run();
}

#[test]
fn v5_qos_above_max_qos() {
    answer(V5, &["max_qos 1"], "34 07 00 01 74 00 01 00 78").run();
}

#[test]
fn v5_session_expiry_set_at_disconnect_after_0() {
    answer(V5, &[], "e0 07 00 05 11 00 00 00 3c").run();
}

#[test]
fn v5_auth_without_a_method() {
    answer(V5, &[], "f0 00").run();
}

#[test]
fn v3_1_1_first_packet_not_connect() {
    Scenario::new().open(A, V3_1_1).send(A, hex("c0 00")).closed(A).run();
}

#[test]
fn v5_first_packet_not_connect() {
    Scenario::new().open(A, V5).send(A, hex("c0 00")).closed(A).run();
}

#[test]
fn v5_second_connect() {
    answer(V5, &[], "10 0e 00 04 4d 51 54 54 05 02 00 3c 00 00 01 61").run();
}

/// A client's PINGRESP is ignored: the next PINGREQ is answered.
fn pingresp_then_ping(version: ProtocolVersion) {
    Scenario::new()
        .connect(A, version, connect(version, "diff-pingresp"))
        .send(A, hex("d0 00"))
        .send(A, hex("c0 00"))
        .recv(A)
        .quiet(A)
        .run();
}

#[test]
fn v3_1_1_client_sending_pingresp() {
    pingresp_then_ping(V3_1_1);
}

#[test]
fn v5_client_sending_pingresp() {
    pingresp_then_ping(V5);
}

/// Mosquitto 2.0.11 answers a PINGREQ with a body; the spec gives it none.
const PINGREQ_BODY: &str = "a PINGREQ with a body is malformed (MQTT 3.12.1; newer Mosquitto \
    refuses it too); 2.0.11 answers it";

#[test]
fn v3_1_1_pingreq_with_a_body() {
    answer(V3_1_1, &[], "c0 01 00").differs(PINGREQ_BODY).run();
}

#[test]
fn v5_pingreq_with_a_body() {
    answer(V5, &[], "c0 01 00").differs(PINGREQ_BODY).run();
}

#[test]
fn v5_publish_qos1_packet_id_0() {
    answer(V5, &[], "32 06 00 01 74 00 00 00").run();
}

#[test]
fn v5_publish_qos2_packet_id_0() {
    answer(V5, &[], "34 06 00 01 74 00 00 00").run();
}

#[test]
fn v5_publish_qos_3() {
    answer(V5, &[], "36 06 00 01 74 00 01 00").run();
}

#[test]
fn v5_publish_to_a_wildcard() {
    answer(V5, &[], "30 04 00 01 23 00").run();
}

#[test]
fn v5_publish_with_a_connect_only_property() {
    answer(V5, &[], "30 09 00 01 74 05 11 00 00 00 01").run();
}

#[test]
fn v5_publish_property_length_past_the_end() {
    answer(V5, &[], "30 05 00 01 74 09 01").run();
}

#[test]
fn v5_publish_subscription_identifier_from_a_client() {
    answer(V5, &[], "30 06 00 01 74 02 0b 01").run();
}

#[test]
fn v5_publish_empty_topic_without_alias() {
    answer(V5, &[], "30 03 00 00 00").run();
}

#[test]
fn v5_subscribe_packet_id_0() {
    answer(V5, &[], "82 07 00 00 00 00 01 74 00").run();
}

#[test]
fn v5_subscribe_qos_3() {
    answer(V5, &[], "82 07 00 01 00 00 01 74 03").run();
}

#[test]
fn v5_subscribe_reserved_option_bits() {
    answer(V5, &[], "82 07 00 01 00 00 01 74 c0").run();
}

#[test]
fn v5_subscribe_retain_handling_3() {
    answer(V5, &[], "82 07 00 01 00 00 01 74 30").run();
}

#[test]
fn v5_subscribe_without_filters() {
    answer(V5, &[], "82 03 00 01 00").run();
}

#[test]
fn v5_subscribe_bad_flags() {
    answer(V5, &[], "80 07 00 01 00 00 01 74 00").run();
}

#[test]
fn v5_subscribe_subscription_identifier_0() {
    answer(V5, &[], "82 09 00 01 02 0b 00 00 01 74 00").run();
}

#[test]
fn v5_subscribe_above_max_qos_is_granted_lower() {
    Scenario::new()
        .config("max_qos 1")
        .connect(A, V5, connect(V5, "diff-bad"))
        .send(A, hex("82 07 00 01 00 00 01 74 02"))
        .recv(A)
        .quiet(A)
        .run();
}

#[test]
fn v5_unsubscribe_packet_id_0() {
    answer(V5, &[], "a2 06 00 00 00 00 01 74").run();
}

#[test]
fn v5_unsubscribe_without_filters() {
    answer(V5, &[], "a2 03 00 01 00").run();
}

#[test]
fn v5_unsubscribe_bad_flags() {
    answer(V5, &[], "a0 06 00 01 00 00 01 74").run();
}

#[test]
fn v5_unsubscribe_invalid_filter() {
    answer(V5, &[], "a2 07 00 01 00 00 02 23 61").run();
}

#[test]
fn v5_puback_packet_id_0() {
    answer(V5, &[], "40 02 00 00").run();
}

#[test]
fn v5_pubrel_bad_flags() {
    answer(V5, &[], "60 02 00 01").run();
}

#[test]
fn v5_disconnect_bad_reason_code() {
    answer(V5, &[], "e0 01 03").run();
}

/// Why a repeated property differs.
const REPEATED: &str = "2.0.11 closes without a DISCONNECT when a property that may appear once \
    appears twice; culex sends the reason code first (0x82; 0x81 in a SUBSCRIBE, as Mosquitto \
    answers other SUBSCRIBE errors), as for every other protocol error";

/// A property that may appear once, twice.
#[test]
fn v5_publish_with_a_repeated_property() {
    answer(V5, &[], "30 0a 00 01 74 04 01 00 01 00 68 69").differs(REPEATED).run();
}

#[test]
fn v5_subscribe_with_two_subscription_identifiers() {
    answer(V5, &[], "82 0b 00 03 04 0b 05 0b 06 00 01 61 01").differs(REPEATED).run();
}
