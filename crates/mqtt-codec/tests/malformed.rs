//! The malformed-input table: each wire rule the codec enforces, broken once, with the exact
//! error expected; every truncation point of a few valid packets, with the exact error; and
//! every prefix of every valid packet, which must wait for more bytes without consuming any.

use bytes::BytesMut;
use mqtt_codec::{DecodeError, MAX_PACKET_SIZE, ProtocolVersion, ReasonCode, decode};

const V31: ProtocolVersion = ProtocolVersion::V3_1;
const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn unhex(hex: &str) -> Vec<u8> {
    let hex: String = hex.split_whitespace().collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn decode_error(bytes: &[u8], version: ProtocolVersion, max: u32) -> Result<DecodeError, String> {
    let mut buf = BytesMut::from(bytes);
    match decode(&mut buf, version, max) {
        Err(err) => Ok(err),
        Ok(other) => Err(format!("decoded to {other:?}")),
    }
}

/// (version, packet hex, reason code, exact message).
#[rustfmt::skip]
const VIOLATIONS: &[(ProtocolVersion, &str, u8, &str)] = &[
    (V4, "00 00", 0x82, r#"protocol error: [v3.1.1 §2.2.1] packet type 0 is reserved"#),
    (V4, "f0 00", 0x81, r#"malformed packet: [v3.1.1 §2.2.1] packet type 15 is reserved before MQTT 5.0"#),
    (V4, "11 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] CONNECT: reserved flags are 0b0001, must be 0b0000"#),
    (V4, "21 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] CONNACK: reserved flags are 0b0001, must be 0b0000"#),
    (V4, "41 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] PUBACK: reserved flags are 0b0001, must be 0b0000"#),
    (V4, "51 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] PUBREC: reserved flags are 0b0001, must be 0b0000"#),
    (V4, "60 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] PUBREL: reserved flags are 0b0000, must be 0b0010"#),
    (V4, "71 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] PUBCOMP: reserved flags are 0b0001, must be 0b0000"#),
    (V4, "80 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] SUBSCRIBE: reserved flags are 0b0000, must be 0b0010"#),
    (V4, "91 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] SUBACK: reserved flags are 0b0001, must be 0b0000"#),
    (V4, "a0 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] UNSUBSCRIBE: reserved flags are 0b0000, must be 0b0010"#),
    (V4, "b1 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] UNSUBACK: reserved flags are 0b0001, must be 0b0000"#),
    (V4, "c1 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] PINGREQ: reserved flags are 0b0001, must be 0b0000"#),
    (V4, "d1 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] PINGRESP: reserved flags are 0b0001, must be 0b0000"#),
    (V4, "e1 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-2.2.2-1] DISCONNECT: reserved flags are 0b0001, must be 0b0000"#),
    (V5, "f1 00", 0x81, r#"malformed packet: [v5.0 MQTT-2.1.3-1] AUTH: reserved flags are 0b0001, must be 0b0000"#),
    (V4, "36 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-3.3.1-4] PUBLISH: QoS 3 (both QoS bits set)"#),
    (V5, "37 00", 0x81, r#"malformed packet: [v5.0 MQTT-3.3.1-4] PUBLISH: QoS 3 (both QoS bits set)"#),
    (V4, "30 ff ff ff ff 7f", 0x82, r#"protocol error: [v3.1.1 §2.2.3] PUBLISH: remaining length is longer than 4 bytes"#),
    (V5, "30 80 00", 0x81, r#"malformed packet: [v5.0 MQTT-1.5.5-1] PUBLISH: remaining length is not encoded in the minimum number of bytes"#),
    (V4, "30 04 0002 c328", 0x81, r#"malformed packet: [v3.1.1 MQTT-1.5.3-1] PUBLISH: topic name: string is not well-formed UTF-8"#),
    (V4, "30 05 0003 eda080", 0x81, r#"malformed packet: [v3.1.1 MQTT-1.5.3-1] PUBLISH: topic name: string is not well-formed UTF-8"#),
    (V4, "30 04 0002 c0af", 0x81, r#"malformed packet: [v3.1.1 MQTT-1.5.3-1] PUBLISH: topic name: string is not well-formed UTF-8"#),
    (V4, "30 05 0003 610062", 0x81, r#"malformed packet: [v3.1.1 MQTT-1.5.3-2] PUBLISH: topic name: string contains the null character U+0000"#),
    (V4, "30 05 0002 6101 78", 0x81, r#"malformed packet: [v3.1.1 §1.5.3] PUBLISH: topic name: string contains the disallowed code point U+0001"#),
    (V5, "30 07 0003 efbfbf 00 78", 0x81, r#"malformed packet: [v5.0 §1.5.4] PUBLISH: topic name: string contains the disallowed code point U+FFFF"#),
    (V5, "30 0c 0001 61 08 26 0001 6b 0002 0978", 0x81, r#"malformed packet: [v5.0 §1.5.4] PUBLISH: User Property value: string contains the disallowed code point U+0009"#),
    (V4, "10 0e 00044d515454 04 02 003c 0002 6100", 0x81, r#"malformed packet: [v3.1.1 MQTT-1.5.3-2] CONNECT: client identifier: string contains the null character U+0000"#),
    (V4, "30 04 0001 2b 78", 0x82, r#"protocol error: [v3.1.1 MQTT-3.3.2-2] PUBLISH: topic name: topic name contains a wildcard ('+' or '#')"#),
    (V4, "30 05 0003 612f23", 0x82, r#"protocol error: [v3.1.1 MQTT-3.3.2-2] PUBLISH: topic name: topic name contains a wildcard ('+' or '#')"#),
    (V31, "30 02 0000", 0x81, r#"malformed packet: [v3.1.1 MQTT-4.7.3-1] PUBLISH: topic name: topic is empty"#),
    (V5, "30 03 0000 00", 0x82, r#"protocol error: [v5.0 §3.3.2.1] PUBLISH: empty topic name without a Topic Alias"#),
    (V4, "38 04 0001 61 78", 0x81, r#"malformed packet: [v3.1.1 MQTT-3.3.1-2] PUBLISH: DUP set on a QoS 0 message"#),
    (V4, "82 07 0001 0002 6123 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-4.7.1-2] SUBSCRIBE: topic filter: '#' must be a whole level and the last one"#),
    (V4, "82 0a 0001 0005 612f232f62 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-4.7.1-2] SUBSCRIBE: topic filter: '#' must be a whole level and the last one"#),
    (V4, "82 07 0001 0002 612b 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-4.7.1-3] SUBSCRIBE: topic filter: '+' must be a whole level"#),
    (V4, "82 05 0001 0000 00", 0x81, r#"malformed packet: [v3.1.1 MQTT-4.7.3-1] SUBSCRIBE: topic filter: topic is empty"#),
    (V5, "82 11 0001 00 000b 2473686172652f672b2f61 00", 0x81, r#"malformed packet: [v5.0 MQTT-4.8.2-1] SUBSCRIBE: topic filter: a shared subscription is `$share/<share name>/<filter>`, with a share name free of '+' and '#'"#),
    (V5, "82 10 0001 00 000a 2473686172652f672f61 04", 0x82, r#"protocol error: [v5.0 MQTT-3.8.3-4] SUBSCRIBE: No Local on the shared subscription "$share/g/a""#),
    (V4, "a2 06 0001 0002 2361", 0x81, r#"malformed packet: [v3.1.1 MQTT-4.7.1-2] UNSUBSCRIBE: topic filter: '#' must be a whole level and the last one"#),
    (V4, "32 05 0001 61 0000", 0x82, r#"protocol error: [v3.1.1 MQTT-2.3.1-1] PUBLISH: packet identifier is 0"#),
    (V4, "82 06 0000 0001 61 00", 0x82, r#"protocol error: [v3.1.1 MQTT-2.3.1-1] SUBSCRIBE: packet identifier is 0"#),
    (V5, "a2 06 0000 00 0001 61", 0x82, r#"protocol error: [v5.0 MQTT-2.2.1-3] UNSUBSCRIBE: packet identifier is 0"#),
    (V4, "40 02 0000", 0x82, r#"protocol error: [v3.1.1 MQTT-2.3.1-1] PUBACK: packet identifier is 0"#),
    (V5, "62 02 0000", 0x82, r#"protocol error: [v5.0 MQTT-2.2.1-3] PUBREL: packet identifier is 0"#),
    (V4, "90 03 0000 00", 0x82, r#"protocol error: [v3.1.1 MQTT-2.3.1-1] SUBACK: packet identifier is 0"#),
    (V4, "b0 02 0000", 0x82, r#"protocol error: [v3.1.1 MQTT-2.3.1-1] UNSUBACK: packet identifier is 0"#),
    (V4, "10 0c 00044d515454 04 1c 003c 0000", 0x81, r#"malformed packet: [v3.1.1 MQTT-3.1.2-14] CONNECT: will QoS is 3"#),
    (V4, "10 0c 00044d515454 04 08 003c 0000", 0x81, r#"malformed packet: [v3.1.1 MQTT-3.1.2-13] CONNECT: will QoS is set without a will"#),
    (V4, "10 0c 00044d515454 04 20 003c 0000", 0x81, r#"malformed packet: [v3.1.1 MQTT-3.1.2-15] CONNECT: will retain is set without a will"#),
    (V4, "10 0c 00044d515454 04 01 003c 0000", 0x81, r#"malformed packet: [v3.1.1 MQTT-3.1.2-3] CONNECT: reserved connect flag (bit 0) is set"#),
    (V31, "10 11 00064d5149736470 03 40 003c 0000 0001 70", 0x82, r#"protocol error: [v3.1.1 MQTT-3.1.2-22] CONNECT: password without a user name"#),
    (V4, "10 11 00044d515454 04 06 003c 0000 0001 23 0000", 0x82, r#"protocol error: [v3.1.1 MQTT-4.7.1-1] CONNECT: will topic: topic name contains a wildcard ('+' or '#')"#),
    (V4, "10 10 00044d515454 04 06 003c 0000 0000 0000", 0x81, r#"malformed packet: [v3.1.1 MQTT-4.7.3-1] CONNECT: will topic: topic is empty"#),
    (V4, "10 0a 00044d515454 06 02 003c", 0x84, r#"unsupported protocol version: CONNECT with protocol name "MQTT" and level 6 [v3.1.1 MQTT-3.1.2-2]"#),
    (V4, "10 0c 00064d5149736470 04 02 003c", 0x84, r#"unsupported protocol version: CONNECT with protocol name "MQIsdp" and level 4 [v3.1.1 MQTT-3.1.2-2]"#),
    (V4, "10 0a 00044d515454 03 02 003c", 0x84, r#"unsupported protocol version: CONNECT with protocol name "MQTT" and level 3 [v3.1.1 MQTT-3.1.2-2]"#),
    (V4, "10 0a 00044d515458 04 02 003c", 0x84, r#"invalid protocol name "MQTX" in CONNECT [v3.1.1 MQTT-3.1.2-1]"#),
    (V4, "c0 01 00", 0x81, r#"malformed packet: [v3.1.1 §2.2.3] PINGREQ: 1 byte left after the last field"#),
    (V4, "e0 01 00", 0x81, r#"malformed packet: [v3.1.1 §2.2.3] DISCONNECT: 1 byte left after the last field"#),
    (V4, "20 03 00 00 00", 0x81, r#"malformed packet: [v3.1.1 §2.2.3] CONNACK: 1 byte left after the last field"#),
    (V4, "10 0e 00044d515454 04 02 003c 0001 63 ff", 0x81, r#"malformed packet: [v3.1.1 §2.2.3] CONNECT: 1 byte left after the last field"#),
    (V4, "b0 03 0001 00", 0x81, r#"malformed packet: [v3.1.1 §2.2.3] UNSUBACK: 1 byte left after the last field"#),
    (V31, "40 03 0001 00", 0x81, r#"malformed packet: [v3.1.1 §2.2.3] PUBACK: 1 byte left after the last field"#),
    (V4, "10 05 00044d5154", 0x81, r#"malformed packet: [v3.1.1 §2.2.3] CONNECT: remaining length ends inside the protocol name (4 bytes needed, 3 left)"#),
    (V4, "82 02 0001", 0x82, r#"protocol error: [v3.1.1 MQTT-3.8.3-3] SUBSCRIBE with no topic filters"#),
    (V5, "82 03 0001 00", 0x82, r#"protocol error: [v5.0 MQTT-3.8.3-2] SUBSCRIBE with no topic filters"#),
    (V4, "a2 02 0001", 0x82, r#"protocol error: [v3.1.1 MQTT-3.10.3-2] UNSUBSCRIBE with no topic filters"#),
    (V5, "a2 03 0001 00", 0x82, r#"protocol error: [v5.0 MQTT-3.10.3-2] UNSUBSCRIBE with no topic filters"#),
    (V4, "82 06 0001 0001 61 03", 0x81, r#"malformed packet: [v3.1.1 MQTT-3.8.3-4] SUBSCRIBE: requested QoS byte is 0x03; reserved bits must be 0 and QoS 0 to 2"#),
    (V4, "82 06 0001 0001 61 40", 0x81, r#"malformed packet: [v3.1.1 MQTT-3.8.3-4] SUBSCRIBE: requested QoS byte is 0x40; reserved bits must be 0 and QoS 0 to 2"#),
    (V5, "82 07 0001 00 0001 61 c0", 0x81, r#"malformed packet: [v5.0 MQTT-3.8.3-5] SUBSCRIBE: reserved option bits 7-6 are set"#),
    (V5, "82 07 0001 00 0001 61 03", 0x81, r#"malformed packet: [v5.0 §3.8.3.1] SUBSCRIBE: maximum QoS is 3"#),
    (V5, "82 07 0001 00 0001 61 30", 0x81, r#"malformed packet: [v5.0 §3.8.3.1] SUBSCRIBE: retain handling is 3"#),
    (V5, "40 03 0001 92", 0x82, r#"protocol error: [v5.0 §3.4.2.1] PUBACK: reason code 0x92 (Packet Identifier not found) is not allowed here"#),
    (V5, "40 03 0001 03", 0x81, r#"malformed packet: [v5.0 §3.4.2.1] PUBACK: unknown reason code 0x03"#),
    (V5, "62 03 0001 10", 0x82, r#"protocol error: [v5.0 §3.6.2.1] PUBREL: reason code 0x10 (No matching subscribers) is not allowed here"#),
    (V4, "20 02 00 06", 0x82, r#"protocol error: [v3.1.1 §3.2.2.3] CONNACK: return code 6 is reserved"#),
    (V5, "20 03 00 10 00", 0x82, r#"protocol error: [v5.0 §3.2.2.2] CONNACK: reason code 0x10 (No matching subscribers) is not allowed here"#),
    (V4, "90 03 0001 03", 0x82, r#"protocol error: [v3.1.1 MQTT-3.9.3-2] SUBACK: return code 0x03 is reserved"#),
    (V5, "90 04 0001 00 04", 0x82, r#"protocol error: [v5.0 §3.9.3] SUBACK: reason code 0x04 (Disconnect with Will Message) is not allowed here"#),
    (V5, "b0 04 0001 00 01", 0x82, r#"protocol error: [v5.0 §3.11.3] UNSUBACK: reason code 0x01 (Granted QoS 1) is not allowed here"#),
    (V5, "e0 01 01", 0x82, r#"protocol error: [v5.0 §3.14.2.1] DISCONNECT: reason code 0x01 (Granted QoS 1) is not allowed here"#),
    (V5, "f0 01 87", 0x82, r#"protocol error: [v5.0 §3.15.2.1] AUTH: reason code 0x87 (Not authorized) is not allowed here"#),
    (V4, "20 02 02 00", 0x81, r#"malformed packet: [v3.1.1 §3.2.2.1] CONNACK: reserved acknowledge flags (bits 7-1) are set"#),
    (V4, "20 02 01 05", 0x82, r#"protocol error: [v3.1.1 MQTT-3.2.2-4] CONNACK: session present with a refusal"#),
    (V5, "20 03 01 87 00", 0x82, r#"protocol error: [v5.0 MQTT-3.2.2-6] CONNACK: session present with a refusal"#),
    (V5, "30 09 0001 61 05 1100000000", 0x81, r#"malformed packet: [v5.0 §2.2.2.2] PUBLISH: property Session Expiry Interval (0x11) is not allowed here"#),
    (V5, "30 0e 0001 61 0a 0200000001 0200000002", 0x82, r#"protocol error: [v5.0 §3.3.2.3.3] PUBLISH: property Message Expiry Interval appears more than once"#),
    (V5, "30 06 0001 61 02 05 00", 0x81, r#"malformed packet: [v5.0 §2.2.2.2] PUBLISH: unknown property identifier 0x05"#),
    (V5, "82 09 0001 02 0b00 0001 61 00", 0x81, r#"malformed packet: [v5.0 §3.8.2.1.2] SUBSCRIBE: Subscription Identifier is 0; it must be 1 to 268435455"#),
    (V5, "82 0b 0001 04 0b01 0b02 0001 61 00", 0x82, r#"protocol error: [v5.0 §3.8.2.1.2] SUBSCRIBE: property Subscription Identifier appears more than once"#),
    (V5, "30 07 0001 61 03 230000", 0x81, r#"malformed packet: [v5.0 MQTT-3.3.2-8] PUBLISH: Topic Alias is 0"#),
    (V5, "10 11 00044d515454 05 02 003c 03 210000 0001 63", 0x82, r#"protocol error: [v5.0 §3.1.2.11.3] CONNECT: Receive Maximum is 0"#),
    (V5, "20 08 00 00 05 2700000000", 0x82, r#"protocol error: [v5.0 §3.1.2.11.4] CONNACK: Maximum Packet Size is 0"#),
    (V5, "20 05 00 00 02 2402", 0x82, r#"protocol error: [v5.0 §3.2.2.3.4] CONNACK: Maximum QoS is 2; it must be 0 or 1"#),
    (V5, "30 06 0001 61 02 0102", 0x82, r#"protocol error: [v5.0 §3.3.2.3.2] PUBLISH: Payload Format Indicator is 2; it must be 0 or 1"#),
    (V5, "30 08 0001 61 04 08 0001 23", 0x82, r#"protocol error: [v5.0 MQTT-3.3.2-14] PUBLISH: Response Topic: topic name contains a wildcard ('+' or '#')"#),
    (V5, "f0 06 18 04 16 0001 01", 0x82, r#"protocol error: [v5.0 §3.1.2.11.10] AUTH: Authentication Data without an Authentication Method"#),
    (V5, "30 05 0001 61 05 01", 0x81, r#"malformed packet: [v5.0 §2.1.4] PUBLISH: remaining length ends inside the properties (5 bytes needed, 1 left)"#),
    (V5, "30 08 0001 61 ffffffff7f", 0x81, r#"malformed packet: [v5.0 §1.5.5] PUBLISH: property length is longer than 4 bytes"#),
    (V5, "10 17 00044d515454 05 06 003c 00 0001 63 03 230001 0001 77 0000", 0x81, r#"malformed packet: [v5.0 §2.2.2.2] CONNECT will properties: property Topic Alias (0x23) is not allowed here"#),
];

#[test]
fn every_violation_gives_its_exact_error() {
    let mut failures = Vec::new();
    for &(version, hex, code, expected) in VIOLATIONS {
        match decode_error(&unhex(hex), version, MAX_PACKET_SIZE) {
            Ok(err) if err.to_string() == expected && err.reason_code().as_u8() == code => {}
            Ok(err) => failures.push(format!(
                "    ({version:?}, \"{hex}\", 0x{:02X}, \"{err}\"),",
                err.reason_code().as_u8()
            )),
            Err(what) => failures.push(format!("{version} {hex}: {what}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        VIOLATIONS.len(),
        failures.join("\n")
    );
}

/// Outcome of decoding `packet` cut to its first `cut` body bytes (remaining length rewritten).
fn truncated(packet: &[u8], cut: usize, version: ProtocolVersion) -> String {
    assert!(packet[1] < 0x80, "single-byte remaining length");
    let mut bytes = vec![packet[0], u8::try_from(cut).expect("short")];
    bytes.extend_from_slice(&packet[2..2 + cut]);
    let mut buf = BytesMut::from(&bytes[..]);
    match decode(&mut buf, version, MAX_PACKET_SIZE) {
        Ok(Some(_)) => "ok".to_owned(),
        Ok(None) => "incomplete".to_owned(),
        Err(err) => err.to_string(),
    }
}

/// One stretch of a truncation table: the cuts that end inside a field of `size` bytes (one
/// error per byte that could be left, 0 to `size - 1`), or one cut with an exact outcome.
#[derive(Clone, Copy)]
enum Cut {
    Inside(&'static str, usize),
    Outcome(&'static str),
}
use Cut::{Inside, Outcome};

/// The outcome of each cut `cuts` stands for, errors placed at `place` ("[spec] PACKET").
fn expected_outcomes(place: &str, cuts: &[Cut]) -> Vec<String> {
    let mut outcomes = Vec::new();
    for &cut in cuts {
        match cut {
            Inside(field, size) => {
                let bytes = if size == 1 { "byte" } else { "bytes" };
                outcomes.extend((0..size).map(|left| {
                    format!(
                        "malformed packet: {place}: remaining length ends inside the {field} \
                         ({size} {bytes} needed, {left} left)"
                    )
                }));
            }
            Outcome(text) => outcomes.push(text.to_owned()),
        }
    }
    outcomes
}

/// Valid packets and, for each body length from 0 to one short of the whole, the exact outcome.
const TRUNCATIONS: &[(ProtocolVersion, &str, &str, &[Cut])] = &[
    (
        V4,
        "101a00044d51545404ee003c00000001770003627965000175000170",
        "[v3.1.1 §2.2.3] CONNECT",
        &[
            Inside("protocol name", 2),
            Inside("protocol name", 4),
            Inside("protocol level", 1),
            Inside("connect flags", 1),
            Inside("keep alive", 2),
            Inside("client identifier", 2),
            Inside("will topic", 2),
            Inside("will topic", 1),
            Inside("will payload", 2),
            Inside("will payload", 3),
            Inside("user name", 2),
            Inside("user name", 1),
            Inside("password", 2),
            Inside("password", 1),
        ],
    ),
    (
        V5,
        "320e000476352f620001020b076f6e65",
        "[v5.0 §2.1.4] PUBLISH",
        &[
            Inside("topic name", 2),
            Inside("topic name", 4),
            Inside("packet identifier", 2),
            Inside("property length", 1),
            Inside("properties", 2),
            Outcome("ok"),
            Outcome("ok"),
            Outcome("ok"),
        ],
    ),
    (
        V5,
        "821500010b0b07260002736b00027376000476352f2302",
        "[v5.0 §2.1.4] SUBSCRIBE",
        &[
            Inside("packet identifier", 2),
            Inside("property length", 1),
            Inside("properties", 11),
            Outcome(r#"protocol error: [v5.0 MQTT-3.8.3-2] SUBSCRIBE with no topic filters"#),
            Outcome(
                r#"malformed packet: [v5.0 §2.1.4] SUBSCRIBE: remaining length ends inside the topic filter (2 bytes needed, 1 left)"#,
            ),
            Inside("topic filter", 4),
            Inside("subscription options", 1),
        ],
    ),
    (
        V5,
        "200900000622000a210014",
        "[v5.0 §2.1.4] CONNACK",
        &[
            Inside("connect acknowledge flags", 1),
            Inside("reason code", 1),
            Inside("property length", 1),
            Inside("properties", 6),
        ],
    ),
    (
        V31,
        "101500064d5149736470030000050007756e7375623331",
        "[v3.1.1 §2.2.3] CONNECT",
        &[
            Inside("protocol name", 2),
            Inside("protocol name", 6),
            Inside("protocol level", 1),
            Inside("connect flags", 1),
            Inside("keep alive", 2),
            Inside("client identifier", 2),
            Inside("client identifier", 7),
        ],
    ),
];

#[test]
fn every_truncation_point_gives_its_exact_error() {
    let mut failures = Vec::new();
    for &(version, hex, place, cuts) in TRUNCATIONS {
        let expected = expected_outcomes(place, cuts);
        let packet = unhex(hex);
        let outcomes: Vec<String> =
            (0..packet.len() - 2).map(|cut| truncated(&packet, cut, version)).collect();
        if outcomes != expected {
            failures.push(format!(
                "{hex}:\n{}",
                outcomes
                    .iter()
                    .map(|o| format!("        r#\"{o}\"#,"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        assert_eq!(truncated(&packet, packet.len() - 2, version), "ok", "{hex} itself decodes");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_prefix_of_a_valid_packet_waits_without_consuming() {
    for &(version, hex, _, _) in TRUNCATIONS {
        let packet = unhex(hex);
        for end in 0..packet.len() {
            let mut buf = BytesMut::from(&packet[..end]);
            assert_eq!(decode(&mut buf, version, MAX_PACKET_SIZE), Ok(None), "{hex} cut at {end}");
            assert_eq!(&buf[..], &packet[..end]);
        }
    }
}

#[test]
fn packets_over_the_limit_are_refused_from_the_fixed_header() {
    // Only the fixed header of a 16,388-byte PUBLISH has arrived.
    let err = decode_error(&[0x30, 0x80, 0x80, 0x01], V4, 16_000).expect("refused");
    assert_eq!(
        err.to_string(),
        "packet of 16388 bytes exceeds the maximum packet size of 16000 bytes"
    );
    assert_eq!(err.reason_code(), ReasonCode::PacketTooLarge);
}

#[test]
fn non_minimal_remaining_lengths_are_accepted_before_v5() {
    let mut buf = BytesMut::from(&[0xC0, 0x80, 0x00][..]);
    assert_eq!(decode(&mut buf, V4, MAX_PACKET_SIZE), Ok(Some(mqtt_codec::Packet::PingReq)));
}
