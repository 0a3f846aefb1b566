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
